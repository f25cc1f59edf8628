"""The alert evaluator (core/alerts/evaluator.py), driven with celery-shaped event dicts and depth
samples on a fake clock: each kind fires when its condition turns true, once while it stays
true, and again only after it has cleared."""

from __future__ import annotations

from celerydesk.core.alerts.evaluator import AlertEvaluator
from celerydesk.core.alerts.rules import AlertRule

VIDEO = "celerydesk.sample.tasks.process_video"
NOTIFY = "celerydesk.sample.tasks.notify_customers"


class Clock:
    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def evaluator(*rules: AlertRule):
    clock, fired = Clock(), []
    return AlertEvaluator(rules, fired.append, clock=clock), fired, clock


def task(task_id: str, name: str, kind: str, at: float, **extra) -> list[dict]:
    """A task's events as a worker sends them: only the first (received) carries the name."""
    events = [{"type": "task-received", "uuid": task_id, "name": name, "timestamp": at - 0.2},
              {"type": "task-started", "uuid": task_id, "timestamp": at - 0.1}]
    return events + [{"type": kind, "uuid": task_id, "timestamp": at, **extra}]


def test_task_failed_fires_once_while_failing_and_again_after_a_success():
    ev, fired, clock = evaluator(AlertRule("video", "task-failed", task="process_video"))
    ev.submit(task("t1", VIDEO, "task-failed", clock.now, exception="FileNotFoundError('x')"))
    ev.submit(task("t2", VIDEO, "task-failed", clock.now + 1))
    ev.submit(task("n1", NOTIFY, "task-failed", clock.now + 1))  # another task: not this rule's
    assert [(f.rule, f.task_id, f.task) for f in fired] == [("video", "t1", VIDEO)]
    assert "FileNotFoundError" in fired[0].message and "t1" in fired[0].message
    ev.submit(task("t3", VIDEO, "task-succeeded", clock.now + 2, runtime=0.1))  # cleared
    ev.submit(task("t4", VIDEO, "task-failed", clock.now + 3))
    assert [f.task_id for f in fired] == ["t1", "t4"]
    assert fired[1].at == clock.now + 3


def test_task_slow_on_finish_and_while_running():
    ev, fired, clock = evaluator(AlertRule("slow", "task-slow", task="*.notify_customers", above=5))
    ev.submit(task("a", NOTIFY, "task-succeeded", clock.now, runtime=2.0))
    assert fired == []
    ev.submit(task("b", NOTIFY, "task-succeeded", clock.now, runtime=7.5))
    ev.submit(task("c", NOTIFY, "task-succeeded", clock.now, runtime=9.0))  # still slow: no second firing
    assert [f.task_id for f in fired] == ["b"] and "7.5 s" in fired[0].message
    ev.submit(task("d", NOTIFY, "task-succeeded", clock.now, runtime=1.0))  # cleared
    ev.submit([{"type": "task-received", "uuid": "e", "name": NOTIFY, "timestamp": clock.now},
               {"type": "task-started", "uuid": "e", "timestamp": clock.now}])
    clock.now += 4
    ev.tick()
    assert len(fired) == 1
    clock.now += 2
    ev.tick()  # still running after 6 s: slow already
    assert [f.task_id for f in fired] == ["b", "e"] and "has been running" in fired[1].message


def test_queue_depth_must_last_for_its_seconds_and_fires_again_after_clearing():
    ev, fired, clock = evaluator(AlertRule("backlog", "queue-depth", queue="parked", above=3, for_s=2))
    ev.sample_depths({"parked": 5, "celery": 100})
    clock.now += 1
    ev.sample_depths({"parked": 5})
    assert fired == []
    clock.now += 1.5
    ev.sample_depths({"parked": 6})
    assert [(f.rule, f.queue, f.task_id) for f in fired] == [("backlog", "parked", None)]
    clock.now += 10
    ev.sample_depths({"parked": 6})
    ev.tick()
    assert len(fired) == 1  # stays true: once
    ev.sample_depths({"parked": 3})  # at the threshold: cleared
    clock.now += 1
    ev.sample_depths({"parked": 4})
    clock.now += 1
    ev.sample_depths({"parked": 1})  # dipped before lasting 2 s
    ev.sample_depths({"parked": 4})
    clock.now += 2
    ev.tick()
    assert len(fired) == 2 and fired[1].at == clock.now


def test_worker_offline_by_event_or_silence_and_back():
    ev, fired, clock = evaluator(AlertRule("gone", "worker-offline", worker="main@*", for_s=5))
    ev.submit([{"type": "worker-online", "hostname": "main@vm", "timestamp": clock.now, "freq": 2.0},
               {"type": "worker-online", "hostname": "other@vm", "timestamp": clock.now, "freq": 2.0}])
    clock.now += 4
    ev.tick()
    assert fired == []  # silent 4 s: not yet missing (2.5 heartbeats = 5 s)
    clock.now += 9  # missing since +5: offline for 8 s
    ev.tick()
    assert [(f.rule, f.worker) for f in fired] == [("gone", "main@vm")]  # other@vm does not match
    ev.tick()
    assert len(fired) == 1
    ev.submit([{"type": "worker-heartbeat", "hostname": "main@vm", "timestamp": clock.now, "freq": 2.0}])
    ev.submit([{"type": "worker-offline", "hostname": "main@vm", "timestamp": clock.now}])
    clock.now += 3
    ev.tick()
    assert len(fired) == 1  # offline for 3 s of the 5
    clock.now += 2
    ev.tick()
    assert [f.worker for f in fired] == ["main@vm", "main@vm"]


def test_failure_rate_over_a_moving_window():
    ev, fired, clock = evaluator(AlertRule("rate", "failure-rate", task="*", above=0.5, window=60))
    t0 = clock.now
    ev.submit(task("s1", NOTIFY, "task-succeeded", t0))
    ev.submit(task("f1", VIDEO, "task-failed", t0 + 1))  # 1 of 2: not more than half
    assert fired == []
    ev.submit(task("f2", VIDEO, "task-failed", t0 + 2))  # 2 of 3
    ev.submit(task("f3", VIDEO, "task-failed", t0 + 3))  # 3 of 4: still true
    assert [(f.rule, f.task_id) for f in fired] == [("rate", "f2")] and "2 of 3" in fired[0].message
    for i in range(4):
        ev.submit(task(f"s{i + 2}", NOTIFY, "task-succeeded", t0 + 4 + i))  # 3 of 8: cleared
    clock.now = t0 + 62  # the window moved on: s1 and f1 are out of it
    ev.tick()
    ev.submit(task("f4", VIDEO, "task-failed", t0 + 62))  # f2 f3 s2-s5 f4: 3 of 7
    ev.submit(task("g0", VIDEO, "task-failed", t0 + 63))  # f3 s2-s5 f4 g0: 3 of 7
    ev.submit(task("g1", VIDEO, "task-failed", t0 + 64))  # s2-s5 f4 g0 g1: 3 of 7
    assert len(fired) == 1
    ev.submit(task("g2", VIDEO, "task-failed", t0 + 65))  # s3-s5 f4 g0 g1 g2: 4 of 7
    assert [f.task_id for f in fired] == ["f2", "g2"]


def test_edited_rules_keep_the_state_of_those_unchanged():
    kept = AlertRule("video", "task-failed", task="process_video")
    ev, fired, clock = evaluator(kept)
    ev.submit(task("t1", VIDEO, "task-failed", clock.now))
    ev.set_rules([kept, AlertRule("any", "task-failed", task="*")])
    ev.submit(task("t2", VIDEO, "task-failed", clock.now))
    assert [(f.rule, f.task_id) for f in fired] == [("video", "t1"), ("any", "t2")]


def test_malformed_events_and_a_broken_receiver_stop_nothing():
    def broken(_firing):
        raise RuntimeError("receiver bug")

    ev = AlertEvaluator([AlertRule("video", "task-failed", task="*")], broken)
    ev.submit([{"type": "task-failed"}, {"type": "task-failed", "uuid": "x", "timestamp": "soon"},
               {"type": "worker-heartbeat", "hostname": "h", "freq": "often"}])
    ev.submit(task("t1", VIDEO, "task-failed", 5.0))
    assert ev.fired == 1


def test_a_worker_stopped_on_purpose_is_not_missed_until_it_is_back():
    ev, fired, clock = evaluator(AlertRule("gone", "worker-offline", worker="*", for_s=0))
    ev.submit([{"type": "worker-online", "hostname": "main@vm", "timestamp": clock.now, "freq": 2.0}])
    ev.expect_offline("main@*")  # the user pressed Stop
    ev.submit([{"type": "worker-offline", "hostname": "main@vm", "timestamp": clock.now}])
    clock.now += 60
    ev.tick()
    assert fired == []
    ev.submit([{"type": "worker-online", "hostname": "main@vm", "timestamp": clock.now, "freq": 2.0}])
    ev.submit([{"type": "worker-offline", "hostname": "main@vm", "timestamp": clock.now}])  # a crash now
    ev.tick()
    assert [f.worker for f in fired] == ["main@vm"]


def test_a_worker_whose_clock_is_behind_is_not_taken_for_silent():
    ev, fired, clock = evaluator(AlertRule("gone", "worker-offline", worker="*", for_s=0))
    ev.submit([{"type": "worker-heartbeat", "hostname": "far@away", "timestamp": clock.now - 60, "freq": 2.0}])
    clock.now += 1
    ev.tick()
    assert fired == []
