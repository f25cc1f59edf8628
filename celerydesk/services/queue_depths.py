"""The window's one queue poll: every few seconds, the queues it knows, one signal.

The status bar and the Queues panels read it; none polls. The queues are the workspace's (every
worker's, and ``celery``), those added with ``watch`` (a launch to another queue), those the
``sources`` report (the queues the monitor has seen tasks go to, the app's own), and those the
broker itself lists (``BrokerClient.broker_queues``: Redis's bindings and lists, RabbitMQ's
management API), asked every ``DISCOVER_EVERY`` polls since it costs more. A poll runs only
while the broker runs, one at a time, off the GUI thread; a failed poll changes nothing (the
services table says the broker is down).
"""

from __future__ import annotations

from typing import Callable, Iterable

from PySide6.QtCore import QObject, QTimer, Signal

from celerydesk.core.commands import BROKER
from celerydesk.core.queue_list import workspace_queues
from celerydesk.core.states import ProcessState

POLL_MS = 2000
DISCOVER_EVERY = 5  # polls: the broker's own list every 10 s


def _poll(client, queues: list[str], discover: bool):
    """(stats of every queue, the broker's own list or None when not asked, its note)."""
    listed, note = client.broker_queues() if discover else (None, "")
    stats = client.queue_stats([q for q in queues if listed is None or q not in listed])
    return {**stats, **(listed or {})}, listed, note or ""


class QueueDepths(QObject):
    depthsChanged = Signal(dict)  # {queue: messages waiting}, the whole set polled
    statsChanged = Signal(dict)  # {queue: QueueStats}: messages and, where the broker says, consumers
    noteChanged = Signal(str)  # why the broker's own list of queues is missing ("" when it is there)

    def __init__(self, stack, broker, interval_ms: int = POLL_MS, parent=None):
        super().__init__(parent)
        self._stack = stack
        self._broker = broker
        self._watched: set[str] = set()
        self._sources: list[Callable[[], Iterable[str]]] = []
        self._listed: set[str] = set()  # what the broker listed last time it was asked
        self._in_flight = False
        self.latest: dict[str, int] = {}
        self.stats: dict = {}
        self.note = ""
        self.polls = 0  # polls sent so far: one per tick, whoever reads them
        self._timer = QTimer(self, interval=interval_ms)
        self._timer.timeout.connect(self.poll)
        self._timer.start()

    def watch(self, queue: str) -> None:
        """Poll this queue too from now on, starting at once."""
        self._watched.add(queue)
        self.poll()

    def add_source(self, source: Callable[[], Iterable[str]]) -> None:
        """``source()`` names more queues to poll; it is asked on the Qt thread at each poll."""
        self._sources.append(source)

    def queues(self) -> list[str]:
        names = workspace_queues(self._stack.ws) | self._watched | self._listed
        for source in self._sources:
            names.update(source())
        return sorted(names)

    def stop(self) -> None:
        self._timer.stop()

    def poll(self) -> None:
        if self._in_flight or self._stack.state(BROKER) != ProcessState.RUNNING:
            return
        queues = self.queues()
        discover = self.polls % DISCOVER_EVERY == 0
        self._in_flight = True
        self.polls += 1
        self._broker.call(lambda client: _poll(client, queues, discover), self._on_stats, owner=self)

    def _on_stats(self, result, error) -> None:
        self._in_flight = False
        if error is not None:
            return
        stats, listed, note = result
        if listed is not None:
            self._listed = set(listed)
            if note != self.note:
                self.note = note
                self.noteChanged.emit(note)
        self.stats = stats
        self.latest = {name: s.messages for name, s in sorted(stats.items())}
        self.statsChanged.emit(stats)
        self.depthsChanged.emit(self.latest)
