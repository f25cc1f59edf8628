"""Issue 17's acceptance on a real ``celerydesk up`` (local Redis, the sample's worker): the history
outlives the stack, finds a long argument by its end, and a retry sends exactly what ran.

Two tasks with a 3,000-character argument: one sent with ``celerydesk call``, one by a plain
celery client (as a web app would: celery cuts its events' repr at 1,024 characters, and the
sample app keeps arguments in its result backend, ``result_extended``). After ``up`` is stopped
and started again both are in ``history --json``, SUCCESS, with the whole argument; ``--search``
on its last characters finds each; ``retry`` of each runs the whole argument again. A task whose
arguments cannot be known (cut, and no backend keeps them) is refused with exit 2 and the
reason, and nothing is sent. ``revoke`` revokes a waiting task.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers.stack import UpProcess, write_workspace

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
NOTIFY = "celerydesk.sample.tasks.notify_customers"
PLAIN = """
import sys
from celery import Celery
app = Celery(broker=sys.argv[1])
app.conf.task_send_sent_event = sys.argv[4:] == ["--sent-event"]
print(app.send_task(sys.argv[2], args=[sys.argv[3], 0]).id)
"""


def cli(*args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "celerydesk", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO)


def history(path: Path, *args: str) -> list[dict]:
    out = cli("history", "-w", str(path), "--json", "--limit", "500", *args)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def wait_until(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout:g} s: {what}")


def by_id(path: Path, task_id: str) -> dict:
    return next((t for t in history(path) if t["id"] == task_id), {})


def backend(url: str, task_id: str) -> dict:
    import redis

    client = redis.Redis.from_url(url)
    try:
        raw = client.get(f"celery-task-meta-{task_id}")
        return json.loads(raw) if raw else {}
    finally:
        client.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """{"path", "up", "url"}; a test that restarts `up` puts the new one in it, which is stopped at the end."""
    path = write_workspace(tmp_path_factory.mktemp("acceptance"), beat=False, flower=False)
    running = {"path": path, "up": UpProcess(path)}
    try:
        running["up"].wait_for("stack ready", timeout=120)
        lines = running["up"].lines
        assert any(line.startswith("history: recording tasks in ") for line in lines), lines
        running["url"] = next(line for line in lines if line.startswith("broker: local at ")).split(" at ")[1]
        yield running
    finally:
        running["up"].signal(signal.SIGTERM)
        try:
            running["up"].finish(60)
        finally:
            running["up"].kill_group()


def test_two_long_arguments_outlive_a_restart_are_found_and_retried_exactly(stack):
    path, up, url = stack["path"], stack["up"], stack["url"]
    by_call, by_plain = "c" * 2990 + "TAIL-CALL1", "p" * 2990 + "TAIL-PLAIN"
    sent = cli("call", NOTIFY, "-w", str(path), "--args", json.dumps([by_call, 0]), "--wait", "60")
    assert sent.returncode == 0, sent.stderr
    call_id = sent.stdout.split("[", 1)[1].split("]", 1)[0]
    plain_id = subprocess.run([sys.executable, "-c", PLAIN, url, NOTIFY, by_plain], capture_output=True, text=True,
                              timeout=60, check=True).stdout.strip()
    wait_until(lambda: by_id(path, plain_id).get("args_json"), 30, "the plain task's arguments from the backend")

    up.signal(signal.SIGTERM)
    assert up.finish(90) == 0
    up = stack["up"] = UpProcess(path)
    up.wait_for("stack ready", timeout=120)

    tasks = {t["id"]: t for t in history(path)}
    for task_id, argument, sent_by in ((call_id, by_call, "call"), (plain_id, by_plain, None)):
        task = tasks[task_id]
        assert task["state"] == "SUCCESS" and task["sent_by"] == sent_by
        assert task["args_json"] == [argument, 0]  # all 3,000 characters
        assert len(task["args"]) < 1100 and task["args"].endswith("...', ...]")  # celery's repr: cut
        for key in ("id", "name", "kwargs", "result", "exception", "worker", "queue", "sent_at", "received_at",
                    "started_at", "finished_at", "runtime", "retries", "parent_id", "root_id"):
            assert key in task
    for tail, task_id in (("TAIL-CALL1", call_id), ("AIL-PLAIN", plain_id)):
        assert [t["id"] for t in history(path, "--search", tail)] == [task_id]

    for task_id, argument in ((call_id, by_call), (plain_id, by_plain)):
        retried = cli("retry", task_id[:8], "-w", str(path), "--wait", "60")
        assert retried.returncode == 0, retried.stderr
        new_id, result = retried.stdout.splitlines()[:2]
        assert result.startswith("Sent")  # --wait prints the event's repr of the result, which celery cuts
        assert backend(url, new_id)["args"] == [argument, 0]  # what the worker ran: all of it
        assert backend(url, new_id)["result"] == f"Sent {argument!r} to 10000 customers"
        assert "with its exact arguments" in retried.stderr


def test_a_retry_that_cannot_be_exact_sends_nothing_and_says_why(stack):
    path, url = stack["path"], stack["url"]
    # Nothing runs it (no worker knows the name), so no result backend keeps its arguments; its
    # sender's task-sent event gives the history its name and celery's cut repr of them.
    task_id = subprocess.run([sys.executable, "-c", PLAIN, url, "celerydesk.sample.tasks.nobody_runs_this", "q" * 3000,
                              "--sent-event"], capture_output=True, text=True, timeout=60, check=True).stdout.strip()
    wait_until(lambda: by_id(path, task_id), 30, "the task in the history")
    before = len(history(path))
    refused = cli("retry", task_id, "-w", str(path))
    assert refused.returncode == 2 and refused.stdout == ""
    assert "cannot be sent again exactly: celery cut its arguments' repr at 1,024 characters" in refused.stderr
    assert "result_extended = True" in refused.stderr and "Traceback" not in refused.stderr
    time.sleep(1.5)  # anything sent would be in the history by now
    assert len(history(path)) == before


def test_revoke_a_waiting_task(stack):
    path = stack["path"]
    sent = cli("call", "celerydesk.sample.tasks.add", "-w", str(path), "--args", "[1, 2]", "--countdown", "5")
    task_id = sent.stdout.split("[", 1)[1].split("]", 1)[0]
    wait_until(lambda: by_id(path, task_id).get("state") == "RECEIVED", 30, "the worker to hold it")
    revoked = cli("revoke", task_id[:8], "-w", str(path))
    assert revoked.returncode == 0 and revoked.stdout.strip() == f"revoked {task_id}", revoked.stderr
    wait_until(lambda: by_id(path, task_id).get("state") == "REVOKED", 30, "the task revoked")
    unknown = cli("revoke", "zz", "-w", str(path))
    assert unknown.returncode == 2 and "no task 'zz' in the history" in unknown.stderr
