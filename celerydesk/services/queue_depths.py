"""The window's one queue-depth poll: every few seconds, the queues it knows, one signal.

The status bar and the Tasks page both read ``depthsChanged``; neither polls. The queues are
the workspace's (every worker's, and ``celery``), those added with ``watch`` (a launch to
another queue), and those the ``sources`` report (the queues the monitor has seen tasks go
to). A poll runs only while the broker runs, one at a time, off the GUI thread; a failed poll
changes nothing (the services table says the broker is down).
"""

from __future__ import annotations

from typing import Callable, Iterable

from PySide6.QtCore import QObject, QTimer, Signal

from celerydesk.core.commands import BROKER
from celerydesk.core.states import ProcessState

POLL_MS = 2000


def workspace_queues(ws) -> set[str]:
    """The queues a workspace's workers consume, and celery's default one."""
    return {q for w in ws.workers for q in w.queues} | {"celery"}


class QueueDepths(QObject):
    depthsChanged = Signal(dict)  # {queue: messages waiting}, the whole set polled

    def __init__(self, stack, broker, interval_ms: int = POLL_MS, parent=None):
        super().__init__(parent)
        self._stack = stack
        self._broker = broker
        self._watched: set[str] = set()
        self._sources: list[Callable[[], Iterable[str]]] = []
        self._in_flight = False
        self.latest: dict[str, int] = {}
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
        names = workspace_queues(self._stack.ws) | self._watched
        for source in self._sources:
            names.update(source())
        return sorted(names)

    def stop(self) -> None:
        self._timer.stop()

    def poll(self) -> None:
        if self._in_flight or self._stack.state(BROKER) != ProcessState.RUNNING:
            return
        queues = self.queues()
        self._in_flight = True
        self.polls += 1
        self._broker.call(lambda client: client.depths(queues), self._on_depths, owner=self)

    def _on_depths(self, depths, error) -> None:
        self._in_flight = False
        if error is None:
            self.latest = depths
            self.depthsChanged.emit(depths)
