"""The window's live event monitor: Celery's worker events, from the consumer thread, into a
bounded in-memory task store, a batch at a time on the GUI thread.

The consumer thread is ``core.event_consumer.EventConsumer`` (its docstring says how it reads
the broker cheaply and shares the GIL with the GUI). It hands each read's events to its sinks:
this monitor's deque, and the history's writer (``services.history``) when there is one. The
in-memory store here is the live layer on top of the history: the workers list, progress,
the notifications of launched tasks, the unregistered-task check, and the Tasks page's table
when the history cannot be used.

The GUI thread drains the deque every ``FLUSH_MS`` (``FLOOD_FLUSH_MS`` during a flood) into the
:class:`TaskStore` and emits one ``updated`` signal per batch, so a burst of 2,000 events a
second costs two to five table updates a second, never one per event. It applies events in
slices of at most ``BATCH_BUDGET_S``: a backlog (after a pause, on a starved machine) is worked
off over the next turns of the event loop, timers and painting going on in between, and the
table hears of it once, when it is done (or every ``FLOOD_FLUSH_MS`` meanwhile).

Progress is not an event: ``update_state(state='PROGRESS', meta=...)`` only writes the result
backend. We poll it — one Redis ``MGET`` of ``celery-task-meta-<id>`` for the tasks that are
STARTED or PROGRESS in the store, off the Qt thread, every ``PROGRESS_POLL_MS`` — because it
needs no change to the user's tasks (custom events would) and costs nothing while no task runs.
It assumes a Redis result backend (the broker URL unless told otherwise), as the stack runs.

Sending and control (revoke, terminate, retry, inspect, purge) are not here: they go through
the window's one broker client (``services.broker``).
"""

from __future__ import annotations

import time
from collections import deque
from typing import Callable, Iterable, Optional

from PySide6.QtCore import QObject, QTimer, Signal

from celerydesk.core.event_consumer import EventConsumer, read_progress
from celerydesk.core.task_store import PROGRESS, TaskStore
from celerydesk.services.background import run_in_background

FLUSH_MS = 200
# During a flood (a batch this big) the table is refreshed less often: each refresh repaints
# every visible row, and at hundreds of tasks a second nobody reads them faster (as the log
# pane's LOG_FLOOD_FLUSH_MS). Events are still applied as they come, in bigger batches.
FLOOD_EVENTS = 50  # in 200 ms: over ~60 tasks a second
FLOOD_FLUSH_MS = 500
# Events are applied for at most BATCH_BUDGET_S per turn of the event loop, BATCH_CHUNK (~0.6 ms
# of CPU) between looks at the clock. On a machine the stack keeps busy, the GUI thread is put
# off many times within a slice: a slice of 50 events stretched to 40-60 ms of wall time, one
# of 20 to half that (bench_monitor, interleaved: longest stall 23-59 ms before, 24-43 after).
BATCH_BUDGET_S = 0.002
BATCH_CHUNK = 20
PROGRESS_POLL_MS = 500


class EventMonitor(QObject):
    """Owns the consumer thread and the store; ``updated`` fires once per applied batch."""

    updated = Signal(object)  # set of changed task ids (empty when only workers changed)
    workersAppeared = Signal(list)  # hostnames seen for the first time
    connectionChanged = Signal(bool, str)  # connected, error text (also when only the error changes)

    def __init__(self, broker_url: str, capacity: int = 10_000, backend_url: Optional[str] = None,
                 sinks: Iterable[Callable[[list], None]] = (), parent=None):
        """``sinks`` get every read's events on the consumer thread too (the history's writer)."""
        super().__init__(parent)
        self.broker_url = broker_url
        self.sinks = list(sinks)
        self.backend_url = backend_url or broker_url
        self.store = TaskStore(capacity)
        self._pending: deque = deque()
        self._consumer: Optional[EventConsumer] = None
        self._status = (False, "")  # (connected, error) as connectionChanged last told it
        self._polling = False
        self._backend = None
        self.longest_flush_ms = 0.0  # the slowest slice applied so far (store + model): a stall's share
        self._changed: set = set()  # applied since the table last heard: the next ``updated``
        self._applied = 0
        self._told_at = time.monotonic()
        self._flush = QTimer(self, interval=FLUSH_MS)
        self._flush.timeout.connect(self.flush)
        self._more = QTimer(self, singleShot=True, interval=0)  # the rest of a backlog
        self._more.timeout.connect(self.flush)
        self._poll = QTimer(self, interval=PROGRESS_POLL_MS)
        self._poll.timeout.connect(self._poll_progress)

    # -- life --------------------------------------------------------------------------------

    def start(self) -> None:
        if self._consumer is not None and self._consumer.is_alive():
            return
        self._consumer = EventConsumer(self.broker_url, [self._pending.extend, *self.sinks])
        self._consumer.start()
        self._flush.start()
        self._poll.start()

    def stop(self) -> None:
        self._flush.stop()
        self._poll.stop()
        if self._consumer is not None:
            self._consumer.stop(3.0)
            self._consumer = None
        self._more.stop()
        self.flush(budget_s=None)
        if self._backend is not None:
            self._backend.close()
            self._backend = None

    def is_connected(self) -> bool:
        return self.status()[0]

    def status(self) -> tuple[bool, str]:
        """(connected, why not): the error is empty while connected, or before a first attempt fails."""
        consumer = self._consumer
        if consumer is None or consumer.connected.is_set():
            return consumer is not None, ""
        return False, consumer.error or ""

    def wait_connected(self, timeout: float = 10.0) -> bool:
        return self._consumer is not None and self._consumer.connected.wait(timeout)

    def consumer_cpu_s(self) -> float:
        return self._consumer.cpu_s if self._consumer is not None else 0.0

    # -- the GUI thread's side -----------------------------------------------------------------

    def flush(self, budget_s: Optional[float] = BATCH_BUDGET_S) -> None:
        """Apply what the thread decoded: for at most ``budget_s`` (None: all of it) this time."""
        status = self.status()
        if status != self._status:  # connected, lost, or failing for another reason than before
            self._status = status
            self.connectionChanged.emit(*status)
        pending = self._pending
        if not pending and not self._applied:
            return
        began = time.perf_counter()
        pop, apply = pending.popleft, self.store.apply_batch
        while pending:  # the thread keeps appending meanwhile
            chunk = [pop() for _ in range(min(len(pending), BATCH_CHUNK))]
            self._changed |= apply(chunk)
            self._applied += len(chunk)
            if budget_s is not None and time.perf_counter() - began > budget_s:
                break
        now = time.monotonic()
        if pending:  # a backlog: the rest at the next turn of the event loop
            self._more.start()
            if now - self._told_at < FLOOD_FLUSH_MS / 1000:
                self._note_duration(began)
                return
        changed, applied = self._changed, self._applied
        self._changed, self._applied, self._told_at = set(), 0, now
        self._flush.setInterval(FLOOD_FLUSH_MS if applied >= FLOOD_EVENTS else FLUSH_MS)
        new = self.store.take_new_workers()
        if new:
            self.workersAppeared.emit(new)
        self.updated.emit(changed)  # the table's update runs here, within the measured time
        self._note_duration(began)

    def _note_duration(self, began: float) -> None:
        self.longest_flush_ms = max(self.longest_flush_ms, (time.perf_counter() - began) * 1000)

    def _poll_progress(self) -> None:
        ids = self.store.running_ids()
        if not ids or self._polling or not self.backend_url.startswith(("redis://", "rediss://", "unix://")):
            return  # progress is kept only in a Redis result backend (rpc://, beside RabbitMQ, keeps none)
        self._polling = True  # one poll at a time: the client below is not shared between threads
        if self._backend is None:
            import redis

            # Kept open: a connection per poll would cost more than the MGET itself.
            self._backend = redis.Redis.from_url(self.backend_url, socket_timeout=2, socket_connect_timeout=2)
        client = self._backend
        run_in_background(lambda: read_progress(client, ids), self._on_progress, self)

    def _on_progress(self, readings, error) -> None:
        self._polling = False
        if error is not None or not readings:
            return  # the backend is not Redis, or is restarting: progress simply does not move
        changed = {i for i, meta in readings.items() if self.store.set_progress(i, PROGRESS, meta)}
        if changed:
            self.updated.emit(changed)
