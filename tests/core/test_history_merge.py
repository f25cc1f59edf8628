"""Folding task events into a row: any arrival order gives the same row (core/history/merge.py)."""

from __future__ import annotations

import itertools

import pytest

from celerydesk.core.history.merge import (
    MAX_TEXT, apply_event, apply_sent_record, event_time, new_row, parse_time, task_state,
)

T = 1_700_000_000.0


def ev(kind: str, at: float, **fields) -> dict:
    return {"type": f"task-{kind}", "uuid": "t1", "timestamp": at, "hostname": "main@vm", **fields}


SENT = ev("sent", T, name="tasks.add", args="(1, 2)", kwargs="{}", queue="celery", routing_key="celery",
          root_id="t1", parent_id=None, retries=0, hostname="gen1@client")
RECEIVED = ev("received", T + 1, name="tasks.add", args="(1, 2)", kwargs="{}", root_id="t1", retries=0)
STARTED = ev("started", T + 2)
SUCCEEDED = ev("succeeded", T + 5, result="3", runtime=2.9)


def fold(events, order=None) -> dict:
    events = [events[i] for i in order] if order else events
    row = new_row("t1", min(event_time(e, T) for e in events))
    for e in events:
        apply_event(row, e, task_state(e), event_time(e, T))
    return row


def test_a_success_in_order():
    row = fold([SENT, RECEIVED, STARTED, SUCCEEDED])
    assert row["state"] == "SUCCESS" and row["state_at"] == T + 5
    assert (row["sent_at"], row["received_at"], row["started_at"], row["finished_at"]) == (T, T + 1, T + 2, T + 5)
    assert row["worker"] == "main@vm"  # not the sender's hostname
    assert (row["name"], row["args"], row["result"], row["runtime"], row["queue"]) == ("tasks.add", "(1, 2)", "3", 2.9,
                                                                                      "celery")


@pytest.mark.parametrize("order", list(itertools.permutations(range(4))))
def test_every_arrival_order_gives_the_same_row(order):
    assert fold([SENT, RECEIVED, STARTED, SUCCEEDED], order) == fold([SENT, RECEIVED, STARTED, SUCCEEDED])


def test_a_late_event_never_moves_a_task_back():
    row = fold([SENT, STARTED, RECEIVED])
    assert row["state"] == "STARTED"
    row = fold([SUCCEEDED, STARTED, SENT])
    assert row["state"] == "SUCCESS"


def test_the_first_final_state_stays():
    revoked = ev("revoked", T + 6, terminated=True)
    assert fold([SENT, SUCCEEDED, revoked])["state"] == "SUCCESS"
    assert fold([SENT, revoked, SUCCEEDED])["state"] == "REVOKED"


def test_a_retried_task_runs_again_and_a_late_event_of_the_first_attempt_changes_nothing():
    retried = ev("retried", T + 3, exception="ConnectionError('x')", traceback="Traceback ...")
    again = [ev("received", T + 4, retries=1), ev("started", T + 4.5), ev("succeeded", T + 6, result="3", runtime=1.5)]
    row = fold([SENT, RECEIVED, STARTED, retried, *again])
    assert row["state"] == "SUCCESS" and row["retries"] == 1
    assert (row["received_at"], row["started_at"]) == (T + 4, T + 4.5)  # the attempt that ran
    assert row["exception"] == "ConnectionError('x')"  # why it was retried stays readable
    # the second attempt's events came first, the first attempt's retry last: still SUCCESS
    assert fold([SENT, *again, RECEIVED, STARTED, retried])["state"] == "SUCCESS"
    # ... and while the second attempt runs, a late RETRY of the first does not take it back
    assert fold([SENT, RECEIVED, again[0], again[1], retried])["state"] == "STARTED"
    assert fold([SENT, RECEIVED, STARTED, retried])["state"] == "RETRY"


def test_a_rejected_task_put_back_in_the_queue_runs_again():
    rejected = ev("rejected", T + 3, requeue=True)
    row = fold([SENT, RECEIVED, rejected, ev("received", T + 4), ev("started", T + 5), ev("succeeded", T + 6)])
    assert row["state"] == "SUCCESS" and row["finished_at"] == T + 6
    row = fold([SENT, RECEIVED, ev("rejected", T + 3, requeue=False)])
    assert row["state"] == "REJECTED" and row["finished_at"] == T + 3


def test_a_failure_keeps_its_exception_and_gets_a_runtime_from_its_times():
    failed = ev("failed", T + 4, exception="ValueError('bad')", traceback="Traceback (most recent call last): ...")
    row = fold([SENT, RECEIVED, STARTED, failed])
    assert row["state"] == "FAILURE" and row["exception"] == "ValueError('bad')" and row["runtime"] == 2.0


def test_fields_are_never_overwritten_with_nothing():
    row = fold([SENT, ev("received", T + 1, name=None, args=None)])
    assert (row["name"], row["args"]) == ("tasks.add", "(1, 2)")


def test_eta_and_expires_become_unix_seconds():
    assert parse_time("2026-12-06T18:00:00+00:00") == 1796580000.0
    assert parse_time("2026-12-06T18:00:00") == 1796580000.0  # celery sends UTC
    assert parse_time("2026-12-06T19:00:00+01:00") == 1796580000.0
    assert parse_time("soon") is None and parse_time(None) is None and parse_time(float("nan")) is None
    row = fold([ev("sent", T, eta="2026-12-06T18:00:00+00:00", expires="junk")])
    assert row["eta"] == 1796580000.0 and row["expires"] is None


def test_an_event_without_a_usable_time_gets_the_time_it_was_received():
    assert event_time({"timestamp": "x", "local_received": T}, 0) == T
    assert event_time({}, 42.0) == 42.0
    assert event_time({"timestamp": True}, 42.0) == 42.0


def test_huge_text_is_cut_in_the_middle():
    row = fold([ev("failed", T, traceback="A" * (MAX_TEXT * 3) + "THE END")])
    assert len(row["traceback"]) <= MAX_TEXT and row["traceback"].endswith("THE END") and "cut" in row["traceback"]


def test_non_task_events_have_no_state():
    assert task_state({"type": "worker-heartbeat"}) is None
    assert task_state({"type": "task-progress"}) is None


def test_a_sent_record_gives_the_exact_arguments_and_marks_a_task_no_event_has_shown():
    row = new_row("t1", T + 10)
    apply_sent_record(row, {"id": "t1", "name": "tasks.add", "args": ["x" * 3000], "kwargs": {"when": None},
                            "via": "call", "at": T, "queue": "celery"})
    assert row["args_json"] == '["' + "x" * 3000 + '"]' and row["kwargs_json"] == '{"when": null}'
    assert (row["state"], row["sent_at"], row["seen_at"], row["sent_by"], row["queue"]) == ("SENT", T, T, "call",
                                                                                           "celery")
    # events after the record: they complete the row, the exact arguments stay
    for e in (RECEIVED, SUCCEEDED):
        apply_event(row, e, task_state(e), event_time(e, T))
    assert row["state"] == "SUCCESS" and row["args"] == "(1, 2)" and row["args_json"].startswith('["xxx')


def test_a_record_whose_arguments_were_not_json_keeps_none():
    row = fold([SENT, SUCCEEDED])
    apply_sent_record(row, {"id": "t1", "via": "beat", "at": T, "args_error": "not JSON"})
    assert row["args_json"] is None and row["sent_by"] == "beat" and row["state"] == "SUCCESS"
