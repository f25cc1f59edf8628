"""What went wrong talking to a broker, named from redis-py's, kombu's and amqp's exceptions.

Every place that reaches the broker (``call``, the self-test, the readiness probes, the Tasks
page's connection line) reports a failure through ``classify``: a wrong or missing password, a
Redis that refuses writes (MISCONF, usually a full disk), a refused connection and an unknown
host each get their own words and their own advice, instead of one "does not answer". Kombu
wraps the transport's error (``OperationalError`` from a redis ``AuthenticationError``), so the
whole chain of causes is read. Types are checked only if their library is loaded already: an
exception of a library nobody imported cannot have been raised.

``ping`` asks a broker for an answer and raises what it got, for the callers that check first.
"""

from __future__ import annotations

import errno
import socket
import sys
from dataclasses import dataclass
from typing import Iterator, Optional
from urllib.parse import urlsplit

from celerydesk.core.errors import DeskError
from celerydesk.core.urls import has_password, masked, shown_url

AUTH, NO_PASSWORD, MISCONF, REFUSED, NO_HOST, TIMEOUT, OTHER = (
    "wrong password", "password required", "refuses writes", "refused", "unknown host", "timeout", "other")
_NOT_LISTENING = "start the broker (`celerydesk up` starts a workspace's own), or check [broker] url and port"


@dataclass(frozen=True)
class BrokerTrouble:
    kind: str  # one of the names above
    reason: str  # one line, for the user: what the broker or the system said (no password)
    hint: str  # what to do

    def error(self, url: str, start_hint: Optional[str] = None) -> DeskError:
        """As a DeskError; ``start_hint`` replaces the advice when nothing listens (``up -w W``)."""
        hint = start_hint if start_hint and self.kind == REFUSED else self.hint
        return DeskError(f"the broker at {shown_url(url)} {self.reason}", hint=hint)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def _is(exc: BaseException, module: str, name: str) -> bool:
    loaded = sys.modules.get(module)
    kind = getattr(loaded, name, None) if loaded is not None else None
    return isinstance(kind, type) and isinstance(exc, kind)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return masked(text[0] if text else type(exc).__name__)


def _where(url: str) -> str:
    try:
        parts = urlsplit(url)
        return f"{parts.hostname}:{parts.port}" if parts.port else (parts.hostname or "the broker's host")
    except ValueError:
        return "the broker's host"


def classify(exc: BaseException, url: str) -> BrokerTrouble:
    """The cause of ``exc`` (raised while talking to the broker at ``url``), in words."""
    chain = list(_chain(exc))
    texts = " | ".join(str(e) for e in chain)
    upper = texts.upper()
    where = _where(url)
    if "MISCONF" in upper:
        return BrokerTrouble(MISCONF, "refuses writes: Redis cannot save to its disk (MISCONF), which usually "
                             "means the disk is full",
                             "free space on the disk where Redis keeps its data (local mode: .celerydesk/redis), "
                             "then restart the broker")
    refusal = next((e for e in chain if _is(e, "redis.exceptions", "AuthenticationError")
                    or _is(e, "amqp.exceptions", "AccessRefused")), None)
    auth = refusal is not None or any(word in upper for word in (
        "WRONGPASS", "NOAUTH", "ACCESS_REFUSED", "INVALID PASSWORD", "AUTHENTICATION REQUIRED"))
    if auth and has_password(url) and "NOAUTH" not in upper:
        return BrokerTrouble(AUTH, f"refused the password: {_first_line(refusal or exc)}",
                             "check the password in the broker URL ([broker] url; percent-encode / ? # @ in it), "
                             'or with [broker] password = "generate", that no other broker holds the port')
    if auth:
        return BrokerTrouble(NO_PASSWORD, "requires a password and none was given",
                             "put it in the URL: [broker] url = \"redis://:PASSWORD@host:port/0\"; if this is the "
                             "port of a Redis that is not this workspace's, pick another [broker] port")
    for e in chain:
        if isinstance(e, ConnectionRefusedError) or getattr(e, "errno", None) == errno.ECONNREFUSED:
            return BrokerTrouble(REFUSED, f"refused the connection: nothing listens on {where}", _NOT_LISTENING)
        if isinstance(e, socket.gaierror):
            return BrokerTrouble(NO_HOST, f"cannot be reached: the host name is not known ({_first_line(e)})",
                                 "check the host name in [broker] url")
        if isinstance(e, (TimeoutError, socket.timeout)) or _is(e, "redis.exceptions", "TimeoutError"):
            return BrokerTrouble(TIMEOUT, f"did not answer in time ({where})",
                                 "check that the host is reachable from here (a firewall, a VPN) and the broker runs")
    if "CONNECTION REFUSED" in upper:
        return BrokerTrouble(REFUSED, f"refused the connection: nothing listens on {where}", _NOT_LISTENING)
    if "NAME OR SERVICE NOT KNOWN" in upper or "TEMPORARY FAILURE IN NAME RESOLUTION" in upper:
        return BrokerTrouble(NO_HOST, "cannot be reached: the host name is not known",
                             "check the host name in [broker] url")
    root = chain[-1] if len(chain) > 1 and not str(exc).strip() else exc
    return BrokerTrouble(OTHER, f"failed: {type(root).__name__}: {_first_line(root)}",
                         "check [broker] url and that the broker runs")


def broker_error(exc: BaseException, url: str, start_hint: Optional[str] = None) -> DeskError:
    """``classify`` as a DeskError (see ``BrokerTrouble.error``)."""
    return classify(exc, url).error(url, start_hint)


def ping(url: str, timeout: float = 0.5) -> None:
    """Ask the broker at ``url`` for an answer; raise what went wrong (``classify`` names it).

    Redis: a PING through redis-py (any URL: auth, TLS, db). AMQP: a connection through kombu,
    which checks the credentials. Other transports (sqs, memory) cannot be asked: trusted."""
    scheme = url.split("://", 1)[0].lower()
    if scheme in ("redis", "rediss", "unix"):
        import redis

        client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        try:
            client.ping()
        finally:
            client.close()
    elif scheme in ("amqp", "amqps", "pyamqp"):
        from kombu import Connection

        with Connection(url, connect_timeout=timeout) as conn:
            conn.connect()


def answers(url: str, timeout: float = 0.5) -> Optional[BrokerTrouble]:
    """None when the broker answers, else what is wrong."""
    try:
        ping(url, timeout)
    except Exception as exc:  # whatever the client raised: named, not re-raised
        return classify(exc, url)
    return None
