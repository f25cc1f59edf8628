"""The kinds of broker celerydesk runs or talks to (Redis, RabbitMQ): defaults, URLs, management API.

A workspace's ``[broker] kind`` says which server celerydesk runs in local and docker mode; an
external broker's kind is read from its URL's scheme. Everything that differs between the two
kinds and is not a process or a container (the default port and image, the URL the stack's
processes get, where RabbitMQ's management API answers) is decided here, so the rest of the
code asks one place.

RabbitMQ's management API (its HTTP interface, on 15672 by default) lists every queue with its
counts, which AMQP cannot do, and gives Flower its Broker page. celerydesk enables it on the
RabbitMQ it runs (``[broker] management``); for an external RabbitMQ it is used where
``[broker] management_url`` says, else looked for on the broker's host at 15672.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional
from urllib.parse import quote, unquote, urlsplit

from celerydesk.core.urls import with_password

REDIS, RABBITMQ = "redis", "rabbitmq"
KINDS = (REDIS, RABBITMQ)
DEFAULT_PORT = {REDIS: 6379, RABBITMQ: 5672}
DEFAULT_IMAGE = {REDIS: "redis:7-alpine", RABBITMQ: "rabbitmq:3-management"}
DEFAULT_MANAGEMENT_PORT = 15672
LABEL = {REDIS: "Redis", RABBITMQ: "RabbitMQ"}
# RabbitMQ's own user when no password is generated: guest, which RabbitMQ lets in from
# loopback only (the official image lets it in from anywhere, its port published on loopback).
GUEST = ("guest", "guest")
GENERATED_USER = "celerydesk"  # the user of a RabbitMQ started with a generated password
_SCHEMES = {"redis": REDIS, "rediss": REDIS, "unix": REDIS, "amqp": RABBITMQ, "amqps": RABBITMQ,
            "pyamqp": RABBITMQ}


def kind_of_url(url: Optional[str]) -> Optional[str]:
    """``redis`` or ``rabbitmq`` for a URL of theirs; None for another transport (sqs, memory)."""
    if not url or "://" not in url:
        return None
    return _SCHEMES.get(url.split("://", 1)[0].lower())


def is_amqp(url: Optional[str]) -> bool:
    return kind_of_url(url) == RABBITMQ


def local_url(kind: str, port: int, password: Optional[str] = None, db: int = 0) -> str:
    """The URL of a broker celerydesk runs on loopback (local or docker mode); ``db`` is Redis's."""
    if kind == RABBITMQ:
        user, secret = (GENERATED_USER, password) if password else GUEST
        return with_password(f"amqp://127.0.0.1:{port}//", secret, user)
    url = f"redis://127.0.0.1:{port}/{db}"
    return with_password(url, password) if password else url


@dataclass(frozen=True)
class ManagementApi:
    """Where RabbitMQ's management API answers, and the credentials it takes."""

    base: str  # http://host:port, no credentials, no trailing slash
    user: str
    password: str
    explicit: bool = True  # False: only a guess (an external broker's host, port 15672)

    def flower_url(self) -> str:
        """For Flower's ``broker_api``: the API's URL with the credentials (give it through the
        environment, never argv)."""
        scheme, rest = self.base.split("://", 1)
        return f"{scheme}://{quote(self.user, safe='')}:{quote(self.password, safe='')}@{rest}/api/"


def management_api(broker, url: str) -> Optional[ManagementApi]:
    """The management API of the RabbitMQ at ``url`` (a workspace's ``[broker]`` config), or None.

    Local and docker mode: on 127.0.0.1 at ``management_port`` when ``management`` is on.
    External: at ``management_url`` (its credentials, else the broker URL's), else a guess on
    the broker's host at 15672 with the broker URL's credentials."""
    if not is_amqp(url):
        return None
    parts = urlsplit(url)
    user, password = unquote(parts.username or GUEST[0]), unquote(parts.password or GUEST[1])
    if broker.mode != "external":
        if not broker.management:
            return None
        return ManagementApi(f"http://127.0.0.1:{broker.management_port}", user, password)
    if broker.management_url:
        given = urlsplit(broker.management_url)
        host = given.hostname or "127.0.0.1"
        netloc = f"[{host}]" if ":" in host else host
        base = f"{given.scheme}://{netloc}" + (f":{given.port}" if given.port else "") + given.path.rstrip("/")
        if given.username:
            user, password = unquote(given.username), unquote(given.password or "")
        return ManagementApi(base.removesuffix("/api"), user, password)
    host = parts.hostname or "127.0.0.1"
    netloc = f"[{host}]" if ":" in host else host
    # Over TLS, RabbitMQ's documented management port is 15671.
    base = f"https://{netloc}:15671" if parts.scheme == "amqps" else f"http://{netloc}:{DEFAULT_MANAGEMENT_PORT}"
    return ManagementApi(base, user, password, explicit=False)
