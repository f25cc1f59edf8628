"""The tray icon: its colour tells the stack's state; its menu starts and stops everything; alerts
that fire are its notifications (``notify_alert``)."""

from __future__ import annotations

from typing import Optional

from PySide6.QtCore import QObject, QRectF, Qt, Signal
from PySide6.QtGui import QAction, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from celerydesk.core.states import ProcessState
from celerydesk.ui import defs


def stack_color_state(states: list[ProcessState]) -> ProcessState:
    """One state standing for the whole stack, the most alarming first."""
    for state in (ProcessState.FATAL, ProcessState.EXITED, ProcessState.BACKOFF,
                  ProcessState.STARTING, ProcessState.STOPPING):
        if state in states:
            return state
    if states and all(s == ProcessState.RUNNING for s in states):
        return ProcessState.RUNNING
    return ProcessState.STOPPED


def badge_icon(base: QIcon, state: ProcessState, size: int = 64) -> QIcon:
    pixmap = base.pixmap(size, size) if not base.isNull() else QPixmap(size, size)
    if base.isNull():
        pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(defs.STATE_COLORS[state])
    painter.drawEllipse(QRectF(size * 0.55, size * 0.55, size * 0.42, size * 0.42))
    painter.end()
    return QIcon(pixmap)


ALERT_SHOWN_MS = 15000


def notify_alert(icon: Optional[QSystemTrayIcon], firing) -> bool:
    """Show an alert's firing (``core.alerts.evaluator.Firing``) as the tray's notification;
    False when there is no tray to show it (the window then says it itself)."""
    if icon is None or not QSystemTrayIcon.isSystemTrayAvailable() or not icon.isVisible():
        return False
    icon.showMessage(f"Alert: {firing.rule}", firing.message, QSystemTrayIcon.MessageIcon.Warning, ALERT_SHOWN_MS)
    return True


class QtTray(QObject):
    showRequested = Signal()
    quitRequested = Signal()

    def __init__(self, stack, base_icon: QIcon, parent=None, broker=None):
        """``broker``: the window's BrokerService, whose read-only state the tooltip names."""
        super().__init__(parent)
        self.stack = stack
        self.broker = broker
        self.base_icon = base_icon
        self.icon = QSystemTrayIcon(self)
        menu = QMenu()
        self._menu = menu  # QSystemTrayIcon does not own its menu
        self.show_action = QAction("Show celerydesk", menu, triggered=lambda: self.showRequested.emit())
        self.start_action = QAction("Start all", menu, triggered=lambda: stack.start_all())
        self.stop_action = QAction("Stop all", menu, triggered=lambda: stack.stop_all())
        quit_action = QAction("Stop and quit", menu, triggered=lambda: self.quitRequested.emit())
        # A watch-only workspace has nothing to start or stop.
        stack_actions = (None,) if stack.ws.watch_only else (None, self.start_action, self.stop_action, None)
        for action in (self.show_action, *stack_actions, quit_action):
            menu.addSeparator() if action is None else menu.addAction(action)
        self.icon.setContextMenu(menu)
        self.icon.activated.connect(self._on_activated)
        stack.serviceStateChanged.connect(self.refresh)
        if broker is not None:
            broker.readOnlyChanged.connect(self.refresh)
        self.refresh()

    @staticmethod
    def available() -> bool:
        return QSystemTrayIcon.isSystemTrayAvailable()

    def show(self) -> None:
        self.icon.show()

    def refresh(self, *_) -> None:
        state = stack_color_state([self.stack.state(k) for k in self.stack.enabled_keys()])
        self.current_state = state
        self.icon.setIcon(badge_icon(self.base_icon, state))
        ws = self.stack.ws
        what = "watching" if ws.watch_only else state.name.lower()
        read_only = self.broker.read_only if self.broker is not None else ws.environment.read_only
        lock = " (read-only)" if read_only else ""
        self.icon.setToolTip(f"celerydesk — {ws.environment_name}{lock}: {what}")

    def _on_activated(self, reason) -> None:
        if reason == QSystemTrayIcon.ActivationReason.Trigger:
            self.showRequested.emit()
