"""A bounded store of task records built from Celery's events, and the workers seen on the broker.

No Qt here: the event monitor's thread decodes events, the GUI thread applies them here in
batches (``apply_batch``), and the table model reads the records. Events may come in any order
(``task-succeeded`` before ``task-started``, from two workers' buffers): a state only moves
forward by rank, and fields are merged, never overwritten with nothing.

The store keeps the ``capacity`` most recently *created* records; older ones are dropped, so
memory is bounded however long the stack runs. Totals per event type (``counts``) keep
counting past the capacity: a benchmark or a status bar can tell "every task was seen".

Workers come from ``worker-*`` events (heartbeats every two seconds), so a worker on another
machine that uses the same broker shows up like one of the stack's own children.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Iterable, Optional

PENDING, SENT, RECEIVED, STARTED, PROGRESS = "PENDING", "SENT", "RECEIVED", "STARTED", "PROGRESS"
RETRY, SUCCESS, FAILURE, REVOKED, REJECTED = "RETRY", "SUCCESS", "FAILURE", "REVOKED", "REJECTED"
# How far along a task is: a late event never moves a task back (a task-received read after
# task-succeeded). RETRY ranks lowest: a retried task is received and started again.
STATE_RANK = {PENDING: 0, RETRY: 1, SENT: 1, RECEIVED: 2, STARTED: 4, PROGRESS: 5,
              SUCCESS: 10, FAILURE: 10, REVOKED: 10, REJECTED: 10}
FINISHED_STATES = frozenset({SUCCESS, FAILURE, REVOKED, REJECTED})
RUNNING_STATES = frozenset({STARTED, PROGRESS})
STATES = (SENT, RECEIVED, STARTED, PROGRESS, RETRY, SUCCESS, FAILURE, REVOKED, REJECTED)

EVENT_STATES = {
    "task-sent": SENT, "task-received": RECEIVED, "task-started": STARTED,
    "task-succeeded": SUCCESS, "task-failed": FAILURE, "task-retried": RETRY,
    "task-revoked": REVOKED, "task-rejected": REJECTED,
}
# Fields copied from events onto the record, when present and not None.
_COPIED = ("name", "args", "kwargs", "result", "exception", "traceback", "runtime", "queue",
           "eta", "retries", "parent_id", "root_id")
WORKER_GONE_AFTER = 15.0  # seconds without a heartbeat (3 × celery's default 2 s, plus slack)


@dataclass
class TaskRecord:
    id: str
    state: str = PENDING
    name: Optional[str] = None
    args: Optional[str] = None  # the worker's repr of the arguments, as events carry them
    kwargs: Optional[str] = None
    worker: Optional[str] = None
    queue: Optional[str] = None
    eta: Optional[str] = None
    retries: Optional[int] = None
    parent_id: Optional[str] = None
    root_id: Optional[str] = None
    sent: Optional[float] = None
    received: Optional[float] = None
    started: Optional[float] = None
    finished: Optional[float] = None
    runtime: Optional[float] = None
    result: Optional[str] = None
    exception: Optional[str] = None
    traceback: Optional[str] = None
    progress: Optional[float] = None  # percent, from the result backend's PROGRESS meta
    progress_meta: Optional[dict] = None
    terminated: bool = False
    seq: int = 0  # the store's creation number: a newer task has a higher one (a table's order)
    seen_at: Optional[float] = None  # the time of the first event seen (what the history calls it too)


@dataclass
class WorkerInfo:
    hostname: str
    pid: Optional[int] = None
    last_seen: float = 0.0  # our clock (time.time()) when its last event was applied
    online: bool = True
    active: Optional[int] = None
    processed: Optional[int] = None
    loadavg: Optional[list] = None
    sw_ident: Optional[str] = None
    sw_ver: Optional[str] = None
    freq: Optional[float] = None
    extra: dict = field(default_factory=dict)

    def alive(self, now: Optional[float] = None) -> bool:
        now = time.time() if now is None else now
        return self.online and now - self.last_seen < max(WORKER_GONE_AFTER, 3 * (self.freq or 0))


class TaskStore:
    """Task records by id (insertion order, oldest first), workers by hostname, event totals."""

    def __init__(self, capacity: int = 10_000, clock=time.time):
        self.capacity = max(1, int(capacity))
        self.clock = clock
        self.tasks: "OrderedDict[str, TaskRecord]" = OrderedDict()
        self.workers: dict[str, WorkerInfo] = {}
        self.counts: dict[str, int] = {}
        self.version = 0  # bumped by every change: the model's cue to refresh
        self.dropped = 0  # records evicted to keep within capacity
        self.created = 0  # records ever created: the last one's ``seq``
        self.new_workers: list[str] = []  # hostnames seen for the first time since the last take
        # Ids now STARTED or PROGRESS, kept as events come: the progress poll asks for them
        # twice a second, and walking 10,000 records for a handful would cost more than it.
        self._running: dict[str, None] = {}

    def set_capacity(self, capacity: int) -> None:
        self.capacity = max(1, int(capacity))
        self._evict()
        self.version += 1

    # -- applying events -----------------------------------------------------------------------

    def apply_batch(self, events: Iterable[dict]) -> set[str]:
        """Apply decoded events; return the ids of the tasks they changed."""
        changed: set[str] = set()
        for event in events:
            task_id = self.apply(event)
            if task_id:
                changed.add(task_id)
        return changed

    def apply(self, event: dict) -> Optional[str]:
        kind = event.get("type", "")
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if kind.startswith("worker-"):
            self._apply_worker(kind, event)
            return None
        state = EVENT_STATES.get(kind)
        task_id = event.get("uuid")
        if state is None or not task_id:
            return None  # a custom event: counted, not shown
        stamp = event.get("timestamp") or self.clock()
        record = self.tasks.get(task_id)
        if record is None:
            self.created += 1
            record = self.tasks[task_id] = TaskRecord(task_id, seq=self.created, seen_at=stamp)
            self._evict()
        self.version += 1
        for key in _COPIED:
            value = event.get(key)
            if value is not None:
                setattr(record, key, value)
        hostname = event.get("hostname")
        if hostname and kind != "task-sent":  # task-sent's hostname is the sender's
            record.worker = hostname
            self._touch_worker(hostname, event)
        if kind == "task-sent":
            record.sent = stamp
        elif kind == "task-received":
            record.received = stamp
        elif kind == "task-started":
            record.started = stamp
        elif state in FINISHED_STATES:
            record.finished = stamp
            record.terminated = record.terminated or bool(event.get("terminated"))
        if kind == "task-retried":
            # A retry comes back as received/started again: its own rank is below those.
            record.state = RETRY
        elif STATE_RANK[state] >= STATE_RANK[record.state] and record.state not in FINISHED_STATES:
            record.state = state  # the first final state wins; a late event never steps back
        if record.state in RUNNING_STATES:
            self._running[task_id] = None
        else:
            self._running.pop(task_id, None)
        if state == SUCCESS:
            record.progress = 100.0 if record.progress is not None else None
        return task_id

    def set_progress(self, task_id: str, state: str, meta: Optional[dict]) -> bool:
        """A result-backend reading for a running task (PROGRESS is no event: it is polled)."""
        record = self.tasks.get(task_id)
        if record is None or record.state in FINISHED_STATES or state != PROGRESS or not isinstance(meta, dict):
            return False
        percent = meta.get("percent")
        if percent is None and meta.get("total"):
            percent = 100.0 * float(meta.get("current") or 0) / float(meta["total"])
        if percent is None:
            return False
        record.state = PROGRESS
        record.progress = float(percent)
        record.progress_meta = meta
        self.version += 1
        return True

    def _evict(self) -> None:
        while len(self.tasks) > self.capacity:
            task_id, _ = self.tasks.popitem(last=False)
            self._running.pop(task_id, None)
            self.dropped += 1

    # -- workers -------------------------------------------------------------------------------

    def _touch_worker(self, hostname: str, event: dict) -> WorkerInfo:
        worker = self.workers.get(hostname)
        if worker is None:
            worker = self.workers[hostname] = WorkerInfo(hostname)
            self.new_workers.append(hostname)
        worker.last_seen = self.clock()
        worker.online = True
        return worker

    def _apply_worker(self, kind: str, event: dict) -> None:
        hostname = event.get("hostname")
        if not hostname:
            return
        worker = self._touch_worker(hostname, event)
        worker.pid = event.get("pid", worker.pid)
        for key in ("active", "processed", "loadavg", "sw_ident", "sw_ver", "freq"):
            value = event.get(key)
            if value is not None:
                setattr(worker, key, value)
        if kind == "worker-offline":
            worker.online = False
        self.version += 1

    def take_new_workers(self) -> list[str]:
        out, self.new_workers = self.new_workers, []
        return out

    def alive_workers(self) -> list[WorkerInfo]:
        now = self.clock()
        return [w for w in self.workers.values() if w.alive(now)]

    # -- reading -------------------------------------------------------------------------------

    def running_ids(self, limit: int = 200) -> list[str]:
        """Tasks whose progress is worth polling, the most recently started first."""
        return list(reversed(self._running))[:limit]

    def names(self) -> list[str]:
        return sorted({r.name for r in self.tasks.values() if r.name})
