"""An external broker (``[broker] mode = "external"``): nothing to start, only to check.

It is RUNNING while the URL answers; "stopping" it only stops watching.
"""

from __future__ import annotations

import socket
from urllib.parse import urlparse

from celerydesk.core.commands import BROKER
from celerydesk.core.supervision import Autorestart, RestartPolicy
from celerydesk.core.urls import shown_url
from celerydesk.services.probes import ReadinessPoller, redis_ping
from celerydesk.services.service import Service


def broker_answers(url: str, timeout: float = 0.5) -> bool:
    parsed = urlparse(url)
    if parsed.scheme in ("redis", "rediss"):
        return redis_ping(url, timeout)
    default_port = {"amqp": 5672, "amqps": 5671, "pyamqp": 5672}.get(parsed.scheme)
    if default_port is None:
        return True  # a transport we cannot probe (sqs, memory): trust the URL
    try:
        with socket.create_connection((parsed.hostname or "localhost", parsed.port or default_port), timeout):
            return True
    except OSError:
        return False


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
