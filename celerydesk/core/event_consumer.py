"""Celery's worker events off the broker, on a thread of their own, handed to sinks in batches.

:class:`EventConsumer` is what every celerydesk process that watches a stack runs: the window
(its monitor's in-memory store and the history), ``celerydesk up`` and the headless watcher (the
history). No Qt here. A sink is a callable taking a list of event dicts; it runs on the
consumer's thread, once per read of the broker, and must be quick (append to a deque, hand to
the history writer): it never sees a broker error, and an exception it raises is dropped.

On Redis (the stack's broker) celery publishes events on PUB/SUB channels
``/<db>.celeryev/<routing key>``: the thread pattern-subscribes to ``task.*`` and ``worker.*``
over a plain socket, cuts the base64 body out of kombu's envelope without parsing the rest, and
decodes it with the standard ``json.loads`` (no object hook: measured ≈25 % cheaper than
kombu's ``loads``). Celery's EventReceiver and kombu's consumer machinery are skipped
altogether: their per-message overhead is most of a monitor's cost. Other brokers (AMQP) get a
kombu consumer on a private, auto-deleted queue bound to ``task.#`` and ``worker.#``.

The thread hands the GIL over at least every ``GIL_SHARE_S`` while it decodes a flood. A GUI
thread in the same process needs the GIL for every call Qt makes into Python (each ``data()``
of a table's repaint, each slot); against a thread that keeps decoding, each such call waits
out the interpreter's switch interval (5 ms), and one repaint of the task table took hundreds
of milliseconds. ``time.sleep(0)`` gives the GIL to a waiting thread at once and costs ~1 µs
when none waits. For the same reason the thread reads the broker at most every
``READ_PAUSE_S`` (all that came meanwhile, in one go), rather than waking for each message.

The thread keeps the caller's priority. Niced, it would be put off by the scheduler while
holding the GIL (or running a garbage collection its allocations triggered), and a GUI thread
with it: ~100 ms stalls when the stack keeps both cores busy.
"""

from __future__ import annotations

import json
import resource
import socket
import threading
import time
import uuid
from base64 import b64decode
from typing import Callable, Iterable, Optional

from celerydesk.core.broker_errors import classify
from celerydesk.core.resp import RespReader, command

Sink = Callable[[list], None]
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


class EventConsumer(threading.Thread):
    """Consumes events until stopped; reconnects when the broker goes away and comes back.

    ``connected`` is set while subscribed; ``error`` says why not (the broker's answer, in
    ``core.broker_errors``' words, never the URL's password). ``cpu_s`` is this thread's CPU
    time so far (RUSAGE_THREAD), read now and then."""

    def __init__(self, url: str, sinks: Iterable[Sink] = ()):
        super().__init__(name="celerydesk-events", daemon=True)
        self.url = url
        self.sinks: list[Sink] = list(sinks)
        self.stopping = threading.Event()
        self.connected = threading.Event()
        self.cpu_s = 0.0
        self.error: Optional[str] = None
        self.queue_name = f"celerydesk.monitor.{socket.gethostname()}.{uuid.uuid4().hex[:8]}"
        self._shared_at = 0.0

    def stop(self, timeout: float = 3.0) -> None:
        self.stopping.set()
        if self.is_alive():
            self.join(timeout)

    def _deliver(self, events: list) -> None:
        for sink in self.sinks:
            try:
                sink(events)
            except Exception:  # a sink's bug must not stop the events for the others
                pass

    def _share_gil(self) -> None:
        """Between messages: give the GIL to a thread waiting for it (the GUI), now and then."""
        now = time.perf_counter()
        if now - self._shared_at >= GIL_SHARE_S:
            time.sleep(0)
            self._shared_at = time.perf_counter()

    def _note_cpu(self) -> None:
        usage = resource.getrusage(resource.RUSAGE_THREAD)
        self.cpu_s = usage.ru_utime + usage.ru_stime

    def run(self) -> None:
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
                    self._note_cpu()
                    continue
                if not chunk:
                    raise ConnectionError("the broker closed the connection")
                events: list = []
                for reply in reader.feed(chunk):
                    if type(reply) is list and reply[0] == b"pmessage":
                        decode(reply[3], events)
                        share()
                        count += 1
                    elif type(reply) is list and reply[0] == b"psubscribe" and reply[2] == len(patterns):
                        self.connected.set()
                        self.error = None
                if events:
                    self._deliver(events)
                if count > 512:  # the CPU figure is read now and then, not per message
                    count = 0
                    self._note_cpu()
                # Let what follows pile up in the socket: woken per message, the thread would
                # take the GIL from the GUI hundreds of times a second.
                self.stopping.wait(READ_PAUSE_S)
        finally:
            self.connected.clear()
            sock.close()
        self._note_cpu()

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
                    events: list = []
                    self._decode(message["data"], events)
                    self._deliver(events)
                    self._share_gil()
        finally:
            self.connected.clear()
            pubsub.close()
            client.close()

    @staticmethod
    def _decode(data: bytes, out: list) -> None:
        if data.startswith(b'{"body": "') and b'"body_encoding": "base64"' in data:
            body = b64decode(data[10:data.index(b'"', 10)])
        else:  # another layout or encoding: the whole envelope, the slow way
            envelope = json.loads(data)
            body = envelope["body"]
            if envelope.get("properties", {}).get("body_encoding") == "base64":
                body = b64decode(body)
        event = json.loads(body)
        if isinstance(event, list):  # a worker's buffered task events (task.multi)
            out.extend(event)
        else:
            out.append(event)

    def _run_kombu(self) -> None:
        """Other brokers (AMQP): a kombu consumer on a private queue bound to task.# and worker.#."""
        from kombu import Connection, Exchange, Queue, binding

        # Celery publishes events to a topic exchange, except on Redis, where it is a fanout
        # (Redis PUB/SUB): a topic binding there would never receive anything. We keep the
        # same choice as celery.events.event.get_exchange. On a fanout every event arrives;
        # the routing keys still say which: task.# and worker.# are what the stores apply.
        probe = Connection(self.url)
        kind = "fanout" if probe.transport.driver_type == "redis" else "topic"
        probe.release()
        exchange = Exchange("celeryev", type=kind)
        bindings = [binding(exchange, "task.#"), binding(exchange, "worker.#")] if kind == "topic" \
            else [binding(exchange, "#")]
        # A private queue; auto-delete: a closed window leaves no queue filling up on the broker.
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
                        self._note_cpu()
        self.connected.clear()

    def _on_message(self, message) -> None:
        # The body is the event (or, from a worker's buffer, a list of them: ``task.multi``).
        body = json.loads(message.body)
        self._deliver(body if isinstance(body, list) else [body])
        self._share_gil()
