"""The window's schedules table: every schedule beat runs, each where it lives.

Rows come from ``core.schedules.load_schedules``: the workspace file's ``[[schedules]]`` first,
then the app's own ``beat_schedule`` as introspection reports it (run off the GUI thread, once,
and again on Refresh), then, when the app's beat keeps its entries in django-celery-beat's
database or RedBeat's Redis (``core.project_scheduler``), those entries, read by a store agent
in the project's interpreter (``services.schedule_store``, polled every 2 s, so a change made in
the Django admin or by the application shows within seconds). Last run and run count come from
the live scheduler's state file, or from the store. The table is also re-read when the stack
rewrites beat's mirror, when the workspace file changes, and every few seconds for run times.
When the app's beat runs a scheduler celerydesk cannot add to, the status line (and the
window's banner, once) says that the workspace's schedules are not sent.

Every edit goes through the schedule editor (``QtScheduleDialog``), a WorkspaceDocument (the
file keeps its comments and is replaced atomically) or the store agent (the project's own
models and API). "Run now" sends the task once by name through the window's broker service,
off the GUI thread; it never imports the user's code. The project's schedules come from the
window's introspection service. What the user must read goes out through ``message``, the
stack's channel.
"""

from __future__ import annotations

from typing import Callable, Optional

from PySide6.QtCore import QFileSystemWatcher, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QGuiApplication
from PySide6.QtWidgets import (QAbstractItemView, QDialog, QDialogButtonBox, QHBoxLayout, QHeaderView, QLabel,
                               QMessageBox, QPlainTextEdit, QPushButton, QTableWidget, QTableWidgetItem,
                               QVBoxLayout, QWidget)

from celerydesk.core.broker_client import SendOptions
from celerydesk.core.errors import DeskError, WorkspaceError
from celerydesk.core.project_scheduler import ProjectScheduler, classify
from celerydesk.core.schedules import WORKSPACE, ScheduleView, export_snippet, load_schedules, store_views
from celerydesk.core.workspace import load_workspace
from celerydesk.core.workspace_edit import WorkspaceDocument
from celerydesk.ui import defs
from celerydesk.ui.read_only import read_only_reason
from celerydesk.ui.schedule_dialog import QtScheduleDialog

COLUMNS = ("Name", "Source", "Task", "When", "Next run", "Last run", "Runs", "Enabled")
NAME, SOURCE, TASK, WHEN, NEXT, LAST, RUNS, ENABLED = range(len(COLUMNS))
REFRESH_MS = 3000  # run times and counts change only when beat sends something
_TIME = "%Y-%m-%d %H:%M:%S"
_ORIGINS = {"config": "settings", "add_periodic_task": "code"}  # where the app's entry was defined


def default_confirm(parent: QWidget, text: str) -> bool:
    answer = QMessageBox.question(parent, "celerydesk", text)
    return answer == QMessageBox.StandardButton.Yes


def send_once(client, view: ScheduleView) -> str:
    """Send the schedule's task once, by name, through ``client``; the task id."""
    if not client.answers(timeout=2.0):
        raise DeskError(f"the broker at {client.shown_url} does not answer", hint="start the stack first")
    return client.send(view.task, view.args, view.kwargs, SendOptions(queue=view.queue or None), via="run-now")


class QtSchedulesPanel(QWidget):
    """Schedules of ``stack.ws``. ``message(level, text)``: what the user must read;
    ``sent(name, task_id)``: a "Run now" went out; ``refreshed()``: the rows were re-read."""

    message = Signal(str, str)
    sent = Signal(str, str)
    refreshed = Signal()

    def __init__(self, context, parent: Optional[QWidget] = None, *,
                 confirm: Optional[Callable[[QWidget, str], bool]] = None, refresh_ms: int = REFRESH_MS,
                 store_agent: Optional[Callable] = None):
        super().__init__(parent)
        self.stack = stack = context.stack
        self.broker = context.broker
        self.introspection = context.introspection
        self.path = stack.ws.path
        self._confirm = confirm or default_confirm
        self._make_agent = store_agent or self._default_agent  # (workspace, source) -> a store agent
        self.agent = None  # the store agent, when the app's beat keeps its entries in a store
        self.scheduler: Optional[ProjectScheduler] = None  # the app's, once introspected
        self._app_zone = "UTC"
        self._project: Optional[list] = None  # the introspector's beat_schedule; None: beat's state file
        self._tasks: list = []  # TaskInfo of the project's tasks, for the editor's task list
        self.views: list[ScheduleView] = []
        self.dialog: Optional[QtScheduleDialog] = None  # the editor last opened (tests drive it)
        self.export_dialog: Optional[QDialog] = None

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        self.table.setWordWrap(False)  # one line a schedule; the full text is in the tooltip
        # Every column as wide as its text (the schedule in words is what people read); the table
        # scrolls sideways when the panel is narrow.
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.itemChanged.connect(self._on_item_changed)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.broker.readOnlyChanged.connect(self._update_buttons)
        self.table.doubleClicked.connect(lambda _index: self.edit_selected())
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setEnabled(False)  # muted

        self.buttons = {}
        # Two short rows rather than one long one: the panel shares its width with the logs.
        rows = []
        for group in ((("add", "Add…", self.add), ("edit", "Edit…", self.edit_selected),
                       ("duplicate", "Duplicate…", self.duplicate_selected),
                       ("delete", "Delete", self.delete_selected), ("toggle", "Disable", self.toggle_selected)),
                      (("run", "Run now", self.run_selected),
                       ("copy", "Copy into workspace…", self.copy_selected),
                       ("export", "Export…", self.show_export))):
            row = QHBoxLayout()
            for key, text, slot in group:
                button = QPushButton(text)
                button.clicked.connect(slot)
                self.buttons[key] = button
                row.addWidget(button)
            row.addStretch(1)
            rows.append(row)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(defs.MARGIN, defs.MARGIN, defs.MARGIN, defs.MARGIN)
        layout.setSpacing(defs.SPACING)
        for row in rows:
            layout.addLayout(row)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.status)

        stack.schedule_sync.mirrorWritten.connect(self.refresh)
        self.introspection.finished.connect(self._on_introspected)
        # The file is watched with its folder: editors and atomic saves replace it (a new inode).
        self._watcher = QFileSystemWatcher([str(self.path), str(self.path.parent)], self)
        self._watcher.fileChanged.connect(self._on_file_changed)
        self._watcher.directoryChanged.connect(self._on_file_changed)
        self._timer = QTimer(self)
        self._timer.setInterval(refresh_ms)
        self._timer.timeout.connect(self.refresh)
        self._timer.start()
        self.refresh()
        self.introspect()

    # -- reading ----------------------------------------------------------------------------------

    def introspect(self) -> None:
        """Load the project's tasks and beat_schedule off the GUI thread (cached by the core)."""
        self.status.setText("reading the project's tasks and schedules…")
        self.introspection.request()

    @staticmethod
    def _default_agent(ws, source: str):
        from celerydesk.services.schedule_store import ScheduleStoreAgent

        return ScheduleStoreAgent(ws, source)

    def _on_introspected(self, result, error: Optional[BaseException]) -> None:
        if error is not None:
            text = error.message if isinstance(error, DeskError) else repr(error)
            self.status.setText("the project's own schedules are those beat loaded last")
            self.message.emit("warning", f"schedules: the project could not be read: {text}")
        else:
            self._project = list(result.beat_schedule)
            self._tasks = result.user_tasks()
            self._app_zone = str(result.app.get("timezone") or "UTC")
            self._set_scheduler(classify(result.app) if result.app.get("beat_scheduler_mro") else None)
        self.refresh()

    def _set_scheduler(self, scheduler: Optional[ProjectScheduler]) -> None:
        """What beat does with the app's scheduler, said once; its store's agent started."""
        changed = scheduler != self.scheduler
        self.scheduler = scheduler
        self._show_status()
        if not changed or scheduler is None:
            return
        if not scheduler.sends_workspace_schedules:
            self.message.emit("warning", f"schedules: {scheduler.describe()}")
        if self.agent is not None and self.agent.source != scheduler.store:
            self.agent.stop()
            self.agent = None
        if scheduler.store and self.agent is None:
            ws = self._load_workspace()
            if ws is not None:
                self.agent = self._make_agent(ws, scheduler.store)
                self.agent.setParent(self)
                self.agent.entriesChanged.connect(self.refresh)
                self.agent.failed.connect(lambda _text: self._show_status())
                self.agent.start()

    def _show_status(self) -> None:
        lines = []
        if self.scheduler is not None and self.scheduler.kind != "stock":
            lines.append(self.scheduler.describe())
        if self.agent is not None and self.agent.error:
            lines.append(self.agent.error)
        elif self.agent is not None and self.agent.entries is None:
            lines.append("reading the entries the project keeps…")
        self.status.setText("\n".join(lines))

    def shutdown(self) -> None:
        """Stop the store agent (the window closes, or another workspace opens)."""
        if self.agent is not None:
            self.agent.stop()

    def _load_workspace(self):
        try:
            return load_workspace(self.path)
        except WorkspaceError as exc:  # a broken file: keep the rows shown, say why they are stale
            self.status.setText(f"{self.path} does not load: {'; '.join(exc.problems)}")
            return None

    def _on_file_changed(self, _path: str) -> None:
        if str(self.path) not in self._watcher.files() and self.path.exists():
            self._watcher.addPath(str(self.path))  # follow the replaced file
        self.refresh()

    def refresh(self) -> None:
        """Re-read the file and beat's state; the selected row stays selected."""
        ws = self._load_workspace()
        if ws is None:
            return
        selected = self.selected()
        key = (selected.source, selected.name) if selected else None
        store = None
        if self.agent is not None and self.agent.entries is not None:
            store = store_views(self.agent.entries, self.agent.source)
        self.views = load_schedules(ws, self._project, store, self.scheduler)
        self._show_status()
        self.table.blockSignals(True)  # filling the Enabled checkboxes is not the user toggling them
        self.table.setRowCount(len(self.views))
        for row, view in enumerate(self.views):
            self._fill_row(row, view)
        self.table.blockSignals(False)
        if key is not None:
            for row, view in enumerate(self.views):
                if (view.source, view.name) == key:
                    self.table.selectRow(row)
        self._update_buttons()
        self.refreshed.emit()

    def _fill_row(self, row: int, view: ScheduleView) -> None:
        source = view.source
        if view.source != WORKSPACE and view.origin:
            source += f" ({_ORIGINS.get(view.origin, view.origin)})"
        source += ", replaced by the workspace's" if view.overridden else ""
        try:  # beat sends neither a disabled schedule nor an app one the workspace replaces
            upcoming = view.next_run(self._app_zone) if not view.overridden and not view.problems else None
            next_run = upcoming.astimezone().strftime(_TIME) if upcoming else "—"
        except DeskError:
            next_run = "—"
        when = ("⚠ " if view.warnings or view.problems else "") + view.description()
        last = view.last_run_at.astimezone().strftime(_TIME) if view.last_run_at else "—"
        texts = (view.name, source, view.task, when, next_run, last, str(view.total_run_count), "")
        tip = "\n".join(view.problems + view.warnings + view.notes)
        for column, text in enumerate(texts):
            item = QTableWidgetItem(text)
            flags = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
            if column == ENABLED:
                if view.writable:
                    flags |= Qt.ItemFlag.ItemIsUserCheckable
                item.setCheckState(Qt.CheckState.Checked if view.enabled else Qt.CheckState.Unchecked)
            item.setFlags(flags)
            if column in (WHEN, NAME):
                item.setToolTip(f"{view.when}: {view.description()}\n{tip}".strip())
            if not view.writable:
                item.setForeground(self.palette().placeholderText())  # read-only: the app's
            if view.problems:
                item.setForeground(QBrush(defs.readable(defs.LEVEL_COLORS["ERROR"], self.palette().base().color())))
            self.table.setItem(row, column, item)

    # -- selection --------------------------------------------------------------------------------

    def selected(self) -> Optional[ScheduleView]:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        return self.views[rows[0].row()] if rows and rows[0].row() < len(self.views) else None

    def select(self, name: str, source: str = WORKSPACE) -> None:
        for row, view in enumerate(self.views):
            if view.name == name and view.source == source:
                self.table.selectRow(row)
                return
        raise KeyError(f"no {source} schedule called {name!r}")

    def _update_buttons(self) -> None:
        view = self.selected()
        read_only = read_only_reason(self.broker)
        # A store's entries (django-celery-beat, RedBeat) live on the stack itself: not editable
        # in a read-only environment; the workspace file's are (they are only the file).
        store_locked = read_only is not None and view is not None and view.source != WORKSPACE
        writable = view is not None and view.writable and not store_locked
        for key in ("edit", "delete", "toggle"):
            self.buttons[key].setEnabled(writable)
            self.buttons[key].setToolTip(read_only if store_locked else "")
        self.buttons["duplicate"].setEnabled(view is not None and view.editable)
        self.buttons["toggle"].setText("Enable" if writable and not view.enabled else "Disable")
        read_only = read_only_reason(self.broker)  # Run now sends the task
        self.buttons["run"].setEnabled(view is not None and bool(view.task) and read_only is None)
        self.buttons["run"].setToolTip(read_only or "")
        self.buttons["copy"].setEnabled(view is not None and not view.writable)

    # -- editing ----------------------------------------------------------------------------------

    def _open_dialog(self, schedule=None) -> Optional[QtScheduleDialog]:
        """The editor, window-modal but not blocking (``open()``); the table follows its save."""
        try:
            stores = (self.agent.source,) if self.agent is not None else ()
            dialog = QtScheduleDialog(self.path, self._tasks, schedule, parent=self, stores=stores,
                                      store_request=self.agent.request if self.agent is not None else None,
                                      app_zone=self._app_zone)
        except WorkspaceError as exc:
            self.message.emit("error", f"cannot edit schedules: {exc}")
            return None
        dialog.saved.connect(lambda name: self._after_store_change() if self.agent is not None else self.refresh())
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.dialog = dialog
        dialog.open()
        return dialog

    def add(self) -> Optional[QtScheduleDialog]:
        return self._open_dialog()

    def edit_selected(self) -> Optional[QtScheduleDialog]:
        """The editor on the selected schedule (read-only, saying why, for one celerydesk cannot rewrite)."""
        view = self.selected()
        return self._open_dialog(view) if view is not None and view.writable else None

    def _copy_of(self, view: ScheduleView, name: str) -> ScheduleView:
        """A new (not yet saved) schedule like ``view``, named ``name`` or ``name-2``, ``-3``..."""
        taken = {v.name for v in self.views if v.writable}
        candidate, n = name, 2
        while candidate in taken:
            candidate, n = f"{name}-{n}", n + 1
        # source "copy": not a row yet, so the editor adds it rather than editing one.
        return ScheduleView(name=candidate, task=view.task, source="copy", enabled=view.enabled, cron=view.cron,
                            every=view.every, args=list(view.args), kwargs=dict(view.kwargs), queue=view.queue,
                            timezone=view.timezone, expires=view.expires, one_off=view.one_off,
                            start_at=view.start_at, priority=view.priority)

    def duplicate_selected(self) -> Optional[QtScheduleDialog]:
        view = self.selected()
        if view is None or not view.editable:
            return None
        dialog = self._open_dialog(self._copy_of(view, f"{view.name}-copy"))
        if dialog is not None:  # the copy is kept where the original is
            dialog.keep_in.setCurrentIndex(max(dialog.keep_in.findData(view.source), 0))
        return dialog

    def copy_selected(self) -> Optional[QtScheduleDialog]:
        """A project schedule, into the editor as a new workspace one: same name, so that, once
        saved, it replaces the project's in beat (the scheduler lets the workspace's win)."""
        view = self.selected()
        if view is None or view.writable:
            return None
        if view.kind == "other":
            self.message.emit("warning", f"{view.name}: celerydesk cannot edit a {view.schedule} schedule")
            return None
        return self._open_dialog(self._copy_of(view, view.name))

    def _edit_file(self, what: str, change: Callable[[WorkspaceDocument], None]) -> bool:
        try:
            doc = WorkspaceDocument.load(self.path)
            change(doc)
            doc.save()
        except WorkspaceError as exc:
            self.message.emit("error", f"{what}: not saved: {'; '.join(exc.problems)}")
            return False
        except (KeyError, TypeError, OSError) as exc:
            self.message.emit("error", f"{what}: not saved: {exc}")
            return False
        self.refresh()
        return True

    def set_enabled(self, name: str, enabled: bool, source: str = WORKSPACE) -> bool:
        what = f"{'enable' if enabled else 'disable'} {name}"
        if source != WORKSPACE:
            return self._ask_store(what, {"op": "enable", "name": name, "enabled": enabled})
        return self._edit_file(what, lambda doc: doc.enable_schedule(name, enabled))

    def toggle_selected(self) -> None:
        view = self.selected()
        if view is not None and view.writable:
            self.set_enabled(view.name, not view.enabled, view.source)

    def _on_item_changed(self, item: QTableWidgetItem) -> None:
        if item.column() == ENABLED and item.row() < len(self.views):
            view = self.views[item.row()]
            wanted = item.checkState() == Qt.CheckState.Checked
            if view.writable and wanted != view.enabled:
                # Later, not now: the save refreshes the table, which replaces this very item
                # while the view is still inside its click handling.
                QTimer.singleShot(0, self, lambda: self.set_enabled(view.name, wanted, view.source))

    def delete_selected(self) -> bool:
        view = self.selected()
        if view is None or not view.writable:
            return False
        where = self.path.name if view.source == WORKSPACE else f"the project's {view.source} store"
        if not self._confirm(self, f"Delete the schedule {view.name!r} from {where}? "
                                   "Beat stops sending it within seconds."):
            return False
        if view.source != WORKSPACE:
            return self._ask_store(f"delete {view.name}", {"op": "remove", "name": view.name})
        return self._edit_file(f"delete {view.name}", lambda doc: doc.remove_schedule(view.name))

    def _ask_store(self, what: str, payload: dict) -> bool:
        """A change through the store agent (the project's own models); the table follows its answer."""
        if self.agent is None:
            self.message.emit("error", f"{what}: not saved: the project's store cannot be reached")
            return False

        def done(_answer, error) -> None:
            if error is not None:
                self.message.emit("error", f"{what}: not saved: {error.message}"
                                           + (f"\n  → {error.hint}" if error.hint else ""))
            self._after_store_change()

        self.agent.request(payload, done)
        return True

    def _after_store_change(self) -> None:
        self.refresh()
        if self.agent is not None:
            self.agent.refresh()

    # -- run now, export ---------------------------------------------------------------------------

    def run_selected(self) -> None:
        view = self.selected()
        if view is None or not view.task:
            return
        self.broker.call(lambda client: send_once(client, view),
                         lambda task_id, error: self._on_sent(view, task_id, error), owner=self)

    def _on_sent(self, view: ScheduleView, task_id: Optional[str], error: Optional[BaseException]) -> None:
        if error is not None:
            text = str(error) if isinstance(error, DeskError) else f"{type(error).__name__}: {error}"
            self.message.emit("error", f"run {view.name} now: {view.task} not sent: {text}")
            return
        self.message.emit("info", f"run {view.name} now: sent {view.task}[{task_id}]")
        self.sent.emit(view.name, task_id)

    def export_text(self) -> str:
        ws = self._load_workspace()
        if ws is None:
            raise DeskError(f"{self.path} does not load; fix it before exporting")
        return export_snippet(ws.schedules, source=str(ws.path))

    def show_export(self) -> Optional[QDialog]:
        """The snippet in a dialog with a Copy button (to the clipboard)."""
        try:
            text = self.export_text()
        except DeskError as exc:
            self.message.emit("error", f"export: {exc}")
            return None
        dialog = QDialog(self)
        dialog.setWindowTitle("Export schedules for settings.py")
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.text = QPlainTextEdit(text)
        dialog.text.setReadOnly(True)
        dialog.text.setFont(defs.monospace_font())
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        dialog.copy_button = buttons.addButton("Copy", QDialogButtonBox.ButtonRole.ActionRole)
        dialog.copy_button.clicked.connect(lambda: QGuiApplication.clipboard().setText(text))
        buttons.rejected.connect(dialog.reject)
        layout = QVBoxLayout(dialog)
        layout.addWidget(dialog.text, 1)
        layout.addWidget(buttons)
        dialog.resize(720, 420)
        self.export_dialog = dialog
        dialog.open()
        return dialog
