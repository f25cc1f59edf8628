"""The runtime buckets of the dashboard's summary, and percentiles read back from them.

``runtime_hours`` (``schema._v4_dashboard_summary``) counts finished tasks per hour, task name
and runtime bucket. A bucket is a quarter of a power of two wide (bucket ``b`` holds runtimes in
[2^(b/4), 2^((b+1)/4)) seconds), so a percentile read from the buckets is within 19 % of the
exact one, however many tasks a week holds, in a few thousand rows. Runtimes under a
microsecond share the lowest bucket.
"""

from __future__ import annotations

import math
from typing import Iterable, Optional

STEPS_PER_DOUBLING = 4
_FLOOR_S = 1e-6
LOWEST_BUCKET = math.floor(math.log2(_FLOOR_S) * STEPS_PER_DOUBLING)


def runtime_bucket(runtime: Optional[float]) -> Optional[int]:
    """The bucket of a runtime in seconds (registered in SQLite as ``desk_runtime_bucket``)."""
    if runtime is None:
        return None
    try:
        value = float(runtime)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(value):
        return None
    return math.floor(math.log2(max(value, _FLOOR_S)) * STEPS_PER_DOUBLING)


def bucket_value(bucket: int) -> float:
    """The runtime a bucket stands for: the geometric middle of its bounds, in seconds."""
    return 2.0 ** ((bucket + 0.5) / STEPS_PER_DOUBLING)


def percentile_bucket(counts: Iterable[tuple[int, int]], fraction: float) -> Optional[int]:
    """The bucket holding the ``fraction`` percentile of ``(bucket, n)`` counts (nearest rank)."""
    ordered = sorted((b, n) for b, n in counts if n > 0)
    total = sum(n for _, n in ordered)
    if not total:
        return None
    rank = max(1, math.ceil(fraction * total))
    seen = 0
    for bucket, n in ordered:
        seen += n
        if seen >= rank:
            return bucket
    return ordered[-1][0]


def nearest_rank(values: list[float], fraction: float) -> Optional[float]:
    """The ``fraction`` percentile of ``values`` by nearest rank (what the buckets approximate)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]
