"""The Dashboard's reads of the history: per-bucket counts, runtimes per task, waits, samples.

A range (``RANGES``: the last 15 minutes, hour, 24 hours or 7 days) is cut into buckets of
``step`` seconds, aligned on multiples of the step, the last one holding ``now``. Everything
comes from the summary the writer keeps (``schema._v5_dashboard_summary``), a row a minute, so
7 days cost what 10,080 rows cost, not what a million tasks would:

- :func:`throughput`: per bucket, the tasks that succeeded and failed (by when they finished),
  the retries (by when they were retried), and the mean wait in the queue (``received_at -
  sent_at``) of the finished tasks that have both times;
- :func:`runtimes`: per task name, p50 and p95 of the runtimes of the tasks finished in the
  range: exact (from the ``tasks_finished`` index) up to an hour, from the hourly buckets of
  ``summary`` beyond (whole hours: the first one may begin before the range);
- :func:`samples`: per bucket, the highest queue depth of each queue, and the most workers seen.

A live update asks again for the last two buckets only (``since`` = the first one's start).
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from typing import Optional

from celerydesk.core.history.summary import bucket_value, percentile_bucket, rank

MINUTE, HOUR = 60, 3600
# label -> (span, step) in seconds: about 15 to 170 buckets a range
RANGES = {"15 min": (15 * MINUTE, MINUTE), "1 h": (HOUR, MINUTE), "24 h": (24 * HOUR, 10 * MINUTE),
          "7 d": (7 * 24 * HOUR, HOUR)}
EXACT_RUNTIMES_UP_TO = HOUR


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
    exact: bool  # False: read from the hourly buckets (within 19 %)


def runtimes(db, labels: dict, span: Span) -> list[Runtime]:
    """p50 and p95 per task name over the span, the most run first. ``labels``: id -> name."""
    since = span.start
    if span.end - since <= EXACT_RUNTIMES_UP_TO + span.step:
        # Sorted by SQLite (in C, the GIL let go) and taken whole; each task's percentiles are
        # then picked by position: no Python work per row, which held up the GUI thread in a flood.
        rows = db.execute(
            "SELECT coalesce(name_id, 0) AS name, runtime FROM tasks WHERE finished_at >= ? AND finished_at < ? "
            "AND state IN ('SUCCESS', 'FAILURE') AND runtime IS NOT NULL ORDER BY name, runtime",
            (since, span.end)).fetchall()
        found, start = [], 0
        while start < len(rows):
            name_id = rows[start][0]
            end = bisect.bisect_left(rows, (name_id + 1,), start)
            count = end - start
            found.append(Runtime(labels.get(name_id, "(no name)"), count, rows[start + rank(50, count) - 1][1],
                                 rows[start + rank(95, count) - 1][1], True))
            start = end
    else:
        buckets: dict = {}
        for name_id, bucket, n in db.execute(
                "SELECT name_id, bucket, sum(n) FROM runtime_hours WHERE hour >= ? AND hour < ? "
                "GROUP BY name_id, bucket", (int(since // HOUR), int(math.ceil(span.end / HOUR)))):
            buckets.setdefault(name_id, []).append((bucket, n))
        found = []
        for name_id, counts in buckets.items():
            total = sum(n for _, n in counts)
            if total:
                found.append(Runtime(labels.get(name_id, "(no name)"), total,
                                     bucket_value(percentile_bucket(counts, 50)),
                                     bucket_value(percentile_bucket(counts, 95)), False))
    return sorted(found, key=lambda r: (-r.finished, r.name))


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
