"""What the history samples over time besides tasks: queue depths, and the workers online.

Queue depths come from whoever polls the broker (the window's depth poll, ``celerydesk up``):
they hand ``(at, {queue: messages})`` to the writer's ``submit_samples``. The workers online the
writer counts itself from the events it is given anyway (:class:`WorkerPresence`): a worker is
online from its ``worker-online`` or a heartbeat until its ``worker-offline``, or until it
misses its heartbeats (celery's own rule: two heartbeat intervals, ``freq``, without one).
"""

from __future__ import annotations

import math
from typing import Iterable

SAMPLE_EVERY_S = 10.0  # one row per queue (and one of workers) this often: 60,480 a week each
_HEARTBEAT_TYPES = frozenset({"worker-online", "worker-heartbeat"})
EXPIRE_FACTOR = 2.0


class WorkerPresence:
    def __init__(self):
        self._expires: dict[str, float] = {}  # hostname -> when it is taken for gone

    def see(self, events: Iterable[dict]) -> None:
        for event in events:
            kind = event.get("type") if isinstance(event, dict) else None
            if not kind or not kind.startswith("worker-"):
                continue
            hostname = event.get("hostname")
            if not isinstance(hostname, str):
                continue
            if kind == "worker-offline":
                self._expires.pop(hostname, None)
            elif kind in _HEARTBEAT_TYPES:
                at = _number(event.get("timestamp")) or _number(event.get("local_received"))
                freq = _number(event.get("freq")) or 2.0
                if at is not None:
                    self._expires[hostname] = max(self._expires.get(hostname, 0.0), at + freq * EXPIRE_FACTOR)

    def online(self, now: float) -> int:
        return sum(expires >= now for expires in self._expires.values())


class DepthSampler:
    """Queue depths polled every few seconds, kept as one row per queue every ``every`` seconds:
    the highest depth seen meanwhile (a spike between two rows is not lost)."""

    def __init__(self, every: float = SAMPLE_EVERY_S):
        self.every = every
        self._highest: dict[str, float] = {}
        self._due: float = 0.0

    def add(self, at: float, depths: dict) -> list[tuple]:
        """Take a poll's ``{queue: messages}``; the rows to store now (none until due)."""
        for queue, n in depths.items():
            if isinstance(n, (int, float)) and not isinstance(n, bool) and math.isfinite(n):
                self._highest[queue] = max(self._highest.get(queue, 0.0), float(n))
        if at < self._due or not self._highest:
            return []
        self._due = at + self.every
        rows, self._highest = depth_samples(at, self._highest), {}
        return rows


def depth_samples(at: float, depths: dict) -> list[tuple]:
    """``samples`` rows of queue depths: ``(kind, at, key, value)``."""
    return [("queue", float(at), str(queue), float(n)) for queue, n in depths.items()
            if isinstance(n, (int, float)) and not isinstance(n, bool) and math.isfinite(n)]


def _number(value):
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None
