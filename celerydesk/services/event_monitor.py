"""The live event monitor: Celery's worker events off the broker, into a bounded task store.

A daemon thread with its own broker connection receives the events. On Redis (the stack's
broker) celery publishes them on PUB/SUB channels ``/<db>.celeryev/<routing key>``: the thread
pattern-subscribes to ``task.*`` and ``worker.*`` over a plain socket, cuts the base64 body out
of kombu's envelope without parsing the rest, and decodes it with the standard ``json.loads``
(no object hook: measured ≈25 % cheaper than kombu's ``loads``). Celery's EventReceiver and
kombu's consumer machinery are skipped altogether: their per-message overhead is most of a
monitor's cost. Other brokers (AMQP) get a kombu consumer on a private queue bound to
``task.#`` and ``worker.#``. Nothing Qt happens on that thread: it appends to a deque.

The thread hands the GIL over at least every ``GIL_SHARE_S`` while it decodes a flood. The GUI
thread needs the GIL for every call Qt makes into Python (each ``data()`` of a table's repaint,
each slot); against a thread that keeps decoding, each such call waits out the interpreter's
switch interval (5 ms), and one repaint of the task table took hundreds of milliseconds.
``time.sleep(0)`` gives the GIL to a waiting thread at once and costs ~1 µs when none waits.
For the same reason the thread reads the broker at most every ``READ_PAUSE_S`` (all that came
meanwhile, in one go), rather than waking for each message.

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

import json
import resource
import socket
import threading
import time
import uuid
from base64 import b64decode
from collections import deque
from typing import Optional

from PySide6.QtCore import QObject, QTimer, Signal

from celerydesk.core.broker_errors import classify
from celerydesk.core.resp import RespReader, command
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
RECONNECT_S = 1.0
GIL_SHARE_S = 0.0002  # the consumer thread lets a waiting GUI thread have the GIL this often
READ_PAUSE_S = 0.02  # ... and reads the broker at most this often, each time all that came


def read_progress(client, task_ids: list[str]) -> dict[str, dict]:
    """``{id: meta}`` of the tasks a Redis result backend holds in the PROGRESS state.

    In a flood most of the ids polled have finished by the time their meta is read: those
    are skipped before decoding (this runs on a thread, and decoding holds the GIL).
    """
    values = client.mget([f"celery-task-meta-{i}" for i in task_ids])
    out = {}
    for task_id, raw in zip(task_ids, values):
        if raw and b'"PROGRESS"' in raw:
            meta = json.loads(raw)
            if meta.get("status") == "PROGRESS":
                out[task_id] = meta.get("result")
    return out


class _Consumer(threading.Thread):
    """Consumes events until stopped; reconnects when the broker goes away and comes back."""

    def __init__(self, url: str, sink: deque):
        super().__init__(name="celerydesk-events", daemon=True)
        self.url = url
        self.sink = sink
        self.stopping = threading.Event()
        self.connected = threading.Event()
        self.cpu_s = 0.0  # this thread's CPU time, updated as it runs (RUSAGE_THREAD)
        self.error: Optional[str] = None
        self.queue_name = f"celerydesk.monitor.{socket.gethostname()}.{uuid.uuid4().hex[:8]}"
        self._shared_at = 0.0

    def _share_gil(self) -> None:
        """Between messages: give the GIL to a thread waiting for it (the GUI), now and then."""
        now = time.perf_counter()
        if now - self._shared_at >= GIL_SHARE_S:
            time.sleep(0)
            self._shared_at = time.perf_counter()

    def run(self) -> None:
        # This thread keeps the GUI's priority. Niced, it would be put off by the scheduler while
        # holding the GIL (or running a garbage collection its allocations triggered), and the
        # GUI thread with it: ~100 ms stalls when the stack keeps both cores busy.
        while not self.stopping.is_set():
            try:
                if self.url.startswith(("redis://", "rediss://", "unix://")):
                    self._run_redis()
                else:
                    self._run_kombu()
            except Exception as exc:  # broker down or restarting: retry, say why meanwhile
                self.connected.clear()
                self.error = classify(exc, self.url).reason
                self.stopping.wait(RECONNECT_S)

    def _run_redis(self) -> None:
        """Redis: subscribe to celery's event topics straight, and decode only the body.

        Kombu publishes an event to the PUB/SUB channel ``/<db>.celeryev/<routing key>``, as a
        JSON envelope whose first field is the base64 body. Pattern subscriptions on ``task.*``
        and ``worker.*`` let Redis do the filtering. The replies are read off a plain socket
        with a minimal RESP reader (``core.resp``): redis-py's parser (and kombu's poller above it) cost more
        per event than the decoding itself (measured: ≈1.1 ms of CPU per no-op task through
        redis-py on this machine, most of it parsing); ``rediss://`` and ``unix://`` URLs,
        which need its TLS and socket handling, still go through redis-py.
        """
        import redis

        params = redis.Redis.from_url(self.url).connection_pool.connection_kwargs
        db = params.get("db", 0)
        patterns = (f"/{db}.celeryev/task.*", f"/{db}.celeryev/worker.*")
        if not self.url.startswith("redis://"):
            return self._run_redis_py(patterns)
        sock = socket.create_connection((params.get("host", "localhost"), params.get("port", 6379)), timeout=3)
        try:
            reader = RespReader()
            if params.get("password"):
                auth = [params["username"], params["password"]] if params.get("username") else [params["password"]]
                sock.sendall(command("AUTH", *auth))
            sock.sendall(command("PSUBSCRIBE", *patterns))
            sock.settimeout(0.25)
            decode, share, count = self._decode, self._share_gil, 0
            while not self.stopping.is_set():
                try:
                    chunk = sock.recv(262144)
                except socket.timeout:
                    usage = resource.getrusage(resource.RUSAGE_THREAD)
                    self.cpu_s = usage.ru_utime + usage.ru_stime
                    continue
                if not chunk:
                    raise ConnectionError("the broker closed the connection")
                for reply in reader.feed(chunk):
                    if type(reply) is list and reply[0] == b"pmessage":
                        decode(reply[3])
                        share()
                        count += 1
                    elif type(reply) is list and reply[0] == b"psubscribe" and reply[2] == len(patterns):
                        self.connected.set()
                        self.error = None
                if count > 512:  # the CPU figure is read now and then, not per message
                    count = 0
                    usage = resource.getrusage(resource.RUSAGE_THREAD)
                    self.cpu_s = usage.ru_utime + usage.ru_stime
                # Let what follows pile up in the socket: woken per message, the thread would
                # take the GIL from the GUI hundreds of times a second.
                self.stopping.wait(READ_PAUSE_S)
        finally:
            self.connected.clear()
            sock.close()
        usage = resource.getrusage(resource.RUSAGE_THREAD)
        self.cpu_s = usage.ru_utime + usage.ru_stime

    def _run_redis_py(self, patterns) -> None:
        import redis

        client = redis.Redis.from_url(self.url, socket_connect_timeout=3, protocol=2)
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            pubsub.psubscribe(*patterns)
            self.connected.set()
            self.error = None
            while not self.stopping.is_set():
                message = pubsub.get_message(timeout=0.25)
                if message is not None:
                    self._decode(message["data"])
                    self._share_gil()
        finally:
            self.connected.clear()
            pubsub.close()
            client.close()

    def _decode(self, data: bytes) -> None:
        if data.startswith(b'{"body": "') and b'"body_encoding": "base64"' in data:
            body = b64decode(data[10:data.index(b'"', 10)])
        else:  # another layout or encoding: the whole envelope, the slow way
            envelope = json.loads(data)
            body = envelope["body"]
            if envelope.get("properties", {}).get("body_encoding") == "base64":
                body = b64decode(body)
        event = json.loads(body)
        if isinstance(event, list):  # a worker's buffered task events (task.multi)
            self.sink.extend(event)
        else:
            self.sink.append(event)

    def _run_kombu(self) -> None:
        """Other brokers (AMQP): a kombu consumer on a private queue bound to task.# and worker.#."""
        from kombu import Connection, Exchange, Queue, binding

        # Celery publishes events to a topic exchange, except on Redis, where it is a fanout
        # (Redis PUB/SUB): a topic binding there would never receive anything. We keep the
        # same choice as celery.events.event.get_exchange. On a fanout every event arrives;
        # the routing keys still say which: task.# and worker.# are what the store applies.
        probe = Connection(self.url)
        kind = "fanout" if probe.transport.driver_type == "redis" else "topic"
        probe.release()
        exchange = Exchange("celeryev", type=kind)
        bindings = [binding(exchange, "task.#"), binding(exchange, "worker.#")] if kind == "topic" \
            else [binding(exchange, "#")]
        # A private queue; auto-delete: a closed panel leaves no queue filling up on the broker.
        queue = Queue(self.queue_name, bindings=bindings, auto_delete=True, durable=False)
        with Connection(self.url) as conn:
            conn.ensure_connection(max_retries=1)
            with conn.Consumer([queue], no_ack=True, on_message=self._on_message, accept=["json"]):
                self.connected.set()
                self.error = None
                while not self.stopping.is_set():
                    try:
                        conn.drain_events(timeout=0.25)
                    except socket.timeout:
                        usage = resource.getrusage(resource.RUSAGE_THREAD)
                        self.cpu_s = usage.ru_utime + usage.ru_stime
        self.connected.clear()

    def _on_message(self, message) -> None:
        # The body is the event (or, from a worker's buffer, a list of them: ``task.multi``).
        body = json.loads(message.body)
        if isinstance(body, list):
            self.sink.extend(body)
        else:
            self.sink.append(body)
        self._share_gil()


class EventMonitor(QObject):
    """Owns the consumer thread and the store; ``updated`` fires once per applied batch."""

    updated = Signal(object)  # set of changed task ids (empty when only workers changed)
    workersAppeared = Signal(list)  # hostnames seen for the first time
    connectionChanged = Signal(bool, str)  # connected, error text (also when only the error changes)

    def __init__(self, broker_url: str, capacity: int = 10_000, backend_url: Optional[str] = None,
                 parent=None):
        super().__init__(parent)
        self.broker_url = broker_url
        self.backend_url = backend_url or broker_url
        self.store = TaskStore(capacity)
        self._pending: deque = deque()
        self._consumer: Optional[_Consumer] = None
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
        self._consumer = _Consumer(self.broker_url, self._pending)
        self._consumer.start()
        self._flush.start()
        self._poll.start()

    def stop(self) -> None:
        self._flush.stop()
        self._poll.stop()
        if self._consumer is not None:
            self._consumer.stopping.set()
            self._consumer.join(3.0)
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
