"""The Tasks page: every task of the workspace's history, live.

The table reads the history (``history_table``: a lazy model, filtered and sorted in SQL, only
the rows shown fetched, off the GUI thread) and follows it as it is written, by this window or
by another celerydesk (``services.history``). When the history cannot be used (a read-only
folder, a damaged file, a full disk) the table shows the tasks of this session instead, from the
monitor's in-memory store (``task_table.TaskTableModel``), and the line above it says so.

Around the table: the filter row (``task_filters``), a line with how many tasks match and the
bulk Retry and Revoke of all of them, the selected task's details with its timeline and family
(``task_details``), the actions (``task_actions``) and the notices (``task_notices``: where the
events come from, an unregistered task, launched tasks that finished). The workers and the queues
have pages of their own (``workers_panel``, ``queues_panel``). Everything sent or asked goes through the
window's services; nothing here blocks on the file or the network.
"""

from __future__ import annotations

from typing import Optional

from PySide6.QtCore import QModelIndex, Qt, QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSplitter, QSystemTrayIcon, QVBoxLayout, QWidget

from celerydesk.core.history.queries import TaskFilter
from celerydesk.services.history import STARTING
from celerydesk.ui import defs
from celerydesk.ui.history_table import SORTABLE, HistoryTableModel
from celerydesk.ui.read_only import QtReadOnlyGuard
from celerydesk.ui.task_actions import TaskActions
from celerydesk.ui.task_details import QtTaskDetails
from celerydesk.ui.task_filters import QtTaskFilters
from celerydesk.ui.task_notices import LaunchNotices, QtConnectionLine, QtUnregisteredWarning
from celerydesk.ui.task_table import TIME, IdRole, QtTaskTableView, TaskTableModel

LABELS_EVERY_MS = 1000  # the task, worker and queue choices are read again at most this often
_NOTE_STYLE = "QLabel { color: palette(mid); }"
_MEMORY_STYLE = "QLabel { background: #fdebd0; padding: 4px; }"


class QtTaskMonitor(QWidget):
    """The "Tasks" page. Signals say what happened; ``note_launched`` ties notifications to the user."""

    selectedTaskChanged = Signal(str)
    notified = Signal(str, str)  # title, text: a launched task finished (also shown as tray/toast)
    unregisteredTask = Signal(str)  # a task name no running worker has registered
    message = Signal(str, str)  # level, text: errors of actions, for the window's message area
    modelChanged = Signal(object)  # the table now shows this model (the history's, or the in-memory one)

    def __init__(self, context, parent=None, capacity: int = 10_000, confirm=None):
        super().__init__(parent)
        self.context = context
        self.stack = context.stack
        self.broker = context.broker
        self.monitor = context.event_monitor(capacity)
        self.store = self.monitor.store
        self.history = context.history
        self.memory_model = TaskTableModel(self.monitor, self, active=False)
        self.history_model: Optional[HistoryTableModel] = None
        self.model = self.memory_model
        self._selected: Optional[str] = None
        self._labels = QTimer(self, singleShot=True, interval=LABELS_EVERY_MS)  # after changes, once
        self._labels.timeout.connect(self._read_labels)
        self._build()
        self.actions = TaskActions(context, self, confirm)
        self.actions.message.connect(self.message)
        self.notices = LaunchNotices(self.monitor, self)
        self.notices.notified.connect(self.notified)
        self.toast = self.notices.toast
        self.monitor.updated.connect(self._on_updated)
        self.history.stateChanged.connect(self._choose_model)
        self.history.recordingChanged.connect(self._choose_model)
        self._choose_model()

    # -- layout --------------------------------------------------------------------------------

    def _build(self) -> None:
        self.warning = QtUnregisteredWarning(self.context, self.monitor, self)
        self.warning.unregisteredTask.connect(self.unregisteredTask)
        self.warning_label, self.restart_button = self.warning.label, self.warning.restart_button
        self.connection = QtConnectionLine(self.monitor, self)

        self.filters = QtTaskFilters(self)
        self.filters.filterChanged.connect(self._on_filter)
        self.count_label = QLabel(self)
        self.retry_all_button = QPushButton("Retry all matching…", self)
        self.revoke_all_button = QPushButton("Revoke all matching…", self)
        self.retry_all_button.clicked.connect(lambda: self.actions.retry_matching(self.filters.current))
        self.revoke_all_button.clicked.connect(lambda: self.actions.revoke_matching(self.filters.current))
        counts = QHBoxLayout()
        counts.addWidget(self.count_label, 1)
        counts.addWidget(self.retry_all_button)
        counts.addWidget(self.revoke_all_button)

        self.view = QtTaskTableView(self.memory_model, self)
        self.view.clicked.connect(self._on_clicked)
        self.view.horizontalHeader().sortIndicatorChanged.connect(self._on_sort_indicator)

        self.details = QtTaskDetails(self)
        self.details.revokeClicked.connect(self._on_revoke)
        self.details.retryClicked.connect(lambda: self._selected and self.actions.retry(self._selected))
        self.details.retryEditedClicked.connect(lambda: self._selected and self.actions.retry_edited(self._selected))
        self.details.familyTaskClicked.connect(self.select_task)
        # Retry and revoke change the stack: not in a read-only environment.
        self.read_only_guard = QtReadOnlyGuard(self.broker, self)
        self.read_only_guard.hold(self.retry_all_button, self.revoke_all_button, self.details.revoke_button,
                                  self.details.terminate_button, self.details.retry_button, self.details.edit_button)

        tasks_split = QSplitter(Qt.Orientation.Vertical, self)
        tasks_split.addWidget(self.view)
        tasks_split.addWidget(self.details)
        tasks_split.setStretchFactor(0, 3)
        tasks_split.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(defs.MARGIN, defs.MARGIN, defs.MARGIN, defs.MARGIN)
        layout.setSpacing(defs.SPACING)
        layout.addWidget(self.warning)
        layout.addWidget(self.connection)
        layout.addWidget(self.filters)
        layout.addLayout(counts)
        layout.addWidget(tasks_split, 1)

    # -- the public face -------------------------------------------------------------------------

    def note_launched(self, task_id: str, done_text: Optional[str] = None, name: Optional[str] = None) -> None:
        """The user launched this task: notify when it finishes; warn at once if no worker knows it."""
        if name:
            self.warning.check(name)
        self.notices.watch(task_id, done_text)

    def watch_queue(self, queue: str) -> None:
        """Show this queue's depth too (the workers' queues and those tasks went to always are)."""
        self.context.depths.watch(queue)

    def set_tray(self, tray: Optional[QSystemTrayIcon]) -> None:
        self.notices.tray = tray

    def show_range(self, since: float, until: float, when: str, states: tuple = ()) -> None:
        """Show the tasks of a time range and states (the Dashboard's click-through)."""
        self.filters.show_range(since, until, when, states)

    def uses_history(self) -> bool:
        return self.model is self.history_model

    def select_task(self, task_id: str) -> None:
        self._selected = task_id
        self._keep_selection()
        self._show_detail()
        self.selectedTaskChanged.emit(task_id)

    def selected_id(self) -> Optional[str]:
        return self._selected

    def revoke(self, task_id: str, terminate: bool = False) -> None:
        self.actions.revoke(task_id, terminate)

    def retry(self, task_id: str) -> None:
        """Send the task again with exactly its original arguments, or say why not (``actions.retried``)."""
        self.actions.retry(task_id)

    def restart_workers(self) -> None:
        self.warning.restart_workers()

    def record_dict(self, task_id: str) -> Optional[dict]:
        """The in-memory store's record of a task, shaped as a history row's retry fields."""
        record = self.store.tasks.get(task_id)
        if record is None:
            return None
        return {"id": record.id, "name": record.name, "args": record.args, "kwargs": record.kwargs,
                "queue": record.queue, "state": record.state}

    def shutdown(self) -> None:
        """Stop the event consumer thread (the window's context does it on close; test fixtures here)."""
        self.monitor.stop()

    # -- which table -------------------------------------------------------------------------------

    def _choose_model(self, *_) -> None:
        use_history = self.history.readable and self.history.recording
        if use_history and self.history_model is None:
            self.history_model = HistoryTableModel(self.history.queries, live=self.store, parent=self)
            self.history_model.countChanged.connect(self._on_count)
            self.history_model.loaded.connect(self._keep_selection)
            self.history_model.failed.connect(lambda text: self.count_label.setText(f"the history: {text}"))
            self.history.queries.changed.connect(self._on_history_changed)
        model = self.history_model if use_history else self.memory_model
        if model is self.memory_model:
            self._show_memory_note()
        if model is self.model and self.view.model() is model and (model is not self.memory_model or model.active):
            return
        self.model = model
        self.memory_model.set_active(model is self.memory_model)
        self.view.setSortingEnabled(False)
        self.view.use_model(model)
        if model is self.history_model:
            self.view.horizontalHeader().setSortIndicator(TIME, Qt.SortOrder.DescendingOrder)
            self.view.setSortingEnabled(True)
            model.task_filter = self.filters.current
            model.reload()
            self._read_labels()
            self.history.queries.watch(self.isVisible())
            self.count_label.setStyleSheet(_NOTE_STYLE)
        else:
            self.memory_model.set_task_filter(self.filters.current)
            self._refresh_memory_choices()
            if self.history_model is not None:
                self.history.queries.watch(False)
        for button in (self.retry_all_button, self.revoke_all_button):
            button.setVisible(model is self.history_model)
        self.modelChanged.emit(model)

    def _show_memory_note(self) -> None:
        if self.history.state == STARTING:
            self.count_label.setText("Opening the task history…")
            self.count_label.setStyleSheet(_NOTE_STYLE)
        else:
            self.count_label.setText("The task history is not in use (see the message above): these are this "
                                     "session's tasks, kept in memory.")
            self.count_label.setStyleSheet(_MEMORY_STYLE)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self.uses_history():
            self.history.queries.watch(True)  # and a change since it was hidden is read at once
            self.history_model.refresh()

    def hideEvent(self, event) -> None:
        super().hideEvent(event)
        if self.history_model is not None:
            self.history.queries.watch(False)  # a hidden table need not follow the history

    # -- events ----------------------------------------------------------------------------------

    def _on_history_changed(self) -> None:
        if not self.uses_history():
            return
        self.history_model.refresh()
        if self._selected:
            self._show_detail()
        if not self._labels.isActive():
            self._labels.start()

    def _read_labels(self) -> None:
        def read(reader):
            return {kind: reader.labels(kind) for kind in ("name", "worker", "queue")}

        def done(labels, error) -> None:
            if error is None:
                for kind, values in labels.items():
                    self.filters.set_choices(kind, values)

        self.history.queries.ask(read, done, self, key="labels")

    def _refresh_memory_choices(self) -> None:
        tasks = self.store.tasks.values()
        self.filters.set_choices("name", self.store.names())
        self.filters.set_choices("worker", sorted(self.store.workers))
        self.filters.set_choices("queue", sorted({r.queue for r in tasks if r.queue}))

    def _on_updated(self, changed) -> None:
        """A batch reached the monitor's in-memory store."""
        if not self.uses_history():
            self._refresh_memory_choices()
            if self._selected:
                self._keep_selection()
                if self._selected in changed:
                    self._show_detail()
        elif self._selected in changed and self._selected:
            self._show_detail()  # progress, or a state the history has not committed yet

    def _on_filter(self, f: TaskFilter) -> None:
        self.model.set_task_filter(f)
        self._keep_selection()

    def _on_count(self, count: int, capped: bool) -> None:
        f = self.filters.current
        if f == TaskFilter():
            text = f"{count:,} task(s) in the history"
        else:
            text = f"{count:,}{'+' if capped else ''} task(s) match"
            if capped:
                text += ": the first ones are listed; narrow the search to see the rest"
        self.count_label.setText(text)

    def _on_sort_indicator(self, column: int, _order) -> None:
        if self.uses_history() and column not in SORTABLE:  # not a column the history sorts by
            order = self.history_model.order
            section = next(c for c, key in SORTABLE.items() if key == order.column)
            self.view.horizontalHeader().setSortIndicator(
                section, Qt.SortOrder.DescendingOrder if order.descending else Qt.SortOrder.AscendingOrder)

    def _keep_selection(self) -> None:
        """The selected task's row stays selected (rows move as tasks come; a filter rebuilds)."""
        if not self._selected:
            return
        row = self.model.row_of(self._selected)
        if row >= 0 and self.view.currentIndex().row() != row:
            self.view.selectRow(row)

    # -- widgets' handlers -----------------------------------------------------------------------

    def _on_clicked(self, index: QModelIndex) -> None:
        task_id = index.data(IdRole)
        if task_id:
            self.select_task(task_id)

    def _show_detail(self) -> None:
        task_id = self._selected or ""
        record = self.store.tasks.get(task_id)
        if not self.uses_history():
            self.details.show_record(record)
            return

        def read(reader):
            return reader.task(task_id), reader.timeline(task_id), reader.family(task_id)

        def done(result, error) -> None:
            if task_id != self._selected:
                return
            if error is not None or result[0] is None:  # not committed yet: what memory knows
                self.details.show_record(record)
                return
            self.details.show_history(*result, live=self.store.tasks.get(task_id))

        self.history.queries.ask(read, done, self, key="detail")

    def _on_revoke(self, terminate: bool) -> None:
        if self._selected:
            self.revoke(self._selected, terminate=terminate)
