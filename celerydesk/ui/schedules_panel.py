"""The window's schedules table: the workspace's schedules (editable) and the project's (read-only).

Rows come from ``core.schedules.load_schedules``: the workspace file's ``[[schedules]]`` first,
then the project app's own ``beat_schedule`` as introspection reports it (run off the GUI
thread, once, and again on Refresh), with last run and run count from the live scheduler's
state file. The table is re-read when the stack rewrites beat's mirror
(``schedule_sync.mirrorWritten``), when the workspace file changes (a watcher, since an editor
or the CLI may change it while the stack is stopped), and every few seconds for run times.

Every edit goes through the schedule editor (``QtScheduleDialog``) or a WorkspaceDocument,
so the file keeps its comments and is replaced atomically. "Run now" sends the task once by
name through the window's broker service, off the GUI thread; it never imports the user's
code. The project's schedules come from the window's introspection service. What the user
must read goes out through ``message``, the stack's channel.
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
from celerydesk.core.schedules import WORKSPACE, ScheduleView, export_snippet, load_schedules
from celerydesk.core.workspace import load_workspace
from celerydesk.core.workspace_edit import WorkspaceDocument
from celerydesk.ui import defs
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
    client.require_answer(hint="start the stack first")
    return client.send(view.task, view.args, view.kwargs, SendOptions(queue=view.queue or None))


class QtSchedulesPanel(QWidget):
    """Schedules of ``stack.ws``. ``message(level, text)``: what the user must read;
    ``sent(name, task_id)``: a "Run now" went out; ``refreshed()``: the rows were re-read."""

    message = Signal(str, str)
    sent = Signal(str, str)
    refreshed = Signal()

    def __init__(self, context, parent: Optional[QWidget] = None, *,
                 confirm: Optional[Callable[[QWidget, str], bool]] = None, refresh_ms: int = REFRESH_MS):
        super().__init__(parent)
        self.stack = stack = context.stack
        self.broker = context.broker
        self.introspection = context.introspection
        self.path = stack.ws.path
        self._confirm = confirm or default_confirm
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
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setSectionResizeMode(WHEN, QHeaderView.ResizeMode.Stretch)
        self.table.itemChanged.connect(self._on_item_changed)
        self.table.itemSelectionChanged.connect(self._update_buttons)
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

    def _on_introspected(self, result, error: Optional[BaseException]) -> None:
        if error is not None:
            text = error.message if isinstance(error, DeskError) else repr(error)
            self.status.setText("the project's own schedules are those beat loaded last")
            self.message.emit("warning", f"schedules: the project could not be read: {text}")
        else:
            self._project = list(result.beat_schedule)
            self._tasks = result.user_tasks()
            self.status.setText("")
        self.refresh()

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
        self.views = load_schedules(ws, self._project)
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
        try:  # beat sends neither a disabled schedule nor a project one the workspace replaces
            runs = view.next_runs(1) if view.enabled and not view.overridden and not view.problems else []
            next_run = runs[0].astimezone().strftime(_TIME) if runs else "—"
        except DeskError:
            next_run = "—"
        when = ("⚠ " if view.warnings or view.problems else "") + view.description()
        last = view.last_run_at.astimezone().strftime(_TIME) if view.last_run_at else "—"
        texts = (view.name, source, view.task, when, next_run, last, str(view.total_run_count), "")
        tip = "\n".join(view.problems + view.warnings)
        for column, text in enumerate(texts):
            item = QTableWidgetItem(text)
            flags = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
            if column == ENABLED:
                if view.editable:
                    flags |= Qt.ItemFlag.ItemIsUserCheckable
                item.setCheckState(Qt.CheckState.Checked if view.enabled else Qt.CheckState.Unchecked)
            item.setFlags(flags)
            if column == WHEN:
                item.setToolTip(f"{view.when}: {view.description()}\n{tip}".strip())
            if not view.editable:
                item.setForeground(self.palette().placeholderText())  # read-only: the project's
            if view.problems:
                item.setForeground(QBrush(defs.LEVEL_COLORS["ERROR"]))
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
        editable = view is not None and view.editable
        for key in ("edit", "duplicate", "delete", "toggle"):
            self.buttons[key].setEnabled(editable)
        self.buttons["toggle"].setText("Enable" if editable and not view.enabled else "Disable")
        self.buttons["run"].setEnabled(view is not None and bool(view.task))
        self.buttons["copy"].setEnabled(view is not None and not view.editable)

    # -- editing ----------------------------------------------------------------------------------

    def _open_dialog(self, schedule=None) -> Optional[QtScheduleDialog]:
        """The editor, window-modal but not blocking (``open()``); the table follows its save."""
        try:
            dialog = QtScheduleDialog(self.path, self._tasks, schedule, parent=self)
        except WorkspaceError as exc:
            self.message.emit("error", f"cannot edit schedules: {exc}")
            return None
        dialog.saved.connect(lambda name: self.refresh())
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.dialog = dialog
        dialog.open()
        return dialog

    def add(self) -> Optional[QtScheduleDialog]:
        return self._open_dialog()

    def edit_selected(self) -> Optional[QtScheduleDialog]:
        view = self.selected()
        return self._open_dialog(view) if view is not None and view.editable else None

    def _copy_of(self, view: ScheduleView, name: str) -> ScheduleView:
        """A new (not yet saved) schedule like ``view``, named ``name`` or ``name-2``, ``-3``..."""
        taken = {v.name for v in self.views if v.editable}
        candidate, n = name, 2
        while candidate in taken:
            candidate, n = f"{name}-{n}", n + 1
        # source "copy": not a workspace row yet, so the editor adds it rather than editing one.
        return ScheduleView(name=candidate, task=view.task, source="copy", enabled=view.enabled, cron=view.cron,
                            every=view.every, args=list(view.args), kwargs=dict(view.kwargs), queue=view.queue)

    def duplicate_selected(self) -> Optional[QtScheduleDialog]:
        view = self.selected()
        if view is None or not view.editable:
            return None
        return self._open_dialog(self._copy_of(view, f"{view.name}-copy"))

    def copy_selected(self) -> Optional[QtScheduleDialog]:
        """A project schedule, into the editor as a new workspace one: same name, so that, once
        saved, it replaces the project's in beat (the scheduler lets the workspace's win)."""
        view = self.selected()
        if view is None or view.editable:
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

    def set_enabled(self, name: str, enabled: bool) -> bool:
        return self._edit_file(f"{'enable' if enabled else 'disable'} {name}",
                               lambda doc: doc.enable_schedule(name, enabled))

    def toggle_selected(self) -> None:
        view = self.selected()
        if view is not None and view.editable:
            self.set_enabled(view.name, not view.enabled)

    def _on_item_changed(self, item: QTableWidgetItem) -> None:
        if item.column() == ENABLED and item.row() < len(self.views):
            view = self.views[item.row()]
            wanted = item.checkState() == Qt.CheckState.Checked
            if view.editable and wanted != view.enabled:
                # Later, not now: the save refreshes the table, which replaces this very item
                # while the view is still inside its click handling.
                QTimer.singleShot(0, self, lambda: self.set_enabled(view.name, wanted))

    def delete_selected(self) -> bool:
        view = self.selected()
        if view is None or not view.editable:
            return False
        if not self._confirm(self, f"Delete the schedule {view.name!r} from {self.path.name}? "
                                   "Beat stops sending it within seconds."):
            return False
        return self._edit_file(f"delete {view.name}", lambda doc: doc.remove_schedule(view.name))

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
