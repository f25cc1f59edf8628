"""The Dashboard's summary and reads (issue 19): kept by the writer in its own transactions, always
equal to an aggregate of the tasks themselves (random streams, events out of order and in
several batches, pruning), backfilled when an older file is opened, and read back per bucket.
"""

from __future__ import annotations

import random
import sqlite3

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from celerydesk.core.history import dashboard, history_path, schema
from celerydesk.core.history.dashboard import read_dashboard, read_last_bucket, runtimes, span_of
from celerydesk.core.history.queries import HistoryReader
from celerydesk.core.history.retention import prune_some
from celerydesk.core.history.samples import DepthSampler, WorkerPresence
from celerydesk.core.history.summary import BOUNDS, bucket_bounds, bucket_sql, bucket_value, nearest_rank, runtime_bucket
from celerydesk.core.history.writer import HistoryWriter
from celerydesk.core.workspace import HistoryConfig
from tests.helpers.history_events import event_stream
from tests.helpers.summary_checks import direct_summary, stored_summary

T = 1_796_000_000.0


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), tasks=st.integers(1, 400), per_second=st.sampled_from([0.05, 0.5, 5.0]),
       split=st.integers(1, 7), keep_days=st.sampled_from([0.001, 0.01, 100.0]))
def test_the_summary_equals_an_aggregate_of_the_tasks(tmp_path_factory, seed, tasks, per_second, split, keep_days):
    runtime = tmp_path_factory.mktemp("h") / ".celerydesk"
    writer = HistoryWriter(runtime, interval=0.01, clock=lambda: T + tasks / per_second + 60)
    writer.start()
    try:
        events = [e for chunk in event_stream(tasks, T, per_second=per_second, seed=seed, chunk=50) for e in chunk]
        # the events in ``split`` batches, each in a different order: rows are inserted, then updated
        for part in range(split):
            batch = events[part::split]
            writer.submit(batch[::-1] if part % 2 else batch)
            assert writer.flush(30)
        assert direct_summary(writer.path) == stored_summary(writer.path)
        # pruning (deletes) takes the pruned tasks out of the summary
        db = sqlite3.connect(writer.path, isolation_level=None)
        prune_some(db, HistoryConfig(keep_days=keep_days), T + tasks / per_second, 10_000)
        db.close()
        assert direct_summary(writer.path) == stored_summary(writer.path)
    finally:
        writer.close()


def version_3_file(runtime) -> None:
    """A file as version 3 wrote it, with finished, retried and running tasks."""
    runtime.mkdir(parents=True)
    db = schema.connect(history_path(runtime), write=True)
    db.execute("BEGIN")
    for step in schema.MIGRATIONS[:3]:
        step(db)
    db.execute("PRAGMA user_version = 3")
    db.execute("INSERT INTO labels (id, kind, text) VALUES (1, 'name', 'shop.tasks.charge')")
    rows = [(1, "ok-1", "SUCCESS", T, T + 0.5, T + 10, 2.0), (2, "ok-2", "SUCCESS", T, T + 1.5, T + 20, 4.0),
            (3, "bad-1", "FAILURE", T, None, T + 70, 1.0), (4, "run-1", "STARTED", T, T + 1, None, None)]
    for seq, task_id, state, sent, received, finished, runtime_s in rows:
        db.execute("INSERT INTO tasks (seq, id, name_id, state, seen_at, sent_at, received_at, finished_at, runtime) "
                   "VALUES (?, ?, 1, ?, ?, ?, ?, ?, ?)", (seq, task_id, state, sent, sent, received, finished, runtime_s))
    db.execute("INSERT INTO timeline VALUES (2, ?, 'RETRY'), (2, ?, 'RETRY')", (T + 5, T + 65))
    db.execute("COMMIT")
    db.close()


def test_opening_a_version_3_file_backfills_the_summary(tmp_path):
    runtime = tmp_path / ".celerydesk"
    version_3_file(runtime)
    writer = HistoryWriter(runtime)
    writer.start()
    writer.close()
    minute = int(T // 60)
    stored = stored_summary(history_path(runtime))
    assert stored == direct_summary(history_path(runtime))
    first, second = stored[0], stored[1]
    assert stored[0][minute] == (2, 0, 1, 2, 2.0)  # two succeeded, waited 0.5 s and 1.5 s; one retry
    assert stored[0][minute + 1] == (0, 1, 1, 0, 0.0)  # the failure (no received time) and the second retry
    assert sum(stored[1].values()) == 3 and first and second
    assert stored[2] == {(minute, 1, runtime_bucket(2.0)): 1, (minute, 1, runtime_bucket(4.0)): 1,
                         (minute + 1, 1, runtime_bucket(1.0)): 1}  # runtime_minutes (v6), backfilled


def write(runtime, events, samples=()):
    writer = HistoryWriter(runtime, interval=0.01, clock=lambda: NOW)
    writer.start()
    writer.submit(events)
    writer.submit_samples(list(samples))
    assert writer.flush(10)
    writer.close()


NOW = T + 3600


def finished(task_id, name, state, at, runtime, wait=1.0):
    kind = {"SUCCESS": "task-succeeded", "FAILURE": "task-failed"}[state]
    return [{"type": "task-sent", "uuid": task_id, "name": name, "timestamp": at - runtime - wait - 0.1},
            {"type": "task-received", "uuid": task_id, "name": name, "timestamp": at - runtime - 0.1, "hostname": "w@h"},
            {"type": "task-started", "uuid": task_id, "timestamp": at - runtime, "hostname": "w@h"},
            {"type": kind, "uuid": task_id, "timestamp": at, "runtime": runtime, "hostname": "w@h"}]


def test_the_dashboard_reads_counts_runtimes_waits_and_samples_per_bucket(tmp_path):
    runtime = tmp_path / ".celerydesk"
    last_minute = int(NOW // 60) * 60
    events = []
    for n in range(6):  # the current minute: 6 successes of a (runtime 0.1 ... 0.6), one failure of b
        events += finished(f"a{n}", "shop.a", "SUCCESS", last_minute + 1 + n, 0.1 * (n + 1), wait=2.0)
    events += finished("b0", "shop.b", "FAILURE", last_minute + 10, 3.0, wait=4.0)
    events += finished("old", "shop.a", "SUCCESS", last_minute - 5 * 60 + 3, 0.2)  # 5 minutes ago
    events += [{"type": "task-retried", "uuid": "b1", "name": "shop.b", "timestamp": last_minute - 60 + 2},
               {"type": "worker-online", "hostname": "w@h", "timestamp": NOW - 30, "freq": 2.0},
               {"type": "worker-heartbeat", "hostname": "w@h", "timestamp": NOW - 1, "freq": 2.0},
               {"type": "worker-heartbeat", "hostname": "gone@h", "timestamp": NOW - 100, "freq": 2.0}]
    write(runtime, events, [("queue", last_minute + 5, "celery", 7.0), ("queue", last_minute + 15, "celery", 3.0),
                            ("queue", last_minute - 120, "media", 2.0)])
    reader = HistoryReader(runtime)
    try:
        board = read_dashboard(reader, "15 min", NOW)
        tp = board.throughput
        assert board.span.count == 15 and tp.span.bucket_start(14) == last_minute
        assert (tp.succeeded[14], tp.failed[14], tp.retried[14]) == (6, 1, 0)
        assert (tp.succeeded[9], tp.retried[13]) == (1, 1)
        assert sum(tp.succeeded) == 7 and sum(tp.failed) == 1
        assert tp.wait_mean[14] == pytest_approx((6 * 2.0 + 4.0) / 7)
        runtimes = {r.name: r for r in board.runtimes}
        a = runtimes["shop.a"]
        assert a.exact and a.finished == 7
        ran = [0.1 * (n + 1) for n in range(6)] + [0.2]
        assert (a.p50, a.p95) == (nearest_rank(ran, 50), nearest_rank(ran, 95)) == (0.1 * 3, 0.1 * 6)
        assert board.samples.queues["celery"][14] == 7 and board.samples.queues["media"][12] == 2
        assert board.samples.workers[14] == 1  # w@h is online; gone@h missed its heartbeats
        week = read_dashboard(reader, "7 d", NOW)
        assert sum(week.throughput.succeeded) == 7 and sum(week.throughput.retried) == 1
        a_week = {r.name: r for r in week.runtimes}["shop.a"]
        assert not a_week.exact and a_week.p95 == bucket_value(runtime_bucket(0.1 * 6))
        tp_last, _ = read_last_bucket(reader, board.span, NOW)
        assert tp_last.succeeded[14] == 6 and tp_last.succeeded[9] == 0  # only the last buckets read
    finally:
        reader.close()


def pytest_approx(value):
    import pytest

    return pytest.approx(value, rel=1e-9)


def test_workers_online_follow_heartbeats_and_offline_events():
    presence = WorkerPresence()
    presence.see([{"type": "worker-heartbeat", "hostname": "a@h", "timestamp": 100.0, "freq": 2.0},
                  {"type": "worker-online", "hostname": "b@h", "timestamp": 100.0},
                  {"type": "task-succeeded", "uuid": "x"}, "not an event"])
    assert presence.online(101.0) == 2 and presence.online(105.0) == 0
    presence.see([{"type": "worker-offline", "hostname": "a@h", "timestamp": 101.0}])
    assert presence.online(101.5) == 1


def test_depths_are_kept_as_the_highest_seen_between_two_samples():
    sampler = DepthSampler(every=10)
    assert sampler.add(0.0, {"celery": 1}) == [("queue", 0.0, "celery", 1.0)]
    assert sampler.add(2.0, {"celery": 9}) == [] and sampler.add(4.0, {"celery": 3, "bad": "x"}) == []
    assert sampler.add(10.0, {"celery": 2}) == [("queue", 10.0, "celery", 9.0)]


@given(st.lists(st.one_of(st.floats(0, 2e6, allow_nan=False), st.sampled_from(BOUNDS)), min_size=1, max_size=50))
def test_the_buckets_sqlite_computes_are_those_python_computes(runtimes):
    db = sqlite3.connect(":memory:")
    assert [db.execute(f"SELECT {bucket_sql('?')}".replace("?", repr(r))).fetchone()[0] for r in runtimes] == \
        [runtime_bucket(r) for r in runtimes]


@given(st.lists(st.one_of(st.floats(0, 2e6, allow_nan=False), st.sampled_from(BOUNDS)), min_size=1, max_size=50))
def test_a_runtime_lies_within_the_bounds_of_its_bucket(runtimes):
    for r in runtimes:
        low, high = bucket_bounds(runtime_bucket(r))
        assert low <= r < high


class RowCounting:
    """The reader's connection, counting the rows its queries of ``tasks`` hand back."""

    def __init__(self, db):
        self.db, self.task_rows = db, 0

    def execute(self, sql, params=()):
        rows = Rows(self.db.execute(sql, params).fetchall())
        if "FROM tasks" in sql:
            self.task_rows += len(rows)
        return rows


class Rows(list):
    def fetchall(self):
        return self


def tasks_of_random_runtimes(runtime, seed: int, tasks: int) -> dict:
    """``tasks`` finished over the last 50 minutes, of three names, runtimes from a millisecond to
    minutes (bucket edges too); written; name -> the runtimes of those in the last 15 minutes."""
    r = random.Random(seed)
    last_minute = int(NOW // 60) * 60
    events, ran = [], {}
    for n in range(tasks):
        name = r.choice(["shop.a", "shop.b", "shop.c"])
        seconds = r.choice([2 ** r.uniform(-12, 9), r.choice(BOUNDS[60:100])])
        at = last_minute + 59 - r.uniform(0, 50 * 60)
        events += finished(f"t{n}", name, r.choice(["SUCCESS", "FAILURE"]), at, seconds)
        if at >= last_minute - 14 * 60:
            ran.setdefault(name, []).append(seconds)
    events += finished("long-ago", "shop.a", "SUCCESS", last_minute - 2 * 3600, 1.0)  # outside the range
    write(runtime, events)
    return ran


def read_runtimes(runtime, label: str):
    """(name -> (finished, p50, p95, exact), the rows of ``tasks`` the read handed back)."""
    reader = HistoryReader(runtime)
    try:
        labels = {i: text for i, text in reader.db.execute("SELECT id, text FROM labels WHERE kind = 'name'")}
        counting = RowCounting(reader.db)
        found = runtimes(counting, labels, span_of(label, NOW))
        return {x.name: (x.finished, x.p50, x.p95, x.exact) for x in found}, counting.task_rows
    finally:
        reader.close()


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), tasks=st.integers(1, 300))
def test_runtimes_up_to_an_hour_are_the_exact_nearest_ranks(tmp_path_factory, seed, tasks):
    runtime = tmp_path_factory.mktemp("h") / ".celerydesk"
    ran = tasks_of_random_runtimes(runtime, seed, tasks)
    got, _ = read_runtimes(runtime, "15 min")
    assert got == {name: (len(v), nearest_rank(v, 50), nearest_rank(v, 95), True) for name, v in ran.items()}


def test_exact_runtimes_read_only_the_tasks_of_the_buckets_holding_the_percentiles(tmp_path):
    """The per-minute summary says which buckets hold p50 and p95: only their tasks are read,
    not the range's (a flood's hour holds a hundred thousand)."""
    ran = tasks_of_random_runtimes(tmp_path / ".celerydesk", seed=19, tasks=3000)
    in_range = sum(map(len, ran.values()))
    got, rows_read = read_runtimes(tmp_path / ".celerydesk", "15 min")
    assert got == {name: (len(v), nearest_rank(v, 50), nearest_rank(v, 95), True) for name, v in ran.items()}
    assert in_range > 800 and rows_read < in_range / 4, (rows_read, in_range)


def test_a_week_of_runtimes_is_summed_per_name_and_bucket_without_sorting_the_week(tmp_path):
    """Over 24 hours and 7 days the hourly buckets are summed through ``runtime_hours_by_name``,
    each name's buckets sought in order (no sort of a week of rows); tasks without a name count."""
    runtime = tmp_path / ".celerydesk"
    r = random.Random(5)
    events, ran = [], {}
    for n in range(400):
        name = r.choice(["shop.a", "shop.b", None])
        seconds, at = 2 ** r.uniform(-8, 6), NOW - r.uniform(0, 6.5 * 86400)
        if name is None:  # only its end was seen: no name
            events.append({"type": "task-succeeded", "uuid": f"u{n}", "timestamp": at, "runtime": seconds,
                           "hostname": "w@h"})
        else:
            events += finished(f"t{n}", name, "SUCCESS", at, seconds)
        ran.setdefault(name or "(no name)", []).append(seconds)
    write(runtime, events)
    reader = HistoryReader(runtime)
    try:
        statements: list = []
        reader.db.set_trace_callback(statements.append)
        week = {x.name: (x.finished, x.p50, x.p95, x.exact) for x in read_dashboard(reader, "7 d", NOW).runtimes}
        reader.db.set_trace_callback(None)
        assert week == {name: (len(v), bucket_value(runtime_bucket(nearest_rank(v, 50))),
                               bucket_value(runtime_bucket(nearest_rank(v, 95))), False) for name, v in ran.items()}
        [read] = [sql for sql in statements if "FROM runtime_hours" in sql]
        plan = " ".join(row[-1] for row in reader.db.execute("EXPLAIN QUERY PLAN " + read))
        assert "runtime_hours_by_name" in plan and "B-TREE FOR GROUP BY" not in plan, plan
    finally:
        reader.close()


def test_over_a_crowded_hour_the_runtimes_come_from_the_buckets_and_say_so(tmp_path, monkeypatch):
    """Beyond EXACT_RUNTIMES_UP_TO_TASKS finished tasks in the range the exact read would cost more
    than a redraw may: the per-minute buckets answer (within 19 %), marked not exact, no task read."""
    ran = tasks_of_random_runtimes(tmp_path / ".celerydesk", seed=7, tasks=600)
    monkeypatch.setattr(dashboard, "EXACT_RUNTIMES_UP_TO_TASKS", sum(map(len, ran.values())) - 1)
    got, rows_read = read_runtimes(tmp_path / ".celerydesk", "15 min")
    assert got == {name: (len(v), bucket_value(runtime_bucket(nearest_rank(v, 50))),
                          bucket_value(runtime_bucket(nearest_rank(v, 95))), False) for name, v in ran.items()}
    assert rows_read == 0
    monkeypatch.setattr(dashboard, "EXACT_RUNTIMES_UP_TO_TASKS", sum(map(len, ran.values())))
    assert all(exact for *_, exact in read_runtimes(tmp_path / ".celerydesk", "15 min")[0].values())
