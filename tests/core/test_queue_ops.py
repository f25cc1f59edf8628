"""Looking into queues and changing one message, on a real redis-server and a real rabbitmq-server.

What is checked is what the broker holds afterwards: peek takes nothing (Redis) or puts back in
order (RabbitMQ); delete and move change exactly one message; a worker consuming at the same
time never gets a message twice or loses one; a move killed halfway (SIGKILL of a real
``celerydesk queues move``) leaves every message where it was; the broker's own list of queues
(Redis's bindings and lists, RabbitMQ's management API) leaves Celery's plumbing out.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time

import pytest

from celerydesk.core.broker_client import BrokerClient, QueueStats, SendOptions
from celerydesk.core.brokers import ManagementApi
from celerydesk.core.errors import DeskError
from tests.helpers.stack import write_workspace

pytestmark = pytest.mark.slow
ADD = "proj.tasks.add"


def send(client: BrokerClient, queue: str, count: int, priority=None) -> list[str]:
    return [client.send(ADD, [n, n], {"n": n}, SendOptions(queue=queue, priority=priority)) for n in range(count)]


def drained(client: BrokerClient, queue: str) -> list[str]:
    """What a worker would get, in order: the ids, taken with the broker's own consumer API."""
    out = []
    with client.app.connection_for_read() as conn:
        simple = conn.SimpleQueue(queue, no_ack=True)
        try:
            while True:
                try:
                    out.append(simple.get(timeout=0.5).headers["id"])
                except simple.Empty:
                    return out
        finally:
            simple.close()


# -- Redis ------------------------------------------------------------------------------------------


def test_redis_peek_reads_in_delivery_order_and_takes_nothing(redis_url, redis):
    with BrokerClient(redis_url) as client:
        low = send(client, "work", 2, priority=6)  # a later priority list: delivered after
        plain = send(client, "work", 3)
        before = {key: redis.lrange(key, 0, -1) for key in redis.keys("work*")}
        shown = client.peek("work", 10)
        assert [m.id for m in shown] == plain + low
        assert [m.position for m in shown] == list(range(5)) and [m.priority for m in shown] == [0, 0, 0, 6, 6]
        assert (shown[0].task, shown[0].args, shown[0].kwargs) == (ADD, "[0, 0]", "{'n': 0}")
        assert [m.id for m in client.peek("work", 2)] == plain[:2]
        assert {key: redis.lrange(key, 0, -1) for key in redis.keys("work*")} == before
        assert drained(client, "work") == plain + low


def test_redis_lists_its_queues_without_celery_s_plumbing(redis_url, redis):
    with BrokerClient(redis_url) as client:
        send(client, "parked", 5)
        send(client, "only-priority", 1, priority=9)
        raw = redis.lrange("parked", 0, 0)[0]
        redis.lpush("orphan", raw)  # a message on a list nothing declared
        redis.lpush("app:recent-users", b"alice")  # the app's own list, not a queue
        redis.lpush("celeryev.abc", raw)
        listed, note = client.broker_queues()
    assert note is None
    assert listed == {"parked": QueueStats(5), "only-priority": QueueStats(1), "orphan": QueueStats(1)}


def test_redis_delete_and_move_change_one_message(redis_url, redis):
    with BrokerClient(redis_url) as client:
        ids = send(client, "src", 4)
        send(client, "dst", 1)
        deleted = client.delete_message("src", ids[1])
        assert (deleted.id, deleted.queue, deleted.position) == (ids[1], "src", 1)
        moved = client.move_message("src", ids[2], "dst")
        assert moved.id == ids[2]
        assert [m.id for m in client.peek("src", 10)] == [ids[0], ids[3]]
        assert [m.id for m in client.peek("dst", 10)][-1] == ids[2]  # at the end of the other queue
        assert json.loads(redis.lindex("dst", 0))["properties"]["delivery_info"]["routing_key"] == "dst"
        with pytest.raises(DeskError, match=f"no message of task {ids[1]} is waiting in 'src'"):
            client.delete_message("src", ids[1])
        with pytest.raises(DeskError, match="in 'src' already"):
            client.move_message("src", ids[0], "src")
        assert client.depths(["src", "dst"]) == {"src": 2, "dst": 2}


def _race(client: BrokerClient, ids: list[str], to: str) -> tuple[list[str], set[str]]:
    """A worker-like consumer takes from ``race``, one message at a time with a pause (a task's
    run) before it acknowledges it, while ``ids`` are moved to ``to`` by id, the last first (so most are still there)."""
    taken: list[str] = []
    done = threading.Event()

    def consume() -> None:
        with BrokerClient(client.url) as other, other.app.connection_for_read() as conn:
            simple = conn.SimpleQueue("race", no_ack=False)
            simple.consumer.qos(prefetch_count=1)  # as a worker: one at a time, acknowledged after
            try:
                while not done.is_set():
                    try:
                        message = simple.get(timeout=0.2)
                    except simple.Empty:
                        continue
                    time.sleep(0.003)
                    taken.append(message.headers["id"])
                    message.ack()
            finally:
                simple.close()

    consumer = threading.Thread(target=consume)
    consumer.start()
    moved = set()
    try:
        for task_id in reversed(ids):
            try:
                client.move_message("race", task_id, to)
                moved.add(task_id)
            except DeskError as exc:  # the consumer had it first
                assert "is waiting in 'race'" in exc.message, exc
    finally:
        done.set()
        consumer.join(60)
    taken.extend(drained(client, "race"))
    return taken, moved


def test_redis_a_move_racing_a_consumer_loses_and_doubles_nothing(redis_url, redis):
    with BrokerClient(redis_url) as client:
        ids = send(client, "race", 600)
        taken, moved = _race(client, ids[::3], "elsewhere")
        landed = drained(client, "elsewhere")
    assert sorted(landed) == sorted(moved) and moved  # every move landed, once
    assert sorted(taken + landed) == sorted(ids)  # each message exactly once, none lost
    assert len(taken) > len(ids) - len(ids[::3])  # the consumer took some of those asked to move


# -- RabbitMQ (the session's node, a virtual host per test) -----------------------------------------


def api(node) -> ManagementApi:
    return ManagementApi(node.management_url, "guest", "guest")


def test_rabbitmq_peek_gives_back_in_order_marked_redelivered(rabbitmq_url):
    with BrokerClient(rabbitmq_url) as client:
        ids = send(client, "parked", 6)
        assert [m.id for m in client.peek("parked", 4)] == ids[:4]
        assert [m.id for m in client.peek("parked", 10)] == ids
        assert client.queue_stats(["parked"]) == {"parked": QueueStats(6, 0)}
        with client.app.connection_for_read() as conn:
            message = conn.default_channel.basic_get(queue="parked", no_ack=True)
            assert message.delivery_info["redelivered"] is True  # what peeking does to a message
        assert drained(client, "parked") == ids[1:]
        with pytest.raises(DeskError, match="there is no queue named 'nowhere'"):
            client.peek("nowhere")


def test_rabbitmq_delete_and_move_change_one_message(rabbitmq_url):
    with BrokerClient(rabbitmq_url) as client:
        ids = send(client, "src", 5)
        send(client, "dst", 1)
        assert client.delete_message("src", ids[1]).id == ids[1]
        moved = client.move_message("src", ids[3], "dst")
        assert (moved.id, moved.task, moved.args) == (ids[3], ADD, "[3, 3]")
        assert [m.id for m in client.peek("src", 10)] == [ids[0], ids[2], ids[4]]
        assert [m.id for m in client.peek("dst", 10)][-1] == ids[3]
        with pytest.raises(DeskError, match="no queue named 'nowhere'"):
            client.move_message("src", ids[0], "nowhere")  # the copy would be dropped: refused
        with pytest.raises(DeskError, match=f"no message of task {ids[1]} is waiting"):
            client.delete_message("src", ids[1])
        assert client.queue_stats(["src", "dst"]) == {"src": QueueStats(3, 0), "dst": QueueStats(2, 0)}
        assert drained(client, "src") == [ids[0], ids[2], ids[4]]


def test_rabbitmq_a_move_racing_a_consumer_loses_and_doubles_nothing(rabbitmq_url):
    with BrokerClient(rabbitmq_url) as client:
        ids = send(client, "race", 300)
        client.send(ADD, options=SendOptions(queue="elsewhere"))  # declared, as a worker's queue is
        drained(client, "elsewhere")
        taken, moved = _race(client, ids[::3], "elsewhere")
        landed = drained(client, "elsewhere")
    assert sorted(landed) == sorted(moved) and moved
    assert sorted(taken + landed) == sorted(ids)
    assert len(taken) > len(ids) - len(ids[::3])


def test_rabbitmq_counts_reuse_one_connection_and_reconnect_once_it_is_closed(rabbitmq_node, rabbitmq_url):
    """The window counts every two seconds: over one kept connection, not one each (RabbitMQ logs
    three lines per connection). Closed by the broker, it is made again at the next call."""
    from urllib.parse import quote

    from celerydesk.core.rabbitmq_api import vhost_of

    vhost = vhost_of(rabbitmq_url)
    with BrokerClient(rabbitmq_url) as sender:
        send(sender, "counted", 2)
    with BrokerClient(rabbitmq_url) as client:
        before = rabbitmq_node.logins(vhost)
        for _ in range(6):
            assert client.queue_stats(["counted"])["counted"].messages == 2
        assert rabbitmq_node.logins(vhost) - before == 1
        for connection in rabbitmq_node.api("GET", f"/vhosts/{quote(vhost, safe='')}/connections"):
            try:  # the broker closes it (connection_forced); the sender's may be gone already
                rabbitmq_node.api("DELETE", f"/connections/{quote(connection['name'], safe='')}")
            except OSError:
                pass
        failures = 0
        for _ in range(2):
            try:
                assert client.queue_stats(["counted"])["counted"].messages == 2
            except DeskError:
                failures += 1
        assert failures <= 1 and client.queue_stats(["counted"])["counted"].messages == 2


def test_rabbitmq_lists_its_queues_through_the_management_api(rabbitmq_node, rabbitmq_url):
    with BrokerClient(rabbitmq_url, management=api(rabbitmq_node)) as client:
        send(client, "parked", 5)
        client.ping(timeout=0.2)  # celery's reply (pidbox) queue: plumbing, not listed
        listed, note = client.broker_queues()  # counted at once, not after the API's 5 s statistics
    assert note is None and listed == {"parked": QueueStats(5, 0)}
    with BrokerClient(rabbitmq_url) as client:
        assert client.broker_queues() == ({}, "RabbitMQ's management API is off: only the queues named by the "
                                              "workspace, the app and the workers are shown")
    wrong = ManagementApi(rabbitmq_node.management_url, "guest", "not-it")
    with BrokerClient(rabbitmq_url, management=wrong) as client:
        listed, note = client.broker_queues()
    assert listed == {} and "refused the credentials (401)" in note and "not-it" not in note


def test_rabbitmq_a_move_killed_halfway_leaves_every_message_in_place(rabbitmq_url, tmp_path):
    """``celerydesk queues move`` SIGKILLed while it holds thousands of messages (a transaction
    not yet committed): the broker puts them all back, in order, and nothing reaches the other queue."""
    with BrokerClient(rabbitmq_url) as client:
        client.send(ADD, options=SendOptions(queue="other"))
        drained(client, "other")
        ids = [i for batch in client.send_batches(ADD, [1, 2], options=SendOptions(queue="big", copies=12000),
                                                   sent_events=False) for i in batch]
        path = write_workspace(tmp_path, mode="external", broker={"url": rabbitmq_url}, beat=False, flower=False)
        mover = subprocess.Popen([sys.executable, "-m", "celerydesk", "queues", "-w", str(path), "move", "big",
                                  ids[-1], "--to", "other"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 60
            while client.queue_stats(["big"])["big"].messages > 12000 - 2000:  # it holds 2,000 now
                assert mover.poll() is None, mover.communicate()
                assert time.monotonic() < deadline, "the mover never took any message"
                time.sleep(0.02)
            mover.send_signal(signal.SIGKILL)
            mover.wait(10)
        finally:
            if mover.poll() is None:
                mover.kill()
        deadline = time.monotonic() + 30
        while client.queue_stats(["big"])["big"].messages != 12000:
            assert time.monotonic() < deadline, client.queue_stats(["big", "other"])
            time.sleep(0.1)
        assert client.queue_stats(["other"]) == {"other": QueueStats(0, 0)}
        assert [m.id for m in client.peek("big", 5)] == ids[:5]
        assert mover.returncode == -signal.SIGKILL
