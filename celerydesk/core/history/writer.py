"""The one writer of a workspace's history: event dicts in, one transaction per batch, on its own thread.

Whoever watches the stack (the window's event monitor, ``celerydesk up``, a headless watcher)
makes a :class:`HistoryWriter`, ``start()``s it and hands it lists of celery event dicts with
``submit()``, which never blocks and never raises. The writer's thread wakes every
``interval`` seconds, merges what came (``merge.py``) with the rows already stored and commits
it in one transaction per batch of at most ``max_batch`` events; it also takes in the senders'
records (``sent.py``) and prunes old tasks (``retention.py``), a little at a time.

One writer per workspace: ``start()`` takes ``.celerydesk/history.lock`` (the kernel drops it
with the process, however it dies) and raises :class:`HistoryBusy` when another process holds
it; that process is writing the same history, so the caller reads it instead
(``queries.HistoryReader``).

Failures: ``start()`` raises a DeskError (the folder is read-only, the file damaged or from a
newer celerydesk). Once running, a batch that cannot be committed (a full disk) is rolled
back and its events counted in ``stats.lost``; ``on_error`` hears of it once, with a DeskError
that says what to do, and again only after a batch has gone through since. Nothing reaches
the caller's thread: ``on_error`` and ``on_commit`` are called on the writer's thread.

Killed at any moment, the file stays consistent (WAL): what is lost is what was not yet
committed, at most the batch being written and the events waiting for the next one.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Callable, Iterable, Optional

from celerydesk.core.errors import DeskError
from celerydesk.core.history import LOCK_NAME, history_path, sent
from celerydesk.core.history.merge import (
    COLUMNS, apply_event, apply_sent_record, event_time, new_row, task_state,
)
from celerydesk.core.history.retention import prune_some
from celerydesk.core.history.schema import SEARCH_COLUMNS, connect, file_error, migrate
from celerydesk.core.runtime import hold_lock
from celerydesk.core.task_store import STATE_RANK
from celerydesk.core.workspace import HistoryConfig

LABELS = {"name": "name_id", "worker": "worker_id", "queue": "queue_id", "routing_key": "routing_key_id"}
_LABEL_KIND = {"name": "name", "worker": "worker", "queue": "queue", "routing_key": "queue"}
# The stored columns, in the order the merge's rows hold them (label texts become ids).
STORED = tuple(LABELS.get(c, c) for c in COLUMNS)
_SELECT = f"SELECT seq, {', '.join(STORED)} FROM tasks WHERE id IN "
_INSERT = f"INSERT INTO tasks (seq, {', '.join(STORED)}) VALUES ({', '.join('?' * (len(STORED) + 1))})"
_SEARCH_INSERT = f"INSERT INTO task_search (rowid, {SEARCH_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
_SEARCH_DELETE = (f"INSERT INTO task_search (task_search, rowid, {SEARCH_COLUMNS}) "
                  "VALUES ('delete', ?, ?, ?, ?, ?, ?, ?)")
LOOKUP_CHUNK = 500  # ids per SELECT ... IN (...): under SQLite's limit on bound parameters
PRUNE_CHUNK = 2000  # tasks deleted per transaction: ~0.1-0.2 s, between two batches of events
PRUNE_FIRST_S = 30.0  # the first prune waits for the stack to be up
PRUNE_EVERY_S = 600.0
SPOOL_EVERY_S = 0.5


def search_entry(seq: int, row: dict) -> tuple:
    """The search index's values for a row: what ``schema.search_values`` computes in SQL
    (the delete trigger must remove exactly what was added)."""
    return (seq, row["id"], row["name"], row["args_json"] if row["args_json"] is not None else row["args"],
            row["kwargs_json"] if row["kwargs_json"] is not None else row["kwargs"], row["result"], row["exception"])


class HistoryBusy(DeskError):
    """Another process writes this workspace's history."""


@dataclass
class Commit:
    """What one committed batch changed: the Tasks page refreshes these ids."""
    task_ids: set
    events: int
    records: int
    seconds: float


@dataclass
class WriterStats:
    events: int = 0  # task events committed
    batches: int = 0
    lost: int = 0  # events of batches that could not be committed
    dropped: int = 0  # events refused because too many were waiting (the disk fell behind)
    busy_s: float = 0.0  # time spent merging and committing batches (the writer thread's work)
    pruned: int = 0
    errors: list = field(default_factory=list)


class HistoryWriter:
    def __init__(self, runtime_dir: Path, retention: HistoryConfig = HistoryConfig(), *,
                 on_error: Optional[Callable[[DeskError], None]] = None,
                 on_commit: Optional[Callable[[Commit], None]] = None,
                 interval: float = 0.2, max_batch: int = 50_000, max_pending: int = 1_000_000,
                 prune_after: float = PRUNE_FIRST_S, clock: Callable[[], float] = time.time):
        self.runtime_dir = Path(runtime_dir)
        self.path = history_path(self.runtime_dir)
        self.spool = sent.spool_dir(self.runtime_dir)
        self.retention = retention
        self.on_error, self.on_commit = on_error, on_commit
        self.interval, self.max_batch, self.max_pending = interval, max_batch, max_pending
        self.prune_after, self.clock = prune_after, clock
        self.stats = WriterStats()
        self._pending: deque = deque()
        self._submit_lock = threading.Lock()
        self._done = threading.Condition()
        self._submitted = 0  # events handed to submit() and accepted
        self._handled = 0  # ... and since committed or given up
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._db: Optional[sqlite3.Connection] = None
        self._lock_fd: Optional[int] = None
        self._failing = False  # a failure was reported; no other until a batch goes through
        self._dropped_told = 0
        self._labels: dict[tuple[str, str], int] = {}
        self._label_texts: dict[int, str] = {}
        self._next_seq = 1

    # -- life ------------------------------------------------------------------------------------

    def start(self) -> None:
        """Take the lock, open (or create) and migrate the file, start the thread."""
        try:
            self.runtime_dir.mkdir(parents=True, exist_ok=True)
            fd, holder = hold_lock(self.runtime_dir / LOCK_NAME)
        except OSError as exc:
            raise file_error(self.path, exc) from None
        if fd is None:
            raise HistoryBusy(f"the task history of this workspace is written by another celerydesk (pid {holder})",
                              hint="this one reads it meanwhile; it records tasks again once that one stops")
        self._lock_fd = fd
        try:
            self._db = connect(self.path, write=True)
            migrate(self._db, self.path)
            self._load_labels()
            self._next_seq = self._db.execute("SELECT coalesce(max(seq), 0) + 1 FROM tasks").fetchone()[0]
        except BaseException:
            self._close_db()
            raise
        self._thread = threading.Thread(target=self._run, name="celerydesk-history", daemon=True)
        self._thread.start()

    def submit(self, events: Iterable[dict]) -> None:
        """Hand over event dicts (any kind; only task events are kept). Never blocks or raises."""
        events = list(events)
        if not events or self._thread is None or self._stopping.is_set():
            return
        with self._submit_lock:
            if len(self._pending) + len(events) > self.max_pending:
                self.stats.dropped += len(events)  # the writer's thread says so (callbacks run there)
                return
            self._pending.extend(events)
            self._submitted += len(events)
        if len(self._pending) >= self.max_batch:
            self._wake.set()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every event submitted so far is committed (or given up); False on timeout."""
        target = self._submitted
        self._wake.set()
        with self._done:
            return self._done.wait_for(lambda: self._handled >= target or self._thread is None, timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Write what is waiting, stop the thread, release the lock."""
        thread = self._thread
        if thread is None:
            self._close_db()
            return
        self._stopping.set()
        self._wake.set()
        thread.join(timeout)
        if not thread.is_alive():
            self._thread = None
            self._close_db()

    @property
    def pending(self) -> int:
        return len(self._pending)

    # -- the thread ----------------------------------------------------------------------------

    def _run(self) -> None:
        next_spool, next_prune = 0.0, time.monotonic() + self.prune_after
        while True:
            self._wake.wait(self.interval)
            self._wake.clear()
            stopping = self._stopping.is_set()
            if self.stats.dropped > self._dropped_told:
                self._dropped_told = self.stats.dropped
                self._report(DeskError(f"the task history fell behind: {self.stats.dropped} events not recorded",
                                       hint=f"the disk holding {self.path} is too slow or stalled"))
            self._write_pending()
            now = time.monotonic()
            if now >= next_spool or stopping:
                next_spool = now + SPOOL_EVERY_S
                self._take_in_spool()
            if now >= next_prune and not stopping:
                next_prune = now + (0.0 if self._prune_step() else PRUNE_EVERY_S)
            if stopping and not self._pending:
                break
        with self._done:
            self._done.notify_all()

    def _write_pending(self) -> None:
        pending = self._pending
        while pending:
            batch = [pending.popleft() for _ in range(min(len(pending), self.max_batch))]
            self._write(batch, [])
            with self._done:
                self._handled += len(batch)
                self._done.notify_all()

    def _take_in_spool(self) -> None:
        paths = sent.pending_files(self.spool, limit=200)
        if not paths:
            return
        records = [record for path in paths for record in sent.read_records(path)]
        if self._write([], records):
            for path in paths:
                try:
                    os.unlink(path)
                except OSError:
                    pass  # read again next time: merging a record twice changes nothing

    def _prune_step(self) -> bool:
        """Prune one chunk; True if there is more to prune."""
        try:
            deleted = prune_some(self._db, self.retention, self.clock(), PRUNE_CHUNK)
            if deleted < PRUNE_CHUNK:
                self._db.execute("PRAGMA optimize")  # keeps the planner's statistics current
        except sqlite3.Error as exc:
            self._report(file_error(self.path, exc))
            return False
        self.stats.pruned += deleted
        return deleted == PRUNE_CHUNK

    # -- one batch -------------------------------------------------------------------------------

    def _write(self, events: list, records: list) -> bool:
        began = time.perf_counter()
        by_task: dict[str, list] = {}
        now = self.clock()
        kept = 0
        for event in events:
            state = task_state(event) if isinstance(event, dict) else None
            task_id = event.get("uuid") if state else None
            if not task_id or not isinstance(task_id, str):
                continue  # worker heartbeats, custom events: not the history's
            by_task.setdefault(task_id, []).append((event_time(event, now), STATE_RANK[state], state, event))
            kept += 1
        sent_by_task: dict[str, list] = {}
        for record in records:
            sent_by_task.setdefault(record["id"], []).append(record)
        if not by_task and not sent_by_task:
            return True
        db = self._db
        next_seq, new_labels = self._next_seq, []
        try:
            db.execute("BEGIN IMMEDIATE")
            stored = self._load_rows(set(by_task) | set(sent_by_task))
            inserts, updates, timeline, unindex, index = [], {}, [], [], []
            # by_task is in the order events came: new tasks get their seq in that order
            for task_id in [*by_task, *(t for t in sent_by_task if t not in by_task)]:
                found = stored.get(task_id)
                if found is None:
                    seq, before = self._next_seq, None
                    self._next_seq += 1
                    first = min(at for at, *_ in by_task[task_id]) if task_id in by_task else now
                    row = new_row(task_id, first)
                else:
                    seq, before = found
                    row = dict(before)
                for at, _, state, event in sorted(by_task.get(task_id, ()), key=itemgetter(0, 1)):
                    apply_event(row, event, state, at)
                    timeline.append((seq, at, state))
                for record in sent_by_task.get(task_id, ()):
                    apply_sent_record(row, record)
                values = [self._label_id(c, row[c], new_labels) if c in LABELS else row[c] for c in COLUMNS]
                searched = search_entry(seq, row)
                if before is None:
                    inserts.append((seq, *values))
                    index.append(searched)
                else:
                    old = [self._label_id(c, before[c], new_labels) if c in LABELS else before[c] for c in COLUMNS]
                    changed = tuple(i for i, (a, b) in enumerate(zip(old, values)) if a != b)
                    if changed:
                        updates.setdefault(changed, []).append([values[i] for i in changed] + [seq])
                    was = search_entry(seq, before)
                    if was != searched:
                        unindex.append(was)
                        index.append(searched)
            db.executemany(_INSERT, inserts)
            for changed, params in updates.items():
                sets = ", ".join(f"{STORED[i]} = ?" for i in changed)
                db.executemany(f"UPDATE tasks SET {sets} WHERE seq = ?", params)
            db.executemany(_SEARCH_DELETE, unindex)
            db.executemany(_SEARCH_INSERT, index)
            db.executemany("INSERT OR IGNORE INTO timeline (task, at, state) VALUES (?, ?, ?)", timeline)
            db.execute("COMMIT")
        except (sqlite3.Error, OSError) as exc:
            self._rollback(next_seq, new_labels)
            self.stats.lost += kept
            self._report(file_error(self.path, exc))
            return False
        except Exception as exc:  # a bug here must cost this batch, not every batch after it
            self._rollback(next_seq, new_labels)
            self.stats.lost += kept
            self._report(DeskError(f"the task history could not record {kept} events: {type(exc).__name__}: {exc}",
                                   hint="this is a bug in celerydesk; please report it with this message"))
            return False
        seconds = time.perf_counter() - began
        self.stats.events += kept
        self.stats.batches += 1
        self.stats.busy_s += seconds
        self._failing = False
        if self.on_commit is not None:
            self._call(self.on_commit, Commit(set(by_task) | set(sent_by_task), kept, len(records), seconds))
        return True

    def _load_rows(self, task_ids: set) -> dict[str, tuple[int, dict]]:
        """``{id: (seq, row)}`` of the tasks already stored, with label texts in the row."""
        found = {}
        ids = list(task_ids)
        texts = self._label_texts
        label_columns = {i for i, c in enumerate(COLUMNS) if c in LABELS}
        for start in range(0, len(ids), LOOKUP_CHUNK):
            chunk = ids[start:start + LOOKUP_CHUNK]
            for seq, *values in self._db.execute(_SELECT + f"({', '.join('?' * len(chunk))})", chunk):
                row = {c: (texts.get(v) if i in label_columns else v) for i, (c, v) in enumerate(zip(COLUMNS, values))}
                found[row["id"]] = (seq, row)
        return found

    # -- labels ----------------------------------------------------------------------------------

    def _load_labels(self) -> None:
        for label_id, kind, text in self._db.execute("SELECT id, kind, text FROM labels"):
            self._labels[(kind, text)] = label_id
            self._label_texts[label_id] = text

    def _label_id(self, column: str, text: Optional[str], new_labels: list) -> Optional[int]:
        if text is None:
            return None
        key = (_LABEL_KIND[column], text)
        label_id = self._labels.get(key)
        if label_id is None:
            label_id = self._db.execute("INSERT INTO labels (kind, text) VALUES (?, ?)", key).lastrowid
            self._labels[key] = label_id
            self._label_texts[label_id] = text
            new_labels.append(key)
        return label_id

    # -- failures --------------------------------------------------------------------------------

    def _rollback(self, next_seq: int, new_labels: list) -> None:
        """Undo a failed batch here as the database did: its rows and labels were never written."""
        try:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # SQLite rolls back by itself after an I/O error; the next BEGIN starts clean
        self._next_seq = next_seq
        for key in new_labels:
            self._label_texts.pop(self._labels.pop(key), None)

    def _report(self, error: DeskError) -> None:
        if self._failing:
            return
        self._failing = True
        self.stats.errors.append(error)
        if self.on_error is not None:
            self._call(self.on_error, error)

    @staticmethod
    def _call(callback, argument) -> None:
        try:
            callback(argument)
        except Exception:  # a broken callback must not stop the history
            pass

    def _close_db(self) -> None:
        if self._db is not None:
            try:
                self._db.execute("PRAGMA optimize")
                self._db.close()
            except sqlite3.Error:
                pass
            self._db = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
