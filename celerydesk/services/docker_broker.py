"""The broker as a container (Redis or RabbitMQ): the supervised-service face of
``core.broker_container``.

Every Docker call blocks, so each runs in the background and reports back on the Qt thread:
an image pull shows its progress as log lines and never freezes the window. The container's
output is followed like a child's; when it ends while the broker should be running, that is
an exit, and the supervision policy restarts it (the same container, the same volume).
"""

from __future__ import annotations

import threading
from typing import Optional

from PySide6.QtCore import Signal

from celerydesk.core import broker_container
from celerydesk.core.brokers import LABEL, RABBITMQ
from celerydesk.core.commands import BROKER, crash_limited
from celerydesk.core.errors import DeskError
from celerydesk.core.logtext import RotatingLogFile
from celerydesk.core.states import ProcessState
from celerydesk.core.supervision import RestartPolicy
from celerydesk.core.workspace import Workspace
from celerydesk.services.background import post, run_in_background
from celerydesk.services.probes import ReadinessPoller, raw_redis_ping
from celerydesk.services.service import Service


class DockerBroker(Service):
    stop_timeout = 30.0  # the broker's own 10 s stop inside the container, and the engine's answers
    containerStarted = Signal(str, str)  # container id, what was done ("adopted ...")
    containerGone = Signal(str)

    def __init__(self, ws: Workspace, log_file: Optional[RotatingLogFile] = None, parent=None):
        # A pull can take minutes on a slow line; readiness after it is quick.
        super().__init__(BROKER, "broker", BROKER, crash_limited(RestartPolicy(start_timeout=600.0), ws), parent=parent)
        self.ws = ws
        self.container_id: Optional[str] = None
        self.log_file = log_file
        self.history: list = []
        self._poller: Optional[ReadinessPoller] = None
        # Which start of the container a log follower belongs to. The id cannot tell: a restart
        # starts the same container again, so a late end-of-stream of the old run would pass
        # for an exit of the new one. A stop we ask for also retires the follower, since its end
        # is reported by _on_stopped.
        self._run = 0

    def _emit_line(self, text: str, channel: str = "stdout") -> None:
        self.history = (self.history + [(text, channel)])[-2000:]
        if self.log_file is not None:
            self.log_file.write_lines([text])
            self.log_file.flush()
        self.linesReceived.emit(self.key, [(text, channel)])

    def _spawn(self) -> None:
        def progress(text: str) -> None:  # called on Docker's thread
            post(self, lambda: self._emit_line(f"[celerydesk] {text}", "system"))

        run_in_background(lambda: broker_container.ensure_container(self.ws, progress), self._on_container, self)

    def _on_container(self, result, error) -> None:
        if self.state != ProcessState.STARTING and self.state != ProcessState.STOPPING:
            return
        if error is not None:
            text = str(error) if isinstance(error, DeskError) else f"Docker failed: {error}"
            self._emit_line(f"[celerydesk] {text}", "system")
            self._apply(self.supervision.spawn_failed(text, permanent=True))
            return
        container_id, what = result
        self.container_id = container_id
        self._emit_line(f"[celerydesk] {what}", "system")
        self.supervision.spawned(None)
        self.containerStarted.emit(container_id, what)
        if self.state == ProcessState.STOPPING:  # stop was asked while Docker worked
            self._terminate()
            return
        self._run += 1
        threading.Thread(target=self._follow, args=(container_id, self._run), daemon=True,
                         name="celerydesk-docker-logs").start()
        self._poller = ReadinessPoller(self._readiness_check(), parent=self)
        self._poller.ready.connect(lambda: self._apply(self.supervision.ready_seen()))
        self._poller.start()
        self._rearm()

    def _readiness_check(self):
        if self.ws.broker.kind == RABBITMQ:  # a login: the port proxy takes connections before RabbitMQ does
            from celerydesk.core.broker_errors import answers

            url = self.ws.broker_url()
            return lambda: answers(url, timeout=1.0) is None
        port, password = self.ws.broker.port, self.ws.broker_password()
        return lambda: raw_redis_ping("127.0.0.1", port, password)

    def _follow(self, container_id: str, run: int) -> None:
        try:
            code = broker_container.follow_logs(container_id, lambda line: post(self, lambda: self._emit_line(line)))
        except Exception as exc:  # the engine went away
            # Format now: Python unbinds ``exc`` when the except block ends, so a lambda that
            # read it later on the Qt thread raised NameError instead of logging.
            text = f"[celerydesk] lost the container's log stream: {exc}"
            post(self, lambda: self._emit_line(text, "system"))
            code = -1
        post(self, lambda: self._on_container_ended(run, code))

    def _on_container_ended(self, run: int, code: int) -> None:
        if run != self._run or self.state == ProcessState.STOPPING:
            return  # a stop we asked for reports through _on_stopped
        self._stop_poller()
        # It is gone: a stop asked while the automatic restart is with Docker must wait for
        # _on_container (as for a first start), not stop this id at once and then miss the
        # container that restart brings up, which was left running.
        self.container_id = None
        self._emit_line(f"[celerydesk] container stopped with code {code}", "system")
        self._apply(self.supervision.exited(code, f"container stopped with code {code}"))

    def _terminate(self) -> None:
        self._stop_poller()
        # Taken, so a second terminate (a stop during a timed-out start's stop) does not send a
        # second stop whose report would meet an already STOPPED machine.
        container_id, self.container_id = self.container_id, None
        if container_id is None:
            return  # still being created: _on_container finishes the stop
        self._run += 1  # the follower's end-of-stream is this stop's: _on_stopped reports it
        what = "AOF flushed" if self.ws.broker.kind != RABBITMQ else "a clean RabbitMQ stop"
        self._emit_line(f"[celerydesk] stopping the {LABEL[self.ws.broker.kind]} container (SIGTERM, {what})", "system")
        run_in_background(lambda: broker_container.stop_container(container_id),
                          lambda code, error: self._on_stopped(container_id, code, error), self)

    def _on_stopped(self, gone: str, code, error) -> None:
        if error is not None:
            self._emit_line(f"[celerydesk] stopping the container failed: {error}", "system")
        self.containerGone.emit(gone)
        self._apply(self.supervision.exited(code or 0, "container stopped"))

    def _stop_poller(self) -> None:
        if self._poller is not None:
            self._poller.stop()
            self._poller.deleteLater()
            self._poller = None
