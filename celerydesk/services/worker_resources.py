"""The window's resource sampling: this stack's processes every 2 s, remote workers on request.

``ResourceMonitor`` measures the process tree of each service celerydesk started and that runs
(a worker with its pool processes, beat, Flower, a local redis-server) with ``core.worker_resources``,
off the GUI thread, one sample at a time, only while something runs. It keeps the last samples
of each service for the sparklines. The services table and the Workers page read it; neither samples.

``RemoteWorkerStats`` asks the workers for ``inspect stats`` through the window's broker service:
what the workers celerydesk did not start (and cannot measure) say about themselves. It asks only
while a page that shows it is active, every 10 s: a broadcast every 2 s would be traffic on the
user's broker for a page nobody looks at.
"""

from __future__ import annotations

from collections import deque
from typing import Optional

from PySide6.QtCore import QObject, QTimer, Signal

from celerydesk.core.states import RUNNING_STATES
from celerydesk.core.worker_resources import SAMPLE_INTERVAL_S, TreeSampler, TreeUsage, parse_stats
from celerydesk.services.background import run_in_background

HISTORY_SAMPLES = 90  # three minutes at one sample every 2 s: what a sparkline draws
STATS_INTERVAL_MS = 10_000
STATS_TIMEOUT_S = 1.5


class ResourceMonitor(QObject):
    sampled = Signal()  # ``latest`` and the histories changed

    def __init__(self, stack, interval_ms: int = int(SAMPLE_INTERVAL_S * 1000), parent=None):
        super().__init__(parent)
        self._stack = stack
        self._sampler = TreeSampler()
        self._in_flight = False
        self.latest: dict[str, TreeUsage] = {}
        self._history: dict[str, deque] = {}  # key -> deque of TreeUsage
        self._timer = QTimer(self, interval=interval_ms)
        self._timer.timeout.connect(self.sample)
        self._timer.start()

    def history(self, key: str) -> list[TreeUsage]:
        return list(self._history.get(key, ()))

    def stop(self) -> None:
        self._timer.stop()

    def roots(self) -> dict[str, tuple[int, Optional[float]]]:
        """The running services' process trees: ``{key: (pid, create_time)}`` (no container: no pid)."""
        roots = {}
        for key, service in self._stack.services.items():
            pid = service.pid
            if pid and service.state in RUNNING_STATES:
                roots[key] = (pid, getattr(service, "create_time", None))
        return roots

    def sample(self) -> None:
        if self._in_flight:
            return
        roots = self.roots()
        if not roots and not self.latest:
            return  # nothing runs, nothing shown: no thread woken
        self._in_flight = True
        sampler = self._sampler
        run_in_background(lambda: sampler.sample_all(roots), self._on_sampled, self)

    def _on_sampled(self, usage, error) -> None:
        self._in_flight = False
        if error is not None:  # psutil failing as a whole (no /proc): the figures stay blank
            usage = {}
        self.latest = usage
        for key in list(self._history):
            if key not in usage:
                del self._history[key]  # stopped: a restarted service starts a new line
        for key, sample in usage.items():
            line = self._history.get(key)
            if line is None or (line and line[-1].pid != sample.pid):
                line = self._history[key] = deque(maxlen=HISTORY_SAMPLES)
            line.append(sample)
        self.sampled.emit()


class RemoteWorkerStats(QObject):
    changed = Signal()  # ``latest`` was replaced (or the error changed)

    def __init__(self, broker, interval_ms: int = STATS_INTERVAL_MS, parent=None):
        super().__init__(parent)
        self._broker = broker
        self._in_flight = False
        self._users = 0
        self.latest: dict = {}  # hostname -> RemoteStats
        self.error: Optional[str] = None
        self._timer = QTimer(self, interval=interval_ms)
        self._timer.timeout.connect(self.poll)

    def set_active(self, active: bool) -> None:
        """A page that shows the figures was shown (True) or hidden (False): poll while any is."""
        self._users = max(0, self._users + (1 if active else -1))
        if self._users and not self._timer.isActive():
            self._timer.start()
            self.poll()
        elif not self._users:
            self._timer.stop()

    def stop(self) -> None:
        self._users = 0
        self._timer.stop()

    def poll(self) -> None:
        if self._in_flight:
            return
        self._in_flight = True
        self._broker.call(lambda client: client.inspect("stats", timeout=STATS_TIMEOUT_S), self._on_stats, owner=self)

    def _on_stats(self, replies, error) -> None:
        self._in_flight = False
        if error is not None:
            self.error = str(error)
        else:
            self.error = None
            self.latest = parse_stats(replies or {})
        self.changed.emit()
