"""The task store: events in any order, bounded capacity, totals past eviction, workers, progress."""

from __future__ import annotations

import itertools

import pytest

from celerydesk.core.task_store import FAILURE, PROGRESS, RECEIVED, RETRY, STARTED, SUCCESS, TaskStore


class Clock:
    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def lifecycle(task_id="t1", worker="main@host"):
    return [
        {"type": "task-sent", "uuid": task_id, "name": "app.add", "args": "(1, 2)", "kwargs": "{}",
         "hostname": "gen1@desk", "queue": "celery", "timestamp": 1.0},
        {"type": "task-received", "uuid": task_id, "name": "app.add", "args": "(1, 2)", "kwargs": "{}",
         "hostname": worker, "timestamp": 2.0},
        {"type": "task-started", "uuid": task_id, "hostname": worker, "timestamp": 3.0},
        {"type": "task-succeeded", "uuid": task_id, "result": "3", "runtime": 0.25, "hostname": worker,
         "timestamp": 4.0},
    ]


@pytest.mark.parametrize("order", list(itertools.permutations(range(4))))
def test_any_order_ends_in_the_same_record(order):
    store = TaskStore(clock=Clock())
    events = lifecycle()
    store.apply_batch(events[i] for i in order)
    record = store.tasks["t1"]
    assert record.state == SUCCESS
    assert (record.name, record.args, record.result, record.runtime) == ("app.add", "(1, 2)", "3", 0.25)
    assert record.worker == "main@host"  # never the sender's hostname
    assert record.queue == "celery"
    assert (record.sent, record.received, record.started, record.finished) == (1.0, 2.0, 3.0, 4.0)


def test_failure_keeps_exception_and_traceback():
    store = TaskStore(clock=Clock())
    store.apply({"type": "task-received", "uuid": "f", "name": "app.video", "args": "('/nope',)", "hostname": "w@h"})
    store.apply({"type": "task-failed", "uuid": "f", "exception": "FileNotFoundError('no such video')",
                 "traceback": "Traceback (most recent call last):\n  ...\nFileNotFoundError: no such video",
                 "hostname": "w@h"})
    record = store.tasks["f"]
    assert record.state == FAILURE
    assert "FileNotFoundError" in record.exception and record.traceback.startswith("Traceback")
    store.apply({"type": "task-started", "uuid": "f", "hostname": "w@h"})  # late: no step back
    assert store.tasks["f"].state == FAILURE


def test_retry_then_started_again():
    store = TaskStore(clock=Clock())
    store.apply({"type": "task-started", "uuid": "r", "hostname": "w@h"})
    store.apply({"type": "task-retried", "uuid": "r", "exception": "Retry in 1s", "hostname": "w@h"})
    assert store.tasks["r"].state == RETRY
    store.apply({"type": "task-received", "uuid": "r", "hostname": "w@h"})
    assert store.tasks["r"].state == RECEIVED
    store.apply({"type": "task-started", "uuid": "r", "hostname": "w@h"})
    assert store.tasks["r"].state == STARTED


def test_revoked_terminated_ends_a_running_task():
    store = TaskStore(clock=Clock())
    store.apply({"type": "task-started", "uuid": "x", "hostname": "w@h"})
    store.apply({"type": "task-revoked", "uuid": "x", "terminated": True, "signum": 15})
    assert store.tasks["x"].state == "REVOKED" and store.tasks["x"].terminated


def test_capacity_keeps_the_newest_and_counts_everything():
    store = TaskStore(capacity=100, clock=Clock())
    for i in range(1000):
        store.apply_batch(lifecycle(f"t{i}"))
    assert len(store.tasks) == 100
    assert list(store.tasks)[0] == "t900" and list(store.tasks)[-1] == "t999"
    assert store.counts["task-succeeded"] == 1000 and store.dropped == 900
    store.set_capacity(10)
    assert list(store.tasks) == [f"t{i}" for i in range(990, 1000)]


def test_progress_from_the_backend_only_for_running_tasks():
    store = TaskStore(clock=Clock())
    store.apply({"type": "task-started", "uuid": "v", "hostname": "w@h"})
    assert store.running_ids() == ["v"]
    assert store.set_progress("v", PROGRESS, {"current": 5, "total": 10, "percent": 50.0})
    assert store.tasks["v"].state == PROGRESS and store.tasks["v"].progress == 50.0
    assert store.set_progress("v", PROGRESS, {"current": 3, "total": 4})  # no percent: computed
    assert store.tasks["v"].progress == 75.0
    store.apply({"type": "task-succeeded", "uuid": "v", "result": "{}", "hostname": "w@h"})
    assert store.tasks["v"].progress == 100.0
    assert not store.set_progress("v", PROGRESS, {"percent": 10})  # finished: a stale reading
    assert store.running_ids() == []


def test_workers_from_heartbeats_remote_or_not_and_going_away():
    clock = Clock()
    store = TaskStore(clock=clock)
    store.apply({"type": "worker-online", "hostname": "main@desk", "pid": 10, "freq": 2.0})
    store.apply({"type": "worker-heartbeat", "hostname": "remote@other", "pid": 99, "active": 1,
                 "processed": 7, "freq": 2.0})
    assert sorted(store.take_new_workers()) == ["main@desk", "remote@other"]
    assert store.take_new_workers() == []
    assert store.workers["remote@other"].processed == 7 and store.workers["remote@other"].pid == 99
    assert {w.hostname for w in store.alive_workers()} == {"main@desk", "remote@other"}
    store.apply({"type": "worker-offline", "hostname": "main@desk", "pid": 10})
    assert {w.hostname for w in store.alive_workers()} == {"remote@other"}
    clock.now += 60  # no heartbeat for a minute: gone
    assert store.alive_workers() == []


def test_unknown_events_are_counted_not_stored():
    store = TaskStore(clock=Clock())
    store.apply({"type": "custom-thing", "uuid": "z"})
    store.apply({"type": "task-succeeded"})  # no uuid
    assert store.tasks == {} and store.counts == {"custom-thing": 1, "task-succeeded": 1}
