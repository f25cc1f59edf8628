"""Readiness checks that ask the service itself: Redis PING, an AMQP login, an HTTP 200, a celery
control ping.

Each check blocks for at most about half a second, so it runs on a small thread pool and the
answer comes back to the Qt thread as a signal; the event loop never waits on a socket.
"""

from __future__ import annotations

import socket
from typing import Callable, Optional
from urllib.parse import unquote, urlparse

from PySide6.QtCore import QObject, QTimer, Signal

from celerydesk.core.commands import Readiness
from celerydesk.core.errors import DeskError
from celerydesk.services.background import run_in_background


def raw_redis_ping(host: str, port: int, password: Optional[str] = None, timeout: float = 0.5) -> bool:
    """PING over a bare socket (AUTH first with a password): for the brokers celerydesk starts
    itself (no TLS), it answers in a millisecond, without paying redis-py's import on the
    start-up path."""
    request = b"*1\r\n$4\r\nPING\r\n"
    if password:
        secret = password.encode()
        request = b"*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n" % (len(secret), secret) + request
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(request)
            answer = b""
            while b"+PONG" not in answer and b"-" not in answer:
                chunk = sock.recv(64)
                if not chunk:
                    break
                answer += chunk
            return b"+PONG" in answer
    except OSError:
        return False


def http_ok(url: str, timeout: float = 0.5) -> bool:
    """Does ``url`` (plain http, e.g. Flower's /healthcheck) answer 200?

    A bare HTTP/1.0 request on a socket: it is polled every few milliseconds while the stack
    starts, when urllib's imports (http.client, email, ssl) would take CPU from the services.
    """
    parsed = urlparse(url)
    path = (parsed.path or "/") + (f"?{parsed.query}" if parsed.query else "")
    try:
        with socket.create_connection((parsed.hostname, parsed.port or 80), timeout=timeout) as sock:
            sock.sendall(f"GET {path} HTTP/1.0\r\nHost: {parsed.netloc}\r\n\r\n".encode("ascii"))
            status_line = sock.makefile("rb").readline(256)
    except OSError:
        return False
    parts = status_line.split()
    return len(parts) >= 2 and parts[0].startswith(b"HTTP/") and parts[1] == b"200"


def celery_ping(broker_url: str, node_prefix: str, timeout: float = 1.0) -> bool:
    from celerydesk.core.broker_client import BrokerClient

    with BrokerClient(broker_url) as client:
        try:
            nodes = client.ping(timeout=timeout)
        except DeskError:  # any broker trouble means "not yet"
            return False
    return any(node.startswith(node_prefix) for node in nodes)


def check_for(readiness: Readiness) -> Callable[[], bool]:
    if readiness.kind == "redis":
        parsed = urlparse(readiness.url)
        password = unquote(parsed.password) if parsed.password else None
        return lambda: raw_redis_ping(parsed.hostname, parsed.port, password)
    if readiness.kind == "amqp":  # RabbitMQ: a login with the URL's credentials (it listens before it lets in)
        from celerydesk.core.broker_errors import answers

        return lambda: answers(readiness.url, timeout=1.0) is None
    if readiness.kind == "http":
        return lambda: http_ok(readiness.url)
    if readiness.kind == "celery-ping":
        return lambda: celery_ping(readiness.url, readiness.pattern)
    raise ValueError(f"no polled check for readiness kind {readiness.kind!r}")


class ReadinessPoller(QObject):
    """Runs ``check`` off the Qt thread until it answers True: every ``interval_ms``, after a
    first few polls ``FIRST_INTERVAL_MS`` apart and doubling (Redis answers ~10 ms after its
    start; waiting the full interval for it would delay everything that starts after it)."""

    FIRST_INTERVAL_MS = 4

    ready = Signal()

    def __init__(self, check: Callable[[], bool], interval_ms: int = 25, parent=None):
        super().__init__(parent)
        self._check = check
        self._interval_ms = interval_ms
        self._timer = QTimer(self, interval=min(self.FIRST_INTERVAL_MS, interval_ms))
        self._timer.timeout.connect(self._poll)
        self._in_flight = False

    def start(self) -> None:
        self._timer.start()
        self._poll()

    def stop(self) -> None:
        self._timer.stop()

    def _poll(self) -> None:
        if self._in_flight:
            return
        self._in_flight = True
        run_in_background(self._check, self._on_answer, self)

    def _on_answer(self, ok, error) -> None:
        self._in_flight = False
        if not self._timer.isActive():
            return
        if ok and not error:
            self._timer.stop()
            self.ready.emit()
        elif self._timer.interval() < self._interval_ms:
            self._timer.setInterval(min(self._timer.interval() * 2, self._interval_ms))
