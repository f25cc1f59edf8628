"""The log pane's models: bounded line stores, fed in coalesced batches, filtered by index lists.

- :class:`LogModel` holds at most ``capacity`` parsed lines of one pane (a service, or all of
  them); the full history stays in the log files. Lines arrive in batches (one
  ``beginInsertRows`` per batch) and the oldest leave in chunks of at least ``capacity / 20``
  (one ``beginRemoveRows`` per chunk), so a flood costs a few model signals per frame, not one
  per line.
- Filtering (text, minimum level, task id) keeps a list of the shown lines' absolute numbers
  instead of a QSortFilterProxyModel: the test runs as one list comprehension in Python, where
  a proxy calls a Python ``filterAcceptsRow`` through Qt once per row. Measured at 50,000
  lines: refiltering ~14 ms here, ~75 ms through a proxy.
- :class:`LogFeed` takes ``(key, [(text, channel), ...])`` chunks as services emit them,
  parses each line once (``core.logparse``), and on a short timer appends the records to
  their service's model and to the combined one, in arrival order.

A record is a tuple ``(text, plain, level, key, channel)``: the raw text (with ANSI escapes),
what is shown and searched, the level number, the service key and the output channel. Tuples,
because a flood creates a million of them.
"""

from __future__ import annotations

import bisect
import itertools
from operator import itemgetter
from typing import Callable, Optional

from PySide6.QtCore import QAbstractListModel, QModelIndex, QObject, Qt, QTimer, Signal

from celerydesk.core.logparse import LEVEL_NAMES, LineParser, system_level
from celerydesk.ui import defs

TEXT, PLAIN, LEVEL, KEY, CHANNEL = range(5)  # record fields
SYSTEM = "system"  # ManagedProcess's channel for celerydesk's own lines

_channel = itemgetter(1)


class LogModel(QAbstractListModel):
    """One pane's lines: bounded, appended in batches, optionally filtered."""

    RecordRole = Qt.ItemDataRole.UserRole + 1  # the whole record tuple
    LevelRole = Qt.ItemDataRole.UserRole + 2
    KeyRole = Qt.ItemDataRole.UserRole + 3

    def __init__(self, capacity: int = defs.LOG_CAPACITY, combined: bool = False, parent=None):
        super().__init__(parent)
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self.combined = combined  # rows of several services: the view shows each one's key
        self.appended_total = 0  # lines ever appended (dropped ones included): for figures
        self.max_chars = 0  # the longest plain text seen: the view's scrollable width
        self.sources: set[str] = set()  # service keys seen (a combined pane shows them)
        self._records: list[tuple] = []
        self._base = 0  # absolute number of _records[0]
        self._drop_chunk = max(1, capacity // 20)
        self.removing = False  # old lines are leaving (a view must not follow its current row)
        # Filter state; _shown (absolute numbers of shown records) exists only while filtering.
        self.search = ""
        self.min_level = 0
        self.task_id = ""
        self._shown: Optional[list[int]] = None
        self._accept: Optional[Callable[[tuple], bool]] = None

    # -- Qt's model interface -------------------------------------------------------------------

    def rowCount(self, parent=QModelIndex()) -> int:
        if parent.isValid():
            return 0
        return len(self._records) if self._shown is None else len(self._shown)

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        record = self.record(index.row())
        if role == Qt.ItemDataRole.DisplayRole:
            return self.line_text(record)
        if role == Qt.ItemDataRole.ForegroundRole:
            return defs.LEVEL_COLORS.get(LEVEL_NAMES.get(record[LEVEL], "INFO"))
        if role == self.LevelRole:
            return record[LEVEL]
        if role == self.KeyRole:
            return record[KEY]
        if role == self.RecordRole:
            return record
        return None

    # -- reading --------------------------------------------------------------------------------

    def record(self, row: int) -> tuple:
        """The record shown at ``row`` (the delegate reads this directly: no QVariant)."""
        if self._shown is not None:
            return self._records[self._shown[row] - self._base]
        return self._records[row]

    def line_text(self, record: tuple) -> str:
        """What copying a line gives: its plain text, prefixed by its service in a combined pane."""
        return f"{record[KEY]} | {record[PLAIN]}" if self.combined else record[PLAIN]

    def stored_count(self) -> int:
        """Lines held, shown or not."""
        return len(self._records)

    def is_filtered(self) -> bool:
        return self._shown is not None

    # -- writing --------------------------------------------------------------------------------

    def append_records(self, records: list[tuple]) -> None:
        """Append a batch: at most one row removal and one row insertion, whatever its size."""
        if not records:
            return
        self.appended_total += len(records)
        if len(records) > self.capacity:
            records = records[-self.capacity:]
        longest = max(map(len, map(itemgetter(PLAIN), records)))
        if longest > self.max_chars:
            self.max_chars = longest
        overflow = len(self._records) + len(records) - self.capacity
        if overflow > 0:
            # Drop a whole chunk at once, so removals happen every few batches, not every one.
            self._drop_oldest(min(len(self._records), max(overflow, self._drop_chunk)))
        first_number = self._base + len(self._records)
        if self._shown is None:
            first = len(self._records)
            self.beginInsertRows(QModelIndex(), first, first + len(records) - 1)
            self._records.extend(records)
            self.endInsertRows()
            return
        accept = self._accept
        numbers = [n for n, r in enumerate(records, first_number) if accept(r)]
        self._records.extend(records)
        if numbers:
            first = len(self._shown)
            self.beginInsertRows(QModelIndex(), first, first + len(numbers) - 1)
            self._shown.extend(numbers)
            self.endInsertRows()

    def _drop_oldest(self, count: int) -> None:
        if count <= 0:
            return
        # Rows shown that go: all of them, or the filtered ones among the oldest ``count``.
        gone = count if self._shown is None else bisect.bisect_left(self._shown, self._base + count)
        self.removing = True
        if gone:
            self.beginRemoveRows(QModelIndex(), 0, gone - 1)
        if self._shown is not None:
            del self._shown[:gone]
        del self._records[:count]
        self._base += count
        if gone:
            self.endRemoveRows()
        self.removing = False

    def clear(self) -> None:
        self.beginResetModel()
        self._base += len(self._records)
        self._records = []
        if self._shown is not None:
            self._shown = []
        self.max_chars = 0
        self.endResetModel()

    # -- filtering --------------------------------------------------------------------------------

    def set_filter(self, search: Optional[str] = None, min_level: Optional[int] = None,
                   task_id: Optional[str] = None) -> None:
        """Change any of the three criteria (None leaves one as it is); lines must meet all."""
        if search is not None:
            self.search = search
        if min_level is not None:
            self.min_level = min_level
        if task_id is not None:
            self.task_id = task_id
        self._accept = self._make_accept()
        self.beginResetModel()
        if self._accept is None:
            self._shown = None
        else:
            accept = self._accept
            self._shown = [n for n, r in enumerate(self._records, self._base) if accept(r)]
        self.endResetModel()

    def _make_accept(self) -> Optional[Callable[[tuple], bool]]:
        """One closure testing only the active criteria, cheapest first."""
        level, task_id, needle = self.min_level, self.task_id, self.search.lower()
        tests: list[Callable[[tuple], bool]] = []
        if level > 0:
            tests.append(lambda r: r[LEVEL] >= level)
        if task_id:
            tests.append(lambda r: task_id in r[PLAIN])
        if needle:
            if self.combined:
                tests.append(lambda r: needle in r[PLAIN].lower() or needle in r[KEY])
            else:
                tests.append(lambda r: needle in r[PLAIN].lower())
        if not tests:
            return None
        if len(tests) == 1:
            return tests[0]
        return lambda r: all(test(r) for test in tests)


class LogFeed(QObject):
    """Parses service output once and feeds every pane's model in coalesced batches.

    ``add_lines`` runs for every chunk a child writes: it parses the chunk at once (a chunk is
    at most a pipe's worth, ~0.5 ms of work) and holds the records; the models get them at most
    every ``interval_ms``, one insertion per model. Parsing on arrival spreads the work over
    the event loop's turns instead of piling it into one tick, and lets the services' chunk
    lists die young: held for a tick, they would outlive collections and bring on Python's
    full garbage collections, which take ~30 ms in a PySide process.

    During a flood (a tick brought ``flood_lines`` or more) ticks come every
    ``flood_interval_ms`` instead: each tick moves the followed view, and painting a screenful
    of text costs far more than parsing it, so fewer, larger batches let the window keep up.
    Nothing is dropped here: the pipe itself slows the child down when the window cannot keep up.
    """

    modelAdded = Signal(str)  # key
    flushed = Signal(int)  # lines appended by one tick

    def __init__(self, capacity: int = defs.LOG_CAPACITY, interval_ms: int = defs.LOG_FLUSH_MS,
                 flood_interval_ms: int = defs.LOG_FLOOD_FLUSH_MS, flood_lines: int = defs.LOG_FLOOD_LINES,
                 parent=None):
        super().__init__(parent)
        self.capacity = capacity
        self.interval_ms = interval_ms
        self.flood_interval_ms = flood_interval_ms
        self.flood_lines = flood_lines
        self._flooding = False
        self.combined = LogModel(capacity, combined=True, parent=self)
        self._models: dict[str, LogModel] = {}
        self._parsers: dict[tuple[str, str], LineParser] = {}
        self._pending: dict[str, list[tuple]] = {}  # key -> parsed records not yet in its model
        self._pending_all: list[tuple] = []  # the same records in arrival order, for "All"
        self._timer = QTimer(self, singleShot=True)
        self._timer.timeout.connect(self.flush)

    def model(self, key: str) -> LogModel:
        """The model of one service, made on first use."""
        model = self._models.get(key)
        if model is None:
            model = self._models[key] = LogModel(self.capacity, parent=self)
            self.modelAdded.emit(key)
        return model

    def keys(self) -> list[str]:
        return list(self._models)

    def add_lines(self, key: str, entries: list) -> None:
        """Take a chunk of ``(text, channel)`` pairs: parsed now, shown at the next tick."""
        if not entries:
            return
        records = self._parse(key, entries)
        pending = self._pending.get(key)
        if pending is None:
            self._pending[key] = records
        else:
            pending.extend(records)
        self._pending_all.extend(records)
        if not self._timer.isActive():
            self._timer.start(self.flood_interval_ms if self._flooding else self.interval_ms)

    def replay(self, key: str, history) -> None:
        """A service's kept history, shown at once: what came before the pane existed."""
        self.model(key)
        self.add_lines(key, list(history))
        self.flush()

    def pending_count(self) -> int:
        return len(self._pending_all)

    def flush(self) -> int:
        """Append what has arrived since the last tick; returns the number of lines."""
        self._timer.stop()
        pending, combined = self._pending, self._pending_all
        self._pending, self._pending_all = {}, []
        for key, records in pending.items():
            self.model(key).append_records(records)
        self.combined.sources.update(pending)
        self.combined.append_records(combined)
        self._flooding = len(combined) >= self.flood_lines
        if combined:
            self.flushed.emit(len(combined))
        return len(combined)

    def _parse(self, key: str, entries: list) -> list[tuple]:
        records: list[tuple] = []
        # A chunk is normally one channel; a replayed history mixes them.
        for channel, group in itertools.groupby(entries, key=_channel):
            texts = [text for text, _ in group]
            if channel == SYSTEM:
                records.extend((t, t, system_level(t), key, SYSTEM) for t in texts)
                continue
            parser = self._parsers.get((key, channel))
            if parser is None:
                parser = self._parsers[(key, channel)] = LineParser()
            plains, levels = parser.parse(texts)
            records.extend(zip(texts, plains, levels, itertools.repeat(key), itertools.repeat(channel)))
        return records

    def forget(self, key: str) -> None:
        """A service that is gone: its model is dropped (the combined pane keeps its lines)."""
        model = self._models.pop(key, None)
        for parser_key in [k for k in self._parsers if k[0] == key]:
            del self._parsers[parser_key]
        if model is not None:
            model.deleteLater()
