"""The window's alerts: the workspace's rules evaluated over what the window watches.

:class:`AlertService` wraps the Qt-free ``core.alerts.evaluator.AlertEvaluator``: its ``submit``
is a sink of the window's event consumer (``DeskContext.event_monitor``), the window's one queue
poll (``services.queue_depths``) gives it depths (the queues a ``queue-depth`` rule names are
added to that poll), and a timer ticks it every second. A firing is stored in the history when
this window writes it (``core/alerts/store.py``: a window reading while ``up`` writes leaves the
storing to ``up``), counted as unseen until the Dashboard is shown, and told through ``fired``
(the tray's notification).
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer, Signal

from celerydesk.core.alerts.evaluator import AlertEvaluator, Firing
from celerydesk.core.alerts.watch import stopping_worker_glob
from celerydesk.core.states import ProcessState
from celerydesk.services.background import post

TICK_MS = 1000


class AlertService(QObject):
    fired = Signal(object)  # a core.alerts.evaluator.Firing, on the Qt thread
    unseenChanged = Signal(int)  # firings since the Dashboard was last shown

    def __init__(self, rules, history, depths, stack=None, parent=None):
        """``history``: the window's ``HistoryService`` (its recorder stores firings);
        ``depths``: its ``QueueDepths``; ``stack``: its StackController (a worker it stops on
        purpose is not an offline worker)."""
        super().__init__(parent)
        self.history, self.depths = history, depths
        self.unseen = 0
        self.firings: list[Firing] = []  # this session's, newest last
        self.evaluator = AlertEvaluator(rules, self._from_any_thread)
        depths.depthsChanged.connect(self.evaluator.sample_depths)
        self._watch_queues()
        self._timer = QTimer(self, interval=TICK_MS)
        self._timer.timeout.connect(lambda: self.evaluator.tick())
        self._timer.start()
        if stack is not None:
            stack.serviceStateChanged.connect(self._on_service_state)

    def submit(self, events: list) -> None:
        """The event consumer's sink (its thread)."""
        self.evaluator.submit(events)

    def set_rules(self, rules) -> None:
        """The workspace's rules changed (the editor saved them)."""
        self.evaluator.set_rules(rules)
        self._watch_queues()

    def mark_seen(self) -> None:
        if self.unseen:
            self.unseen = 0
            self.unseenChanged.emit(0)

    def stop(self) -> None:
        self._timer.stop()

    def _on_service_state(self, key: str, state) -> None:
        if state == ProcessState.STOPPING:
            glob = stopping_worker_glob(key)
            if glob is not None:
                self.evaluator.expect_offline(glob)

    def _watch_queues(self) -> None:
        for queue in sorted(self.evaluator.needs_depths):
            self.depths.watch(queue)

    def _from_any_thread(self, firing: Firing) -> None:
        post(self, lambda: self._on_fire(firing))

    def _on_fire(self, firing: Firing) -> None:
        self.history.recorder.record_alerts([firing])
        self.firings.append(firing)
        del self.firings[:-1000]
        self.unseen += 1
        self.unseenChanged.emit(self.unseen)
        self.fired.emit(firing)
