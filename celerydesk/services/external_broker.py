"""An external broker (``[broker] mode = "external"``): nothing to start, only to check.

It is RUNNING while the URL answers; "stopping" it only stops watching. One that never answers
is FATAL with the reason (a wrong password, nothing listening, an unknown host ...).
"""

from __future__ import annotations

from typing import Optional

from celerydesk.core.broker_errors import BrokerTrouble, answers
from celerydesk.core.commands import BROKER
from celerydesk.core.supervision import Autorestart, RestartPolicy
from celerydesk.core.urls import shown_url
from celerydesk.services.probes import ReadinessPoller
from celerydesk.services.service import Service


def broker_answers(url: str, timeout: float = 0.5) -> bool:
    return answers(url, timeout) is None


class ExternalBroker(Service):
    stop_timeout = 0.0  # nothing to stop: only watched

    def __init__(self, url: str, parent=None):
        super().__init__(BROKER, "broker", BROKER, RestartPolicy(start_timeout=10.0, startretries=0,
                                                                 autorestart=Autorestart.NEVER), parent=parent)
        self.url = url
        self._poller = None
        self._trouble: Optional[BrokerTrouble] = None  # why the last probe failed (set on the probe's thread)

    def _check(self) -> bool:
        self._trouble = answers(self.url)
        return self._trouble is None

    def _spawn(self) -> None:
        self._trouble = None
        self.supervision.spawned(None)
        self._poller = ReadinessPoller(self._check, interval_ms=250, parent=self)
        self._poller.ready.connect(lambda: self._apply(self.supervision.ready_seen()))
        self._poller.start()

    def _terminate(self) -> None:
        if self._poller is not None:
            self._poller.stop()
        if self.state.name == "STARTING":  # never answered: say why, and do not retry
            trouble = self._trouble
            reason = f"{shown_url(self.url)} {trouble.reason} ({trouble.hint})" if trouble \
                else f"{shown_url(self.url)} did not answer"
            self._apply(self.supervision.spawn_failed(reason, permanent=True))
        else:
            self._apply(self.supervision.exited(0, "no longer watched"))
