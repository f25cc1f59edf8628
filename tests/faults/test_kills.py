"""Fault injection on a running `celerydesk up`: a second `up` (and `gui --start`), SIGKILL of the broker, a worker,
beat and Flower with tasks queued, SIGSTOP/SIGCONT of a worker, and a stop while a worker is
stopped. One stack for the module (starting one is the expensive part); each test leaves it
running as it found it, the last one stops it.

What must hold each time: every task sent is done in the end (nothing queued is lost), a
killed service is back with a new pid, the stack stops within its timeouts with nothing left
running, and what went wrong is said in words.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from types import SimpleNamespace

import pytest

from celerydesk.core.workspace import load_workspace
from celerydesk.core.workspace_edit import WorkspaceDocument
from tests.helpers.faults import client, left_running, started_pids, unfinished, wait_until
from tests.helpers.stack import UpProcess, write_workspace

pytestmark = pytest.mark.slow

NOTIFY = "celerydesk.sample.tasks.notify_customers"
WORKER_STOP_TIMEOUT = 5


def current_pid(up: UpProcess, label: str) -> int:
    for line in reversed(up.lines):
        if line.startswith(f"{label}: RUNNING (pid "):
            return int(line.split("(pid ")[1].rstrip(")"))
    raise AssertionError(f"{label} never ran:\n" + "\n".join(up.lines))


def back_with_a_new_pid(up: UpProcess, label: str, old: int, timeout: float = 60) -> int:
    return wait_until(lambda: (pid := current_pid(up, label)) != old and pid, timeout,
                      f"{label} RUNNING again with a new pid; up said:\n" + "\n".join(up.lines[-15:]))


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    folder = tmp_path_factory.mktemp("faults")
    # A short visibility timeout brings a killed worker's reserved messages back within the test.
    path = write_workspace(folder, workers=[{"name": "main", "concurrency": 2, "stop_timeout": WORKER_STOP_TIMEOUT}],
                           project={"env": {"SAMPLE_VISIBILITY_TIMEOUT": "3"}})
    doc = WorkspaceDocument.load(path)
    doc.add_schedule("every-second", NOTIFY, every=1.0, args=["from beat", 0], kwargs={})
    doc.save()
    ws = load_workspace(path)
    up = UpProcess(path)
    try:
        up.wait_for("stack ready", timeout=120)
        app = client(ws.broker_url())
        yield SimpleNamespace(up=up, ws=ws, path=path, app=app)
        app.close()
    finally:
        up.kill_group()


def busy_worker(app) -> list[str]:
    """Two 3 s tasks, both running: the worker (2 processes, prefetch 1, acks late) fetches no
    more until one ends, so a kill now cannot fall between a fetch and its bookkeeping."""
    ids = [app.send_task(NOTIFY, args=[f"long {i}"], kwargs={"delay": 3}).id for i in range(2)]
    wait_until(lambda: all(app.AsyncResult(i).state == "STARTED" for i in ids), 30, "two long tasks running")
    return ids


def all_done(app, ids: list[str], timeout: float = 120) -> None:
    try:
        wait_until(lambda: not unfinished(app, ids), timeout, "every task done", every=0.5)
    except AssertionError:
        raise AssertionError(f"not done after {timeout:g} s: {unfinished(app, ids)}") from None


def test_a_second_up_is_refused_at_once(stack):
    second = UpProcess(stack.path)
    try:
        assert second.finish(timeout=30) == 3
    finally:
        second.kill_group()
    output = "\n".join(second.lines)
    assert f"this workspace's stack is already run by celerydesk (pid {stack.up.proc.pid})" in output
    assert "→" in output and "Traceback" not in output
    assert "stack ready" not in output
    # The window asked to start it is refused the same way, before a window opens.
    window = subprocess.run([sys.executable, "-m", "celerydesk", "gui", "-w", str(stack.path), "--start"],
                            capture_output=True, text=True, timeout=60, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert window.returncode == 3 and "already run by celerydesk" in window.stderr, window.stderr


def test_sigkill_of_the_broker_loses_no_queued_task(stack):
    import redis

    app = stack.app
    ids = busy_worker(app) + [app.send_task(NOTIFY, args=[f"queued {i}"], kwargs={"delay": 0}).id for i in range(10)]
    assert redis.Redis.from_url(stack.ws.broker_url()).llen("celery") >= 10  # waiting in the broker
    time.sleep(1.5)  # Redis writes its AOF to disk every second: what is older survives a SIGKILL
    old = current_pid(stack.up, "broker")
    os.kill(old, signal.SIGKILL)
    back_with_a_new_pid(stack.up, "broker", old)
    all_done(app, ids)


def test_sigkill_of_a_worker_loses_no_task(stack):
    app = stack.app
    ids = busy_worker(app) + [app.send_task(NOTIFY, args=[f"queued {i}"], kwargs={"delay": 0}).id for i in range(10)]
    old = current_pid(stack.up, "worker main")
    os.kill(old, signal.SIGKILL)
    back_with_a_new_pid(stack.up, "worker main", old)
    all_done(app, ids)  # the two it was running come back after their visibility timeout
    assert "worker main: EXITED (was killed by a signal)" in stack.up.lines


def test_sigkill_of_beat_and_flower(stack):
    beat_log = stack.ws.runtime_dir / "logs" / "beat.log"
    sent_before = beat_log.read_text().count("Sending due task every-second")
    old_beat, old_flower = current_pid(stack.up, "beat"), current_pid(stack.up, "flower")
    os.kill(old_beat, signal.SIGKILL)
    os.kill(old_flower, signal.SIGKILL)
    back_with_a_new_pid(stack.up, "beat", old_beat)
    back_with_a_new_pid(stack.up, "flower", old_flower)
    port = stack.ws.flower.port
    wait_until(lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/healthcheck", timeout=5).status == 200,
               30, "Flower answering again")
    # The restarted beat sends the schedule again.
    wait_until(lambda: beat_log.read_text().count("Sending due task every-second") > sent_before + 1, 30,
               "beat sending again")


def test_sigstop_and_sigcont_of_a_worker(stack):
    app = stack.app
    worker = current_pid(stack.up, "worker main")
    seen = len(stack.up.lines)
    os.killpg(worker, signal.SIGSTOP)  # the main process and its pool
    try:
        ids = [app.send_task(NOTIFY, args=[f"while stopped {i}"], kwargs={"delay": 0}).id for i in range(5)]
        time.sleep(3)
        assert len(unfinished(app, ids)) == 5  # nobody ran them
    finally:
        os.killpg(worker, signal.SIGCONT)
    all_done(app, ids, timeout=60)
    assert not [line for line in stack.up.lines[seen:] if line.startswith("worker main:")], \
        "a stopped worker is not taken for a dead one"


def test_sigterm_with_a_stopped_worker_kills_it_after_its_stop_timeout(stack):
    """The last test: it stops the stack. SIGTERM cannot reach a stopped worker; its group is
    killed after its stop timeout, `up` says so and exits 1, and nothing is left."""
    pids = started_pids(stack.up.lines)
    worker = current_pid(stack.up, "worker main")
    os.killpg(worker, signal.SIGSTOP)
    stack.up.signal(signal.SIGTERM)
    # beat and Flower (10 s), the worker (5 s), the broker (10 s), and some slack for a busy machine
    code = stack.up.finish(timeout=90)
    output = "\n".join(stack.up.lines)
    assert code == 1, output
    assert f"worker main did not stop within its {WORKER_STOP_TIMEOUT} s stop timeout: its process group was killed" \
        in output
    assert "error: the stop was not clean" in output
    assert "Traceback" not in output
    assert left_running(pids) == []
