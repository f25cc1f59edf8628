"""The live event monitor: Celery's worker events off the broker, into a bounded task store.

A child process, the event feed (:mod:`celerydesk.core.event_feed`), holds the broker
connection, decodes the events and writes them to its stdout in marshal frames, one per 20 ms
at most; ``_FeedProcess`` reads them on the Qt thread into a deque. A process rather than a
thread: a decoding thread shares the GIL with the GUI thread, and when the scheduler puts it
off while it holds the GIL (the stack keeps both cores busy) the GUI waits with it.

The Qt thread drains the deque every ``FLUSH_MS`` (``FLOOD_FLUSH_MS`` during a flood) into the
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

Control (revoke, terminate, retry, inspect, purge) goes through a bare Celery app that knows
only the broker URL: it never imports the user's code.
"""

from __future__ import annotations

import json
import time
from collections import deque
from typing import Optional

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, QTimer, Signal

from celerydesk.core.event_feed import FrameReader
from celerydesk.core.queues import PRIORITY_SEPARATOR, PRIORITY_STEPS
from celerydesk.core.selfcmd import child_environ, self_command
from celerydesk.core.task_store import TaskStore
from celerydesk.services.background import run_in_background

FLUSH_MS = 200
# During a flood (a batch this big) the table is refreshed less often: each refresh repaints
# every visible row, and at hundreds of tasks a second nobody reads them faster (as the log
# pane's LOG_FLOOD_FLUSH_MS). Events are still applied as they come, in bigger batches.
FLOOD_EVENTS = 50  # in 200 ms: over ~60 tasks a second
FLOOD_FLUSH_MS = 500
BATCH_BUDGET_S = 0.005  # events are applied for at most this long per turn of the event loop ...
BATCH_CHUNK = 50  # ... this many between looks at the clock (~1.5 ms on a busy machine)
PROGRESS_POLL_MS = 500


def purge_queue(url: str, queue: str) -> int:
    """Delete every waiting message of ``queue``, its priority lists included; return how many."""
    import redis

    client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    try:
        keys = [queue] + [f"{queue}{PRIORITY_SEPARATOR}{step}" for step in PRIORITY_STEPS]
        pipe = client.pipeline(transaction=True)
        for key in keys:
            pipe.llen(key)
        pipe.delete(*keys)
        counts = pipe.execute()
        return sum(counts[:len(keys)])
    finally:
        client.close()


def read_progress(client, task_ids: list[str]) -> dict[str, tuple[str, dict]]:
    """``{id: (status, result)}`` from a Redis result backend, for the ids it holds."""
    values = client.mget([f"celery-task-meta-{i}" for i in task_ids])
    out = {}
    for task_id, raw in zip(task_ids, values):
        if raw:
            meta = json.loads(raw)
            out[task_id] = (meta.get("status"), meta.get("result"))
    return out


class _FeedProcess(QObject):
    """The event feed child: its event frames into ``sink``, its status into ``connected``.

    The feed exits when its stdin closes (``stop``, or this process dying in any way). If it
    exits on its own (a crash), it is started again after ``RESTART_S``.
    """

    RESTART_S = 1.0

    def __init__(self, url: str, sink: deque, parent=None):
        super().__init__(parent)
        self.url = url
        self.sink = sink
        self.connected = False
        self.error: Optional[str] = None
        self._reader = FrameReader()
        self._stopping = False
        self._proc: Optional[QProcess] = None
        self._restart = QTimer(self, singleShot=True, interval=int(self.RESTART_S * 1000))
        self._restart.timeout.connect(self.start)

    def start(self) -> None:
        self._stopping = False
        argv = [*self_command("celerydesk.core.event_feed", "_event_feed"), self.url]
        proc = QProcess(self)
        proc.setProgram(argv[0])
        proc.setArguments(argv[1:])
        env = QProcessEnvironment()
        for name, value in child_environ().items():
            env.insert(name, value)
        proc.setProcessEnvironment(env)
        proc.setProcessChannelMode(QProcess.ProcessChannelMode.ForwardedErrorChannel)  # its errors: ours
        params = QProcess.UnixProcessParameters()
        params.flags = QProcess.UnixProcessFlag.CloseFileDescriptors  # no inherited pipes (the reaper's!)
        proc.setUnixProcessParameters(params)
        proc.readyReadStandardOutput.connect(self._read)
        proc.finished.connect(self._on_finished)
        self._reader = FrameReader()
        self._proc = proc
        proc.start()

    def stop(self) -> None:
        self._stopping = True
        self._restart.stop()
        proc, self._proc = self._proc, None
        self.connected = False
        if proc is None:
            return
        proc.closeWriteChannel()  # stdin EOF: the feed exits
        if not proc.waitForFinished(2000):
            proc.kill()
            proc.waitForFinished(1000)
        proc.deleteLater()

    def is_running(self) -> bool:
        return self._proc is not None

    def pid(self) -> Optional[int]:
        pid = self._proc.processId() if self._proc is not None else 0
        return pid or None

    def wait_connected(self, timeout: float) -> bool:
        """Blocking (a test's or a benchmark's set-up): read frames until connected or timeout."""
        deadline = time.monotonic() + timeout
        while not self.connected and self._proc is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self._proc.waitForReadyRead(max(1, int(left * 1000)))
            self._read()
        return self.connected

    def _read(self) -> None:
        if self._proc is None:
            return
        for kind, data in self._reader.feed(bytes(self._proc.readAllStandardOutput())):
            if kind == "events":
                self.sink.extend(data)
            else:
                self.connected, self.error = data[0], data[1] or None

    def _on_finished(self, code: int, _status) -> None:
        if self._stopping or self.sender() is not self._proc:
            return
        self._read()
        self.connected = False
        self.error = f"the event feed exited (code {code}); starting it again"
        self._proc.deleteLater()
        self._proc = None
        self._restart.start()


class EventMonitor(QObject):
    """Owns the event feed and the store; ``updated`` fires once per applied batch."""

    updated = Signal(object)  # set of changed task ids (empty when only workers changed)
    workersAppeared = Signal(list)  # hostnames seen for the first time
    connectionChanged = Signal(bool, str)  # connected, error text

    def __init__(self, broker_url: str, capacity: int = 10_000, backend_url: Optional[str] = None,
                 parent=None):
        super().__init__(parent)
        self.broker_url = broker_url
        self.backend_url = backend_url or broker_url
        self.store = TaskStore(capacity)
        self._pending: deque = deque()
        self._feed = _FeedProcess(broker_url, self._pending, self)
        self._connected = False
        self._polling = False
        self._backend = None
        self._app = None
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
        if self._feed.is_running():
            return
        self._feed.start()
        self._flush.start()
        self._poll.start()

    def stop(self) -> None:
        self._flush.stop()
        self._poll.stop()
        self._feed.stop()
        self._more.stop()
        self.flush(budget_s=None)
        if self._backend is not None:
            self._backend.close()
            self._backend = None

    def is_connected(self) -> bool:
        return self._feed.connected

    def wait_connected(self, timeout: float = 10.0) -> bool:
        """Blocking: for set-ups that need the feed subscribed before they send anything."""
        return self._feed.wait_connected(timeout)

    def feed_pid(self) -> Optional[int]:
        """The event feed's process (a benchmark counts its CPU time as the monitor's)."""
        return self._feed.pid()

    # -- the GUI thread's side -----------------------------------------------------------------

    def flush(self, budget_s: Optional[float] = BATCH_BUDGET_S) -> None:
        """Apply what the feed decoded: for at most ``budget_s`` (None: all of it) this time."""
        connected = self.is_connected()
        if connected != self._connected:
            self._connected = connected
            self.connectionChanged.emit(connected, self._feed.error or "")
        pending = self._pending
        if not pending and not self._applied:
            return
        began = time.perf_counter()
        pop, apply = pending.popleft, self.store.apply_batch
        while pending:
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
        if not ids or self._polling:
            return
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
        changed = {i for i, (status, meta) in readings.items() if self.store.set_progress(i, status, meta)}
        if changed:
            self.updated.emit(changed)

    # -- control: through a bare app that knows only the broker --------------------------------

    def app(self):
        if self._app is None:
            from celery import Celery

            self._app = Celery("celerydesk-monitor", broker=self.broker_url, backend=self.backend_url,
                               set_as_current=False)
            self._app.conf.update(task_serializer="json", accept_content=["json"],
                                  task_send_sent_event=True, broker_connection_retry_on_startup=True)
        return self._app

    def revoke(self, task_id: str, terminate: bool = False) -> None:
        app = self.app()
        run_in_background(lambda: app.control.revoke(task_id, terminate=terminate, signal="SIGTERM"),
                          lambda *_: None, self)

    def send(self, name: str, args=(), kwargs=None, **options) -> str:
        """Send a task by name (the sender emits task-sent, so it shows at once); return its id."""
        return self.app().send_task(name, args=list(args), kwargs=dict(kwargs or {}), **options).id

    def registered(self, timeout: float = 1.0) -> dict[str, list[str]]:
        """Blocking: task names registered on each running worker (call it off the Qt thread)."""
        return self.app().control.inspect(timeout=timeout).registered() or {}
