"""The runtime buckets of the dashboard's summary, and percentiles read back from them.

``runtime_hours`` (``schema._v5_dashboard_summary``) counts finished tasks per hour, task name
and runtime bucket. A bucket is a quarter of a power of two wide (bucket ``b`` holds runtimes in
[2^(b/4), 2^((b+1)/4)) seconds), so a percentile read from the buckets is within 19 % of the
exact one, however many tasks a week holds, in a few thousand rows. Runtimes under 2^-20 s
(a microsecond) share the lowest bucket, those over 2^20 s (12 days) the highest.

The triggers compute the bucket in plain SQL (:func:`bucket_sql`: a sum of comparisons with the
bounds), not with ``log2``, which not every SQLite has, nor with a function registered from
Python, which a connection of another program (the ``sqlite3`` shell deleting rows) would lack.
:func:`runtime_bucket` counts the same bounds in Python.
"""

from __future__ import annotations

import bisect
from typing import Iterable, Optional

STEPS_PER_DOUBLING = 4
LOWEST_BUCKET, HIGHEST_BUCKET = -80, 80
BOUNDS = [2.0 ** (k / STEPS_PER_DOUBLING) for k in range(LOWEST_BUCKET + 1, HIGHEST_BUCKET + 1)]


def runtime_bucket(runtime: Optional[float]) -> Optional[int]:
    """The bucket of a runtime in seconds: what :func:`bucket_sql` computes in SQLite."""
    if runtime is None:
        return None
    return LOWEST_BUCKET + bisect.bisect_right(BOUNDS, float(runtime))


def bucket_sql(column: str) -> str:
    """The bucket of ``column`` (a runtime in seconds) as an SQL expression."""
    return f"({LOWEST_BUCKET} + " + " + ".join(f"({column} >= {bound!r})" for bound in BOUNDS) + ")"


def bucket_bounds(bucket: int) -> tuple[float, float]:
    """The runtimes ``bucket`` holds: [low, high) seconds (the lowest and highest are open-ended)."""
    index = bucket - LOWEST_BUCKET
    low = BOUNDS[index - 1] if index > 0 else float("-inf")
    high = BOUNDS[index] if index < len(BOUNDS) else float("inf")
    return low, high


def bucket_value(bucket: int) -> float:
    """The runtime a bucket stands for: the geometric middle of its bounds, in seconds."""
    return 2.0 ** ((bucket + 0.5) / STEPS_PER_DOUBLING)


def rank(percent: int, count: int) -> int:
    """The nearest rank (1-based) of the ``percent`` percentile among ``count`` values, in
    integers (no float rounding: 0.95 * 20 is not quite 19)."""
    return max(1, (percent * count + 99) // 100)


def percentile_bucket(counts: Iterable[tuple[int, int]], percent: int) -> Optional[int]:
    """The bucket holding the ``percent`` percentile of ``(bucket, n)`` counts (nearest rank)."""
    ordered = sorted((b, n) for b, n in counts if n > 0)
    total = sum(n for _, n in ordered)
    if not total:
        return None
    wanted, seen = rank(percent, total), 0
    for bucket, n in ordered:
        seen += n
        if seen >= wanted:
            return bucket
    return ordered[-1][0]


def nearest_rank(values: list[float], percent: int) -> Optional[float]:
    """The ``percent`` percentile of ``values`` by nearest rank (what the buckets approximate)."""
    if not values:
        return None
    return sorted(values)[rank(percent, len(values)) - 1]
