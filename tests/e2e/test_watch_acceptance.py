"""Issue 18's watch-only acceptance, with real processes: a stack started by hand (redis-server and
the sample's worker named ``remote@<host>``), watched by ``celerydesk watch`` with a read-only
workspace. 50 tasks sent by a plain celery client are in ``history --json``, SUCCESS, on
``remote@…``; ``call`` and ``queues purge`` exit 2 and nothing runs (the queues and the workers
as they were); SIGTERM ends ``watch`` with exit 0 and the remote worker still runs. A watch
whose broker cannot be reached says so, keeps trying, and still exits 0 on SIGINT."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from celerydesk.core.broker_client import BrokerClient, SendOptions
from celerydesk.core.ports import free_port
from tests.e2e.test_history_acceptance import cli, history, wait_until
from tests.helpers.remote_stack import write_watch_workspace
from tests.helpers.stack import ChildProcess

pytestmark = pytest.mark.slow
ADD = "celerydesk.sample.tasks.add"
PLAIN = """
import sys
from celery import Celery
app = Celery(broker=sys.argv[1])
with app.producer_or_acquire() as producer:
    for i in range(int(sys.argv[2])):
        app.send_task("celerydesk.sample.tasks.add", args=[i, i], producer=producer)
"""


def successes(path: Path, count: int) -> list[dict]:
    """The SUCCESS tasks of the history once there are ``count`` of them (else [])."""
    found = [t for t in history(path) if t["state"] == "SUCCESS"]
    return found if len(found) >= count else []


def test_watch_records_a_stack_it_did_not_start_and_changes_nothing(remote_stack, tmp_path):
    remote = remote_stack
    path = write_watch_workspace(tmp_path / "staging", remote.url, environment={"name": "staging"})
    with BrokerClient(remote.url) as client:
        client.send(ADD, [0, 0], options=SendOptions(queue="parked"))  # waits on a queue no worker reads
    watch = ChildProcess([sys.executable, "-m", "celerydesk", "watch", "-w", str(path)])
    try:
        watch.wait_for("watching staging (read-only)", timeout=30)
        watch.wait_for("connected: recording", timeout=30)
        subprocess.run([sys.executable, "-c", PLAIN, remote.url, "50"], check=True, timeout=60)
        done = wait_until(lambda: successes(path, 50), 60, "50 tasks in the history")
        assert len(done) == 50 and {t["worker"] for t in done} == {remote.node}
        assert remote.node.startswith("remote@") and {t["name"] for t in done} == {ADD}

        with BrokerClient(remote.url) as client:
            before = (client.depths(["celery", "parked"]), client.ping(timeout=1.0))
        call = cli("call", ADD, "--args", "[1, 2]", "-w", str(path))
        purge = cli("queues", "purge", "parked", "--yes", "-w", str(path))
        for out, action in ((call, f"send {ADD}"), (purge, "purge parked")):
            assert out.returncode == 2, out.stderr
            assert out.stderr.startswith(f"celerydesk: 'staging' is read-only: celerydesk does not {action} there "
                                         "(nothing was sent)")
            assert f"read_only = false in [environment] of {path}" in out.stderr and "Traceback" not in out.stderr
        time.sleep(1.0)  # anything sent would have run by now
        with BrokerClient(remote.url) as client:
            assert (client.depths(["celery", "parked"]), client.ping(timeout=1.0)) == before
            assert before[0] == {"celery": 0, "parked": 1} and before[1] == [remote.node]
        assert len(history(path)) == 50  # nothing ran
    finally:
        watch.signal(signal.SIGTERM)
        code = watch.finish(30)
        watch.kill_group()
    assert code == 0, watch.lines
    assert watch.lines[-1] == "stopped watching"
    assert remote.worker.poll() is None  # the worker celerydesk did not start still runs
    with BrokerClient(remote.url) as client:
        assert client.ping(timeout=2.0) == [remote.node]


def test_watch_keeps_trying_a_broker_it_cannot_reach_and_exits_0_on_sigint(tmp_path):
    path = write_watch_workspace(tmp_path / "away", f"redis://127.0.0.1:{free_port()}/0")
    watch = ChildProcess([sys.executable, "-m", "celerydesk", "watch", "-w", str(path)])
    try:
        line = watch.wait_for("cannot reach the broker", timeout=30)
        assert "nothing listens on 127.0.0.1" in line and "retrying every second (Ctrl-C stops)" in line
        time.sleep(2)
        assert watch.proc.poll() is None  # still trying
        assert sum("cannot reach the broker" in x for x in watch.lines) == 1  # said once, not every second
    finally:
        watch.signal(signal.SIGINT)
        code = watch.finish(30)
        watch.kill_group()
    assert code == 0 and watch.lines[-1] == "stopped watching"


def test_schedules_in_the_stacks_own_store_are_not_changed_in_a_read_only_environment(tmp_path):
    """RedBeat's Redis and django-celery-beat's database belong to the watched stack."""
    path = write_watch_workspace(tmp_path / "prod", f"redis://127.0.0.1:{free_port()}/0", environment={"name": "prod"})
    for source in ("redbeat", "database"):
        out = cli("schedules", "disable", "nightly", "--source", source, "-w", str(path))
        assert out.returncode == 2, out.stderr
        assert out.stderr.startswith("celerydesk: 'prod' is read-only: celerydesk does not change schedules in ")
