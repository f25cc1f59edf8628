"""The live task monitor: tasks from worker events, workers (remote ones too), queue depths.

The table (``celerydesk.ui.task_table``) shows the store of an :class:`EventMonitor`, filtered
and newest first, kept in step batch by batch without resets, so a burst of thousands of tasks
costs what a screenful costs. ``QtTaskMonitor`` adds the filters, search, detail pane, revoke /
terminate / retry (``task_retry``), the workers list, queue depths with purge, the "unregistered
task" warning, notifications for the tasks the user launched, and a line saying where the events
come from or why none come.
"""

from __future__ import annotations

import re
import socket
from typing import Optional

from PySide6.QtCore import QModelIndex, Qt, QTimer, Signal
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QDialog, QFrame, QHBoxLayout, QLabel,
                               QLineEdit, QMessageBox, QPlainTextEdit, QPushButton, QSpinBox, QSplitter,
                               QSystemTrayIcon, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from celerydesk.core import commands
from celerydesk.core.queues import queue_depths
from celerydesk.core.task_store import FINISHED_STATES, STATES, SUCCESS
from celerydesk.core.urls import shown_url
from celerydesk.services.background import run_in_background
from celerydesk.services.event_monitor import EventMonitor, purge_queue
from celerydesk.ui import defs
from celerydesk.ui.task_retry import RetryDialog, parse_repr
from celerydesk.ui.task_table import IdRole, QtTaskTableView, TaskTableModel

ALL = "(all)"
# A broker being started refuses connections for a moment: that is said only if it lasts.
TROUBLE_AFTER_MS = 3000
_CONNECTED_STYLE = "QLabel { color: palette(mid); }"
_TROUBLE_STYLE = "QLabel { background: #fadbd8; padding: 4px; }"
UNREGISTERED_LINE = re.compile(r"Received unregistered task of type '([^']+)'")


class QtTaskMonitor(QWidget):
    """The "Tasks" page. Signals say what happened; ``note_launched`` ties notifications to the user."""

    selectedTaskChanged = Signal(str)
    notified = Signal(str, str)  # title, text: a launched task finished (also shown as tray/toast)
    unregisteredTask = Signal(str)  # a task name no running worker has registered
    message = Signal(str, str)  # level, text: errors of actions, for the window's message area

    def __init__(self, stack, parent=None, capacity: int = 10_000, monitor: Optional[EventMonitor] = None):
        super().__init__(parent)
        self.stack = stack
        self.monitor = monitor or EventMonitor(stack.broker_url(), capacity=capacity, parent=self)
        self.store = self.monitor.store
        self.model = TaskTableModel(self.monitor, self)
        self.tray: Optional[QSystemTrayIcon] = None
        self._launched: dict[str, Optional[str]] = {}  # task id -> the text to show when it is done
        self._registered: set[str] = set()
        self._checking: set[str] = set()
        self._checked: set[str] = set()
        self._depths: dict[str, int] = {}
        self._extra_queues: set[str] = set()
        self._build()
        # Bound methods, not lambdas: Qt drops the connections when this widget is deleted.
        self.monitor.updated.connect(self._on_updated)
        self.monitor.workersAppeared.connect(self._refresh_registered)
        self.monitor.connectionChanged.connect(self._on_connection)
        stack.linesReceived.connect(self._on_lines)
        self._slow = QTimer(self, interval=2000)  # workers list and queue depths
        self._slow.timeout.connect(self._on_slow_tick)
        self._slow.start()
        self.monitor.start()

    # -- layout --------------------------------------------------------------------------------

    def _build(self) -> None:
        self.warning = QFrame(self)
        self.warning.setStyleSheet("QFrame { background: #fdebd0; }")
        self.warning_label = QLabel(self.warning)
        self.warning_label.setWordWrap(True)
        self.restart_button = QPushButton("Restart workers", self.warning)
        self.restart_button.clicked.connect(self.restart_workers)
        row = QHBoxLayout(self.warning)
        row.addWidget(self.warning_label, 1)
        row.addWidget(self.restart_button)
        self.warning.hide()
        # Where the events come from, or why none come: the table cannot show that by itself.
        self.connection = QLabel(f"Connecting to {shown_url(self.monitor.broker_url)} for task events…", self)
        self.connection.setWordWrap(True)
        self.connection.setStyleSheet(_CONNECTED_STYLE)
        self._connection = (False, "")  # (connected, error) as the monitor last told it
        self._trouble_shown = False
        self._trouble_timer = QTimer(self, singleShot=True, interval=TROUBLE_AFTER_MS)
        self._trouble_timer.timeout.connect(self._show_connection)

        self.state_filter, self.name_filter, self.worker_filter = QComboBox(self), QComboBox(self), QComboBox(self)
        self.state_filter.addItems([ALL, *STATES])
        for combo, key in ((self.state_filter, "state"), (self.name_filter, "name"), (self.worker_filter, "worker")):
            combo.setProperty("filter_key", key)
            combo.currentTextChanged.connect(self._on_filter_changed)
        self.search = QLineEdit(self, placeholderText="search id, name, args, result ...")
        self.search.textChanged.connect(self._on_search)
        self.capacity = QSpinBox(self, minimum=100, maximum=1_000_000, singleStep=1000, value=self.store.capacity)
        self.capacity.setToolTip("How many recent tasks are kept")
        self.capacity.valueChanged.connect(self.set_capacity)
        filters = QHBoxLayout()
        for label, widget in (("State", self.state_filter), ("Task", self.name_filter),
                              ("Worker", self.worker_filter), ("", self.search), ("Keep", self.capacity)):
            if label:
                filters.addWidget(QLabel(label, self))
            filters.addWidget(widget, 1 if widget is self.search else 0)

        self.view = QtTaskTableView(self.model, self)
        self.view.clicked.connect(self._on_clicked)
        self._selected: Optional[str] = None

        self.detail = QPlainTextEdit(self, readOnly=True)
        self.detail.setFont(defs.monospace_font())
        self.revoke_button, self.terminate_button, self.retry_button = (
            QPushButton("Revoke", self), QPushButton("Terminate", self), QPushButton("Retry…", self))
        self.revoke_button.clicked.connect(self._on_revoke)
        self.terminate_button.clicked.connect(self._on_terminate)
        self.retry_button.clicked.connect(self._on_retry)
        actions = QHBoxLayout()
        for button in (self.revoke_button, self.terminate_button, self.retry_button):
            actions.addWidget(button)
        actions.addStretch(1)
        detail_box = QWidget(self)
        detail_layout = QVBoxLayout(detail_box)
        detail_layout.setContentsMargins(0, 0, 0, 0)
        detail_layout.addLayout(actions)
        detail_layout.addWidget(self.detail)

        self.workers = QTableWidget(0, 5, self)
        self.workers.setHorizontalHeaderLabels(["Worker", "Where", "Status", "Active", "Processed"])
        self.queues = QTableWidget(0, 2, self)
        self.queues.setHorizontalHeaderLabels(["Queue", "Waiting"])
        self.purge_button = QPushButton("Purge queue…", self)
        self.purge_button.clicked.connect(self._on_purge)
        for table in (self.workers, self.queues):
            table.verticalHeader().hide()
            table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
            table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
            table.horizontalHeader().setStretchLastSection(True)
        side = QWidget(self)
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        for widget in (QLabel("Workers", self), self.workers, QLabel("Queues", self), self.queues, self.purge_button):
            side_layout.addWidget(widget)

        tasks_split = QSplitter(Qt.Orientation.Vertical, self)
        tasks_split.addWidget(self.view)
        tasks_split.addWidget(detail_box)
        main_split = QSplitter(Qt.Orientation.Horizontal, self)
        main_split.addWidget(tasks_split)
        main_split.addWidget(side)
        main_split.setStretchFactor(0, 3)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(defs.MARGIN, defs.MARGIN, defs.MARGIN, defs.MARGIN)
        layout.setSpacing(defs.SPACING)
        layout.addWidget(self.warning)
        layout.addWidget(self.connection)
        layout.addLayout(filters)
        layout.addWidget(main_split, 1)

        self.toast = QLabel(self)  # the in-window notification when no tray exists
        self.toast.setStyleSheet("QLabel { background: #34495e; color: white; padding: 8px; border-radius: 4px; }")
        self.toast.hide()
        self._toast_timer = QTimer(self, singleShot=True, interval=6000)
        self._toast_timer.timeout.connect(self.toast.hide)

    # -- the public face -------------------------------------------------------------------------

    def note_launched(self, task_id: str, done_text: Optional[str] = None, name: Optional[str] = None) -> None:
        """The user launched this task: notify when it finishes; warn at once if no worker knows it."""
        if name:
            self._check_name(name)
        record = self.store.tasks.get(task_id)
        if record is not None and record.state in FINISHED_STATES:  # it beat us to it
            self._notify_finished(record, done_text)
            return
        self._launched[task_id] = done_text

    def watch_queue(self, queue: str) -> None:
        """Show this queue's depth too (the workers' queues and those tasks went to always are)."""
        self._extra_queues.add(queue)
        self._on_slow_tick()

    def set_tray(self, tray: Optional[QSystemTrayIcon]) -> None:
        self.tray = tray

    def set_capacity(self, capacity: int) -> None:
        self.store.set_capacity(capacity)
        self.model.rebuild()

    def select_task(self, task_id: str) -> None:
        self._selected = task_id
        row = self.model.row_of(task_id)
        if row >= 0:
            self.view.selectRow(row)
        self._show_detail()
        self.selectedTaskChanged.emit(task_id)

    def selected_id(self) -> Optional[str]:
        return self._selected

    def revoke(self, task_id: str, terminate: bool = False) -> None:
        self.monitor.revoke(task_id, terminate=terminate)

    def retry(self, task_id: str, args=None, kwargs=None) -> Optional[str]:
        """Send a finished task again, with its original arguments unless given; return the new id."""
        record = self.store.tasks.get(task_id)
        if record is None or not record.name:
            self.message.emit("error", f"task {task_id} is no longer in the monitor: launch it again from its form")
            return None
        args = parse_repr(record.args, []) if args is None else args
        kwargs = parse_repr(record.kwargs, {}) if kwargs is None else kwargs
        new_id = self.monitor.send(record.name, args=args, kwargs=kwargs,
                                   queue=record.queue if record.queue else None)
        self.note_launched(new_id, name=record.name)
        return new_id

    def restart_workers(self) -> None:
        for worker in self.stack.ws.workers:
            self.stack.restart_service(commands.worker_key(worker.name))
        self.warning.hide()
        self._checked.clear()
        self._registered.clear()

    def shutdown(self) -> None:
        """Stop the event consumer thread (the window calls this on close; the test fixtures too)."""
        self.monitor.stop()

    # -- events ----------------------------------------------------------------------------------

    def _on_connection(self, connected: bool, error: str) -> None:
        self._connection = (connected, error)
        if connected or not error or self._trouble_shown:
            self._trouble_timer.stop()
            self._show_connection()
        elif not self._trouble_timer.isActive():
            self._trouble_timer.start()  # the error shows if it is still there then

    def _show_connection(self) -> None:
        connected, error = self._connection
        url = shown_url(self.monitor.broker_url)
        if connected:
            self.connection.setText(f"Receiving task events from {url}")
        elif error:
            self.connection.setText(f"Not receiving task events from {url} ({error}). Retrying every second: "
                                    "start the broker, or check its URL in Settings ▸ Broker.")
        else:
            self.connection.setText(f"Connecting to {url} for task events…")
        self._trouble_shown = bool(error) and not connected
        self.connection.setStyleSheet(_TROUBLE_STYLE if self._trouble_shown else _CONNECTED_STYLE)

    def _on_updated(self, changed) -> None:
        for combo, values in ((self.name_filter, self.store.names()),
                              (self.worker_filter, sorted(self.store.workers))):
            if combo.count() != len(values) + 1:
                current = combo.currentText()
                combo.blockSignals(True)
                combo.clear()
                combo.addItems([ALL, *values])
                combo.setCurrentText(current)
                combo.blockSignals(False)
        for task_id in changed:
            record = self.store.tasks.get(task_id)
            if record is None:
                continue
            if record.state == "SENT" and record.name and record.name not in self._checked:
                self._check_name(record.name)
            if task_id in self._launched and record.state in FINISHED_STATES:
                self._notify_finished(record, self._launched.pop(task_id))
        if self._selected:
            self._keep_selection()
            if self._selected in changed:
                self._show_detail()

    def _keep_selection(self) -> None:
        """The selected task's row stays selected (rows move as tasks come; a filter rebuilds)."""
        row = self.model.row_of(self._selected)
        if row >= 0 and self.view.currentIndex().row() != row:
            self.view.selectRow(row)

    def _on_lines(self, key: str, lines: list) -> None:
        if not key.startswith("worker"):
            return
        for text, _channel in lines:
            if "unregistered task" in text:
                match = UNREGISTERED_LINE.search(text)
                if match:
                    self._warn_unregistered(match.group(1))

    def _check_name(self, name: str) -> None:
        """Ask the workers (off the Qt thread) whether any has ``name`` registered."""
        if name in self._registered or name in self._checking:
            return
        self._checking.add(name)
        monitor = self.monitor
        run_in_background(lambda: monitor.registered(timeout=1.5),
                          lambda replies, error: self._on_registered(name, replies, error), self)

    def _on_registered(self, name: str, replies, error) -> None:
        self._checking.discard(name)
        self._checked.add(name)
        if error is not None or not replies:
            return  # no worker answered: the workers list says so; nothing to compare against
        self._registered = {n.split(" ")[0] for names in replies.values() for n in names}
        if name not in self._registered:
            self._warn_unregistered(name)

    def _refresh_registered(self, *_) -> None:
        self._registered.clear()  # a new worker may know more (or less): ask again when needed

    def _warn_unregistered(self, name: str) -> None:
        self.warning_label.setText(
            f"No running worker has the task {name!r} registered: its messages are dropped "
            f"(\"Received unregistered task\"). If you just added it, restart the workers.")
        self.warning.show()
        self.unregisteredTask.emit(name)

    def _notify_finished(self, record, done_text: Optional[str]) -> None:
        short = (record.name or record.id).rsplit(".", 1)[-1]
        if record.state == SUCCESS:
            title, text = f"{short} finished", done_text or f"{short} succeeded in {record.runtime or 0:.1f} s"
        else:
            title, text = f"{short} {record.state.lower()}", record.exception or record.state
        self.notified.emit(title, text)
        if self.tray is not None and QSystemTrayIcon.isSystemTrayAvailable() and self.tray.isVisible():
            self.tray.showMessage(title, text)
            return
        self.toast.setText(f"<b>{title}</b><br>{text}")
        self.toast.adjustSize()
        self.toast.move(self.width() - self.toast.width() - defs.MARGIN, self.height() - self.toast.height() - defs.MARGIN)
        self.toast.raise_()
        self.toast.show()
        self._toast_timer.start()

    # -- widgets' handlers -----------------------------------------------------------------------

    def _on_filter_changed(self, text: str) -> None:
        self.model.set_filter(self.sender().property("filter_key"), None if text == ALL else text)
        if self._selected:
            self._keep_selection()

    def _on_search(self, text: str) -> None:
        self.model.set_filter("search", text)
        if self._selected:
            self._keep_selection()

    def _on_clicked(self, index: QModelIndex) -> None:
        self.select_task(index.data(IdRole))

    def _show_detail(self) -> None:
        record = self.store.tasks.get(self._selected or "")
        if record is None:
            self.detail.setPlainText("")
            return
        lines = [f"{k}: {getattr(record, k)}" for k in ("id", "name", "state", "worker", "queue", "args", "kwargs",
                                                        "retries", "runtime", "result", "exception")
                 if getattr(record, k) not in (None, "")]
        if record.progress_meta:
            lines.append(f"progress: {record.progress_meta}")
        if record.traceback:
            lines += ["", record.traceback]
        self.detail.setPlainText("\n".join(lines))

    def _on_revoke(self) -> None:
        if self._selected:
            self.revoke(self._selected)

    def _on_terminate(self) -> None:
        if self._selected:
            self.revoke(self._selected, terminate=True)

    def _on_retry(self) -> None:
        record = self.store.tasks.get(self._selected or "")
        if record is None:
            return
        dialog = RetryDialog(record.name or "", parse_repr(record.args, []), parse_repr(record.kwargs, {}), self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            try:
                args, kwargs = dialog.values()
            except ValueError as exc:
                self.message.emit("error", f"the arguments are not valid JSON ({exc}): nothing was sent")
                return
            self.retry(record.id, args, kwargs)

    def _on_purge(self) -> None:
        row = self.queues.currentRow()
        if row < 0:
            return
        queue = self.queues.item(row, 0).text()
        answer = QMessageBox.question(self, "Purge queue",
                                      f"Delete the {self._depths.get(queue, 0)} waiting messages of {queue!r}? "
                                      f"They cannot be brought back.")
        if answer == QMessageBox.StandardButton.Yes:
            url = self.stack.broker_url()
            run_in_background(lambda: purge_queue(url, queue), self._on_purged, self)

    def _on_purged(self, count, error) -> None:
        if error is not None:
            self.message.emit("error", f"purge failed: {error}; is the broker running?")
        else:
            self.message.emit("info", f"purged {count} messages")
        self._on_slow_tick()

    def _on_slow_tick(self) -> None:
        self._fill_workers()
        queues = sorted({q for w in self.stack.ws.workers for q in w.queues} |
                        {r.queue for r in self.store.tasks.values() if r.queue} | {"celery"} | self._extra_queues)
        url = self.stack.broker_url()
        run_in_background(lambda: queue_depths(url, queues), self._on_depths, self)

    def _on_depths(self, depths, error) -> None:
        if error is not None:
            return  # the broker is down: the services table says so
        self._depths = depths
        self.queues.setRowCount(len(depths))
        for row, (queue, count) in enumerate(sorted(depths.items())):
            self.queues.setItem(row, 0, QTableWidgetItem(queue))
            self.queues.setItem(row, 1, QTableWidgetItem(str(count)))

    def _fill_workers(self) -> None:
        own_pids = {s.pid for s in self.stack.services.values() if getattr(s, "kind", None) == commands.WORKER and s.pid}
        workers = sorted(self.store.workers.values(), key=lambda w: w.hostname)
        this_host = socket.gethostname()
        self.workers.setRowCount(len(workers))
        for row, w in enumerate(workers):
            # One of our children: its pid and this machine's name (a pid alone may repeat elsewhere).
            ours = w.pid in own_pids and w.hostname.rpartition("@")[2] == this_host
            where = "this stack" if ours else "remote"
            status = "online" if w.alive() else "offline"
            for column, text in enumerate((w.hostname, where, status, w.active, w.processed)):
                self.workers.setItem(row, column, QTableWidgetItem("" if text is None else str(text)))

    def worker_rows(self) -> list[tuple[str, str, str]]:
        """(hostname, where, status) of each row of the workers list, for the window and tests."""
        return [tuple(self.workers.item(r, c).text() for c in range(3)) for r in range(self.workers.rowCount())]
