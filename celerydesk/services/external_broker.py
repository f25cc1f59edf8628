"""An external broker (``[broker] mode = "external"``): nothing to start, only to check.

It is RUNNING while the URL answers; "stopping" it only stops watching.
"""

from __future__ import annotations

from celerydesk.core.broker_client import broker_answers
from celerydesk.core.commands import BROKER
from celerydesk.core.supervision import Autorestart, RestartPolicy
from celerydesk.core.urls import shown_url
from celerydesk.services.probes import ReadinessPoller
from celerydesk.services.service import Service


class ExternalBroker(Service):
    def __init__(self, url: str, parent=None):
        super().__init__(BROKER, "broker", BROKER, RestartPolicy(start_timeout=10.0, startretries=0,
                                                                 autorestart=Autorestart.NEVER), parent=parent)
        self.url = url
        self._poller = None

    def _spawn(self) -> None:
        self.supervision.spawned(None)
        self._poller = ReadinessPoller(lambda: broker_answers(self.url), interval_ms=250, parent=self)
        self._poller.ready.connect(lambda: self._apply(self.supervision.ready_seen()))
        self._poller.start()

    def _terminate(self) -> None:
        if self._poller is not None:
            self._poller.stop()
        starting = self.state.name == "STARTING"
        self._apply(self.supervision.exited(0, f"{shown_url(self.url)} did not answer" if starting else "no longer watched"))
