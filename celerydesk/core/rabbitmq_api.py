"""RabbitMQ's management API (HTTP), for what AMQP cannot do: name every queue.

Plain ``urllib`` with basic auth and a short timeout; the API answers JSON. A failure is a
``ManagementUnavailable`` whose text says why in a few words (refused, 401, a timeout), never
with the password: the callers fall back to the queues they know by name and say so.
"""

from __future__ import annotations

import base64
import json
from urllib.parse import quote, unquote, urlsplit

from celerydesk.core.brokers import ManagementApi
from celerydesk.core.urls import masked


class ManagementUnavailable(Exception):
    """The management API did not answer as asked; the text says why."""


def vhost_of(url: str) -> str:
    """The virtual host an AMQP URL names (``amqp://host//`` and ``amqp://host`` are ``/``)."""
    path = urlsplit(url).path
    return unquote(path[1:]) if len(path) > 1 else "/"


def _get(api: ManagementApi, path: str, timeout: float):
    from urllib.error import HTTPError, URLError
    from urllib.request import Request, urlopen

    request = Request(f"{api.base}{path}")
    token = base64.b64encode(f"{api.user}:{api.password}".encode()).decode()
    request.add_header("Authorization", f"Basic {token}")
    try:
        with urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())
    except HTTPError as exc:
        reason = "refused the credentials (401)" if exc.code == 401 else f"answered HTTP {exc.code}"
        raise ManagementUnavailable(f"{api.base} {reason}") from None
    except (URLError, OSError, ValueError) as exc:
        why = getattr(exc, "reason", None) or exc
        raise ManagementUnavailable(masked(f"{api.base} did not answer ({why})")) from None


def queue_names(api: ManagementApi, vhost: str, timeout: float = 2.0) -> list[str]:
    """The name of every queue of ``vhost``. (Its counts lag up to the API's statistics interval,
    5 s: callers count by AMQP.)"""
    rows = _get(api, f"/api/queues/{quote(vhost, safe='')}?columns=name", timeout)
    if not isinstance(rows, list):
        raise ManagementUnavailable(f"{api.base} answered something that is not a list of queues")
    return sorted(row["name"] for row in rows if isinstance(row, dict) and isinstance(row.get("name"), str))
