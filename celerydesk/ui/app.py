"""The desktop application: one workspace's window, the tray, and a clean exit on every path.

Quitting always goes through ``quit()``: the stack stops in order (beat and Flower, workers,
broker) and only then the event loop ends. SIGTERM/SIGINT, logout (the session manager's
commit-data request) and "Stop and quit" in the tray all take that path.

A watch-only workspace starts watching as soon as its window is open (its "stack" is only the
external broker's probe: nothing is started there); one reached through ``[broker] ssh`` has its
tunnel kept up by a ``TunnelKeeper`` while the window is open. Several workspaces side by side
(dev and staging) are a window each, each its own celerydesk process:
**Workspace ▸ Open in a new window…** starts one.
"""

from __future__ import annotations

import gc
import sys
from pathlib import Path
from typing import Optional

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QMessageBox, QSystemTrayIcon

from celerydesk import __version__
from celerydesk.core.errors import DeskError
from celerydesk.core.resources import resource_path
from celerydesk.core.states import StackPhase
from celerydesk.core.workspace import Workspace, load_workspace
from celerydesk.services.context import DeskContext
from celerydesk.services.stack import StackController
from celerydesk.services.unix_signals import SignalWatcher
from celerydesk.ui.collector import tune_collector
from celerydesk.ui.main_window import QtMainWindow
from celerydesk.ui.webengine_setup import prepare_webengine


def create_application(argv: Optional[list[str]] = None) -> QApplication:
    existing = QApplication.instance()
    if existing is not None:
        return existing
    prepare_webengine()  # must happen before the QApplication exists
    app = QApplication(argv or [sys.argv[0]])
    app.setApplicationName("celerydesk")
    app.setOrganizationName("celerydesk")
    app.setApplicationVersion(__version__)
    app.setDesktopFileName("celerydesk")
    app.setWindowIcon(QIcon(str(resource_path("celerydesk.svg"))))
    app.setQuitOnLastWindowClosed(False)  # the tray may keep the stack running
    return app


class DeskApplication:
    """Owns the current workspace's stack, its context (the services the window shares), window and tray."""

    def __init__(self, app: QApplication, settings: Optional[QSettings] = None):
        self.app = app
        self.settings = settings or QSettings()
        self.stack: Optional[StackController] = None
        self.context: Optional[DeskContext] = None
        self.window: Optional[QtMainWindow] = None
        self.tray = None  # a QtTray where the desktop has a tray
        self._quitting = False
        self._reopen_on_stop: Optional[StackController] = None  # a stack whose stop reopens the workspace
        self.tunnel = None  # the TunnelKeeper of a workspace reached through [broker] ssh
        self.signals = SignalWatcher()
        self.signals.received.connect(lambda _signum: self.quit())
        app.commitDataRequest.connect(lambda _manager: self.quit())  # logout
        app.aboutToQuit.connect(self._last_chance)

    # -- workspaces -----------------------------------------------------------------------------

    def open(self, workspace: Workspace, carry_from: Optional[StackController] = None) -> QtMainWindow:
        """A window and stack for ``workspace``; ``carry_from``, the same workspace's previous
        stack, hands its log lines to the new one."""
        if self.window is not None:
            self.window.save_layout(self.settings)
            self.window.shutdown()
            self.window.deleteLater()
        if self.tray is not None:
            self.tray.icon.hide()
        self._stop_tunnel()
        if workspace.broker.ssh:
            from celerydesk.services.tunnel import TunnelKeeper  # here: only for a broker behind ssh

            self.tunnel = TunnelKeeper(workspace)  # before the stack: the broker URL is its local end
        self.stack = StackController(workspace)
        if carry_from is not None:
            self.stack.carry_history(carry_from)
        self.stack.stackStopped.connect(self._maybe_finish_quit)
        self.context = DeskContext(self.stack, parent=self.stack)
        self.context.workspaceSaved.connect(lambda path: self.apply_saved_settings(Path(path), restart=False))
        self.tray = None
        if QSystemTrayIcon.isSystemTrayAvailable():
            from celerydesk.ui.tray import QtTray  # here: a desktop without a tray never needs it

            self.tray = QtTray(self.stack, self.app.windowIcon(), broker=self.context.broker)
        self.window = QtMainWindow(self.context, tray_available=self.tray is not None)
        self.window.restore_layout(self.settings)
        self.window.quitRequested.connect(self.quit)
        self.window.openRequested.connect(self._choose_and_open)
        self.window.newRequested.connect(self._new_and_open)
        self.window.settingsRequested.connect(self._edit_settings)
        self.window.recentRequested.connect(lambda p: self._open_path(Path(p)))
        self.window.newWindowRequested.connect(self._open_in_new_window)
        if self.tunnel is not None:
            self.tunnel.message.connect(self.window.banner.show_message)
            self.tunnel.start()
        if self.tray is not None:
            self.window.set_tray(self.tray.icon)
            self.tray.showRequested.connect(self._show_window)
            self.tray.quitRequested.connect(self.quit)
            self.tray.show()
        # The recent list (a settings file written to disk) waits until the window is up.
        self.window.panelsBuilt.connect(lambda: self._remember(workspace.path))
        self.window.show()
        if workspace.watch_only:  # only the broker's probe: nothing is started there
            QTimer.singleShot(0, self.stack, self.stack.start_all)
        return self.window

    def _stop_tunnel(self) -> None:
        if self.tunnel is not None:
            self.tunnel.stop()
            self.tunnel = None

    def _open_in_new_window(self) -> None:
        """Another workspace in a window (and a celerydesk process) of its own, beside this one."""
        import subprocess

        from celerydesk.core.selfcmd import cli_argv
        from celerydesk.ui.workspaces import choose_workspace

        path = choose_workspace(self.window)
        if path:
            subprocess.Popen(cli_argv("gui", "-w", str(path)), start_new_session=True,
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def _open_path(self, path: Path) -> None:
        if self.stack is not None and self.stack.phase != StackPhase.IDLE:
            if not self.stack.ws.watch_only:  # one only watched just stops being watched
                answer = QMessageBox.question(self.window, "Open workspace",
                                              f"Stop the running stack of {self.stack.ws.name} first?")
                if answer != QMessageBox.StandardButton.Yes:
                    return
            self.stack.stackStopped.connect(lambda: self._open_path(path))
            self.stack.stop_all()
            return
        try:
            self.open(load_workspace(path))
        except DeskError as exc:
            QMessageBox.warning(self.window, "Cannot open workspace", str(exc))

    def _choose_and_open(self) -> None:
        from celerydesk.ui.workspaces import choose_workspace

        path = choose_workspace(self.window)
        if path:
            self._open_path(Path(path))

    def _new_and_open(self) -> None:
        from celerydesk.ui.workspaces import new_workspace

        path = new_workspace(self.window)
        if path:
            self._open_path(Path(path))

    def _edit_settings(self) -> None:
        from celerydesk.ui.settings_dialog import QtSettingsDialog

        try:
            dialog = QtSettingsDialog(self.stack.ws.path, self.context.interpreter, self.window)
        except DeskError as exc:  # the file broke since it was opened: say so, keep it as it is
            self.window.banner.show_message("error", str(exc))
            return
        saved: list[str] = []
        dialog.saved.connect(saved.append)
        dialog.exec()
        if not saved:
            return
        restart = False
        if self.stack.phase != StackPhase.IDLE:
            restart = QMessageBox.question(
                self.window, "Apply the settings",
                "The stack runs with the settings it was started with. Restart it now with the new ones?\n\n"
                "(If not, they apply when it is next stopped.)") == QMessageBox.StandardButton.Yes
        self.apply_saved_settings(Path(saved[-1]), restart)

    def apply_saved_settings(self, path: Path, restart: bool) -> None:
        """Reopen the workspace from ``path``: a stack runs with the settings it was built with.

        Idle, at once (the next start uses them). Running: stopped and started again with them if
        ``restart``, else reopened when it next stops, so a start from then on uses them.
        """
        if self.stack.phase == StackPhase.IDLE:
            self._reopen(path, "Workspace saved; the next start uses it")
        elif restart:
            self.stack.stackStopped.connect(lambda: self._reopen(path, "Restarted with the saved settings", start=True))
            self.stack.stop_all()
        else:
            self.window.statusBar().showMessage("Workspace saved; it applies once the stack is stopped", 0)
            if self._reopen_on_stop is not self.stack:  # saved twice while running: reopened once
                self._reopen_on_stop = self.stack
                self.stack.stackStopped.connect(lambda: self._reopen(path, "The saved settings apply from the next start"))

    def _reopen(self, path: Path, message: str, start: bool = False) -> None:
        if self._quitting:  # stopped to quit: nothing to reopen
            return
        try:
            workspace = load_workspace(path)
        except DeskError as exc:  # changed on disk since it was saved: keep what runs, say why
            self.window.banner.show_message("error", str(exc))
            return
        self.open(workspace, carry_from=self.stack).statusBar().showMessage(message, 10000)
        if start:
            self.stack.start_all()

    def _remember(self, path: Path) -> None:
        from celerydesk.ui.workspaces import add_recent, recent_workspaces

        add_recent(path, self.settings)
        self.window.set_recent([str(p) for p in recent_workspaces(self.settings)])

    def _show_window(self) -> None:
        if self.window is not None:
            self.window.keep_in_tray = False
            self.window.showNormal()
            self.window.raise_()
            self.window.activateWindow()

    # -- leaving ----------------------------------------------------------------------------------

    def quit(self) -> None:
        """Stop the stack in order, then leave. A second request while stopping kills."""
        if self._quitting and self.stack is not None:
            self.stack.kill_all()
            return
        self._quitting = True
        if self.window is not None:
            self.window.save_layout(self.settings)
        if self.stack is None or self.stack.phase == StackPhase.IDLE:
            self._finish()
        else:
            self.stack.stop_all()

    def _maybe_finish_quit(self) -> None:
        if self._quitting:
            self._finish()

    def _finish(self) -> None:
        if self.window is not None:
            self.window.shutdown()
        if self.tray is not None:
            self.tray.icon.hide()
        self._stop_tunnel()
        self.settings.sync()
        QTimer.singleShot(0, self.app.quit)

    def _last_chance(self) -> None:
        """The loop is ending (e.g. QApplication.quit from elsewhere): kill what still runs."""
        if self.stack is not None and self.stack.phase != StackPhase.IDLE:
            self.stack.kill_all()
        self._stop_tunnel()
        self.signals.close()


def run_gui(workspace_path: Optional[str], start: bool = False, sample: bool = False) -> int:
    from celerydesk.core.paths import sample_workspace_path
    from celerydesk.core.workspace import resolve_workspace_path

    if sample or (workspace_path is None and not resolve_workspace_path(None).exists()):
        workspace_path = str(sample_workspace_path())
    workspace = load_workspace(workspace_path)
    if start:  # another celerydesk runs it: refused now (exit 3), not in a window that cannot start
        from celerydesk.core.runtime import Runtime

        probe = Runtime(workspace.runtime_dir)
        probe.acquire_lock()
        probe.release_lock()
    app = create_application()
    desk = DeskApplication(app)
    desk.open(workspace)
    # Everything built so far lives as long as the app: out of the collector's full passes.
    tune_collector()
    desk.window.panelsBuilt.connect(gc.freeze)  # and again once the panes built after the first paint exist
    if start:
        desk.stack.start_all()
    code = app.exec()
    return code
