"""The Tasks page's table over the history: a lazy model, only the rows shown are ever fetched.

``HistoryTableModel`` knows how many tasks match the filter (a count) and holds a few blocks of
``BLOCK`` rows, fetched when the view first paints a row of theirs, off the GUI thread
(``services.history_queries``): a million tasks cost what a screenful costs, in memory and in
time. A row not fetched yet paints empty for the few milliseconds its block takes.

Filtering and sorting are the history's (SQL, ``core.history.queries``): ``set_task_filter``
and ``sort`` ask for a new count and first block, and the rows change when they come (the old
ones stay on screen meanwhile, so typing a search does not blink). ``refresh`` follows the
history's commits: a new count and the blocks held, read in one snapshot; the rows that came
are inserted at the top of a newest-first table (at the end of another order), rows pruned
leave at the bottom, and every row held is replaced, so what shows is the file's state. Only
one refresh runs at a time; changes meanwhile make one more.

Counting a million rows takes tens of milliseconds: too much for every commit of a flood (four
a second), on a machine whose cores the workers keep busy. So a refresh counts everything only
when that is cheap, or every ``FULL_COUNT_EVERY_S`` (and at most 2 % of the time); in between it
counts what came since the last count (``above_seq``: a range of the rowid, microseconds), and
the full count puts right what that does not see (pruned rows, rows that left a state's filter).

A running task's progress is not in the history (it is polled from the result backend, not an
event): rows take it from the monitor's in-memory store, which the page hands in as ``live``.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import replace
from types import SimpleNamespace

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt, Signal

from celerydesk.core.history.queries import NEWEST_FIRST, Order, TaskFilter
from celerydesk.core.task_store import PROGRESS, STARTED
from celerydesk.ui.task_table import COLUMNS, NAME, RUNTIME, STATE, TIME, WORKER, _USED_ROLES, record_data

BLOCK = 100
MAX_BLOCKS = 12  # blocks held: a few screens around what is shown
SEARCH_COUNT_CAP = 10_000  # a search counts this far (a short text can match most of a million)
SORTABLE = {TIME: "seen", STATE: "state", NAME: "name", WORKER: "worker", RUNTIME: "runtime"}
CHEAP_COUNT_MS = 5.0  # a count this quick is made at every refresh
FULL_COUNT_EVERY_S = 2.0
FULL_COUNT_SHARE = 0.02  # ... else at most this share of the time goes to full counts


def _timed(fn, *args, **kwargs) -> tuple:
    began = time.perf_counter()
    return fn(*args, **kwargs), (time.perf_counter() - began) * 1000


def history_row(row: dict, live=None) -> SimpleNamespace:
    """A history row as the table's cells read it: attributes, with the live store's progress."""
    record = SimpleNamespace(**row, terminated=False, progress=None, progress_meta=None)
    if live is not None and row["state"] == STARTED:
        found = live.tasks.get(row["id"])
        if found is not None and found.progress is not None:
            record.state, record.progress, record.progress_meta = PROGRESS, found.progress, found.progress_meta
    return record


class HistoryTableModel(QAbstractTableModel):
    countChanged = Signal(int, bool)  # rows matching, and whether counting stopped at a cap
    loaded = Signal()  # a filter's (or order's) first rows are in: selection can be restored
    failed = Signal(str)  # a read went wrong (the file was moved away, say)

    def __init__(self, queries, live=None, parent=None):
        super().__init__(parent)
        self.queries = queries
        self.live = live  # the monitor's TaskStore: progress of running tasks
        self.task_filter = TaskFilter()
        self.order = NEWEST_FIRST
        self.capped = False
        self._count = 0
        self._blocks: "OrderedDict[int, list]" = OrderedDict()  # block number -> rows (dicts)
        self._asked: set = set()
        self._generation = 0  # bumped by a new filter or order: older answers are dropped
        self._reloading = False
        self._refreshing = False
        self._again = False  # changes came during a refresh: one more after it
        self._top = 0  # the last seq when the rows were counted: what came after is new
        self._count_ms = 0.0  # how long the last full count took
        self._counted_at = 0.0  # ... and when (monotonic)

    # -- Qt's model interface -------------------------------------------------------------------

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else self._count

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole):
        if role not in _USED_ROLES:
            return None
        return record_data(self.record_at(index.row()), index.column(), role)

    def sort(self, column: int, order=Qt.SortOrder.DescendingOrder) -> None:
        key = SORTABLE.get(column)
        if key is None:
            return  # arguments, progress, results: no order worth a sort of the whole history
        self.set_order(Order(key, order == Qt.SortOrder.DescendingOrder))

    @property
    def loading(self) -> bool:
        """A new filter's or order's rows are being read (the rows shown are the previous ones)."""
        return self._reloading

    # -- rows -----------------------------------------------------------------------------------

    def record_at(self, row: int):
        """The row's record, or None while its block is being fetched (asked for here)."""
        if not 0 <= row < self._count:
            return None
        number, offset = divmod(row, BLOCK)
        rows = self._blocks.get(number)
        if rows is None:
            self._ask_block(number)
            return None
        self._blocks.move_to_end(number)
        return history_row(rows[offset], self.live) if offset < len(rows) else None

    def row_of(self, task_id: str) -> int:
        """The row of a task among those held; -1 when it is not (not fetched, or filtered out)."""
        for number, rows in self._blocks.items():
            for offset, row in enumerate(rows):
                if row["id"] == task_id:
                    return number * BLOCK + offset
        return -1

    def ids_held(self) -> list[str]:
        return [row["id"] for number in sorted(self._blocks) for row in self._blocks[number]]

    # -- asking -------------------------------------------------------------------------------------

    def set_task_filter(self, f: TaskFilter) -> None:
        if f != self.task_filter:
            self.task_filter = f
            self.reload()

    def set_order(self, order: Order) -> None:
        if order != self.order:
            self.order = order
            self.reload()

    def reload(self) -> None:
        """A new count and first block for the filter and order; the rows change when they come."""
        self._generation += 1
        self._reloading = True
        f, order, generation = self.task_filter, self.order, self._generation
        cap = SEARCH_COUNT_CAP if f.search else None

        def read(reader):
            with reader.snapshot():
                top, (count, took) = reader.last_seq(), _timed(reader.count, f, cap=cap)
                return count, top, took, reader.page(f, order, limit=BLOCK)

        self.queries.ask(read, lambda result, error: self._on_reloaded(generation, result, error), self,
                         key=f"reload-{id(self)}")

    def refresh(self) -> None:
        """The history changed: the count and the blocks held, again, in one snapshot."""
        if self._reloading:
            return  # the reload reads the new state anyway
        if self._refreshing:
            self._again = True
            return
        self._refreshing = True
        f, order, generation = self.task_filter, self.order, self._generation
        numbers = sorted(self._blocks) or [0]
        cap = SEARCH_COUNT_CAP if f.search else None
        full = self._count_ms < CHEAP_COUNT_MS or time.monotonic() - self._counted_at >= max(
            FULL_COUNT_EVERY_S, self._count_ms / 1000 / FULL_COUNT_SHARE)
        known, since = self._count, self._top

        def read(reader):
            with reader.snapshot():
                top = reader.last_seq()
                if full:
                    count, took = _timed(reader.count, f, cap=cap)
                else:  # what came since: the rows that were there are counted already
                    new = reader.count(replace(f, above_seq=since), cap=cap) if top > since else 0
                    count, took = (known + new if cap is None else min(cap, known + new)), None
                return count, top, took, {n: reader.page(f, order, offset=n * BLOCK, limit=BLOCK) for n in numbers}

        self.queries.ask(read, lambda result, error: self._on_refreshed(generation, result, error), self)

    def _ask_block(self, number: int) -> None:
        if number in self._asked or self._reloading:
            return
        self._asked.add(number)
        f, order, generation = self.task_filter, self.order, self._generation
        self.queries.ask(lambda reader: reader.page(f, order, offset=number * BLOCK, limit=BLOCK),
                         lambda rows, error: self._on_block(generation, number, rows, error), self)

    # -- answers (the Qt thread) ----------------------------------------------------------------

    def _on_reloaded(self, generation: int, result, error) -> None:
        if generation != self._generation:
            return
        self._reloading = False
        if error is not None:
            self.failed.emit(str(error))
            return
        count, self._top, self._count_ms, first = result
        self._counted_at = time.monotonic()
        self.beginResetModel()
        self._count = count
        self._blocks = OrderedDict({0: first})
        self._asked = {0}
        self.endResetModel()
        self._set_capped(count)
        self.loaded.emit()
        if self._again:
            self._again = False
            self.refresh()

    def _on_refreshed(self, generation: int, result, error) -> None:
        self._refreshing = False
        if generation == self._generation and error is None:
            count, self._top, took, blocks = result
            if took is not None:
                self._count_ms, self._counted_at = took, time.monotonic()
            self._follow(count, blocks)
        elif error is not None:
            self.failed.emit(str(error))
        if self._again:
            self._again = False
            self.refresh()

    def _follow(self, count: int, blocks: dict) -> None:
        """The new count and blocks, as rows inserted at the top (or the end of an order other than
        newest first) or removed at the bottom: the rows held are the new ones before the view hears."""
        before, blocks = self._count, OrderedDict(sorted(blocks.items()))

        def take() -> None:
            self._count, self._blocks, self._asked = count, blocks, set(blocks)

        if count > before:
            first = 0 if self.order == NEWEST_FIRST else before
            self.beginInsertRows(QModelIndex(), first, first + count - before - 1)
            take()
            self.endInsertRows()
        elif count < before:  # pruned: the oldest, at the bottom of a newest-first table
            self.beginRemoveRows(QModelIndex(), count, before - 1)
            take()
            self.endRemoveRows()
        else:
            take()
        self._set_capped(count)
        if count:
            self.dataChanged.emit(self.index(0, 0), self.index(count - 1, len(COLUMNS) - 1))

    def _on_block(self, generation: int, number: int, rows, error) -> None:
        if generation != self._generation:
            return
        if error is not None:
            self._asked.discard(number)
            self.failed.emit(str(error))
            return
        self._blocks[number] = rows
        while len(self._blocks) > MAX_BLOCKS:
            dropped, _ = self._blocks.popitem(last=False)
            self._asked.discard(dropped)
        first, last = number * BLOCK, min(self._count, (number + 1) * BLOCK) - 1
        if last >= first:
            self.dataChanged.emit(self.index(first, 0), self.index(last, len(COLUMNS) - 1))

    def _set_capped(self, count: int) -> None:
        self.capped = bool(self.task_filter.search) and count >= SEARCH_COUNT_CAP
        self.countChanged.emit(count, self.capped)

