"""``celerydesk queues`` and the sample stack on RabbitMQ, as real child processes.

The acceptance of issue 18's RabbitMQ part, on the session's real rabbitmq-server (a virtual
host of this test's): the sample stack by its external URL, ``call --wait`` answered by the
worker, messages parked on a queue no worker consumes shown, peeked and purged, nothing left
after the stop. Then the same commands on Redis, and what they refuse.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest

from celerydesk.core.broker_client import BrokerClient, SendOptions
from tests.helpers.stack import UpProcess, alive, write_workspace

pytestmark = pytest.mark.slow
ADD = "celerydesk.sample.tasks.add"


def celerydesk(*args, timeout=120, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "celerydesk", *args], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL, **kwargs)


def by_name(rows: list[dict]) -> dict[str, dict]:
    return {row["name"]: row for row in rows}


def stack_pids(up: UpProcess) -> list[int]:
    import psutil

    return [p.pid for p in psutil.Process(up.proc.pid).children(recursive=True)]


def test_the_sample_stack_on_an_external_rabbitmq(rabbitmq_node, rabbitmq_url, tmp_path):
    path = write_workspace(tmp_path, mode="external", beat=False, flower=False,
                           broker={"url": rabbitmq_url, "management_url": rabbitmq_node.management_url},
                           workers=[{"name": "main", "concurrency": 1}])
    w = str(path)
    up = UpProcess(path)
    try:
        up.wait_for("stack ready", timeout=120)
        pids = stack_pids(up)
        called = celerydesk("call", ADD, "-w", w, "--args", "[20, 22]", "--wait", "60")
        assert called.returncode == 0 and called.stdout.splitlines()[-1] == "42", called.stdout + called.stderr

        with BrokerClient(rabbitmq_url) as client:  # a plain client parks five on a queue no worker consumes
            parked = [client.send(ADD, [n, 1], options=SendOptions(queue="parked")) for n in range(5)]
        listed = celerydesk("queues", "-w", w, "--json")
        assert listed.returncode == 0, listed.stderr
        rows = by_name(json.loads(listed.stdout))
        assert rows["parked"]["messages"] == 5 and rows["parked"]["consumers"] == 0
        # Found on the broker, named by nobody (the history may have seen them sent by now, or not yet).
        assert "broker" in rows["parked"]["sources"]
        assert not {"workspace", "app", "workers"} & set(rows["parked"]["sources"])
        assert rows["celery"]["consumers"] == 1 and rows["celery"]["workers"][0].startswith("main@")
        assert {"workspace", "app", "broker", "workers"} <= set(rows["celery"]["sources"])

        peeked = celerydesk("queues", "-w", w, "peek", "parked", "-n", "3", "--json")
        assert peeked.returncode == 0, peeked.stderr
        messages = json.loads(peeked.stdout)
        assert [(m["id"], m["task"], m["args"]) for m in messages] == [(parked[n], ADD, f"[{n}, 1]") for n in range(3)]
        assert "taken and given back" in peeked.stderr

        refused = celerydesk("queues", "-w", w, "purge", "parked")  # no terminal to ask: refused
        assert refused.returncode == 2 and "add --yes" in refused.stderr
        purged = celerydesk("queues", "-w", w, "purge", "parked", "--yes")
        assert purged.returncode == 0 and purged.stdout.strip() == "purged 5 message(s) from parked"
        rows = by_name(json.loads(celerydesk("queues", "-w", w, "--json").stdout))
        assert rows["parked"]["messages"] == 0

        up.signal(signal.SIGTERM)
        assert up.finish(timeout=90) == 0, "\n".join(up.lines)
    finally:
        up.kill_group()
    assert alive(pids) == []


def test_without_its_management_api_rabbitmq_lists_what_is_named_and_says_why(rabbitmq_url, tmp_path):
    path = write_workspace(tmp_path, mode="external", broker={"url": rabbitmq_url}, beat=False, flower=False)
    with BrokerClient(rabbitmq_url) as client:
        client.send(ADD, options=SendOptions(queue="parked"))
    listed = celerydesk("queues", "-w", str(path), "--json")
    assert listed.returncode == 0, listed.stderr
    assert "parked" not in by_name(json.loads(listed.stdout))
    assert "RabbitMQ's management API" in listed.stderr and "set [broker] management_url" in listed.stderr
    shown = celerydesk("queues", "-w", str(path), "peek", "parked", "--json")  # by name, it is there
    assert shown.returncode == 0 and len(json.loads(shown.stdout)) == 1


def test_the_queue_commands_on_redis(redis_server, tmp_path):
    path = write_workspace(tmp_path, mode="external", broker={"url": redis_server}, beat=False, flower=False)
    w = str(path)
    with BrokerClient(redis_server) as client:
        ids = [client.send(ADD, [n, 2], options=SendOptions(queue="parked", priority=9 if n == 0 else None))
               for n in range(4)]
    table = celerydesk("queues", "-w", w)
    assert table.returncode == 0, table.stderr
    assert table.stdout.splitlines()[0].split() == ["QUEUE", "WAITING", "CONSUMERS", "WORKERS", "FROM"]
    assert any(line.split()[:2] == ["parked", "4"] for line in table.stdout.splitlines()), table.stdout
    peeked = json.loads(celerydesk("queues", "-w", w, "peek", "parked", "--json").stdout)
    assert [m["id"] for m in peeked] == ids[1:] + ids[:1]  # priority 9 goes last on Redis
    assert [m["priority"] for m in peeked] == [0, 0, 0, 9]

    deleted = celerydesk("queues", "-w", w, "delete", "parked", ids[1])
    assert deleted.returncode == 0 and deleted.stdout.strip() == f"deleted {ADD}[{ids[1]}] from parked"
    moved = celerydesk("queues", "-w", w, "move", "parked", ids[0], "--to", "later")
    assert moved.returncode == 0 and "to the end of later" in moved.stdout
    rows = by_name(json.loads(celerydesk("queues", "-w", w, "--json").stdout))
    assert rows["parked"]["messages"] == 2 and rows["later"]["messages"] == 1

    gone = celerydesk("queues", "-w", w, "delete", "parked", ids[1])
    assert gone.returncode == 2 and f"no message of task {ids[1]} is waiting in 'parked'" in gone.stderr
    assert "Traceback" not in gone.stderr
    bad = celerydesk("queues", "-w", w, "peek", "parked", "-n", "0")
    assert bad.returncode == 2 and "-n: must be from 1 to 1000" in bad.stderr
