"""The task table: the columns and cells, a model of the monitor's in-memory store kept in step
batch by batch, and the view both task models share.

The Tasks page reads the history (``history_table.HistoryTableModel``); ``TaskTableModel`` is
its stand-in when the history cannot be used (a read-only folder, a full disk): the tasks of
this session the monitor keeps in memory. It shows the store's tasks that pass the filter (a
``TaskFilter``, as the history's), newest first. It is never
reset for a batch of events: the new tasks go in at the top (one ``beginInsertRows`` per
contiguous run, in a flood one per batch), evicted ones leave at the bottom, tasks that stop
passing a filter leave where they are, and the rows that changed get one ``dataChanged`` over
their span. The view then repaints only what is on screen; selection and scroll position
stay. A filter or capacity change (the user's action) rebuilds the rows, with a reset.

Rows are ordered by the store's creation number (``TaskRecord.seq``), so where a task goes
and which row a task is on are binary searches, not scans.

``QtTaskTableView`` paints its visible rows itself, in one pass straight from the records and
from text laid out once, instead of Qt's per-cell delegate calls. Its Task column widens to the
names it shows (up to ``NAME_SHARE_MAX`` of the width), so a name is not cut, until the user
sizes the column by hand.
"""

from __future__ import annotations

import bisect
import time
from typing import Callable, Optional

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QRect, Qt, QTimer
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPalette, QStaticText, QTransform
from PySide6.QtWidgets import (QAbstractItemView, QApplication, QHeaderView, QStyle, QStyleOptionProgressBar,
                               QTableView)

from celerydesk.core.history.queries import TaskFilter, name_matches, worker_matches
from celerydesk.core.task_store import FAILURE, SUCCESS

COLUMNS = ("Time", "State", "Task", "Args", "Worker", "Runtime", "Progress", "Result / exception")
TIME, STATE, NAME, ARGS, WORKER, RUNTIME, PROGRESS, RESULT = range(len(COLUMNS))
IdRole = Qt.ItemDataRole.UserRole + 1
ProgressRole = Qt.ItemDataRole.UserRole + 2
_USED_ROLES = frozenset({Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ForegroundRole, Qt.ItemDataRole.ToolTipRole,
                         IdRole, ProgressRole})
CELL_PADDING = 4  # px left and right of a cell's text, as Qt's own item painting leaves
_STATE_COLORS = {FAILURE: QColor("#c0392b"), SUCCESS: QColor("#27ae60"),
                 "STARTED": QColor("#2e86de"), "PROGRESS": QColor("#2e86de"),
                 "REVOKED": QColor("#8e44ad"), "RETRY": QColor("#e67e22")}


def record_data(record, column: int, role):
    """What a task table (this one, or the history's) shows of ``record`` in ``column`` for ``role``."""
    if record is None:
        return None
    if role == IdRole:
        return record.id
    if role == ProgressRole:
        return record.progress
    if role == Qt.ItemDataRole.ForegroundRole:
        return _STATE_COLORS.get(record.state) if column == STATE else None
    if role == Qt.ItemDataRole.ToolTipRole:
        if column in (NAME, RESULT):
            return record.id if column == NAME else (record.exception or record.result)
        return None
    return cell_text(record, column)


def cell_text(record, column: int) -> str:
    """What a cell shows for a task record (the store's, or a history row: the same attributes)."""
    if column == TIME:
        return local_time(record.seen_at)
    if column == STATE:
        return "TERMINATED" if record.terminated else record.state
    if column == NAME:
        return record.name or record.id
    if column == ARGS:
        return _join_args(record.args, record.kwargs)
    if column == WORKER:
        return record.worker or ""
    if column == RUNTIME:
        return f"{record.runtime:.3f} s" if record.runtime is not None else ""
    if column == PROGRESS:
        return f"{record.progress:.0f} %" if record.progress is not None else ""
    if column == RESULT:
        return record.exception or record.result or ""
    return ""


def local_time(seconds: Optional[float]) -> str:
    """Today's times as 14:03:27, older ones with their date."""
    if seconds is None:
        return ""
    moment = time.localtime(seconds)
    today = time.localtime()
    same_day = (moment.tm_year, moment.tm_yday) == (today.tm_year, today.tm_yday)
    return time.strftime("%H:%M:%S" if same_day else "%Y-%m-%d %H:%M", moment)


def accepts(f: TaskFilter) -> Optional[Callable]:
    """The filter as a test of a store's record, as the history reads it in SQL; None: all pass."""
    if f == TaskFilter():
        return None
    states, search = {s.upper() for s in f.states}, f.search.lower()
    # The store keeps no timeline: a retry's time is taken as the task's first sight.
    moment = (lambda r: r.finished) if f.when == "finished" else (lambda r: r.seen_at)

    def accept(record) -> bool:
        at = moment(record) or 0
        return ((not states or record.state in states)
                and (f.when != "retried" or (record.retries or 0) > 0)
                and (not f.names or any(name_matches(record.name or "", w) for w in f.names))
                and (not f.workers or any(worker_matches(record.worker or "", w) for w in f.workers))
                and (not f.queues or record.queue in f.queues)
                and (f.since is None or at >= f.since)
                and (f.until is None or at < f.until)
                and (not search or search in _haystack(record)))

    return accept


def _haystack(record) -> str:
    return " ".join(str(v) for v in (record.id, record.name, record.args, record.kwargs, record.worker,
                                     record.result, record.exception) if v).lower()


def _join_args(args: Optional[str], kwargs: Optional[str]) -> str:
    parts = [a for a in ((args or "").strip("()[]").rstrip(","), (kwargs or "").strip("{}")) if a]
    return ", ".join(parts)


def _runs(positions: list[int]) -> list[tuple[int, int]]:
    """Sorted row numbers as (first, last) runs of consecutive ones."""
    runs: list[tuple[int, int]] = []
    for row in positions:
        if runs and row == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], row)
        else:
            runs.append((row, row))
    return runs


class TaskTableModel(QAbstractTableModel):
    """Rows are task ids of the store that pass the filter, newest first. It follows the
    monitor's batches while ``active`` (the table shows it); ``set_active(True)`` rebuilds."""

    def __init__(self, monitor, parent=None, active: bool = True):
        super().__init__(parent)
        self.monitor = monitor
        self.store = monitor.store
        self.rows: list[str] = []  # task ids, newest first
        self._keys: list[int] = []  # -seq of each row: ascending, for bisect
        self._seq_of: dict[str, int] = {}  # the ids in rows -> their seq
        self.task_filter = TaskFilter()
        self._accept: Optional[Callable] = None  # None: every task passes
        self.active = False
        self.set_active(active)

    def set_active(self, active: bool) -> None:
        if active == self.active:
            return
        self.active = active
        if active:
            self.monitor.updated.connect(self.refresh)
            self.rebuild()
        else:
            self.monitor.updated.disconnect(self.refresh)

    # -- Qt's model interface -------------------------------------------------------------------

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def record_at(self, row: int):
        return self.store.tasks.get(self.rows[row]) if 0 <= row < len(self.rows) else None

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole):
        # The view asks for a dozen roles per cell per repaint: answer the unused ones first.
        if role not in _USED_ROLES:
            return None
        return record_data(self.record_at(index.row()), index.column(), role)

    # -- filters -------------------------------------------------------------------------------

    def set_task_filter(self, f: TaskFilter) -> None:
        self.task_filter = f
        self._accept = accepts(f)
        self.rebuild()

    # -- keeping in step with the store -----------------------------------------------------------

    def refresh(self, changed=None) -> None:
        """After a batch: ``changed`` holds the ids it touched; None rebuilds the rows."""
        if changed is None:
            self.rebuild()
        else:
            self._follow(changed)

    def rebuild(self) -> None:
        """All rows again, with a reset: for a new filter or capacity, not for every batch."""
        accept = self._accept
        records = reversed(self.store.tasks.values())
        kept = list(records) if accept is None else [r for r in records if accept(r)]
        self.beginResetModel()
        self.rows = [r.id for r in kept]
        self._keys = [-r.seq for r in kept]
        self._seq_of = dict(zip(self.rows, (r.seq for r in kept)))
        self.endResetModel()

    def _follow(self, changed) -> None:
        self._drop_evicted()
        tasks, accept, seq_of = self.store.tasks, self._accept, self._seq_of
        added: list[tuple[int, str]] = []
        gone: list[int] = []
        touched: list[int] = []
        for task_id in changed:
            record = tasks.get(task_id)
            if record is None:
                continue  # evicted within the same batch
            passes = accept is None or accept(record)
            if task_id in seq_of:
                (touched if passes else gone).append(record.seq)
            elif passes:
                added.append((-record.seq, task_id))
        if gone:
            self._remove_rows(sorted(self._row_of_seq(seq) for seq in gone))
        if added:
            self._insert(sorted(added))
        if touched:
            rows = [self._row_of_seq(seq) for seq in touched]
            self.dataChanged.emit(self.index(min(rows), 0), self.index(max(rows), len(COLUMNS) - 1))

    def _drop_evicted(self) -> None:
        """The store evicts its oldest tasks: rows at the bottom, below its oldest seq."""
        if not self.rows:
            return
        tasks = self.store.tasks
        oldest = next(iter(tasks.values())).seq if tasks else self.store.created + 1
        cut = bisect.bisect_right(self._keys, -oldest)
        if cut < len(self.rows):
            self._remove_rows(list(range(cut, len(self.rows))))

    def _remove_rows(self, rows: list[int]) -> None:
        for first, last in reversed(_runs(rows)):  # bottom up: the rows above keep their numbers
            self.beginRemoveRows(QModelIndex(), first, last)
            for task_id in self.rows[first:last + 1]:
                del self._seq_of[task_id]
            del self.rows[first:last + 1]
            del self._keys[first:last + 1]
            self.endRemoveRows()

    def _insert(self, added: list[tuple[int, str]]) -> None:
        """``added``: (-seq, id) sorted; each goes where its seq belongs (newest at the top)."""
        blocks: list[tuple[int, list[tuple[int, str]]]] = []
        for item in added:
            position = bisect.bisect_left(self._keys, item[0])
            if blocks and blocks[-1][0] == position:
                blocks[-1][1].append(item)
            else:
                blocks.append((position, [item]))
        for position, items in reversed(blocks):  # bottom up: the positions above stay right
            self.beginInsertRows(QModelIndex(), position, position + len(items) - 1)
            self._keys[position:position] = [key for key, _ in items]
            self.rows[position:position] = [task_id for _, task_id in items]
            for key, task_id in items:
                self._seq_of[task_id] = -key
            self.endInsertRows()

    def _row_of_seq(self, seq: int) -> int:
        return bisect.bisect_left(self._keys, -seq)

    def row_of(self, task_id: str) -> int:
        seq = self._seq_of.get(task_id)
        return -1 if seq is None else self._row_of_seq(seq)


def configure_view(view: QTableView) -> None:
    """No row header, fixed row heights: an update then costs the visible rows, not all of them."""
    view.verticalHeader().hide()
    view.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
    view.verticalHeader().setDefaultSectionSize(view.fontMetrics().height() + 8)
    view.setShowGrid(False)
    view.setWordWrap(False)


class QtTaskTableView(QTableView):
    """The task table as the monitor shows it: whole rows selected, one at a time, read-only.

    It paints its visible rows itself, in one pass, straight from the records. Qt's own painting
    costs three trips into Python per cell (``index()`` asks ``rowCount`` and ``columnCount``,
    then the delegate paints) and lays each text out twice with HarfBuzz: in a flood, with the
    table repainted twice a second on a machine whose cores the stack keeps busy, that was the
    GUI thread's longest piece of work. Here a text is elided and laid out once, as a
    ``QStaticText`` kept by (text, width): the same few texts ("SUCCESS", the task name, the
    worker) fill most cells. The model's ``data()`` still answers Qt's other users (tooltips,
    size hints, accessibility).
    """

    TEXT_CACHE_SIZE = 2048  # a few screenfuls of distinct texts; cleared when full
    NAME_SHARE_MAX = 0.45  # the Task column grows to fit the names shown, up to this share of the width

    def __init__(self, model: TaskTableModel, parent=None):
        super().__init__(parent)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self._texts: dict[tuple[str, int], QStaticText] = {}  # (text, width) -> laid out
        self._name_widths: dict[str, int] = {}  # task name -> the width it needs, in px
        # The Task column fits the names on screen (so none is cut) until the user sizes it.
        self._fit_names = True
        self._fitting = False
        configure_view(self)
        self.use_model(model)
        self.horizontalHeader().sectionResized.connect(self._on_section_resized)
        self._font: Optional[QFont] = None
        # The first viewport() from Python costs PySide ~70 lazily made enum types (10 ms of CPU,
        # 50 ms in a flood on a busy machine): paid here, not in the first paint with rows.
        self.viewport()

    def use_model(self, model) -> None:
        """Show ``model`` (the history's, or the in-memory one): both give ``record_at(row)``."""
        self.setModel(model)
        self._model = model
        self.horizontalHeader().setSectionResizeMode(RESULT, QHeaderView.ResizeMode.Stretch)

    def paintEvent(self, event) -> None:
        model, area = self._model, event.rect()
        vertical = self.verticalHeader()
        height, offset = vertical.defaultSectionSize(), vertical.offset()  # fixed row heights (configure_view)
        first = max(0, (area.top() + offset) // height)
        last = min(model.rowCount() - 1, (area.bottom() + offset) // height)
        columns = self._columns_in(area)
        if first > last or not columns:
            return  # the viewport fills its own background
        self._check_font()
        group = QPalette.ColorGroup.Active if self.isActiveWindow() else QPalette.ColorGroup.Inactive
        palette = self.palette()
        plain, highlight = palette.color(group, QPalette.ColorRole.Text), palette.brush(group, QPalette.ColorRole.Highlight)
        highlighted_text = palette.color(group, QPalette.ColorRole.HighlightedText)
        selection = self.selectionModel()
        selected = {i.row() for i in selection.selectedRows()} if selection.hasSelection() else ()
        left, right = columns[0][1], columns[-1][1] + columns[-1][2]
        top_pad = (height - self._metrics.height()) // 2
        painter = QPainter(self.viewport())
        pen = None
        names_need = 0
        for row in range(first, last + 1):
            record = model.record_at(row)
            if record is None:
                continue
            if self._fit_names and record.name:
                names_need = max(names_need, self._name_width(record.name))
            y = row * height - offset
            chosen = row in selected
            if chosen:
                painter.fillRect(left, y, right - left, height, highlight)
            for column, x, width in columns:
                if column == PROGRESS and record.progress is not None:
                    self._paint_progress(painter, QRect(x, y, width, height), record.progress)
                    pen = None  # the style set its own
                    continue
                text = cell_text(record, column)
                if not text:
                    continue
                color = highlighted_text if chosen else (
                    _STATE_COLORS.get(record.state, plain) if column == STATE else plain)
                if color is not pen:  # setPen costs more than the text
                    painter.setPen(color)
                    pen = color
                painter.drawStaticText(x + CELL_PADDING, y + top_pad, self._laid_out(text, width - 2 * CELL_PADDING))
        painter.end()
        if names_need > self.columnWidth(NAME):
            QTimer.singleShot(0, self, lambda: self._widen_names(names_need))

    def _name_width(self, name: str) -> int:
        width = self._name_widths.get(name)
        if width is None:
            if len(self._name_widths) >= self.TEXT_CACHE_SIZE:
                self._name_widths.clear()
            width = self._name_widths[name] = self._metrics.horizontalAdvance(name) + 2 * CELL_PADDING + 2
        return width

    def _widen_names(self, need: int) -> None:
        width = min(need, max(self.columnWidth(NAME), int(self.viewport().width() * self.NAME_SHARE_MAX)))
        if self._fit_names and width > self.columnWidth(NAME):
            self._fitting = True
            try:
                self.setColumnWidth(NAME, width)
            finally:
                self._fitting = False

    def _on_section_resized(self, column: int, _old: int, _new: int) -> None:
        if column == NAME and not self._fitting:
            self._fit_names = False  # sized by hand: that is the user's width from now on

    def _columns_in(self, area) -> list[tuple[int, int, int]]:
        """(column, x, width) of the columns that cross ``area``, in logical order."""
        header, found = self.horizontalHeader(), []
        for column in range(len(COLUMNS)):
            x, width = header.sectionViewportPosition(column), header.sectionSize(column)
            if width > 0 and not header.isSectionHidden(column) and x < area.right() + 1 and x + width > area.left():
                found.append((column, x, width))
        return found

    @staticmethod
    def _paint_progress(painter: QPainter, rect: QRect, progress: float) -> None:
        bar = QStyleOptionProgressBar()
        bar.rect = rect.adjusted(2, 3, -2, -3)
        bar.minimum, bar.maximum, bar.progress = 0, 100, int(progress)
        bar.text, bar.textVisible = f"{progress:.0f} %", True
        QApplication.style().drawControl(QStyle.ControlElement.CE_ProgressBar, bar, painter)

    def _check_font(self) -> None:
        font = self.font()
        if font != self._font:  # laid-out texts are for one font
            self._texts.clear()
            self._font = QFont(font)
            self._metrics = QFontMetrics(font)

    def _laid_out(self, text: str, width: int) -> QStaticText:
        key = (text, width)
        found = self._texts.get(key)
        if found is None:
            if len(self._texts) >= self.TEXT_CACHE_SIZE:
                self._texts.clear()
            found = self._texts[key] = QStaticText(self._metrics.elidedText(text, Qt.TextElideMode.ElideRight, width))
            found.setTextFormat(Qt.TextFormat.PlainText)
            found.prepare(QTransform(), self._font)
        return found
