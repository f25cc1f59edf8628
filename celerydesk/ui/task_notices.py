"""What the Tasks page tells the user besides its table: where the events come from (or why none
come), a task that no running worker has registered (with a Restart workers button), and the
tasks the user launched, once they finish (a tray message, or a toast in the window).

They read the monitor's in-memory store, which has each event a moment after it arrives,
whatever the history does. The registered-task check asks the workers through the window's
broker service, off the GUI thread.
"""

from __future__ import annotations

import re
from typing import Optional

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QSystemTrayIcon, QWidget

from celerydesk.core import commands
from celerydesk.core.task_store import FINISHED_STATES, SENT, SUCCESS
from celerydesk.core.urls import shown_url
from celerydesk.ui import defs

# A broker being started refuses connections for a moment: that is said only if it lasts.
TROUBLE_AFTER_MS = 3000
CONNECTED_STYLE = "QLabel { color: palette(mid); }"
TROUBLE_STYLE = "QLabel { background: #fadbd8; padding: 4px; }"
UNREGISTERED_LINE = re.compile(r"Received unregistered task of type '([^']+)'")


class QtConnectionLine(QLabel):
    """"Receiving task events from URL", or, when it lasts, why not."""

    def __init__(self, monitor, parent=None):
        super().__init__(f"Connecting to {shown_url(monitor.broker_url)} for task events…", parent)
        self.url = shown_url(monitor.broker_url)
        self.setWordWrap(True)
        self.setStyleSheet(CONNECTED_STYLE)
        self._connection = (False, "")  # (connected, error) as the monitor last told it
        self._trouble_shown = False
        self._trouble_timer = QTimer(self, singleShot=True, interval=TROUBLE_AFTER_MS)
        self._trouble_timer.timeout.connect(self._show)
        monitor.connectionChanged.connect(self._on_connection)

    def _on_connection(self, connected: bool, error: str) -> None:
        self._connection = (connected, error)
        if connected or not error or self._trouble_shown:
            self._trouble_timer.stop()
            self._show()
        elif not self._trouble_timer.isActive():
            self._trouble_timer.start()  # the error shows if it is still there then

    def _show(self) -> None:
        connected, error = self._connection
        if connected:
            self.setText(f"Receiving task events from {self.url}")
        elif error:
            self.setText(f"Not receiving task events from {self.url} ({error}). Retrying every second: "
                         "start the broker, or check its URL in Settings ▸ Broker.")
        else:
            self.setText(f"Connecting to {self.url} for task events…")
        self._trouble_shown = bool(error) and not connected
        self.setStyleSheet(TROUBLE_STYLE if self._trouble_shown else CONNECTED_STYLE)


class QtUnregisteredWarning(QFrame):
    """A task no running worker has registered: its messages are dropped. Offers a restart."""

    unregisteredTask = Signal(str)

    def __init__(self, context, monitor, parent=None):
        super().__init__(parent)
        self.stack, self.broker, self.store = context.stack, context.broker, monitor.store
        self.setStyleSheet("QFrame { background: #fdebd0; }")
        self.label = QLabel(self)
        self.label.setWordWrap(True)
        self.restart_button = QPushButton("Restart workers", self)
        self.restart_button.clicked.connect(self.restart_workers)
        row = QHBoxLayout(self)
        row.addWidget(self.label, 1)
        row.addWidget(self.restart_button)
        # Only the workers celerydesk started can be restarted from here (none when it only watches).
        self.restart_button.setVisible(bool(self.stack.ws.workers))
        self.hide()
        self._registered: set[str] = set()
        self._checking: set[str] = set()
        self._checked: set[str] = set()
        monitor.updated.connect(self._on_updated)
        monitor.workersAppeared.connect(self._forget_registered)
        self.stack.linesReceived.connect(self._on_lines)

    def check(self, name: str) -> None:
        """Ask the workers (off the Qt thread) whether any has ``name`` registered."""
        if name in self._registered or name in self._checking:
            return
        self._checking.add(name)
        self.broker.call(lambda client: client.registered(timeout=1.5),
                         lambda replies, error: self._on_registered(name, replies, error), owner=self)

    def restart_workers(self) -> None:
        for worker in self.stack.ws.workers:
            self.stack.restart_service(commands.worker_key(worker.name))
        self.hide()
        self._checked.clear()
        self._registered.clear()

    def _on_updated(self, changed) -> None:
        for task_id in changed:
            record = self.store.tasks.get(task_id)
            if record is not None and record.state == SENT and record.name and record.name not in self._checked:
                self.check(record.name)

    def _on_lines(self, key: str, lines: list) -> None:
        if not key.startswith("worker"):
            return
        for text, _channel in lines:
            if "unregistered task" in text:
                match = UNREGISTERED_LINE.search(text)
                if match:
                    self._warn(match.group(1))

    def _on_registered(self, name: str, replies, error) -> None:
        self._checking.discard(name)
        self._checked.add(name)
        if error is not None or not replies:
            return  # no worker answered: the workers list says so; nothing to compare against
        self._registered = {n.split(" ")[0] for names in replies.values() for n in names}
        if name not in self._registered:
            self._warn(name)

    def _forget_registered(self, *_) -> None:
        self._registered.clear()  # a new worker may know more (or less): ask again when needed

    def _warn(self, name: str) -> None:
        self.label.setText(f"No running worker has the task {name!r} registered: its messages are dropped "
                           f"(\"Received unregistered task\"). If you just added it, restart the workers.")
        self.show()
        self.unregisteredTask.emit(name)


class LaunchNotices(QObject):
    """Tasks the user launched: a notice when each finishes (tray, else a toast on ``page``)."""

    notified = Signal(str, str)  # title, text

    def __init__(self, monitor, page: QWidget):
        super().__init__(page)
        self.store, self.page = monitor.store, page
        self.tray: Optional[QSystemTrayIcon] = None
        self._launched: dict[str, Optional[str]] = {}  # task id -> the text to show when it is done
        self.toast = QLabel(page)
        self.toast.setStyleSheet("QLabel { background: #34495e; color: white; padding: 8px; border-radius: 4px; }")
        self.toast.hide()
        self._toast_timer = QTimer(self, singleShot=True, interval=6000)
        self._toast_timer.timeout.connect(self.toast.hide)
        monitor.updated.connect(self._on_updated)

    def watch(self, task_id: str, done_text: Optional[str] = None) -> None:
        record = self.store.tasks.get(task_id)
        if record is not None and record.state in FINISHED_STATES:  # it beat us to it
            self._notify(record, done_text)
            return
        self._launched[task_id] = done_text

    def _on_updated(self, changed) -> None:
        for task_id in changed:
            if task_id in self._launched:
                record = self.store.tasks.get(task_id)
                if record is not None and record.state in FINISHED_STATES:
                    self._notify(record, self._launched.pop(task_id))

    def _notify(self, record, done_text: Optional[str]) -> None:
        short = (record.name or record.id).rsplit(".", 1)[-1]
        if record.state == SUCCESS:
            title, text = f"{short} finished", done_text or f"{short} succeeded in {record.runtime or 0:.1f} s"
        else:
            title, text = f"{short} {record.state.lower()}", record.exception or record.state
        self.notified.emit(title, text)
        if self.tray is not None and QSystemTrayIcon.isSystemTrayAvailable() and self.tray.isVisible():
            self.tray.showMessage(title, text)
            return
        page = self.page
        self.toast.setText(f"<b>{title}</b><br>{text}")
        self.toast.adjustSize()
        self.toast.move(page.width() - self.toast.width() - defs.MARGIN, page.height() - self.toast.height() - defs.MARGIN)
        self.toast.raise_()
        self.toast.show()
        self._toast_timer.start()
