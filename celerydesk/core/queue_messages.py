"""A message waiting in a queue, as ``queues peek`` and the Queues panel show it.

Read from what the broker holds, whichever broker: kombu's Redis envelope (a JSON document
with the body in base64 and the AMQP-like properties beside it) or an AMQP message (its body,
its properties and headers). Celery's task protocol 2 keeps the task's name, id, eta, retries
and argument reprs in the headers, the arguments in the body (``[args, kwargs, embed]``);
protocol 1 keeps everything in the body. A JSON body is decoded; any other serializer's
(pickle, yaml, msgpack) never is: decoding a pickle runs code, and a message in a queue is
untrusted data. The header reprs (celery's own, cut at 1,024 characters) are shown as they are.
"""

from __future__ import annotations

import base64
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

REPR_LIMIT = 1024  # as celery cuts argsrepr/kwargsrepr
# A body from another serializer is shown as this, never decoded.
NOT_DECODED = "<{kind} body, not decoded>"


@dataclass
class QueueMessage:
    """One waiting message; ``position`` 0 is the next a worker gets."""

    queue: str
    position: int
    id: Optional[str]
    task: Optional[str]
    args: str  # a repr
    kwargs: str  # a repr
    eta: Optional[str]
    expires: Optional[str]
    priority: Optional[int]
    retries: Optional[int]
    size: int  # bytes of the body
    # Where it is on the broker (Redis: the list holding it, for delete and move): not shown.
    location: Any = field(default=None, repr=False, compare=False)

    def as_json(self) -> dict:
        out = asdict(self)
        out.pop("location")
        return out


def _short(text: str) -> str:
    return text if len(text) <= REPR_LIMIT else text[:REPR_LIMIT - 3] + "..."


def _decoded_body(body: bytes, content_type: Optional[str]) -> Any:
    """The JSON body, or None (another serializer's, or not JSON at all)."""
    if content_type not in (None, "", "application/json"):
        return None
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None


def _number(value: Any) -> Optional[int]:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def celery_message(queue: str, position: int, body: bytes, headers: Optional[dict], content_type: Optional[str],
                   priority: Any, location: Any = None) -> QueueMessage:
    """The fields of a Celery task message (protocol 2, or 1); a message that is not Celery's
    still gets what its body and headers show."""
    headers = headers if isinstance(headers, dict) else {}
    decoded = _decoded_body(body, content_type)
    kind = (content_type or "unknown").split("/")[-1]
    if "task" in headers:  # protocol 2
        args_repr, kwargs_repr = headers.get("argsrepr"), headers.get("kwargsrepr")
        if (args_repr is None or kwargs_repr is None) and isinstance(decoded, list) and len(decoded) >= 2:
            args_repr = args_repr if args_repr is not None else _short(repr(decoded[0]))
            kwargs_repr = kwargs_repr if kwargs_repr is not None else _short(repr(decoded[1]))
        fields = headers
    else:  # protocol 1: everything in the body
        fields = decoded if isinstance(decoded, dict) else {}
        args_repr = _short(repr(fields["args"])) if "args" in fields else None
        kwargs_repr = _short(repr(fields["kwargs"])) if "kwargs" in fields else None
    not_decoded = NOT_DECODED.format(kind=kind) if decoded is None else ""
    return QueueMessage(
        queue=queue, position=position,
        id=_text(fields.get("id")), task=_text(fields.get("task")),
        args=str(args_repr) if args_repr is not None else not_decoded,
        kwargs=str(kwargs_repr) if kwargs_repr is not None else not_decoded,
        eta=_text(fields.get("eta")), expires=_text(fields.get("expires")),
        priority=_number(priority), retries=_number(fields.get("retries")),
        size=len(body), location=location)


def _text(value: Any) -> Optional[str]:
    return None if value is None else str(value)


def from_redis(raw: bytes, queue: str, position: int, key: str) -> QueueMessage:
    """A message as kombu's Redis transport keeps it (one element of the list ``key``)."""
    try:
        envelope = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        envelope = None
    if not isinstance(envelope, dict):
        return QueueMessage(queue, position, None, None, "<not a kombu message>", "", None, None, None, None,
                            len(raw), location=(key, raw))
    properties = envelope.get("properties") if isinstance(envelope.get("properties"), dict) else {}
    body = envelope.get("body", "")
    body = body.encode() if isinstance(body, str) else b""
    if properties.get("body_encoding") == "base64":
        try:
            body = base64.b64decode(body)
        except ValueError:
            pass
    return celery_message(queue, position, body, envelope.get("headers"), envelope.get("content-type"),
                          properties.get("priority"), location=(key, raw))


def redis_envelope_moved(raw: bytes, to: str) -> bytes:
    """The same message for queue ``to``: kombu restores an unacknowledged message (a worker that
    died) to the queue its delivery info names, so it must name the new one."""
    envelope = json.loads(raw)
    properties = envelope.setdefault("properties", {})
    properties["delivery_info"] = {"exchange": "", "routing_key": to}
    return json.dumps(envelope).encode()


def from_amqp(message, queue: str, position: int) -> QueueMessage:
    """A message fetched with basic_get (py-amqp's Message)."""
    properties = getattr(message, "properties", {}) or {}
    body = message.body if isinstance(message.body, bytes) else str(message.body).encode()
    return celery_message(queue, position, body, properties.get("application_headers"),
                          properties.get("content_type"), properties.get("priority"))
