"""The broker client (celerydesk/core/broker_client.py) against a real redis-server, kombu's
in-process memory transport (the generic path: a passive declare, queue_purge) and a real
rabbitmq-server, what issue 18's brokers run on.

What is checked is what lands on the broker: the message's headers, the queues' lists (the
priority ones included), the task-sent events on celery's event channel, and the words of the
errors (never the password).
"""

from __future__ import annotations

import json
import time

import pytest

from celerydesk.core.broker_client import BATCH_COPIES, BrokerClient, QueueStats, SendOptions
from celerydesk.core.errors import DeskError
from celerydesk.core.ports import free_port

pytestmark = pytest.mark.slow


@pytest.fixture
def client(redis_url):
    with BrokerClient(redis_url) as client:
        yield client


class SentEvents:
    """celery's task-sent events, as a Redis broker publishes them (``/0.celeryev/task.sent``)."""

    def __init__(self, redis):
        self.pubsub = redis.pubsub(ignore_subscribe_messages=True)
        self.pubsub.psubscribe("/0.celeryev/task.*")
        self.pubsub.get_message(timeout=1)  # the subscription's confirmation

    def ids(self, settle: float = 0.5) -> list[str]:
        out, deadline = [], time.monotonic() + settle
        while time.monotonic() < deadline:
            message = self.pubsub.get_message(timeout=0.1)
            if message is not None:
                envelope = json.loads(message["data"])
                import base64

                event = json.loads(base64.b64decode(envelope["body"]))
                out.append(event["uuid"])
        self.pubsub.close()
        return out


def queued(redis, key: str) -> list[dict]:
    """The messages of one Redis list, oldest first (LPUSH puts the newest first)."""
    return [json.loads(m) for m in reversed(redis.lrange(key, 0, -1))]


def test_send_puts_one_message_with_its_options_and_says_it_was_sent(client, redis):
    events = SentEvents(redis)
    task_id = client.send("proj.tasks.add", [2, 3], {"z": 1},
                          SendOptions(queue="other", countdown=30, expires=600), task_id="fixed-id-1")
    assert task_id == "fixed-id-1"
    [message] = queued(redis, "other")
    headers = message["headers"]
    assert headers["task"] == "proj.tasks.add" and headers["id"] == "fixed-id-1"
    assert headers["eta"] and headers["expires"]
    assert headers["argsrepr"] == "[2, 3]" and headers["kwargsrepr"] == "{'z': 1}"
    assert message["content-type"] == "application/json"  # JSON only
    assert events.ids() == ["fixed-id-1"]  # the monitor shows it at once


def test_copies_arrive_once_in_order_in_batches(client, redis):
    events = SentEvents(redis)
    copies = 2 * BATCH_COPIES + 17
    batches = list(client.send_batches("proj.tasks.noop", [1], {}, SendOptions(copies=copies), sent_events=False))
    assert [len(b) for b in batches] == [BATCH_COPIES, BATCH_COPIES, 17]
    ids = [i for batch in batches for i in batch]
    assert len(set(ids)) == copies
    assert [m["headers"]["id"] for m in queued(redis, "celery")] == ids
    assert events.ids() == []  # bulk copies do not double what goes to the broker


def test_copies_with_their_sent_events_when_asked(client, redis):
    events = SentEvents(redis)
    ids = [i for batch in client.send_batches("proj.tasks.noop", options=SendOptions(copies=3)) for i in batch]
    assert sorted(events.ids()) == sorted(ids)


def test_stopping_the_iteration_stops_the_sending(client, redis):
    batches = client.send_batches("proj.tasks.noop", options=SendOptions(copies=10 * BATCH_COPIES), sent_events=False)
    first = next(batches)
    batches.close()
    assert redis.llen("celery") == len(first) == BATCH_COPIES


def spooled(folder) -> list[dict]:
    from celerydesk.core.history import sent

    return [record for path in sent.pending_files(folder) for record in sent.read_records(path)]


def test_what_is_sent_is_recorded_exactly_for_the_history(redis_url, redis, tmp_path):
    spool = tmp_path / "history-sent"
    long_text = "é" * 3000 + "THE-END"
    with BrokerClient(redis_url, sent_spool=str(spool)) as client:
        one = client.send("proj.tasks.mail", [long_text, {"n": 1}], {"to": "a@b"}, SendOptions(queue="mail"),
                          via="retry")
        ids = [i for batch in client.send_batches("proj.tasks.noop", [1], {}, SendOptions(copies=BATCH_COPIES + 3),
                                                  sent_events=False) for i in batch]
    records = spooled(spool)
    assert len(list(spool.iterdir())) == 3  # one file per send, one per batch of copies
    first = records[0]
    assert (first["id"], first["name"], first["args"], first["kwargs"], first["via"], first["queue"]) == (
        one, "proj.tasks.mail", [long_text, {"n": 1}], {"to": "a@b"}, "retry", "mail")
    assert [r["id"] for r in records[1:]] == ids and {r["via"] for r in records[1:]} == {"launch"}
    assert len(queued(redis, "mail")[0]["headers"]["argsrepr"]) < 1100  # celery's own repr of it is cut


def test_a_spool_that_cannot_be_written_never_fails_the_send(redis_url, redis, tmp_path):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    with BrokerClient(redis_url, sent_spool=str(blocked / "history-sent")) as client:
        task_id = client.send("proj.tasks.add", [1, 2], via="call")
    assert queued(redis, "celery")[0]["headers"]["id"] == task_id


def test_depths_and_purge_count_the_priority_lists(client, redis):
    client.send("proj.tasks.add", options=SendOptions(queue="work", priority=9))
    client.send("proj.tasks.add", options=SendOptions(queue="work"))
    redis.lpush("work\x06\x163", b"x", b"y")
    assert client.depths(["work", "celery", "never-used"]) == {"work": 4, "celery": 0, "never-used": 0}
    assert client.queue_stats(["work"]) == {"work": QueueStats(4, None)}  # Redis does not count consumers
    assert client.purge("work") == 4
    assert client.depths(["work"]) == {"work": 0}
    assert redis.keys("work*") == []


def test_nobody_answering_inspect_or_control_is_an_empty_answer(client):
    assert client.registered(timeout=0.3) == {}
    assert client.inspect("active", timeout=0.3) == {}
    assert client.control("ping", timeout=0.3) == []
    assert client.ping(timeout=0.3) == []
    client.revoke(["a", "b"], terminate=True)  # a broadcast: nobody needs to listen


def test_a_broker_that_does_not_answer_is_a_desk_error_without_the_password():
    url = f"redis://:s3cret-pw@127.0.0.1:{free_port()}/0"
    with BrokerClient(url, start_hint="start the stack first") as client:
        assert not client.answers(timeout=0.5)
        with pytest.raises(DeskError) as refused:
            client.require_answer()
        assert "refused the connection: nothing listens on 127.0.0.1" in str(refused.value)
        assert "redis://:***@127.0.0.1" in str(refused.value) and refused.value.hint == "start the stack first"
        for call in (lambda: client.send("proj.tasks.add"), lambda: client.depths(["celery"]),
                     lambda: client.purge("celery"), lambda: client.registered(timeout=0.3),
                     lambda: list(client.send_batches("proj.tasks.add", options=SendOptions(copies=5)))):
            with pytest.raises(DeskError) as failed:
                call()
            text = str(failed.value)
            assert "s3cret-pw" not in text and ":***@" in text, text
            assert "refused" in text.lower() and failed.value.hint.startswith("start the stack first"), text


def test_copies_lost_mid_launch_say_how_many_were_sent(tmp_path):
    from tests.helpers.redis_server import start_redis_server

    proc, url = start_redis_server(tmp_path)
    try:
        with BrokerClient(url) as client:
            batches = client.send_batches("proj.tasks.noop", options=SendOptions(copies=50 * BATCH_COPIES),
                                          sent_events=False)
            sent = len(next(batches))
            proc.kill()
            proc.wait(10)
            with pytest.raises(DeskError) as lost:
                for batch in batches:
                    sent += len(batch)
            assert f"failed after {sent} of {50 * BATCH_COPIES}" in str(lost.value)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_results_need_a_backend(client):
    with pytest.raises(DeskError, match="no result backend"):
        client.result("some-id")


def test_other_transports_count_and_purge_through_kombu():
    """The generic path, on kombu's in-process transport: a passive declare per queue."""
    with BrokerClient("memory://") as client:
        for n in range(3):
            client.send("proj.tasks.add", [n], options=SendOptions(queue="mem-q"))
        sent = [i for b in client.send_batches("proj.tasks.add", options=SendOptions(queue="mem-q", copies=250),
                                               sent_events=False) for i in b]
        assert len(sent) == 250
        assert client.queue_stats(["mem-q", "mem-unknown"]) == {"mem-q": QueueStats(253, 0),
                                                                "mem-unknown": QueueStats(0, 0)}
        assert client.purge("mem-q") == 253 and client.purge("mem-unknown") == 0
        assert client.depths(["mem-q"]) == {"mem-q": 0}


# -- RabbitMQ (the session's node, a virtual host per test: conftest's rabbitmq_url) ------------------


def test_rabbitmq_depths_consumers_and_purge(rabbitmq_url):
    with BrokerClient(rabbitmq_url) as client:
        assert client.answers()
        for n in range(5):  # parked on a queue no worker consumes
            client.send("proj.tasks.add", [n, n], options=SendOptions(queue="parked"))
        copies = [i for b in client.send_batches("proj.tasks.add", options=SendOptions(queue="parked", copies=3))
                  for i in b]
        assert len(copies) == 3
        stats = client.queue_stats(["parked", "never-declared"])
        assert stats == {"parked": QueueStats(8, 0), "never-declared": QueueStats(0, 0)}
        assert client.registered(timeout=0.3) == {}
        assert client.purge("parked") == 8 and client.purge("never-declared") == 0
        assert client.depths(["parked"]) == {"parked": 0}


def test_rabbitmq_wrong_password_is_a_desk_error_without_it(rabbitmq_url):
    url = rabbitmq_url.replace("guest:guest@", "guest:not-the-pw@")  # this vhost's URL
    with BrokerClient(url) as client:
        with pytest.raises(DeskError) as refused:
            client.depths(["celery"])
    text = str(refused.value)
    assert "not-the-pw" not in text and "amqp://guest:***@127.0.0.1" in text, text
