"""The main window of one workspace: a sidebar of pages, each with the whole width.

Pages: Services & logs (the services table over the log panes; the first, shown at start),
Dashboard, Tasks, Launch, Schedules, Queues, Workers and Flower, each a click in the sidebar, an
item of the View menu and a shortcut (Ctrl+1 to Ctrl+8). The toolbar keeps the services' states in
view on every page (``state_strip``); clicking one shows its row and its log. A page is built
when it is first shown; only the log panes and the Tasks page are built without being shown,
right after the first paint (see ``_start_late_builds``).

It owns no process: every button goes to the StackController, every change comes back as its
signals. A watch-only workspace (``Workspace.watch_only``) has no Start and Stop: the window says
"watching <environment>" instead. The environment (``ui.environment``: its band, the Environment
menu's unlock and lock) is named in the title and the status bar. The window's shared services come in one ``DeskContext`` (the stack, the broker
service, the queue-depth poll...), handed on to each page. Errors arrive in one place (the
context's ``message``: the stack's and the broker service's) and are shown in the banner at the
top, in the words their sender chose; info goes to the status bar. Alerts that fire (the
context's ``alerts``) are the tray's notifications (else the banner's) and a badge on the
Dashboard's sidebar entry until it is shown; Workspace ▸ Alerts… edits their rules.
"""

from __future__ import annotations

import logging
from typing import Optional

from PySide6.QtCore import QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QMainWindow, QMessageBox, QProgressBar,
                               QToolButton, QVBoxLayout, QWidget)

from celerydesk.core.commands import BROKER, WORKER
from celerydesk.core.states import BUSY_PHASES, RUNNING_STATES, ProcessState, StackPhase
from celerydesk.core.urls import shown_url
from celerydesk.ui import defs
from celerydesk.ui.environment import EnvironmentControl, QtEnvironmentBand
from celerydesk.ui.lazy_tab import QtLazyTab
from celerydesk.ui.pages import QtPageSwitcher
from celerydesk.ui.service_table import QtServiceTable
from celerydesk.ui.state_strip import QtStateStrip

log = logging.getLogger(__name__)

# (key, title, shortcut): the sidebar's order.
PAGES = (("services", "Services & logs", "Ctrl+1"), ("dashboard", "Dashboard", "Ctrl+2"),
         ("tasks", "Tasks", "Ctrl+3"), ("launch", "Launch", "Ctrl+4"), ("schedules", "Schedules", "Ctrl+5"),
         ("queues", "Queues", "Ctrl+6"), ("workers", "Workers", "Ctrl+7"), ("flower", "Flower", "Ctrl+8"))


class QtBanner(QWidget):
    """A dismissable line at the top of the window for what the user must read."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("banner")
        self.label = QLabel(self)
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QToolButton(self)
        close.setText("✕")
        close.setToolTip("Dismiss")
        close.clicked.connect(self.hide)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(defs.MARGIN, defs.SMALL, defs.MARGIN, defs.SMALL)
        layout.addWidget(self.label, 1)
        layout.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        self.hide()

    def show_message(self, level: str, text: str) -> None:
        color = "#c0392b" if level == "error" else "#b9770e"
        self.setStyleSheet(f"#banner {{ background: {color}; }} QLabel {{ color: white; }}")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.label.setText(text)
        self.show()


class QtMainWindow(QMainWindow):
    quitRequested = Signal()  # stop the stack and leave
    openRequested = Signal()  # the user wants another workspace
    newRequested = Signal()
    settingsRequested = Signal()
    recentRequested = Signal(str)
    newWindowRequested = Signal()  # another workspace, in a window of its own
    panelsBuilt = Signal()  # the panes built after the first paint exist now

    def __init__(self, context, tray_available: bool = False, parent=None):
        super().__init__(parent)
        self.context = context
        self.stack = stack = context.stack
        self.tray_available = tray_available
        self.keep_in_tray = False
        self.setObjectName("celerydesk-main")

        self.banner = QtBanner(self)
        self.environment = EnvironmentControl(stack.ws, context.broker, self)
        self.band = QtEnvironmentBand(stack.ws, self)
        self.services = QtServiceTable(stack, context.resources, self)
        self._tray = None
        self.alerts_dialog = None  # the alerts editor last opened (tests drive it)
        self._selected_service: Optional[str] = None  # the services table's row, for the logs
        # The log panes come right after the first paint (they replay what each service kept, so
        # nothing is lost); the other pages when first shown.
        self.logs_tab = QtLazyTab(self._make_logs, self, build_on_show=False)
        services_page = QWidget(self)
        services_layout = QVBoxLayout(services_page)
        services_layout.setContentsMargins(defs.SMALL, defs.SMALL, defs.SMALL, 0)
        services_layout.setSpacing(defs.SPACING)
        services_layout.addWidget(self.services)
        services_layout.addWidget(self.logs_tab, 1)
        self.dashboard_tab = QtLazyTab(self._make_dashboard, self)
        self.tasks_tab = QtLazyTab(self._make_task_monitor, self)
        self.launch_tab = QtLazyTab(self._make_launch_panel, self)
        self.schedules_tab = QtLazyTab(self._make_schedules_panel, self)
        self.queues_tab = QtLazyTab(self._make_queues_panel, self, margin=defs.MARGIN)  # the panel has none
        self.workers_tab = QtLazyTab(self._make_workers_panel, self)
        self.flower_tab = QtLazyTab(self._make_flower_view, self)
        self.pages = QtPageSwitcher(self)
        widgets = {"services": services_page, "dashboard": self.dashboard_tab, "tasks": self.tasks_tab,
                   "launch": self.launch_tab, "schedules": self.schedules_tab, "queues": self.queues_tab,
                   "workers": self.workers_tab, "flower": self.flower_tab}
        for key, title, shortcut in PAGES:
            self.pages.add_page(key, title, shortcut, widgets[key])
        self.pages.pageChanged.connect(self._on_page)
        central = QWidget(self)
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.band)
        layout.addWidget(self.banner)
        layout.addWidget(self.pages, 1)
        self.setCentralWidget(central)

        self._build_actions()
        self._build_status_bar()
        self.services.install_shortcuts(self)
        self.services.selectedServiceChanged.connect(self._show_service_logs)

        self.environment.changed.connect(self._show_environment)
        self._show_environment()
        context.message.connect(self._on_message)
        stack.phaseChanged.connect(self._on_phase)
        stack.serviceStateChanged.connect(self._refresh_status)  # a bound method: dropped with the window
        context.depths.depthsChanged.connect(self._show_queue_depths)
        self._on_phase(stack.phase)
        self._refresh_status()
        self._late_builds_started = False
        # Normally the first paint starts them; a window that is not painted soon (minimized,
        # obscured) builds them anyway.
        QTimer.singleShot(1000, self, self._start_late_builds)
        self.resize(1200, 800)

    # -- building -------------------------------------------------------------------------------

    def _build_actions(self) -> None:
        toolbar = self.addToolBar("Stack")
        toolbar.setObjectName("stack-toolbar")
        toolbar.setMovable(False)
        self.start_all_action = QAction("Start all", self, shortcut=QKeySequence("Ctrl+Shift+S"),
                                        toolTip="Start the broker, then workers, beat and Flower (Ctrl+Shift+S)",
                                        triggered=lambda: self.stack.start_all())
        self.stop_all_action = QAction("Stop all", self, shortcut=QKeySequence("Ctrl+Shift+X"),
                                       toolTip="Stop beat and Flower, then workers (warm), then the broker (Ctrl+Shift+X)",
                                       triggered=lambda: self.stack.stop_all())
        self.settings_action = QAction("Settings…", self, shortcut=QKeySequence("Ctrl+,"),
                                       triggered=lambda: self.settingsRequested.emit())
        watch_only = self.stack.ws.watch_only
        if watch_only:  # nothing to start or stop: say what it does instead
            self.watching_label = QLabel(f"  watching {self.stack.ws.environment_name}  ", toolbar)
            self.watching_label.setToolTip("A stack celerydesk did not start: it shows its tasks, history, workers "
                                           "and queues, and starts and stops nothing")
            toolbar.addWidget(self.watching_label)
        else:
            toolbar.addAction(self.start_all_action)
            toolbar.addAction(self.stop_all_action)
        toolbar.addSeparator()
        toolbar.addAction(self.settings_action)
        toolbar.addSeparator()
        self.state_strip = QtStateStrip(self.stack, toolbar)
        self.state_strip.serviceClicked.connect(self.show_service)
        toolbar.addWidget(self.state_strip)

        menu = self.menuBar().addMenu("&Workspace")
        menu.addAction(QAction("&Open…", self, shortcut=QKeySequence.StandardKey.Open,
                               triggered=lambda: self.openRequested.emit()))
        menu.addAction(QAction("&New from a project folder…", self, shortcut=QKeySequence.StandardKey.New,
                               triggered=lambda: self.newRequested.emit()))
        self.recent_menu = menu.addMenu("Open &recent")
        menu.addAction(QAction("Open in a new &window…", self, shortcut=QKeySequence("Ctrl+Shift+N"),
                               toolTip="Another workspace (staging beside dev) in a window of its own",
                               triggered=lambda: self.newWindowRequested.emit()))
        menu.addAction(self.settings_action)
        self.alerts_action = QAction("&Alerts…", self, triggered=self.edit_alerts,
                                     toolTip="Add, edit and remove the workspace's alert rules")
        menu.addAction(self.alerts_action)
        self.export_compose_action = QAction("Export docker-compose.yml…", self, triggered=self._export_compose)
        menu.addAction(self.export_compose_action)
        menu.addSeparator()
        menu.addAction(QAction("&Quit", self, shortcut=QKeySequence.StandardKey.Quit,
                               triggered=lambda: self.quitRequested.emit()))
        if not watch_only:
            stack_menu = self.menuBar().addMenu("&Stack")
            stack_menu.addAction(self.start_all_action)
            stack_menu.addAction(self.stop_all_action)
        self.menuBar().addMenu(self.environment.menu(self))
        view_menu = self.menuBar().addMenu("&View")
        for key, _title, _shortcut in PAGES:
            view_menu.addAction(self.pages.action(key))

    def _export_compose(self) -> None:
        from celerydesk.ui.compose_export import export_compose  # only when asked: keeps start-up light

        export_compose(self, self.stack.ws.path)

    def edit_alerts(self):
        """The alerts editor (window-modal, not blocking); the rules apply once it saves."""
        from celerydesk.core.errors import WorkspaceError
        from celerydesk.ui.alerts_dialog import QtAlertsDialog  # only when asked: keeps start-up light

        try:
            dialog = QtAlertsDialog(self.stack.ws.path, self)
        except WorkspaceError as exc:
            self.banner.show_message("error", f"cannot edit alerts: {exc}")
            return None
        dialog.saved.connect(self._on_alerts_saved)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.alerts_dialog = dialog
        dialog.open()
        return dialog

    def _on_alerts_saved(self, workspace) -> None:
        self.stack.ws.alerts = workspace.alerts
        self.context.alerts.set_rules(workspace.alerts)
        self.statusBar().showMessage(f"alerts saved: {len(workspace.alerts)} rule(s)", 8000)

    def _watch_alerts(self) -> None:
        """Once the event monitor runs (the Tasks page's build): the alerts' notices and badge."""
        alerts = self.context.alerts
        alerts.fired.connect(self._on_alert)
        alerts.unseenChanged.connect(lambda n: self.pages.set_badge("dashboard", n, f"{n} new alert(s)"))

    def _on_alert(self, firing) -> None:
        from celerydesk.ui.tray import notify_alert

        if self.pages.current_key() == "dashboard" and self.isActiveWindow():
            self.context.alerts.mark_seen()  # seen as it comes
        if not notify_alert(self._tray, firing):
            self.banner.show_message("warning", f"Alert {firing.rule}: {firing.message}")

    def set_recent(self, paths: list[str]) -> None:
        self.recent_menu.clear()
        for path in paths:
            self.recent_menu.addAction(path, lambda p=path: self.recentRequested.emit(p))
        self.recent_menu.setEnabled(bool(paths))

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.busy = QProgressBar(self)
        self.busy.setRange(0, 0)  # indeterminate: starting never blocks, it shows it is at work
        self.busy.setMaximumWidth(120)
        self.busy.setTextVisible(False)
        self.broker_label = QLabel(self)
        self.queue_label = QLabel(self)
        self.workers_label = QLabel(self)
        self.environment_label = QLabel(self)
        for widget in (self.busy, self.environment_label, self.broker_label, self.queue_label, self.workers_label):
            bar.addPermanentWidget(widget)
        self.workers_label.setVisible(not self.stack.ws.watch_only)  # its workers are on the Workers page

    # -- reacting ---------------------------------------------------------------------------------

    def _show_environment(self) -> None:
        ws = self.stack.ws
        lock = " (read-only)" if self.environment.read_only else ""
        self.setWindowTitle(f"celerydesk — {ws.environment_name}{lock}")
        self.environment_label.setText(f"{ws.environment_name}{lock}")
        self.band.show_state(self.environment.read_only, self.environment.unlocked)

    def _on_message(self, level: str, text: str) -> None:
        if level in ("error", "warning"):
            self.banner.show_message(level, text)
        else:
            self.statusBar().showMessage(text, 8000)

    # -- panels built late ------------------------------------------------------------------------

    def _make_logs(self, parent) -> QWidget:
        from celerydesk.ui.log_view import QtLogsWidget

        logs = QtLogsWidget(self.stack, parent=parent)
        if self._selected_service is not None:
            logs.show_service(self._selected_service)
        return logs

    def _make_flower_view(self, parent) -> QWidget:
        from celerydesk.ui.flower_view import QtFlowerView

        return QtFlowerView(self.stack, parent)

    def _make_dashboard(self, parent) -> QWidget:
        from celerydesk.ui.dashboard_page import QtDashboardPage

        page = QtDashboardPage(self.context, parent)
        page.tasksRequested.connect(self.show_tasks)
        return page

    def show_tasks(self, since: float, until: float, when: str, states: tuple = ()) -> None:
        """The Tasks page on a time range and states (the Dashboard's click-through)."""
        self.show_page("tasks")
        self.tasks.show_range(since, until, when, states)

    def _make_workers_panel(self, parent) -> QWidget:
        from celerydesk.ui.workers_panel import QtWorkersPanel

        return QtWorkersPanel(self.context, parent)

    def _make_task_monitor(self, parent) -> QWidget:
        from celerydesk.ui.task_monitor import QtTaskMonitor

        monitor = QtTaskMonitor(self.context, parent)
        monitor.message.connect(self._on_message)
        monitor.set_tray(self._tray)
        return monitor

    def _make_launch_panel(self, parent) -> QWidget:
        from celerydesk.ui.launch_form import QtLaunchPanel

        panel = QtLaunchPanel(self.context, parent)
        panel.launched.connect(self._on_launched)
        return panel

    def _make_schedules_panel(self, parent) -> QWidget:
        from celerydesk.ui.schedules_panel import QtSchedulesPanel

        panel = QtSchedulesPanel(self.context, parent)
        panel.message.connect(self._on_message)
        return panel

    def _make_queues_panel(self, parent) -> QWidget:
        from celerydesk.ui.queues_panel import QtQueuesPanel

        return QtQueuesPanel(self.context, parent, messages=True)

    @property
    def logs(self):
        return self.logs_tab.ensure()

    @property
    def flower(self):
        return self.flower_tab.ensure()

    @property
    def dashboard(self):
        return self.dashboard_tab.ensure()

    @property
    def queues(self):
        return self.queues_tab.ensure()

    @property
    def workers(self):
        return self.workers_tab.ensure()

    @property
    def tasks(self):
        return self.tasks_tab.ensure()

    @property
    def launch(self):
        return self.launch_tab.ensure()

    @property
    def schedules(self):
        return self.schedules_tab.ensure()

    def paintEvent(self, event) -> None:
        super().paintEvent(event)
        if not self._late_builds_started:
            QTimer.singleShot(0, self, self._start_late_builds)  # once this paint is done

    def show_page(self, key: str) -> QWidget:
        """Show a page (``PAGES``' keys), as its sidebar entry or shortcut does; its widget."""
        return self.pages.show_page(key)

    def _on_page(self, key: str) -> None:
        log.info("page: %s", key)  # `celerydesk gui -v` says which page the user went to
        if key == "dashboard" and self._late_builds_started and self.context.alerts_made:
            self.context.alerts.mark_seen()

    def show_service(self, key: str) -> None:
        """The services page, with ``key``'s row selected and its log shown ("" for the page alone)."""
        self.pages.show_page("services")
        if key:
            self.services.view.selectRow(self.services.model.row_of(key))

    def _start_late_builds(self) -> None:
        if self._late_builds_started:
            return
        self._late_builds_started = True
        # One per turn of the event loop, so input and painting go on between them. The log panes
        # are on the first page. The Tasks page is built shown or not: it watches for what the user
        # must hear of while on another page (a task no worker has registered, a launched task
        # that finished), and its monitor must see events from the start.
        self._build_late([self.logs_tab, self.tasks_tab])

    def _build_late(self, tabs: list) -> None:
        if not tabs:
            self._watch_alerts()
            self.panelsBuilt.emit()
            return
        tabs[0].ensure()
        QTimer.singleShot(0, self, lambda: self._build_late(tabs[1:]))

    def _show_service_logs(self, key: str) -> None:
        # Chosen before the logs exist: not a reason to build them early; they open on it.
        self._selected_service = key
        if self.logs_tab.widget is not None:
            self.logs_tab.widget.show_service(key)

    def _on_launched(self, launch) -> None:
        """Tasks sent from the Launch tab are "yours": the monitor notifies when they finish."""
        if launch.error:
            self.banner.show_message("error", launch.error)
            return
        for task_id in launch.ids:
            self.tasks.note_launched(task_id, name=launch.task)
        if launch.options.queue:
            self.tasks.watch_queue(launch.options.queue)

    def _on_phase(self, phase: StackPhase) -> None:
        self.busy.setVisible(phase in BUSY_PHASES)
        self.start_all_action.setEnabled(phase == StackPhase.IDLE)
        self.stop_all_action.setEnabled(phase != StackPhase.IDLE)
        if phase == StackPhase.STARTING:
            self.banner.hide()

    def _refresh_status(self, *_) -> None:
        self.broker_label.setText(f"broker {shown_url(self.stack.broker_url())} ({self.stack.mode or self.stack.ws.broker.mode})")
        workers = [k for k in self.stack.enabled_keys() if k.startswith(f"{WORKER}-")]
        running = sum(self.stack.state(k) == ProcessState.RUNNING for k in workers)
        self.workers_label.setText(f"workers {running}/{len(workers)}")
        if self.stack.state(BROKER) not in RUNNING_STATES:
            self.queue_label.setText("")

    def _show_queue_depths(self, depths: dict) -> None:
        """The workers' queues, from the window's one depth poll (the Tasks page lists them all)."""
        if self.stack.state(BROKER) not in RUNNING_STATES:
            return
        ours = {q for w in self.stack.ws.workers for q in w.queues}
        shown = {q: n for q, n in depths.items() if q in ours or self.stack.ws.watch_only}
        self.queue_label.setText("queued " + ", ".join(f"{q}: {n}" for q, n in shown.items()))

    # -- window state -----------------------------------------------------------------------------

    def restore_layout(self, settings: QSettings) -> None:
        # Size and place only: the window always opens on its first page (showing another at
        # once would build it before the first paint).
        for key, restore in (("geometry", self.restoreGeometry), ("state", self.restoreState)):
            value = settings.value(f"window/{key}")
            if value is not None:
                restore(value)

    def save_layout(self, settings: QSettings) -> None:
        settings.setValue("window/geometry", self.saveGeometry())
        settings.setValue("window/state", self.saveState())

    def set_tray(self, tray) -> None:
        """Notifications of finished tasks go to the tray when there is one."""
        self._tray = tray
        if self.tasks_tab.widget is not None:
            self.tasks_tab.widget.set_tray(tray)

    def shutdown(self) -> None:
        """Stop the threads, timers and children of the window's services and panels (the event
        consumer, the depth poll, the schedules' store agent)."""
        if self.schedules_tab.widget is not None:
            self.schedules_tab.widget.shutdown()
        self.context.shutdown()

    def closeEvent(self, event: QCloseEvent) -> None:
        """Closing with the stack running asks: stop it, or keep it running in the tray. A window
        that only watches just closes (it stops nothing but its watching)."""
        if self.stack.phase == StackPhase.IDLE or self.stack.ws.watch_only:
            event.accept()
            self.quitRequested.emit()
            return
        box = QMessageBox(QMessageBox.Icon.Question, "Close celerydesk",
                          "The stack is running. Stop it, or keep it running in the tray?", parent=self)
        stop = box.addButton("Stop the stack and quit", QMessageBox.ButtonRole.DestructiveRole)
        keep = box.addButton("Keep running in the tray", QMessageBox.ButtonRole.AcceptRole)
        keep.setEnabled(self.tray_available)
        if not self.tray_available:
            keep.setToolTip("This desktop has no system tray")
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        clicked = box.clickedButton()
        if clicked is stop:
            event.ignore()  # the app closes the window once the stack has stopped
            self.quitRequested.emit()
        elif clicked is keep:
            self.keep_in_tray = True
            event.accept()
        else:
            event.ignore()
