"""The Dashboard's reads of the history: per-bucket counts, runtimes per task, waits, samples.

A range (``RANGES``: the last 15 minutes, hour, 24 hours or 7 days) is cut into buckets of
``step`` seconds, aligned on multiples of the step, the last one holding ``now``. Everything
comes from the summary the writer keeps (``schema._v5_dashboard_summary``), a row a minute, so
7 days cost what 10,080 rows cost, not what a million tasks would:

- :func:`throughput`: per bucket, the tasks that succeeded and failed (by when they finished),
  the retries (by when they were retried), and the mean wait in the queue (``received_at -
  sent_at``) of the finished tasks that have both times;
- :func:`runtimes`: per task name, p50 and p95 of the runtimes of the tasks finished in the
  range. Up to an hour: exact while the range holds up to ``EXACT_RUNTIMES_UP_TO_TASKS``
  finished tasks (the per-minute buckets of ``runtime_minutes`` locate each percentile, then
  only that bucket's tasks are read), from those buckets beyond (within 19 %). Over 24 hours and
  7 days: from the hourly buckets (within 19 %; whole hours: the first may begin before the range);
- :func:`samples`: per bucket, the highest queue depth of each queue, and the most workers seen.

A live update asks again for the last two buckets only (``since`` = the first one's start).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

from celerydesk.core.history.summary import (HIGHEST_BUCKET, LOWEST_BUCKET, bucket_bounds, bucket_value,
                                             percentile_bucket, rank, runtime_bucket)

MINUTE, HOUR = 60, 3600
# label -> (span, step) in seconds: about 15 to 170 buckets a range
RANGES = {"15 min": (15 * MINUTE, MINUTE), "1 h": (HOUR, MINUTE), "24 h": (24 * HOUR, 10 * MINUTE),
          "7 d": (7 * 24 * HOUR, HOUR)}
EXACT_RUNTIMES_UP_TO = HOUR
# Beyond this many finished tasks in the range, even the exact read's one pass over them costs
# more than a redraw may (about half a microsecond a task): the buckets alone answer, within 19 %.
EXACT_RUNTIMES_UP_TO_TASKS = 60_000


@dataclass(frozen=True)
class Span:
    """The buckets of a range: ``count`` of ``step`` seconds from ``start``."""
    start: float
    step: int
    count: int

    @property
    def end(self) -> float:
        return self.start + self.step * self.count

    def bucket_start(self, index: int) -> float:
        return self.start + index * self.step

    def index_of(self, at: float) -> int:
        return int((at - self.start) // self.step)


def span_of(label: str, now: float) -> Span:
    seconds, step = RANGES[label]
    count = seconds // step
    last = math.floor(now / step) * step
    return Span(last - (count - 1) * step, step, count)


@dataclass
class Throughput:
    """Per bucket of a span (lists of ``span.count``)."""
    span: Span
    succeeded: list = field(default_factory=list)
    failed: list = field(default_factory=list)
    retried: list = field(default_factory=list)
    wait_mean: list = field(default_factory=list)  # seconds, None where no finished task has both times


def throughput(db, span: Span, since: Optional[float] = None) -> Throughput:
    """The span's buckets from ``since`` (a bucket's start; the whole span by default)."""
    first = span.start if since is None else since
    out = Throughput(span, *([0] * span.count for _ in range(3)), [None] * span.count)
    per = span.step // MINUTE
    rows = db.execute(
        "SELECT minute / ?, sum(succeeded), sum(failed), sum(retried), sum(waited), sum(wait_sum) FROM task_minutes "
        "WHERE minute >= ? AND minute < ? GROUP BY minute / ?",
        (per, int(first // MINUTE), int(span.end // MINUTE), per))
    for slot, succeeded, failed, retried, waited, wait_sum in rows:
        i = span.index_of(slot * span.step)
        if 0 <= i < span.count:
            out.succeeded[i], out.failed[i], out.retried[i] = succeeded, failed, retried
            out.wait_mean[i] = wait_sum / waited if waited else None
    return out


@dataclass(frozen=True)
class Runtime:
    name: str
    finished: int
    p50: float
    p95: float
    exact: bool  # False: read from the runtime buckets (within 19 %)


def runtimes(db, labels: dict, span: Span) -> list[Runtime]:
    """p50 and p95 per task name over the span, the most run first. ``labels``: id -> name."""
    if span.end - span.start <= EXACT_RUNTIMES_UP_TO + span.step:
        counts = _bucket_counts(db, "runtime_minutes", "minute", int(span.start // MINUTE),
                                int(math.ceil(span.end / MINUTE)))
        in_range = sum(n for buckets in counts.values() for _, n in buckets)
        picked = _exact_percentiles(db, span, counts) if in_range <= EXACT_RUNTIMES_UP_TO_TASKS else {}
        found = [Runtime(labels.get(name_id, "(no name)"), sum(n for _, n in buckets), *picked[name_id], True)
                 if name_id in picked else _from_buckets(labels, name_id, buckets) for name_id, buckets in counts.items()]
    else:
        counts = _hour_bucket_counts(db, int(span.start // HOUR), int(math.ceil(span.end / HOUR)))
        found = [_from_buckets(labels, name_id, buckets) for name_id, buckets in counts.items()]
    return sorted(found, key=lambda r: (-r.finished, r.name))


def _from_buckets(labels: dict, name_id: int, buckets: list) -> Runtime:
    return Runtime(labels.get(name_id, "(no name)"), sum(n for _, n in buckets),
                   bucket_value(percentile_bucket(buckets, 50)), bucket_value(percentile_bucket(buckets, 95)), False)


def _bucket_counts(db, table: str, unit: str, first: int, until: int) -> dict:
    """name id -> [(runtime bucket, tasks)] of the summary ``table``'s units in [first, until)."""
    counts: dict = {}
    for name_id, bucket, n in db.execute(
            f"SELECT name_id, bucket, sum(n) FROM {table} WHERE {unit} >= ? AND {unit} < ? "
            "GROUP BY name_id, bucket HAVING sum(n) > 0", (first, until)):
        counts.setdefault(name_id, []).append((bucket, n))
    return counts


def _hour_bucket_counts(db, first: int, until: int) -> dict:
    """:func:`_bucket_counts` of ``runtime_hours``, through ``runtime_hours_by_name``: every
    (name, bucket) sought, its hours summed in index order; no sort of a week of rows."""
    counts: dict = {}
    for name_id, bucket, n in db.execute(
            "SELECT name_id, bucket, sum(n) FROM runtime_hours INDEXED BY runtime_hours_by_name "
            "WHERE name_id IN (SELECT 0 UNION SELECT id FROM labels WHERE kind = 'name') "
            f"AND bucket IN ({_ALL_BUCKETS}) AND hour >= ? AND hour < ? GROUP BY name_id, bucket HAVING sum(n) > 0",
            (first, until)):
        counts.setdefault(name_id, []).append((bucket, n))
    return counts


_ALL_BUCKETS = ", ".join(str(b) for b in range(LOWEST_BUCKET, HIGHEST_BUCKET + 1))


def _exact_percentiles(db, span: Span, counts: dict) -> dict:
    """name id -> (p50, p95), exact, by nearest rank. The per-minute buckets (which equal the tasks
    in the same snapshot) say which bucket holds each percentile and its rank there; only the
    tasks of those buckets are read (one pass over the ``tasks_finished`` index, in SQLite) and
    sorted, however many tasks the range holds."""
    wanted = {}  # (name id, percent) -> (bucket, rank within the bucket)
    for name_id, buckets in counts.items():
        buckets.sort()
        total = sum(n for _, n in buckets)
        for percent in (50, 95):
            target, seen = rank(percent, total), 0
            for bucket, n in buckets:
                if seen + n >= target:
                    wanted[name_id, percent] = (bucket, target - seen)
                    break
                seen += n
    per_name: dict = {}  # name id -> the buckets to read
    for (name_id, _), (bucket, _) in sorted(wanted.items()):
        per_name.setdefault(name_id, set()).add(bucket)
    if not per_name:
        return {}
    # One CASE on the name (computed once a row) rather than an OR of (name, bounds) terms:
    # SQLite evaluates it for every task of the range, so it is most of the read's time.
    cases, params = [], [span.start, span.end]
    for name_id, buckets in per_name.items():
        cases.append("WHEN ? THEN " + " OR ".join("(runtime >= ? AND runtime < ?)" for _ in buckets))
        params += [name_id, *(bound for bucket in sorted(buckets) for bound in bucket_bounds(bucket))]
    found: dict = {}
    for name_id, runtime in db.execute(
            "SELECT coalesce(name_id, 0) AS name, runtime FROM tasks WHERE finished_at >= ? AND finished_at < ? "
            "AND state IN ('SUCCESS', 'FAILURE') AND runtime IS NOT NULL "
            "AND CASE coalesce(name_id, 0) " + " ".join(cases) + " ELSE 0 END", params):
        found.setdefault((name_id, runtime_bucket(runtime)), []).append(runtime)
    for values in found.values():
        values.sort()
    picked: dict = {}
    for (name_id, percent), (bucket, position) in wanted.items():
        values = found.get((name_id, bucket), [])
        if position <= len(values):  # always, unless a task's minute and time disagree by a rounding
            picked.setdefault(name_id, {})[percent] = values[position - 1]
    return {name_id: (p[50], p[95]) for name_id, p in picked.items() if len(p) == 2}


@dataclass
class Samples:
    span: Span
    queues: dict = field(default_factory=dict)  # queue -> [highest depth per bucket or None]
    workers: list = field(default_factory=list)  # most workers online per bucket, None where not sampled


def samples(db, span: Span, since: Optional[float] = None) -> Samples:
    first = span.start if since is None else since
    out = Samples(span, {}, [None] * span.count)
    for kind, key, slot, value in db.execute(
            "SELECT kind, key, CAST(at / ? AS INTEGER) AS slot, max(value) FROM samples "
            "WHERE kind IN ('queue', 'workers') AND at >= ? AND at < ? GROUP BY kind, key, slot",
            (span.step, first, span.end)):
        i = span.index_of(slot * span.step)
        if not 0 <= i < span.count:
            continue
        if kind == "workers":
            out.workers[i] = int(value)
        else:
            out.queues.setdefault(key, [None] * span.count)[i] = int(value)
    return out


@dataclass
class Dashboard:
    """Everything one range shows, read in one snapshot."""
    label: str
    span: Span
    throughput: Throughput
    runtimes: list
    samples: Samples


def read_dashboard(reader, label: str, now: float) -> Dashboard:
    """The whole range (``reader``: a ``HistoryReader``)."""
    span = span_of(label, now)
    labels = _name_labels(reader)
    with reader.snapshot():
        return Dashboard(label, span, throughput(reader.db, span), runtimes(reader.db, labels, span),
                         samples(reader.db, span))


def read_last_bucket(reader, span: Span, now: float) -> tuple[Throughput, Samples]:
    """The bucket holding ``now`` (and the one before, which may have changed since): a live update."""
    since = max(span.start, (span.index_of(now) - 1) * span.step + span.start)
    with reader.snapshot():
        return throughput(reader.db, span, since), samples(reader.db, span, since)


def _name_labels(reader) -> dict:
    return {i: text for i, text in reader.db.execute("SELECT id, text FROM labels WHERE kind = 'name'")}
