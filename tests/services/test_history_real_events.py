"""The history writer fed by celery's own EventReceiver, from a real worker on a real redis-server.

The events are exactly what a monitor receives (celery's receiver localizes timestamps and adds
``local_received``); the tasks are the sample's: a success, a chain (parent and root), a
failure with its traceback, and a task with a 3,000-character argument whose exact JSON the
sender recorded (as ``celerydesk call`` will): its event repr is cut at 1,024 characters, the
stored JSON is whole, and a search for the argument's last characters finds it. The Dashboard's
summary equals an aggregate of those rows, and the worker's own heartbeats count it online.
"""

from __future__ import annotations

import json
import sys
import threading
import time

import pytest

from celerydesk.core.history import sent
from celerydesk.core.history.dashboard import read_dashboard
from celerydesk.core.history.queries import HistoryReader, TaskFilter
from celerydesk.core.history.writer import HistoryWriter
from tests.helpers.history_checks import search_index_problems
from tests.helpers.summary_checks import direct_summary, stored_summary
from tests.helpers.stack import ChildProcess

ADD = "celerydesk.sample.tasks.add"


@pytest.fixture
def worker(redis_server, tmp_path):
    child = ChildProcess([sys.executable, "-m", "celery", "-A", "celerydesk.sample.celery_app", "worker", "-E",
                          "-c", "2", "-n", "history@%h", "-l", "info"],
                         env={"CELERY_BROKER_URL": redis_server, "CELERY_RESULT_BACKEND": redis_server})
    try:
        child.wait_for("ready", timeout=60)
        yield child
    finally:
        child.signal()
        try:
            child.finish(30)
        finally:
            child.kill_group()


def test_real_events_become_history(redis_server, worker, tmp_path):
    from celery import Celery

    runtime = tmp_path / ".celerydesk"
    writer = HistoryWriter(runtime, interval=0.05)
    writer.sample_every = 0.5  # workers online, sampled often enough for this test
    writer.start()
    app = Celery("history-test", broker=redis_server, set_as_current=False)
    app.conf.update(task_send_sent_event=True, task_serializer="json", accept_content=["json"])
    listening, stop = threading.Event(), threading.Event()

    def listen():
        with app.connection_for_read() as conn:
            receiver = app.events.Receiver(conn, handlers={"*": lambda event: writer.submit([event])})
            ready = receiver.on_consume_ready

            def on_ready(*a, **kw):
                ready(*a, **kw)
                listening.set()

            receiver.on_consume_ready = on_ready
            for _ in receiver.consume(limit=None, timeout=None, wakeup=False):
                if stop.is_set():
                    break

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    try:
        assert listening.wait(20)
        added = app.send_task(ADD, args=[2, 3])
        chained = (app.signature(ADD, args=(1, 2)) | app.signature(ADD, args=(10,))).apply_async()
        failed = app.send_task("celerydesk.sample.tasks.process_video", args=["/no/such/video.mp4"])
        message = "".join(chr(ord("a") + i % 26) for i in range(3000)) + "-END-OF-MESSAGE"
        called = app.send_task("celerydesk.sample.tasks.notify_customers", args=[message], kwargs={"delay": 0})
        record = sent.sent_record(called.id, "celerydesk.sample.tasks.notify_customers", [message], {"delay": 0}, "call")
        sent.record_sent(sent.spool_dir(runtime), [record])
        ids = [added.id, chained.parent.id, chained.id, failed.id, called.id]
        reader = HistoryReader(runtime)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            rows = {i: reader.task(i) for i in ids}
            if all(r and r["state"] in ("SUCCESS", "FAILURE") and r["args_json" if i == called.id else "id"]
                   for i, r in rows.items()):
                break
            time.sleep(0.1)
        deadline = time.monotonic() + 20  # a heartbeat every 2 s
        while not writer.workers.online(time.time()) and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1)  # and sampled
    finally:
        stop.set()
        app.send_task(ADD, args=[0, 0])  # one more event wakes the receiver to stop
        listener.join(10)
        writer.close()
    add, first, second, video, notify = (rows[i] for i in ids)
    assert (add["state"], add["result"], add["name"], add["queue"]) == ("SUCCESS", "5", ADD, "celery")
    assert add["worker"].startswith("history@") and add["runtime"] > 0 and add["wait"] >= 0
    assert [s for _, s in reader.timeline(added.id)] == ["SENT", "RECEIVED", "STARTED", "SUCCESS"]
    assert (second["parent_id"], second["root_id"], second["result"]) == (first["id"], first["id"], "13")
    assert reader.family(chained.id)["tree"]["children"][0]["id"] == chained.id
    assert video["state"] == "FAILURE" and "FileNotFoundError" in video["exception"]
    assert "Traceback (most recent call last)" in video["traceback"]
    assert len(notify["args"]) < 1100 and notify["args"].endswith("...']")  # celery's cut repr
    assert json.loads(notify["args_json"]) == [message] and notify["sent_by"] == "call"
    assert [r["id"] for r in reader.page(TaskFilter(search=message[-20:]))] == [called.id]
    assert search_index_problems(reader.path) == []
    assert stored_summary(reader.path) == direct_summary(reader.path)
    board = read_dashboard(reader, "15 min", time.time())
    assert sum(board.throughput.failed) == 1 and sum(board.throughput.succeeded) >= 4
    assert any(w is not None for w in board.throughput.wait_mean)  # received minus sent: task-sent is on
    assert max(w or 0 for w in board.samples.workers) == 1  # history@…, from its heartbeats
    assert {r.name for r in board.runtimes if r.exact} >= {ADD, "celerydesk.sample.tasks.process_video"}
