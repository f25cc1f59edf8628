"""The event feed: a small child process that reads Celery's worker events off the broker.

The window's task monitor starts it (``python -m celerydesk.core.event_feed URL``, or the
frozen binary's ``_event_feed``) and reads its stdout. It decodes the events and writes them
in frames, each ``struct(">I") length + marshal.dumps((kind, data))``:

- ``("events", [event dict, ...])``: what came since the last frame, at most every
  ``READ_PAUSE_S`` (all that came meanwhile, in one go, rather than a frame per message);
- ``("status", (connected, error text))``: on connecting, and when the broker goes away.

Why a process and not a thread of the window: a thread decoding a flood shares the GIL with
the GUI thread, and when the scheduler puts it off while it holds the GIL (the stack keeps
both cores busy), the GUI waits with it: stalls of 50-100 ms, measured. A process shares
nothing; marshal frames cost the window a few microseconds per event to load.

On Redis (the stack's broker) celery publishes events on PUB/SUB channels
``/<db>.celeryev/<routing key>``: the feed pattern-subscribes to ``task.*`` and ``worker.*``
over a plain socket, cuts the base64 body out of kombu's envelope without parsing the rest, and
decodes it with the standard ``json.loads`` (no object hook: measured ≈25 % cheaper than
kombu's ``loads``). Celery's EventReceiver and kombu's consumer machinery are skipped: their
per-message overhead is most of a monitor's cost. Other brokers (AMQP) get a kombu consumer on
a private queue bound to ``task.#`` and ``worker.#``. It reconnects when the broker comes back.

It exits when its stdin closes: the window quit, or died (SIGKILL included: the kernel closes
the pipe), so a feed is never left behind.
"""

from __future__ import annotations

import json
import marshal
import os
import socket
import struct
import sys
import threading
import uuid
from base64 import b64decode
from typing import Callable

READ_PAUSE_S = 0.02
RECONNECT_S = 1.0
FEED_NICE = 5  # below the window: events wait in the socket at no cost; the GUI is what users see
HEADER = struct.Struct(">I")


def frame(kind: str, data) -> bytes:
    body = marshal.dumps((kind, data))
    return HEADER.pack(len(body)) + body


class FrameReader:
    """Cuts the feed's stdout back into (kind, data) frames, however the bytes arrive."""

    def __init__(self):
        self.buf = b""

    def feed(self, chunk: bytes) -> list[tuple]:
        buf = self.buf + chunk if self.buf else chunk
        frames, pos, size = [], 0, HEADER.size
        while len(buf) - pos >= size:
            (length,) = HEADER.unpack_from(buf, pos)
            if len(buf) - pos - size < length:
                break
            frames.append(marshal.loads(buf[pos + size:pos + size + length]))
            pos += size + length
        self.buf = buf[pos:]
        return frames


def _command(*args) -> bytes:
    """One Redis command in RESP."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg.encode() if isinstance(arg, str) else bytes(arg)
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


class RespReader:
    """Just enough RESP2 for a subscriber: arrays, bulk and simple strings, integers, errors."""

    def __init__(self):
        self.buf = b""

    def feed(self, chunk: bytes) -> list:
        buf = self.buf + chunk if self.buf else chunk
        replies, pos = [], 0
        while True:
            parsed = self._parse(buf, pos)
            if parsed is None:
                break
            pos, reply = parsed
            replies.append(reply)
        self.buf = buf[pos:]
        return replies

    def _parse(self, buf: bytes, pos: int):
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None
        kind = buf[pos]
        if kind == 42:  # '*': an array
            count = int(buf[pos + 1:eol])
            items = []
            pos = eol + 2
            for _ in range(count):
                parsed = self._parse(buf, pos)
                if parsed is None:
                    return None
                pos, item = parsed
                items.append(item)
            return pos, items
        if kind == 36:  # '$': a bulk string
            size = int(buf[pos + 1:eol])
            if size < 0:
                return eol + 2, None
            end = eol + 2 + size
            if len(buf) < end + 2:
                return None
            return end + 2, buf[eol + 2:end]
        if kind == 58:  # ':': an integer
            return eol + 2, int(buf[pos + 1:eol])
        if kind == 45:  # '-': an error (a wrong password, a broker refusing us)
            raise ConnectionError(buf[pos + 1:eol].decode(errors="replace"))
        return eol + 2, buf[pos + 1:eol]  # '+': a simple string


def decode(data: bytes) -> list[dict]:
    """The event(s) in one published message: kombu's envelope around a JSON body."""
    if data.startswith(b'{"body": "') and b'"body_encoding": "base64"' in data:
        body = b64decode(data[10:data.index(b'"', 10)])
    else:  # another layout or encoding: the whole envelope, the slow way
        envelope = json.loads(data)
        body = envelope["body"]
        if envelope.get("properties", {}).get("body_encoding") == "base64":
            body = b64decode(body)
    event = json.loads(body)
    return event if isinstance(event, list) else [event]  # a list: a worker's buffer (task.multi)


class Feed:
    """Subscribes and hands decoded events to ``emit_events``, states to ``emit_status``."""

    def __init__(self, url: str, emit_events: Callable[[list], None], emit_status: Callable[[bool, str], None]):
        self.url = url
        self.emit_events = emit_events
        self.emit_status = emit_status
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                if self.url.startswith(("redis://", "rediss://", "unix://")):
                    self._run_redis()
                else:
                    self._run_kombu()
            except Exception as exc:  # broker down or restarting: say why, retry
                self.emit_status(False, f"{type(exc).__name__}: {exc}")
                self.stopping.wait(RECONNECT_S)

    def _run_redis(self) -> None:
        """Redis: subscribe to celery's event topics straight, and decode only the body.

        The replies are read off a plain socket with a minimal RESP reader: redis-py's parser
        (and kombu's poller above it) cost more per event than the decoding itself (measured:
        ≈1.1 ms of CPU per no-op task through redis-py); ``rediss://`` and ``unix://`` URLs,
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
                sock.sendall(_command("AUTH", *auth))
            sock.sendall(_command("PSUBSCRIBE", *patterns))
            sock.settimeout(0.25)
            while not self.stopping.is_set():
                try:
                    chunk = sock.recv(262144)
                except socket.timeout:
                    continue
                if not chunk:
                    raise ConnectionError("the broker closed the connection")
                events: list = []
                for reply in reader.feed(chunk):
                    if type(reply) is list and reply[0] == b"pmessage":
                        events.extend(decode(reply[3]))
                    elif type(reply) is list and reply[0] == b"psubscribe" and reply[2] == len(patterns):
                        self.emit_status(True, "")
                if events:
                    self.emit_events(events)
                # Let what follows pile up in the socket: one frame per pause, not per message.
                self.stopping.wait(READ_PAUSE_S)
        finally:
            sock.close()

    def _run_redis_py(self, patterns) -> None:
        import redis

        client = redis.Redis.from_url(self.url, socket_connect_timeout=3, protocol=2)
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            pubsub.psubscribe(*patterns)
            self.emit_status(True, "")
            while not self.stopping.is_set():
                events: list = []
                message = pubsub.get_message(timeout=0.25)
                while message is not None and len(events) < 5000:
                    events.extend(decode(message["data"]))
                    message = pubsub.get_message(timeout=0)
                if events:
                    self.emit_events(events)
        finally:
            pubsub.close()
            client.close()

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
        name = f"celerydesk.monitor.{socket.gethostname()}.{uuid.uuid4().hex[:8]}"
        queue = Queue(name, bindings=bindings, auto_delete=True, durable=False)
        events: list = []

        def on_message(message) -> None:
            body = json.loads(message.body)
            events.extend(body if isinstance(body, list) else [body])

        with Connection(self.url) as conn:
            conn.ensure_connection(max_retries=1)
            with conn.Consumer([queue], no_ack=True, on_message=on_message, accept=["json"]):
                self.emit_status(True, "")
                while not self.stopping.is_set():
                    try:
                        conn.drain_events(timeout=0.25)
                    except socket.timeout:
                        pass
                    if events:
                        self.emit_events(events[:])
                        events.clear()


def _exit_when_stdin_closes() -> None:
    """The window holds our stdin: when it quits or dies, read() returns b"" and we go."""
    try:
        while os.read(0, 4096):
            pass
    except OSError:
        pass
    os._exit(0)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_event_feed"]:  # frozen: [binary, "_event_feed", URL]
        argv = argv[1:]
    if len(argv) != 1:
        print("usage: python -m celerydesk.core.event_feed BROKER_URL", file=sys.stderr)
        return 2
    try:
        os.nice(FEED_NICE)
    except OSError:
        pass
    out = sys.stdout.buffer
    lock = threading.Lock()

    def write(data: bytes) -> None:
        with lock:
            try:
                out.write(data)
                out.flush()
            except (BrokenPipeError, OSError):
                os._exit(0)  # the window is gone

    threading.Thread(target=_exit_when_stdin_closes, name="stdin-watch", daemon=True).start()
    feed = Feed(argv[0], lambda events: write(frame("events", events)),
                lambda ok, error: write(frame("status", (ok, error))))
    feed.run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
