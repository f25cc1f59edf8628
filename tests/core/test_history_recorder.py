"""Who writes a workspace's history, and the arguments it fills in (core/history/recorder.py).

Real writers on a real file, a real redis-server as the result backend. Two recorders on one
workspace stand for two celerydesk processes (the lock is per open file, so it holds between
two in one process too): one writes, the other reads and keeps what it sees, and takes over
when the first stops, with nothing of what either saw lost. A history that cannot be opened
leaves the recorder off, saying why. A task whose repr celery cut gets its whole arguments from
the result backend when the app keeps them there, and only then.
"""

from __future__ import annotations

import json
import time

import pytest
from celery.utils.saferepr import saferepr

from celerydesk.core.history.queries import HistoryReader
from celerydesk.core.history.recorder import OFF, READING, WRITING, HistoryRecorder
from tests.helpers.history_events import event_stream

T = 1_796_000_000.0


def wait(predicate, timeout=20.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def stored_ids(runtime) -> set:
    reader = HistoryReader(runtime)
    try:
        return {row["id"] for row in reader.iter_rows()}
    finally:
        reader.close()


def tasks(n: int, seed: int) -> tuple[list, set]:
    events = [e for chunk in event_stream(n, T, seed=seed) for e in chunk]
    return events, {e["uuid"] for e in events}


def test_a_second_recorder_reads_keeps_what_it_sees_and_takes_over(tmp_path):
    runtime = tmp_path / ".celerydesk"
    states = []
    first = HistoryRecorder(runtime)
    second = HistoryRecorder(runtime, takeover_s=0.2, tick_s=0.05, on_state=lambda s, d: states.append((s, d)))
    assert first.start() == WRITING
    try:
        assert second.start() == READING
        assert states[0][0] == READING and "written by another celerydesk" in states[0][1]
        both, both_ids = tasks(30, seed=1)
        first.submit(both)  # both processes see the same events
        second.submit(both)
        first.flush()
        late, late_ids = tasks(20, seed=2)  # the first stops before it could write these
        second.submit(late)
        first.close()
        wait(lambda: second.state == WRITING, what="the takeover")
        assert states[-1] == (WRITING, str(runtime / "history.sqlite3"))
        second.flush()
        assert stored_ids(runtime) == both_ids | late_ids
        after, after_ids = tasks(5, seed=3)
        second.submit(after)
        second.flush()
        assert stored_ids(runtime) == both_ids | late_ids | after_ids
    finally:
        first.close()
        second.close()


def test_events_kept_while_reading_are_bounded_by_age(tmp_path):
    runtime = tmp_path / ".celerydesk"
    first = HistoryRecorder(runtime)
    second = HistoryRecorder(runtime, takeover_s=0.2, tick_s=0.05, keep_s=0.3)
    first.start()
    try:
        second.start()
        old, old_ids = tasks(10, seed=4)
        second.submit(old)
        wait(lambda: not second._kept, 5, "the old events to be let go")
        first.close()
        wait(lambda: second.state == WRITING, what="the takeover")
        second.flush()
        assert not stored_ids(runtime) & old_ids
    finally:
        first.close()
        second.close()


def test_a_damaged_history_leaves_the_recorder_off_saying_why(tmp_path):
    runtime = tmp_path / ".celerydesk"
    runtime.mkdir()
    (runtime / "history.sqlite3").write_bytes(b"this is not a database" * 100)
    said = []
    recorder = HistoryRecorder(runtime, on_state=lambda s, d: said.append((s, d)))
    assert recorder.start() == OFF
    events, _ = tasks(3, seed=5)
    recorder.submit(events)  # nothing to do, nothing raised
    recorder.close()
    [(state, detail)] = said
    assert state == OFF and "is damaged" in detail and "move it aside" in detail


def cut_task(task_id: str, argument: str, at: float) -> list[dict]:
    args, kwargs = saferepr((argument, 0), 1024, maxlevels=3), "{}"
    return [{"type": "task-received", "uuid": task_id, "name": "shop.tasks.mail", "args": args, "kwargs": kwargs,
             "hostname": "main@h", "timestamp": at},
            {"type": "task-succeeded", "uuid": task_id, "result": "'ok'", "runtime": 0.1, "hostname": "main@h",
             "timestamp": at + 0.1}]


def test_cut_arguments_are_filled_in_from_a_result_backend_that_keeps_them(tmp_path, redis_server):
    import redis

    backend = redis.Redis.from_url(redis_server)
    long_one, other = "x" * 2990 + "TAIL-KEPT", "y" * 2990 + "TAIL-GONE"
    # What celery's Redis backend writes with result_extended (kombu's JSON), and without it.
    backend.set("celery-task-meta-kept", json.dumps({"status": "SUCCESS", "result": "ok", "task_id": "kept",
                                                     "args": [long_one, 0], "kwargs": {}, "name": "shop.tasks.mail"}))
    backend.set("celery-task-meta-plain", json.dumps({"status": "SUCCESS", "result": "ok", "task_id": "plain"}))
    backend.close()
    runtime = tmp_path / ".celerydesk"
    recorder = HistoryRecorder(runtime, backend_url=redis_server, tick_s=0.05)
    recorder.start()
    try:
        recorder.submit(cut_task("kept", long_one, T) + cut_task("plain", other, T + 1))
        wait(lambda: recorder.filled == 1, what="the backend's arguments")
        recorder.flush()
        reader = HistoryReader(runtime)
        try:
            assert reader.exact_arguments("kept") == ([long_one, 0], {})
            assert reader.task("kept")["sent_by"] is None  # celerydesk did not send it, and says so
            assert reader.exact_arguments("plain") is None  # the app does not keep arguments there
        finally:
            reader.close()
    finally:
        recorder.close()


@pytest.mark.parametrize("url", ["amqp://guest@127.0.0.1//", "rpc://"])
def test_only_a_redis_backend_is_read(tmp_path, url):
    assert HistoryRecorder(tmp_path, backend_url=url).backend_url is None
