"""The one writer of a workspace's history: event dicts in, one transaction per batch, on its own thread.

Whoever watches the stack (the window's event monitor, ``celerydesk up``, a headless watcher)
makes a :class:`HistoryWriter`, ``start()``s it and hands it lists of celery event dicts with
``submit()``, which never blocks and never raises. The writer's thread wakes every
``interval`` seconds (``flood_interval`` while events pour in) and commits all that came
meanwhile (up to ``max_batch`` events) in one
transaction (``batch.py``); it also takes in the senders' records (``sent.py``, from their spool
folder, or handed over with ``submit_records``: arguments read from the result backend) and
prunes old tasks (``retention.py``), a little at a time. Alert firings (``submit_alerts``) are
stored by the same thread, at once, in a transaction of their own (``core/alerts/store.py``).
It also keeps what the Dashboard samples over time (``samples.py``): the queue depths handed to
``submit_samples``, and every ``SAMPLE_EVERY_S`` the number of workers online, counted from the
heartbeats among the events.

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
from pathlib import Path
from typing import Callable, Iterable, Optional

from celerydesk.core.alerts.store import insert_firings
from celerydesk.core.errors import DeskError
from celerydesk.core.history import LOCK_NAME, history_path, sent
from celerydesk.core.history.batch import BatchStore, group
from celerydesk.core.history.retention import prune_some
from celerydesk.core.history.samples import SAMPLE_EVERY_S, WorkerPresence
from celerydesk.core.history.schema import connect, file_error, migrate
from celerydesk.core.runtime import PRIVATE_DIR, hold_lock
from celerydesk.core.workspace import HistoryConfig

PRUNE_CHUNK = 2000  # tasks deleted per transaction: ~0.1-0.2 s, between two batches of events
PRUNE_FIRST_S = 30.0  # the first prune waits for the stack to be up
PRUNE_EVERY_S = 600.0
SPOOL_EVERY_S = 0.5
# A flood (this many events in a batch) is written a second at a time: most of a task's events
# (sent, received, started, succeeded) then come in one batch, one row written instead of a row
# and its updates, and the writer takes half the CPU it would (a window shares the process).
FLOOD_BATCH_EVENTS = 200


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
    alerts: int = 0  # alert firings stored
    errors: list = field(default_factory=list)


class HistoryWriter:
    def __init__(self, runtime_dir: Path, retention: HistoryConfig = HistoryConfig(), *,
                 on_error: Optional[Callable[[DeskError], None]] = None,
                 on_commit: Optional[Callable[[Commit], None]] = None,
                 interval: float = 0.2, flood_interval: float = 1.0, max_batch: int = 50_000,
                 max_pending: int = 1_000_000,
                 prune_after: float = PRUNE_FIRST_S, clock: Callable[[], float] = time.time):
        self.runtime_dir = Path(runtime_dir)
        self.path = history_path(self.runtime_dir)
        self.spool = sent.spool_dir(self.runtime_dir)
        self.retention = retention
        self.on_error, self.on_commit = on_error, on_commit
        self.interval, self.max_batch, self.max_pending = interval, max_batch, max_pending
        self.flood_interval = max(interval, flood_interval)
        self.prune_after, self.clock = prune_after, clock
        self.stats = WriterStats()
        self._pending: deque = deque()
        self._pending_records: deque = deque()
        self._pending_alerts: deque = deque()  # core.alerts Firings, stored in a transaction of their own
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
        self._store: Optional[BatchStore] = None
        self._flooding = False  # the last batch was a flood's: the next one a second later
        self._samples: deque = deque()  # (kind, at, key, value) rows for the samples table
        self.workers = WorkerPresence()
        self.sample_every = SAMPLE_EVERY_S

    # -- life ------------------------------------------------------------------------------------

    def start(self) -> None:
        """Take the lock, open (or create) and migrate the file, start the thread."""
        try:
            self.runtime_dir.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)  # arguments, results
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
            self._store = BatchStore(self._db)
        except sqlite3.Error as exc:
            self._close_db()
            raise file_error(self.path, exc) from None
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

    def submit_records(self, records: Iterable[dict]) -> None:
        """Hand over records shaped as the senders' (``sent.sent_record``; ``via`` may be None:
        then they fill in arguments without saying who sent the task). Never blocks or raises."""
        records = [r for r in records if isinstance(r, dict) and isinstance(r.get("id"), str)]
        if not records or self._thread is None or self._stopping.is_set():
            return
        with self._submit_lock:
            self._pending_records.extend(records)
            self._submitted += len(records)

    def submit_alerts(self, firings: Iterable) -> None:
        """Hand over alert firings (``core.alerts.evaluator.Firing``) to store. Never blocks or raises."""
        firings = list(firings)
        if not firings or self._thread is None or self._stopping.is_set():
            return
        with self._submit_lock:
            self._pending_alerts.extend(firings)
            self._submitted += len(firings)
        self._wake.set()  # an alert is read at once (``alerts fired``), not after a batch interval

    def submit_samples(self, samples: Iterable[tuple]) -> None:
        """Hand over ``(kind, at, key, value)`` rows (``samples.depth_samples``), written with the
        next batch. Never blocks or raises."""
        if self._thread is None or self._stopping.is_set():
            return
        self._samples.extend(s for s in samples if isinstance(s, tuple) and len(s) == 4)

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
        next_sample = time.monotonic()
        while True:
            self._wake.wait(self.flood_interval if self._flooding else self.interval)
            self._wake.clear()
            stopping = self._stopping.is_set()
            if self.stats.dropped > self._dropped_told:
                self._dropped_told = self.stats.dropped
                self._report(DeskError(f"the task history fell behind: {self.stats.dropped} events not recorded",
                                       hint=f"the disk holding {self.path} is too slow or stalled"))
            self._write_pending()
            self._write_alerts()
            now = time.monotonic()
            if now >= next_spool or stopping:
                next_spool = now + SPOOL_EVERY_S
                self._take_in_spool()
            if now >= next_sample:
                next_sample = now + self.sample_every
                self._samples.append(("workers", self.clock(), "", float(self.workers.online(self.clock()))))
            self._write_samples()
            if now >= next_prune and not stopping:
                next_prune = now + (0.0 if self._prune_step() else PRUNE_EVERY_S)
            if stopping and not self._pending and not self._pending_records and not self._pending_alerts:
                break
        with self._done:
            self._done.notify_all()

    def _write_pending(self) -> None:
        pending, records = self._pending, self._pending_records
        self._flooding = len(pending) >= FLOOD_BATCH_EVENTS
        while pending or records:
            batch = [pending.popleft() for _ in range(min(len(pending), self.max_batch))]
            taken = [records.popleft() for _ in range(len(records))] if len(batch) < self.max_batch else []
            self._write(batch, taken)
            with self._done:
                self._handled += len(batch) + len(taken)
                self._done.notify_all()

    def _write_alerts(self) -> None:
        alerts = self._pending_alerts
        if not alerts:
            return
        firings = [alerts.popleft() for _ in range(len(alerts))]
        try:
            self.stats.alerts += insert_firings(self._db, firings)
        except (sqlite3.Error, OSError) as exc:
            self.stats.lost += len(firings)
            self._report(file_error(self.path, exc))
        with self._done:
            self._handled += len(firings)
            self._done.notify_all()

    def _write_samples(self) -> None:
        rows = [self._samples.popleft() for _ in range(len(self._samples))]
        if not rows:
            return
        try:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("INSERT OR REPLACE INTO samples (kind, at, key, value) VALUES (?, ?, ?, ?)", rows)
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            try:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
            except sqlite3.Error:
                pass  # SQLite rolls back by itself after an I/O error
            self._report(file_error(self.path, exc))

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
        self.workers.see(events)
        batch = group(events, records, self.clock())
        if not batch.events and not batch.records:
            return True
        try:
            self._store.commit(batch, self.clock())
        except (sqlite3.Error, OSError) as exc:
            self.stats.lost += batch.kept
            self._report(file_error(self.path, exc))
            return False
        except Exception as exc:  # a bug here must cost this batch, not every batch after it
            self.stats.lost += batch.kept
            self._report(DeskError(f"the task history could not record {batch.kept} events: "
                                   f"{type(exc).__name__}: {exc}",
                                   hint="this is a bug in celerydesk; please report it with this message"))
            return False
        seconds = time.perf_counter() - began
        self.stats.events += batch.kept
        self.stats.batches += 1
        self.stats.busy_s += seconds
        self._failing = False
        if self.on_commit is not None:
            self._call(self.on_commit, Commit(set(batch.task_ids()), batch.kept, len(records), seconds))
        return True

    # -- failures --------------------------------------------------------------------------------

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
