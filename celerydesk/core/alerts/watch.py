"""The alerts of a process without a window that watches a stack (``celerydesk up``, the headless
watcher): an :class:`AlertEvaluator` fed by the event consumer, ticking on a thread of its own,
which also polls the depths of the queues a ``queue-depth`` rule names (and only those, only if
there is such a rule: one Redis pipeline or one passive declare per queue, every ``interval``).

A firing is said through ``say("alert", "RULE: message")`` and stored through the history's recorder,
which stores it only if this process writes the history (``core/alerts/store.py`` says why).
Nothing here raises once started: a broker that does not answer is polled again next time.
"""

from __future__ import annotations

import threading
from typing import Callable, Optional

from celerydesk.core.alerts.evaluator import AlertEvaluator, Firing
from celerydesk.core.commands import WORKER
from celerydesk.core.history.recorder import READING

POLL_S = 1.0


def stopping_worker_glob(service_key: str) -> Optional[str]:
    """The hostnames of a worker service celerydesk is stopping (``worker-main`` -> ``main@*``,
    its ``-n NAME@%h``): for ``AlertEvaluator.expect_offline``. None for another service."""
    prefix = f"{WORKER}-"
    return f"{service_key[len(prefix):]}@*" if service_key.startswith(prefix) else None


class AlertWatch:
    def __init__(self, rules, recorder, say: Callable[[str, str], None], interval: float = POLL_S,
                 client_factory: Optional[Callable[[str], object]] = None):
        """``recorder``: a ``HistoryRecorder`` (its ``record_alerts``); ``client_factory(url)``
        makes the broker client the depths are read with (default: ``BrokerClient``)."""
        self.recorder, self.say, self.interval = recorder, say, interval
        self.client_factory = client_factory
        self.evaluator = AlertEvaluator(rules, self._on_fire)
        self.polls = 0
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._client = None

    def submit(self, events: list) -> None:
        """The event consumer's sink."""
        self.evaluator.submit(events)

    def service_stopping(self, service_key: str) -> None:
        """A service is being stopped on purpose: a worker's going offline is then no alert."""
        glob = stopping_worker_glob(service_key)
        if glob is not None:
            self.evaluator.expect_offline(glob)

    def start(self, broker_url: str) -> None:
        """Tick (and poll depths on ``broker_url`` when a rule needs them) until ``close``."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, args=(broker_url,), name="celerydesk-alerts",
                                            daemon=True)
            self._thread.start()

    def close(self, timeout: float = 3.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self._client is not None:
            try:
                self._client.close()
            except Exception:
                pass

    def _run(self, broker_url: str) -> None:
        while not self._stop.wait(self.interval):
            queues = sorted(self.evaluator.needs_depths)
            if queues:
                try:
                    depths = self._depths(broker_url, queues)
                except Exception:  # the broker restarting or gone: the rules keep their state
                    depths = None
                if depths is not None:
                    self.polls += 1
                    self.evaluator.sample_depths(depths)
            self.evaluator.tick()

    def _depths(self, broker_url: str, queues: list) -> dict:
        if self._client is None:
            if self.client_factory is None:
                from celerydesk.core.broker_client import BrokerClient

                self._client = BrokerClient(broker_url)
            else:
                self._client = self.client_factory(broker_url)
        return self._client.depths(queues)

    def _on_fire(self, firing: Firing) -> None:
        stored = self.recorder.record_alerts([firing])
        why = "" if stored else (" (not stored here: another celerydesk records this workspace's history)"
                                 if self.recorder.state == READING else " (not stored: the history is off, see above)")
        self.say("alert", f"{firing.rule}: {firing.message}{why}")
