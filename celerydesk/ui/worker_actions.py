"""The Workers page's actions on the selected worker: pool size, autoscale range, a task's rate and
time limits, the queues it consumes, shutting it down, and saving a change to the workspace.

Each button runs one ``core.worker_actions`` function on the window's background pool (through
the broker service, so through ``BrokerClient.control_worker``) and shows what the worker
replied, or why nothing was done, in the line below: a button never says done before the
worker did. Shutting down a worker this stack did not start asks first. While the broker client
is read-only (an environment that must not be changed) every changing button is disabled, with
the reason in its tooltip.

"Save to workspace" is for a worker this stack started: it asks the worker what it runs now
(pool size, autoscale range, queues) and writes that to its ``[[workers]]`` entry, then tells
the context (``workspaceSaved``) so that the next start of the stack uses it.
"""

from __future__ import annotations

from typing import Callable, Optional

from PySide6.QtWidgets import (QComboBox, QDoubleSpinBox, QGroupBox, QHBoxLayout, QLabel, QLineEdit, QMessageBox,
                               QPushButton, QSpinBox, QVBoxLayout, QWidget)

from celerydesk.core import limits
from celerydesk.core import worker_actions as act
from celerydesk.core.worker_list import WorkerFacts
from celerydesk.ui.workers_list import HERE, WorkerRow

READ_ONLY_TIP = "This environment is read-only: nothing that changes its workers can be done from here."
Confirm = Callable[[QWidget, str, str], bool]


def ask(parent: QWidget, title: str, text: str) -> bool:
    return QMessageBox.question(parent, title, text) == QMessageBox.StandardButton.Yes


class QtWorkerActions(QGroupBox):
    def __init__(self, context, confirm: Optional[Confirm] = None, parent=None):
        super().__init__("Selected worker", parent)
        self.context = context
        self.confirm = confirm or ask
        self.row: Optional[WorkerRow] = None
        self.state: Optional[WorkerFacts] = None  # what the selected worker said it runs, last asked
        self._busy = False
        bounds = limits.CONCURRENCY["prefork"]
        self.size = _spin(int(bounds.low), int(bounds.high))
        self.scale_button = QPushButton("Set pool size")
        self.auto_max, self.auto_min = _spin(1, int(bounds.high)), _spin(0, int(bounds.high))
        self.autoscale_button = QPushButton("Set autoscale")
        self.task = QComboBox(editable=True)
        self.task.setMinimumContentsLength(28)
        self.task.lineEdit().setPlaceholderText("task name")
        self.rate = QLineEdit(placeholderText="10/m")
        self.rate_button = QPushButton("Set rate limit")
        self.soft, self.hard = _seconds(), _seconds()
        self.time_button = QPushButton("Set time limits")
        self.queue = QLineEdit(placeholderText="queue")
        self.consume_button, self.cancel_button = QPushButton("Consume"), QPushButton("Stop consuming")
        self.shutdown_button = QPushButton("Shut down…")
        self.save_button = QPushButton("Save to workspace")
        self.save_button.setToolTip("Write this worker's pool size, autoscale range and queues to its [[workers]] "
                                    "entry, so the next start of the stack keeps them")
        self.title = QLabel("Select a worker in the table.")
        self.result = QLabel(wordWrap=True)
        self._lay_out()
        self.scale_button.clicked.connect(self._scale)
        self.autoscale_button.clicked.connect(self._autoscale)
        self.rate_button.clicked.connect(self._rate_limit)
        self.time_button.clicked.connect(self._time_limit)
        self.consume_button.clicked.connect(lambda: self._queue_action(act.consume))
        self.cancel_button.clicked.connect(lambda: self._queue_action(act.cancel))
        self.shutdown_button.clicked.connect(self._shutdown)
        self.save_button.clicked.connect(self._save)
        self.set_row(None)

    def _lay_out(self) -> None:
        self.rate.setMaximumWidth(90)
        self.queue.setMinimumWidth(160)
        grid = QVBoxLayout(self)
        grid.addWidget(self.title)
        for widgets in ((QLabel("Pool size"), self.size, self.scale_button, QLabel("   Autoscale max"), self.auto_max,
                         QLabel("min"), self.auto_min, self.autoscale_button),
                        (QLabel("Task"), self.task, QLabel("Rate"), self.rate, self.rate_button, QLabel("   Soft (s)"),
                         self.soft, QLabel("Hard (s)"), self.hard, self.time_button),
                        (QLabel("Queue"), self.queue, self.consume_button, self.cancel_button, QLabel("   "),
                         self.shutdown_button, self.save_button)):
            line = QHBoxLayout()
            for widget in widgets:
                line.addWidget(widget)
            line.addStretch(1)
            grid.addLayout(line)
        grid.addWidget(self.result)

    # -- what is selected ---------------------------------------------------------------------------

    def set_row(self, row: Optional[WorkerRow]) -> None:
        """The worker selected in the table (None: none). Selecting another worker asks it what it
        runs now (``read_state``); a refresh of the same one only updates its status."""
        changed = row is None or self.row is None or row.name != self.row.name
        self.row = row
        if row is None:
            self.state = None
            self.title.setText("Select a worker in the table.")
        elif changed:
            self.state = None
            self._show_title()
            self.read_state()
        self.update_enabled()

    def read_state(self) -> None:
        """Ask the selected worker for its pool, autoscale range, queues and registered tasks."""
        row = self.row
        if row is None or row.status != "online" or "@" not in row.name:
            return
        name = row.name

        def read(client):
            registered = client.inspect("registered", timeout=2.0, destination=[name], limit=1).get(name) or []
            return act.worker_state(client, name), sorted(t.split(" ", 1)[0] for t in registered)

        def done(result, error) -> None:
            if error is not None or self.row is None or self.row.name != name:
                return  # not answering now: the table says so; the fields stay as they were
            self.state, tasks = result
            if self.state.concurrency:
                self.size.setValue(self.state.concurrency)
            if self.state.autoscale:
                self.auto_max.setValue(self.state.autoscale[0])
                self.auto_min.setValue(self.state.autoscale[1])
            current = self.task.currentText()
            self.task.clear()
            self.task.addItems(tasks)
            self.task.setEditText(current)
            self._show_title()
            self.update_enabled()

        self.context.broker.call(read, done, owner=self)

    def _show_title(self) -> None:
        row, state = self.row, self.state
        text = f"<b>{row.name}</b> ({row.where}, {row.status})"
        if state is not None:
            size = f"{state.autoscale[1]}–{state.autoscale[0]}, now {state.concurrency}" if state.autoscale \
                else f"×{state.concurrency}"
            text += f": {state.pool or '?'} pool {size}; queues: {', '.join(state.queues) or 'none'}"
        self.title.setText(text)

    def pool(self) -> str:
        row = self.row
        if self.state is not None:
            return self.state.pool
        if row is None:
            return ""
        if row.key:
            try:
                return self.context.stack.ws.worker(row.key.split("-", 1)[1]).pool
            except KeyError:
                return ""
        return row.remote.pool if row.remote is not None else ""

    def update_enabled(self) -> None:
        row = self.row
        answering = row is not None and row.status == "online" and "@" in row.name and not self._busy
        read_only = bool(getattr(self.context.broker.client, "read_only", False))
        fixed = self.pool() in act.FIXED_POOLS
        changing = [self.scale_button, self.autoscale_button, self.rate_button, self.time_button,
                    self.consume_button, self.cancel_button, self.shutdown_button]
        for button in changing:
            button.setEnabled(answering and not read_only)
            button.setToolTip(READ_ONLY_TIP if read_only else "")
        if self.state is not None and not self.state.autoscale:
            self.autoscale_button.setEnabled(False)
            self.autoscale_button.setToolTip("This worker was started without --autoscale: it has no range to set "
                                             "(for a worker of this stack: autoscale = [max, min] in its [[workers]] "
                                             "entry, then restart)")
        if fixed:
            self.scale_button.setEnabled(False)
            self.scale_button.setToolTip(f"The {self.pool()} pool cannot change its size while it runs: set "
                                         "concurrency in the workspace and restart the worker")
        self.save_button.setEnabled(answering and row.where == HERE and bool(row.key))

    # -- the actions -------------------------------------------------------------------------------

    def _scale(self) -> None:
        size = self.size.value()
        self._run(f"setting the pool size of {self.row.name}", lambda c, name: act.scale(c, name, size))

    def _autoscale(self) -> None:
        high, low = self.auto_max.value(), self.auto_min.value()
        self._run("setting the autoscale range", lambda c, name: act.autoscale(c, name, high, low))

    def _rate_limit(self) -> None:
        task, rate = self.task.currentText().strip(), self.rate.text()
        if not task:
            self._show("✗ name the task whose rate to limit")
            return
        self._run("setting the rate limit", lambda c, name: act.rate_limit(c, name, task, rate))

    def _time_limit(self) -> None:
        task = self.task.currentText().strip()
        soft, hard = self.soft.value() or None, self.hard.value() or None
        if not task:
            self._show("✗ name the task whose time limits to set")
            return
        self._run("setting the time limits", lambda c, name: act.time_limit(c, name, task, soft, hard))

    def _queue_action(self, action) -> None:
        queue = self.queue.text()
        self._run("changing the queues", lambda c, name: action(c, name, queue))

    def _shutdown(self) -> None:
        row = self.row
        if row.where != HERE and not self.confirm(
                self, "Shut down a worker", f"{row.name} was not started by this stack. Shut it down? Whoever runs "
                                            "it will have to start it again."):
            self._show(f"{row.name} was not shut down")
            return
        self._run("shutting down", lambda c, name: act.shutdown(c, name))

    def _save(self) -> None:
        path, entry = self.context.stack.ws.path, self.row.key.split("-", 1)[1]

        def save(client, name) -> str:
            saved = act.save_to_workspace(path, entry, **act.live_settings(act.worker_state(client, name)))
            return (f"saved to {path.name} [[workers]] {entry!r}: {'; '.join(saved)}; the next start of the stack "
                    "uses it") if saved else f"{path.name} already says what {name} runs"

        self._run("saving to the workspace", save, on_success=lambda: self.context.workspaceSaved.emit(str(path)))

    def _run(self, what: str, action, on_success: Optional[Callable[[], None]] = None) -> None:
        name = self.row.name
        self._busy = True
        self.update_enabled()
        self._show(f"{what}…")

        def done(said, error) -> None:
            self._busy = False
            self.update_enabled()
            if error is not None:
                self._show(f"✗ {error}")
                return
            self._show(f"✓ {said}")
            if on_success is not None:
                on_success()
            self.read_state()  # what it runs now

        self.context.broker.call(lambda client: action(client, name), done, owner=self, report=f"{what} failed")

    def _show(self, text: str) -> None:
        self.result.setText(text)


def _spin(low: int, high: int) -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(low, high)
    return spin


def _seconds() -> QDoubleSpinBox:
    spin = QDoubleSpinBox()
    spin.setRange(0.0, limits.DAY_S)
    spin.setDecimals(1)
    spin.setSpecialValueText("none")  # 0: no limit
    return spin
