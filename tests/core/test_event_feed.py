"""The event feed child process (celerydesk/core/event_feed.py), against a real redis-server.

Events are sent the way a worker sends them: celery's own EventDispatcher, so the feed has to
cut the body out of kombu's real envelope. The feed runs as the window runs it, a child with a
pipe on its stdin and frames on its stdout.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time

from celerydesk.core.event_feed import FrameReader, decode, frame


def test_frames_survive_any_split_of_the_byte_stream():
    frames = [("status", (True, "")), ("events", [{"type": "task-received", "uuid": "a", "args": "(1,)"}]),
              ("events", [{"type": "worker-heartbeat", "loadavg": [0.1, 0.2, 0.3]}] * 50)]
    stream = b"".join(frame(kind, data) for kind, data in frames)
    for step in (1, 3, 7, 64, len(stream)):
        reader = FrameReader()
        got = []
        for at in range(0, len(stream), step):
            got.extend(reader.feed(stream[at:at + step]))
        assert got == frames and reader.buf == b""


def test_decode_takes_kombu_envelopes_and_worker_buffers():
    from kombu.utils.json import dumps

    single = dumps({"body": "eyJ0eXBlIjogInRhc2stc3RhcnRlZCIsICJ1dWlkIjogIngifQ==",
                    "properties": {"body_encoding": "base64"}}).encode()
    assert decode(single) == [{"type": "task-started", "uuid": "x"}]
    plain = dumps({"properties": {}, "body": '[{"type": "task-received", "uuid": "y"}, {"type": "task-started"}]'})
    assert [e["type"] for e in decode(plain.encode())] == ["task-received", "task-started"]


class FeedChild:
    def __init__(self, url: str):
        self.proc = subprocess.Popen([sys.executable, "-m", "celerydesk.core.event_feed", url],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.reader = FrameReader()
        self.frames: list = []

    def read_until(self, predicate, timeout: float = 20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = next((f for f in self.frames if predicate(f)), None)
            if found is not None:
                return found
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if ready:
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                assert chunk, "the feed exited"
                self.frames.extend(self.reader.feed(chunk))
        raise AssertionError(f"no such frame in {timeout} s; got {self.frames[-3:]}")

    def events(self) -> list[dict]:
        return [e for kind, data in self.frames if kind == "events" for e in data]


def test_the_feed_streams_real_events_and_exits_when_its_stdin_closes(redis_server):
    from celery import Celery

    url = redis_server
    feed = FeedChild(url)
    try:
        feed.read_until(lambda f: f == ("status", (True, "")))
        app = Celery("t", broker=url, set_as_current=False)
        with app.connection_for_write() as conn:
            dispatcher = app.events.Dispatcher(conn, hostname="w1@test", enabled=True, buffer_while_offline=False)
            for i in range(300):
                dispatcher.send("task-received", uuid=f"id{i}", name="app.add", args=f"({i}, 1)")
            dispatcher.send("task-succeeded", uuid="id7", result="8", runtime=0.01)
            dispatcher.send("worker-heartbeat", freq=2.0)
            dispatcher.close()
        feed.read_until(lambda f: f[0] == "events" and any(e["type"] == "worker-heartbeat" for e in f[1]))
        events = feed.events()
        received = [e for e in events if e["type"] == "task-received"]
        assert [e["uuid"] for e in received] == [f"id{i}" for i in range(300)]  # all, in order
        assert received[5]["args"] == "(5, 1)" and received[5]["hostname"] == "w1@test"
        assert {"type": "task-succeeded", "uuid": "id7", "result": "8"}.items() <= \
            next(e for e in events if e["type"] == "task-succeeded").items()
        # Fewer frames than events: what came within a read pause goes in one frame.
        assert len([f for f in feed.frames if f[0] == "events"]) < len(events) / 5

        feed.proc.stdin.close()  # what the window's death does to the pipe
        assert feed.proc.wait(5) == 0
    finally:
        if feed.proc.poll() is None:
            feed.proc.kill()
            feed.proc.wait()


def test_a_broker_that_goes_away_is_reported_and_reconnected(tmp_path):
    from celerydesk.core.commands import redis_server_binary
    from tests.helpers.redis_server import start_redis_server

    redis, url = start_redis_server(tmp_path)
    feed = FeedChild(url)
    try:
        feed.read_until(lambda f: f == ("status", (True, "")))
        redis.terminate()
        redis.wait(10)
        down = feed.read_until(lambda f: f[0] == "status" and not f[1][0])
        assert "Connection" in down[1][1]
        feed.frames.clear()
        redis = subprocess.Popen([str(redis_server_binary()), "--port", url.rsplit(":", 1)[1].split("/")[0],
                                  "--bind", "127.0.0.1", "--save", "", "--dir", str(tmp_path)],
                                 stdout=subprocess.DEVNULL)
        feed.read_until(lambda f: f == ("status", (True, "")))  # subscribed again, on its own
    finally:
        feed.proc.kill()
        feed.proc.wait()
        if redis.poll() is None:
            redis.kill()
