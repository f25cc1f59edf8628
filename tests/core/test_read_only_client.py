"""The read-only guard in the broker client (core/broker_client.py), on a real redis-server and a
real worker celerydesk did not start: every method that changes the remote stack raises
ReadOnlyEnvironment and nothing changes there (no message queued, none deleted or moved, the
worker's pool, queues, limits and revoked list as they were, the worker still running);
looking (ping, inspect, depths, the queue list, peek) still works. The same calls on an unlocked
client do change the stack, so the checks below see a change when there is one."""

from __future__ import annotations

import json

import pytest

from celerydesk.core.broker_client import BrokerClient, SendOptions
from celerydesk.core.environment import ReadOnlyEnvironment

pytestmark = pytest.mark.slow
ADD = "celerydesk.sample.tasks.add"
PARKED = "parked"  # a queue no worker consumes


@pytest.fixture
def remote(remote_stack):
    return remote_stack


@pytest.fixture
def parked(remote, tmp_path):
    """Two messages waiting on a queue no worker consumes, sent by an unlocked client; their ids."""
    with BrokerClient(remote.url) as writer:
        writer.purge(PARKED)
        ids = [writer.send(ADD, [i, i], options=SendOptions(queue=PARKED)) for i in range(2)]
    return ids


@pytest.fixture
def guarded(remote, tmp_path):
    spool = tmp_path / "sent"
    client = BrokerClient(remote.url, read_only=True, environment="staging", sent_spool=str(spool))
    client.test_spool = spool
    yield client
    client.close()


def worker_state(client: BrokerClient, node: str) -> dict:
    """What the changing control commands would change on the worker."""
    inspector = client.app.control.inspect(timeout=2.0, destination=[node])  # the test's own look

    def one(method, *args):
        return getattr(inspector, method)(*args)[node]

    stats = one("stats")
    return {"pool": stats["pool"]["max-concurrency"], "processes": len(stats["pool"]["processes"]),
            "queues": sorted(q["name"] for q in one("active_queues")),
            "limits": sorted(one("registered", "rate_limit", "time_limit", "soft_time_limit")),
            "revoked": sorted(one("revoked"))}


CHANGES = {
    "send": lambda c, ids: c.send(ADD, [1, 2], options=SendOptions(queue=PARKED)),
    "send_batches": lambda c, ids: c.send_batches(ADD, [1, 2], options=SendOptions(queue=PARKED, copies=5)),
    "revoke": lambda c, ids: c.revoke(ids[0]),
    "terminate": lambda c, ids: c.revoke(ids, terminate=True),
    "purge": lambda c, ids: c.purge(PARKED),
    "delete_message": lambda c, ids: c.delete_message(PARKED, ids[0]),
    "move_message": lambda c, ids: c.move_message(PARKED, ids[0], "elsewhere"),
    "pool_grow": lambda c, ids: c.control("pool_grow", n=2),
    "pool_shrink": lambda c, ids: c.control("pool_shrink", n=1),
    "autoscale": lambda c, ids: c.control("autoscale", max=6, min=1),
    "rate_limit": lambda c, ids: c.control("rate_limit", task_name=ADD, rate_limit="1/m"),
    "time_limit": lambda c, ids: c.control("time_limit", task_name=ADD, soft=5, hard=10),
    "add_consumer": lambda c, ids: c.control("add_consumer", queue=PARKED),
    "cancel_consumer": lambda c, ids: c.control("cancel_consumer", queue="celery"),
    "shutdown": lambda c, ids: c.control("shutdown"),
    "a command it does not know": lambda c, ids: c.control("made_up_command"),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_every_changing_method_is_refused_and_nothing_changes_on_the_stack(remote, parked, guarded, change):
    before_worker = worker_state(guarded, remote.node)
    before_queue = [m.id for m in guarded.peek(PARKED, 10)]
    with pytest.raises(ReadOnlyEnvironment) as info:
        CHANGES[change](guarded, parked)
    error = info.value
    assert error.exit_code == 2
    assert error.message.startswith("'staging' is read-only: celerydesk does not ") and "nothing was sent" in error.message
    assert "unlock" in error.hint.lower() or "read_only = false" in error.hint
    assert [m.id for m in guarded.peek(PARKED, 10)] == before_queue == parked
    assert guarded.depths(["elsewhere"]) == {"elsewhere": 0}
    assert worker_state(guarded, remote.node) == before_worker
    assert remote.worker.poll() is None  # shutdown was not sent
    assert not guarded.test_spool.exists()  # nothing recorded as sent either


def test_looking_is_allowed_while_read_only(remote, parked, guarded):
    assert guarded.ping(timeout=2.0) == [remote.node]
    assert guarded.control("stats", destination=[remote.node], timeout=2.0)  # an inspect command: allowed
    assert guarded.depths([PARKED]) == {PARKED: 2}
    listed, _note = guarded.broker_queues()
    assert listed[PARKED].messages == 2
    peeked = guarded.peek(PARKED, 5)
    assert [m.id for m in peeked] == parked and peeked[0].task == ADD
    assert guarded.depths([PARKED]) == {PARKED: 2}  # peeking on Redis takes nothing


def test_the_same_changes_on_an_unlocked_client_do_change_the_stack(remote, parked, guarded):
    """The guard, not the checks, is what keeps the stack as it was: unlocked, they see changes."""
    before = worker_state(guarded, remote.node)
    guarded.read_only = False  # what Environment ▸ Unlock… does for a window
    try:
        CHANGES["add_consumer"](guarded, parked)
        CHANGES["send"](guarded, parked)
        after = worker_state(guarded, remote.node)
        assert PARKED in after["queues"] and PARKED not in before["queues"]
        assert guarded.test_spool.exists()
    finally:
        guarded.control("cancel_consumer", queue=PARKED, destination=[remote.node], timeout=2.0)
        guarded.read_only = True


def test_the_refusal_names_the_environment_and_the_cli_hint_the_file(tmp_path):
    """workspace_client passes the workspace's environment, and the CLI says how to unlock in the file."""
    from celerydesk.cli.main import workspace_client
    from celerydesk.core.workspace import load_workspace
    from tests.helpers.remote_stack import write_watch_workspace

    path = write_watch_workspace(tmp_path, "redis://127.0.0.1:1/0", environment={"name": "prod-eu"})
    client = workspace_client(load_workspace(path))
    assert client.read_only is True
    with pytest.raises(ReadOnlyEnvironment) as info:
        client.purge("celery")  # refused before connecting: nothing listens on port 1
    assert "'prod-eu' is read-only" in info.value.message
    assert info.value.hint == f"to allow it, set read_only = false in [environment] of {path}"
    assert json.dumps(info.value.message)  # plain text
