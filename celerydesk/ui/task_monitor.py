"""The Tasks page: tasks from worker events.

The page puts together the table (``task_table``: the store of the window's
:class:`EventMonitor`, filtered and newest first, kept in step batch by batch), its filter row
(``task_filters``) and the selected task's details with revoke / terminate / retry
(``task_details``, ``task_retry``). It adds the "unregistered task" warning, notifications for
the tasks the user launched, and a line saying where the events come from or why none come.
Everything it sends or asks goes through the window's broker service. The workers and the queues
have pages of their own (``workers_panel``, ``queues_panel``).
"""

from __future__ import annotations

import re
from typing import Optional

from PySide6.QtCore import QModelIndex, Qt, QTimer, Signal
from PySide6.QtWidgets import (QDialog, QFrame, QHBoxLayout, QLabel, QPushButton, QSplitter, QSystemTrayIcon,
                               QVBoxLayout, QWidget)

from celerydesk.core import commands
from celerydesk.core.broker_client import SendOptions
from celerydesk.core.task_store import FINISHED_STATES, SUCCESS
from celerydesk.core.urls import shown_url
from celerydesk.ui import defs
from celerydesk.ui.task_details import QtTaskDetails
from celerydesk.ui.task_filters import QtTaskFilters
from celerydesk.ui.task_retry import RetryDialog, parse_repr
from celerydesk.ui.task_table import IdRole, QtTaskTableView, TaskTableModel

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

    def __init__(self, context, parent=None, capacity: int = 10_000):
        super().__init__(parent)
        self.context = context
        self.stack = context.stack
        self.broker = context.broker
        self.monitor = context.event_monitor(capacity)
        self.store = self.monitor.store
        self.model = TaskTableModel(self.monitor, self)
        self.tray: Optional[QSystemTrayIcon] = None
        self._launched: dict[str, Optional[str]] = {}  # task id -> the text to show when it is done
        self._registered: set[str] = set()
        self._checking: set[str] = set()
        self._checked: set[str] = set()
        self._build()
        # Bound methods, not lambdas: Qt drops the connections when this widget is deleted.
        self.monitor.updated.connect(self._on_updated)
        self.monitor.workersAppeared.connect(self._refresh_registered)
        self.monitor.connectionChanged.connect(self._on_connection)
        self.stack.linesReceived.connect(self._on_lines)

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

        self.filters = QtTaskFilters(self.model, self.store, self)
        self.filters.filtersChanged.connect(self._keep_selection)
        self.filters.capacityChanged.connect(self.set_capacity)

        self.view = QtTaskTableView(self.model, self)
        self.view.clicked.connect(self._on_clicked)
        self._selected: Optional[str] = None

        self.details = QtTaskDetails(self)
        self.details.revokeClicked.connect(self._on_revoke)
        self.details.retryClicked.connect(self._on_retry)

        tasks_split = QSplitter(Qt.Orientation.Vertical, self)
        tasks_split.addWidget(self.view)
        tasks_split.addWidget(self.details)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(defs.MARGIN, defs.MARGIN, defs.MARGIN, defs.MARGIN)
        layout.setSpacing(defs.SPACING)
        layout.addWidget(self.warning)
        layout.addWidget(self.connection)
        layout.addWidget(self.filters)
        layout.addWidget(tasks_split, 1)

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
        self.context.depths.watch(queue)

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
        self.broker.revoke(task_id, terminate=terminate)

    def retry(self, task_id: str, args=None, kwargs=None) -> Optional[str]:
        """Send a finished task again, with its original arguments unless given; return the new id
        (known at once; the sending happens off the GUI thread, and a failure reaches the banner)."""
        record = self.store.tasks.get(task_id)
        if record is None or not record.name:
            self.message.emit("error", f"task {task_id} is no longer in the monitor: launch it again from its form")
            return None
        args = parse_repr(record.args, []) if args is None else args
        kwargs = parse_repr(record.kwargs, {}) if kwargs is None else kwargs
        new_id = self.broker.send(record.name, args, kwargs, SendOptions(queue=record.queue or None))
        self.note_launched(new_id, name=record.name)
        return new_id

    def restart_workers(self) -> None:
        for worker in self.stack.ws.workers:
            self.stack.restart_service(commands.worker_key(worker.name))
        self.warning.hide()
        self._checked.clear()
        self._registered.clear()

    def shutdown(self) -> None:
        """Stop the event consumer thread (the window's context does it on close; test fixtures here)."""
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
        self.filters.refresh_choices()
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
        if not self._selected:
            return
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
        self.broker.call(lambda client: client.registered(timeout=1.5),
                         lambda replies, error: self._on_registered(name, replies, error), owner=self)

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

    def _on_clicked(self, index: QModelIndex) -> None:
        self.select_task(index.data(IdRole))

    def _show_detail(self) -> None:
        self.details.show_record(self.store.tasks.get(self._selected or ""))

    def _on_revoke(self, terminate: bool) -> None:
        if self._selected:
            self.revoke(self._selected, terminate=terminate)

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
