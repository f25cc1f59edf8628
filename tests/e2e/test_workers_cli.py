"""``celerydesk workers`` against a real stack (``celerydesk up``, real Redis, a real prefork worker)
and a real worker started by hand: who is local and who remote, with their figures; each action
answered by the worker; ``--save`` written to the workspace and still in force after a restart.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from celerydesk.core.broker_client import BrokerClient
from celerydesk.core.workspace import load_workspace
from tests.helpers.qt_wait import wait_for
from tests.helpers.stack import UpProcess, remote_worker, write_workspace

pytestmark = pytest.mark.slow
ADD = "celerydesk.sample.tasks.add"


def celerydesk(*args, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "celerydesk", *args], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def workers_json(w: str) -> dict[str, dict]:
    listed = celerydesk("workers", "-w", w, "--json")
    assert listed.returncode == 0, listed.stderr
    return {row["name"].split("@")[0]: row for row in json.loads(listed.stdout)}


def start_up(path) -> UpProcess:
    up = UpProcess(path)
    up.wait_for("stack ready", timeout=120)
    return up


def stop_up(up: UpProcess) -> None:
    up.signal(signal.SIGTERM)
    assert up.finish(timeout=90) == 0, "\n".join(up.lines)


def test_workers_local_and_remote_their_actions_and_a_saved_size_after_a_restart(tmp_path):
    path = write_workspace(tmp_path / "ws", beat=False, flower=False, workers=[{"name": "main", "concurrency": 2}])
    w = str(path)
    up = start_up(path)
    remote = None
    try:
        url = load_workspace(path).broker_url()
        remote = remote_worker(url, tmp_path, "-c", "1", "-Q", "elsewhere")
        with BrokerClient(url) as client:
            wait_for(lambda: any(n.startswith("remote@") for n in client.ping(timeout=1.0)), 60, "the remote worker")

        rows = workers_json(w)
        main, other = rows["main"], rows["remote"]
        assert main["where"] == "local" and main["workspace_worker"] == "main" and main["pool"] == "prefork"
        assert main["concurrency"] == 2 and main["processes"] == 3 and main["queues"] == ["celery"]
        assert main["rss_bytes"] > 20e6 and isinstance(main["cpu_percent"], float)
        assert main["source"].startswith("psutil")
        assert other["where"] == "remote" and other["pid"] == remote.pid and other["queues"] == ["elsewhere"]
        assert other["rss_bytes"] is None and other["max_rss_bytes"] > 20e6
        assert other["source"].startswith("inspect stats: rusage maxrss")
        for row in (main, other):
            assert row["processed"] == 0 and row["active"] == 0 and row["reserved"] == 0 and row["scheduled"] == 0
            assert isinstance(row["uptime"], int) and len(row["load"]) == 3
        table = celerydesk("workers", "-w", w)
        assert table.stdout.split("\n")[0].split()[:4] == ["NAME", "WHERE", "POOL", "SIZE"]

        grown = celerydesk("workers", "-w", w, "scale", "main", "3", "--save")
        assert grown.returncode == 0, grown.stderr
        assert grown.stdout.splitlines()[0].endswith("pool grown from 2 to 3 processes (pool will grow)")
        assert "concurrency: 2 → 3" in grown.stdout and "concurrency = 3" in path.read_text()
        not_ours = celerydesk("workers", "-w", w, "scale", "remote", "2", "--save")
        assert not_ours.returncode == 2 and "is not a worker this workspace's running stack started" in not_ours.stderr
        assert workers_json(w)["remote"]["concurrency"] == 1  # nothing was sent

        bad = celerydesk("workers", "-w", w, "rate-limit", "main", ADD, "10/x")
        assert bad.returncode == 2 and "like 10/m" in bad.stderr and "Traceback" not in bad.stderr
        limited = celerydesk("workers", "-w", w, "rate-limit", "main", ADD, "10/m")
        assert limited.returncode == 0 and limited.stdout.strip().endswith("new rate limit set successfully")
        added = celerydesk("workers", "-w", w, "consume", "main", "extra")
        assert added.returncode == 0 and added.stdout.strip().endswith("add consumer extra"), added.stderr
        assert workers_json(w)["main"]["queues"] == ["celery", "extra"]
        dropped = celerydesk("workers", "-w", w, "cancel", "main", "extra")
        assert dropped.returncode == 0 and workers_json(w)["main"]["queues"] == ["celery"]
        none = celerydesk("workers", "-w", w, "cancel", "main", "extra")
        assert none.returncode == 2 and "does not consume from 'extra': nothing was sent" in none.stderr

        asked = celerydesk("workers", "-w", w, "shutdown", "remote")
        assert asked.returncode == 2 and "add --yes" in asked.stderr and remote.poll() is None
        down = celerydesk("workers", "-w", w, "shutdown", "remote", "--yes")
        assert down.returncode == 0 and "has shut down" in down.stdout
        assert remote.wait(30) == 0
        stop_up(up)

        up = start_up(path)  # the saved size holds after a restart
        rows = workers_json(w)
        assert list(rows) == ["main"] and rows["main"]["concurrency"] == 3 and rows["main"]["processes"] == 4
        stop_up(up)
    finally:
        up.kill_group()
        if remote is not None and remote.poll() is None:
            os.killpg(remote.pid, signal.SIGKILL)
            remote.wait(10)


def test_no_worker_answering_is_an_empty_list(redis_server, tmp_path):
    path = write_workspace(tmp_path, mode="external", broker={"url": redis_server}, beat=False, flower=False)
    listed = celerydesk("workers", "-w", str(path), "--json")
    assert listed.returncode == 0 and json.loads(listed.stdout) == []
    assert "no worker answered" in listed.stderr
    scale = celerydesk("workers", "-w", str(path), "scale", "main", "3")
    assert scale.returncode == 2 and "no worker called 'main' answers" in scale.stderr
