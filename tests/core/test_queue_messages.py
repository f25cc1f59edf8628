"""A waiting message as ``queues peek`` shows it, read from what the broker holds (no broker here:
kombu's Redis envelopes and AMQP messages made as kombu and celery make them)."""

from __future__ import annotations

import base64
import json
import pickle

from amqp import Message

from celerydesk.core.queue_messages import NOT_DECODED, from_amqp, from_redis, redis_envelope_moved


def envelope(body: bytes, headers: dict, content_type: str = "application/json", priority: int = 0) -> bytes:
    """One element of a kombu Redis list, as kombu's Redis transport writes it."""
    return json.dumps({
        "body": base64.b64encode(body).decode(), "content-encoding": "utf-8", "content-type": content_type,
        "headers": headers,
        "properties": {"correlation_id": headers.get("id"), "delivery_mode": 2, "priority": priority,
                       "delivery_info": {"exchange": "", "routing_key": "celery"}, "body_encoding": "base64",
                       "delivery_tag": "tag-1"}}).encode()


PROTOCOL_2 = {"lang": "py", "task": "proj.tasks.add", "id": "id-2", "eta": "2026-12-24T18:00:00+00:00",
              "expires": None, "retries": 3, "argsrepr": "(2, 3)", "kwargsrepr": "{'z': 1}"}


def test_protocol_2_is_read_from_the_headers():
    body = json.dumps([[2, 3], {"z": 1}, {"callbacks": None}]).encode()
    message = from_redis(envelope(body, PROTOCOL_2, priority=6), "work", 4, "work\x06\x166")
    assert message.as_json() == {
        "queue": "work", "position": 4, "id": "id-2", "task": "proj.tasks.add", "args": "(2, 3)",
        "kwargs": "{'z': 1}", "eta": "2026-12-24T18:00:00+00:00", "expires": None, "priority": 6, "retries": 3,
        "size": len(body)}
    assert message.location[0] == "work\x06\x166"  # where delete and move find it


def test_without_reprs_the_json_body_is_shown_cut_as_celery_cuts():
    headers = {k: v for k, v in PROTOCOL_2.items() if k not in ("argsrepr", "kwargsrepr")}
    body = json.dumps([["x" * 5000], {}, {}]).encode()
    message = from_redis(envelope(body, headers), "work", 0, "work")
    assert len(message.args) == 1024 and message.args.endswith("...") and message.kwargs == "{}"


def test_protocol_1_keeps_everything_in_the_body():
    body = json.dumps({"task": "proj.tasks.old", "id": "id-1", "args": [1], "kwargs": {"a": 2}, "retries": 0,
                       "eta": None}).encode()
    message = from_redis(envelope(body, {}), "celery", 0, "celery")
    assert (message.task, message.id, message.args, message.kwargs, message.retries) == \
        ("proj.tasks.old", "id-1", "[1]", "{'a': 2}", 0)


def test_a_pickled_body_is_never_decoded():
    """Unpickling runs code: a message in a queue is untrusted. The headers still say what it is."""
    class Boom:
        def __reduce__(self):
            return (exec, ("raise SystemExit('unpickled!')",))

    headers = {k: v for k, v in PROTOCOL_2.items() if k not in ("argsrepr", "kwargsrepr")}
    body = pickle.dumps(((Boom(),), {}, {}))
    message = from_redis(envelope(body, headers, content_type="application/x-python-serialize"), "celery", 0, "celery")
    assert message.id == "id-2" and message.task == "proj.tasks.add"
    assert message.args == message.kwargs == NOT_DECODED.format(kind="x-python-serialize")


def test_something_that_is_not_a_kombu_message_is_still_a_row():
    message = from_redis(b"just a string someone pushed", "celery", 2, "celery")
    assert message.id is None and message.args == "<not a kombu message>" and message.location == ("celery", b"just a string someone pushed")


def test_an_amqp_message():
    body = json.dumps([[20, 22], {}, {}]).encode()
    message = Message(body, content_type="application/json", content_encoding="utf-8",
                      application_headers=dict(PROTOCOL_2), priority=9, delivery_mode=2)
    shown = from_amqp(message, "parked", 1)
    assert (shown.id, shown.task, shown.args, shown.priority, shown.retries, shown.queue, shown.position) == \
        ("id-2", "proj.tasks.add", "(2, 3)", 9, 3, "parked", 1)


def test_a_moved_redis_message_names_its_new_queue_for_kombu_s_restore():
    """A worker that dies holding it hands it back to the queue its delivery info names."""
    raw = envelope(json.dumps([[1], {}, {}]).encode(), PROTOCOL_2)
    moved = json.loads(redis_envelope_moved(raw, "other"))
    assert moved["properties"]["delivery_info"] == {"exchange": "", "routing_key": "other"}
    original = json.loads(raw)
    assert moved["body"] == original["body"] and moved["headers"] == original["headers"]
    assert moved["properties"]["delivery_tag"] == original["properties"]["delivery_tag"]
