"""The history of a process without a window that watches a stack: ``celerydesk up`` (and the
headless watcher): the broker's events, consumed on their own thread, recorded by a
:class:`HistoryRecorder` (which writes, or reads while another celerydesk writes), and the
workspace's alert rules evaluated over them (``core.alerts.watch``; firings stored by the writer),
and the queue depths its caller polls (``record_depths``), for the Dashboard.

What happens is said through ``say(level, text)`` (``info``, ``warning``, ``alert``), from whichever
thread it happens on; nothing here raises once started, and ``close`` never waits past its timeout (a
full disk or a stuck file must not hold up a stop).
"""

from __future__ import annotations

import time
from typing import Callable, Optional

from celerydesk.core.alerts.watch import AlertWatch
from celerydesk.core.errors import DeskError
from celerydesk.core.event_consumer import EventConsumer
from celerydesk.core.history.recorder import OFF, READING, WRITING, HistoryRecorder
from celerydesk.core.history.retry import result_backend_url
from celerydesk.core.history.samples import DepthSampler


class HeadlessHistory:
    def __init__(self, ws, say: Callable[[str, str], None], runtime_dir=None):
        self.say = say
        self.recorder = HistoryRecorder(runtime_dir or ws.runtime_dir, ws.history,
                                        backend_url=result_backend_url(ws), on_state=self._on_state,
                                        on_error=self._on_error)
        self.consumer: Optional[EventConsumer] = None
        # The workspace's [[alerts]] are evaluated by whoever watches the stack: this process too.
        self.alerts: Optional[AlertWatch] = AlertWatch(ws.alerts, self.recorder, say) if ws.alerts else None
        self._depths = DepthSampler()

    def record_depths(self, depths: dict) -> None:
        """A poll of the queue depths (``{queue: messages}``), sampled into the history."""
        rows = self._depths.add(time.time(), depths)
        if rows:
            self.recorder.submit_samples(rows)

    def start(self) -> str:
        """Take the writer's lock (or read while another writes); the state it is in."""
        return self.recorder.start()

    def consume(self, broker_url: str) -> None:
        """Start receiving the broker's events (once it answers; the consumer retries every second)."""
        if self.consumer is None:
            sinks = [self.recorder.submit] + ([self.alerts.submit] if self.alerts else [])
            self.consumer = EventConsumer(broker_url, sinks)
            self.consumer.start()
            if self.alerts is not None:
                self.alerts.start(broker_url)

    def service_stopping(self, service_key: str) -> None:
        """The stack is stopping this service on purpose (the alerts must not call it missing)."""
        if self.alerts is not None:
            self.alerts.service_stopping(service_key)

    def close(self, timeout: float = 5.0) -> None:
        if self.consumer is not None:
            self.consumer.stop(min(timeout, 3.0))
        if self.alerts is not None:
            self.alerts.close(min(timeout, 3.0))
        self.recorder.close(timeout)

    def _on_state(self, state: str, detail: str) -> None:
        if state == WRITING:
            self.say("info", f"history: recording tasks in {detail}")
        elif state == READING:
            self.say("info", f"history: {detail}; this one records again once that one stops")
        elif state == OFF:
            self.say("warning", f"history: not recorded: {detail}")

    def _on_error(self, error: DeskError) -> None:
        self.say("warning", f"history: {error}")
