"""Issue 19's alerts acceptance on a real ``celerydesk up`` (local Redis, the sample's worker).

Two rules: ``process_video`` failing, and the queue ``parked`` (no worker consumes it) holding more
than 3 messages for 2 s. A ``process_video`` of a file that does not exist fails; 5 messages are
parked. Both alerts are in ``celerydesk alerts fired --json`` within 6 s, the first naming the
failed task's id; ``up`` said both; and with the backlog unchanged neither fires twice. Stopping
``up`` stops its worker on purpose: that is not a worker gone offline.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers.alerts import workspace_with_alerts
from tests.helpers.stack import UpProcess

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
RULES = """
[[alerts]]
name = "video-failed"
when = "task-failed"
task = "process_video"

[[alerts]]
name = "parked-backlog"
when = "queue-depth"
queue = "parked"
above = 3
for = 2

[[alerts]]
name = "main-gone"
when = "worker-offline"
worker = "main@*"
for = 0
"""


def cli(*args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "celerydesk", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO)


def fired(path: Path) -> list[dict]:
    out = cli("alerts", "fired", "-w", str(path), "--json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def up(tmp_path_factory):
    path = workspace_with_alerts(tmp_path_factory.mktemp("alerts"), RULES)
    process = UpProcess(path)
    try:
        process.wait_for("stack ready", timeout=120)
        yield path, process
    finally:
        process.signal(signal.SIGTERM)
        try:
            process.finish(60)
        finally:
            process.kill_group()


def test_both_alerts_fire_within_6_s_and_once(up):
    path, process = up
    listed = cli("alerts", "list", "-w", str(path))
    assert listed.returncode == 0 and "video-failed" in listed.stdout and "parked-backlog" in listed.stdout

    first_sent = time.monotonic()
    sent = cli("call", "-w", str(path), "celerydesk.sample.tasks.process_video", "--args", '["/no/such/video.mp4"]')
    assert sent.returncode == 0, sent.stderr
    task_id = sent.stdout.strip().rsplit("[", 1)[1].rstrip("]")  # "sent NAME[ID]"
    for _ in range(5):
        parked = cli("call", "-w", str(path), "--no-check", "--queue", "parked",
                     "celerydesk.sample.tasks.notify_customers", "--args", '["parked", 0]')
        assert parked.returncode == 0, parked.stderr
    began = time.monotonic()

    seen: list[dict] = []
    while time.monotonic() - began < 6.0 and {f["rule"] for f in seen} != {"video-failed", "parked-backlog"}:
        seen = fired(path)
        time.sleep(0.2)
    took = time.monotonic() - began
    rules = [f["rule"] for f in seen]
    assert sorted(rules) == ["parked-backlog", "video-failed"], (took, seen, process.lines[-20:])
    print(f"\nboth alerts in `alerts fired --json` {took:.1f} s after the last message was sent "
          f"({time.monotonic() - first_sent:.1f} s after the failing task was)")
    failed = next(f for f in seen if f["rule"] == "video-failed")
    assert failed["task_id"] == task_id and failed["when"] == "task-failed"
    assert "FileNotFoundError" in failed["message"] and failed["at"].endswith("+00:00")
    backlog = next(f for f in seen if f["rule"] == "parked-backlog")
    assert backlog["queue"] == "parked" and backlog["task_id"] is None
    process.wait_for("alert: video-failed", timeout=10)
    process.wait_for("alert: parked-backlog", timeout=10)

    time.sleep(3)  # the backlog stays: the rule stays true, and fires no more
    assert sorted(f["rule"] for f in fired(path)) == ["parked-backlog", "video-failed"]
    since = cli("alerts", "fired", "-w", str(path), "--json", "--since", "1s")
    assert since.returncode == 0 and json.loads(since.stdout) == []


def test_a_deliberate_stop_is_not_a_worker_gone_offline(up):
    path, process = up
    process.signal(signal.SIGTERM)
    assert process.finish(60) == 0
    assert "main-gone" not in {f["rule"] for f in fired(path)}
    assert not any("alert: main-gone" in line for line in process.lines)
