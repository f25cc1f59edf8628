"""The launcher's N copies against a real redis-server (celerydesk/services/launcher.py, sending
through core/broker_client.py's ``send_batches``).

Copies go in batches of publishes (one Redis pipeline per ``BATCH_COPIES``): every copy must
still arrive once, in order, with its options (queue, priority); a cancelled launch keeps what it
sent; a broker that goes away mid-launch leaves ``Launch.ids`` holding only copies that are in
the queue, and says how many.
"""

from __future__ import annotations

import json
import signal

import pytest

from celerydesk.core.broker_client import BATCH_COPIES, BrokerClient, SendOptions
from celerydesk.services.broker import BrokerService
from celerydesk.services.launcher import Launcher
from tests.helpers.redis_server import start_redis_server

pytestmark = pytest.mark.slow
NAME = "tests.noop"


@pytest.fixture
def redis_url(tmp_path):
    import redis

    proc, url = start_redis_server(tmp_path)
    client = redis.Redis.from_url(url)
    yield url, client, proc
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)


def send(qtbot, launcher: Launcher, copies: int, **options):
    with qtbot.waitSignal(launcher.finished, timeout=120000) as finished:
        launcher.send(NAME, [1, "two"], {"three": 3}, SendOptions(copies=copies, **options))
    return finished.args[0]


def queued_ids(client, queue: str) -> list[str]:
    # LPUSH puts the newest first: reversed, the order they were sent in.
    return [json.loads(m)["headers"]["id"] for m in reversed(client.lrange(queue, 0, -1))]


def test_every_copy_arrives_once_in_order(qtbot, redis_url, tmp_path):
    from celerydesk.core.history import sent

    url, client, _proc = redis_url
    spool = tmp_path / "history-sent"
    launcher = Launcher(BrokerService(BrokerClient(url, sent_spool=str(spool))))
    copies = 2 * BATCH_COPIES + 17  # whole batches and a part of one
    progress = []
    launcher.progress.connect(lambda sent, total: progress.append((sent, total)))
    launch = send(qtbot, launcher, copies)
    assert launch.ok and len(launch.ids) == len(set(launch.ids)) == copies
    assert queued_ids(client, "celery") == launch.ids
    body = json.loads(client.lindex("celery", 0))
    assert body["headers"]["task"] == NAME
    assert progress[-1] == (copies, copies)
    # Each batch is recorded for the history, with the exact arguments, as launched from the form.
    records = [r for path in sent.pending_files(spool) for r in sent.read_records(path)]
    assert [r["id"] for r in records] == launch.ids
    assert {(r["via"], r["name"], str(r["args"]), str(r["kwargs"])) for r in records} == {
        ("launch", NAME, "[1, 'two']", "{'three': 3}")}
    launcher.deleteLater()


def test_options_reach_every_copy(qtbot, redis_url):
    url, client, _proc = redis_url
    launcher = Launcher(BrokerService(BrokerClient(url)))
    launch = send(qtbot, launcher, 30, queue="other", priority=3)
    assert launch.ok and client.llen("celery") == 0
    priority_lists = [key.decode() for key in client.keys("other*")]
    assert priority_lists, "nothing reached the queue"
    ids = [i for key in priority_lists for i in queued_ids(client, key)]
    assert sorted(ids) == sorted(launch.ids)
    launcher.deleteLater()


def test_a_cancelled_launch_keeps_what_it_sent(qtbot, redis_url):
    url, client, _proc = redis_url
    launcher = Launcher(BrokerService(BrokerClient(url)))
    launcher.progress.connect(lambda sent, total: launcher.cancel())
    launch = send(qtbot, launcher, 50 * BATCH_COPIES)
    assert launch.error and launch.error.startswith("cancelled after")
    assert 0 < len(launch.ids) < 50 * BATCH_COPIES
    assert queued_ids(client, "celery") == launch.ids
    launcher.deleteLater()


def test_a_broker_lost_mid_launch_leaves_only_queued_ids(qtbot, redis_url):
    url, client, proc = redis_url
    launcher = Launcher(BrokerService(BrokerClient(url)))
    sent_before = []

    def kill_broker(sent, _total):
        if not sent_before:
            sent_before.append(sent)
            queued = client.llen("celery")
            sent_before.append(queued)
            proc.kill()

    launcher.progress.connect(kill_broker)
    launch = send(qtbot, launcher, 200 * BATCH_COPIES)
    assert launch.error and "failed after" in launch.error
    assert len(launch.ids) < 200 * BATCH_COPIES
    assert len(launch.ids) <= sent_before[1] + BATCH_COPIES  # not more than could be in the queue
    assert f"after {len(launch.ids)} of" in launch.error
    launcher.deleteLater()
