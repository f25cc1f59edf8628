"""Live schedules on a real stack: local redis-server, the sample worker and beat, no mocks.

Covered: a schedule appended to celerydesk.toml by hand (a plain file append, as a user would)
runs on the worker within 10 s with the same beat process, and disabling it stops it within
10 s; a second beat started by hand with the stack's own argv and environment is refused
(exit 3, a message naming the running beat); a beat killed outright is restarted by the stack
and takes over the lock of the dead one; stopping beat releases its lock in the broker; a
corrupt workspace file is reported, kept as it was, and beat keeps the schedules it had until
the file is fixed. What beat sends is recorded with its exact arguments for the history.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from datetime import datetime

import pytest
import redis

from celerydesk.core import commands, schedule_mirror
from celerydesk.core.history import sent
from celerydesk.core.states import ProcessState
from tests.helpers.stack import make_workspace, start_stack, stop_stack

pytestmark = pytest.mark.slow

ADDER = """
[[schedules]]
name = "adder"
task = "celerydesk.sample.tasks.add"
every = 1
args = [1, 2]
"""


def add_results(url: str, total: int = 3) -> list:
    """When each successful ``add`` returning ``total`` finished (the result backend is the broker)."""
    client = redis.Redis.from_url(url)
    done = []
    for key in client.scan_iter("celery-task-meta-*"):
        meta = json.loads(client.get(key) or "{}")
        if meta.get("status") == "SUCCESS" and meta.get("result") == total:
            done.append(datetime.fromisoformat(meta["date_done"]))
    client.close()
    return sorted(done)


def wait_until_quiet(qtbot, count, quiet_s: float, within_s: float) -> float:
    """Wait until ``count()`` stops growing for ``quiet_s``; return when it last grew."""
    start = time.monotonic()
    last, changed = count(), start
    while time.monotonic() - changed < quiet_s:
        assert time.monotonic() - start < within_s + quiet_s, "still running long after it was disabled"
        qtbot.wait(250)
        now = count()
        if now != last:
            last, changed = now, time.monotonic()
    return changed - start


def beat_log(stack) -> str:
    stack._log_files["beat"].flush()
    return stack.runtime.log_path("beat").read_text()


def test_an_appended_schedule_runs_with_the_same_beat_and_disabling_stops_it(qtbot, tmp_path):
    ws = make_workspace(tmp_path, flower=False)
    stack = start_stack(qtbot, ws)
    try:
        beat = stack.services["beat"]
        pid = beat.pid
        url = ws.broker_url()
        assert json.loads(schedule_mirror.mirror_path(ws.runtime_dir).read_text())["schedules"] == []

        with open(ws.path, "a", encoding="utf-8") as f:  # a user's edit, not celerydesk's
            f.write(ADDER)
        qtbot.waitUntil(lambda: len(add_results(url)) >= 2, timeout=10000)
        assert beat.pid == pid and beat.state == ProcessState.RUNNING
        # What beat sent is recorded exactly for the history (nothing takes the records in here).
        records = [r for p in sent.pending_files(sent.spool_dir(ws.runtime_dir)) for r in sent.read_records(p)]
        assert len(records) >= 2 and {(r["via"], r["name"], str(r["args"])) for r in records} == {
            ("beat", "celerydesk.sample.tasks.add", "[1, 2]")}

        text = ws.path.read_text()
        ws.path.write_text(text.replace("args = [1, 2]\n", "args = [1, 2]\nenabled = false\n"))
        stopped_after = wait_until_quiet(qtbot, lambda: len(add_results(url)), quiet_s=3.0, within_s=10.0)
        assert stopped_after <= 10.0
        assert beat.pid == pid and beat.state == ProcessState.RUNNING

        state = json.loads(schedule_mirror.state_path(ws.runtime_dir).read_text())["entries"]["adder"]
        assert state["enabled"] is False and state["total_run_count"] >= 2 and state["last_run_at"]
        assert "schedules reloaded" in beat_log(stack)
        assert not [m for m in stack.test_messages if m[0] == "error"], stack.test_messages
    finally:
        stop_stack(qtbot, stack)


def test_one_beat_per_workspace(qtbot, tmp_path):
    ws = make_workspace(tmp_path, flower=False)
    ws.path.write_text(ws.path.read_text() + ADDER)
    stack = start_stack(qtbot, ws)
    try:
        beat = stack.services["beat"]
        url = ws.broker_url()
        qtbot.waitUntil(lambda: len(add_results(url)) >= 1, timeout=10000)

        # A second beat, started by hand exactly as the stack starts its own: refused.
        spec = commands.beat_spec(ws, url, stack.runtime.dir)
        second = subprocess.run(spec.argv, env=spec.env, cwd=spec.cwd, capture_output=True, text=True, timeout=120)
        output = second.stdout + second.stderr
        assert second.returncode == 3, output
        assert f"another celery beat (pid {beat.pid} on" in output and "already runs the schedules of workspace" in output
        assert beat.state == ProcessState.RUNNING

        # Killed outright, beat is restarted by the stack and takes the dead one's lock at once.
        old = beat.pid
        os.kill(old, signal.SIGKILL)
        qtbot.waitUntil(lambda: beat.state == ProcessState.RUNNING and beat.pid not in (None, old), timeout=30000)
        qtbot.waitUntil(lambda: "took over the lock of a beat that died" in beat_log(stack), timeout=15000)
        runs = len(add_results(url))
        qtbot.waitUntil(lambda: len(add_results(url)) > runs, timeout=10000)

        # Stopped, it lets go of the lock.
        client = redis.Redis.from_url(url)
        key = f"celerydesk:beat-lock:{schedule_mirror.workspace_id(ws.path)}"
        assert client.exists(key)
        stack.stop_service("beat")
        qtbot.waitUntil(lambda: beat.state == ProcessState.STOPPED, timeout=30000)
        assert not client.exists(key)
        client.close()
    finally:
        stop_stack(qtbot, stack)


def test_a_corrupt_workspace_file_is_reported_and_kept(qtbot, tmp_path):
    ws = make_workspace(tmp_path, flower=False)
    ws.path.write_text(ws.path.read_text() + ADDER)
    stack = start_stack(qtbot, ws)
    try:
        url = ws.broker_url()
        mirror = schedule_mirror.mirror_path(ws.runtime_dir)
        qtbot.waitUntil(lambda: len(add_results(url)) >= 1, timeout=10000)
        before = mirror.read_text()

        corrupt = ws.path.read_text().replace('name = "adder"', 'name = "adder\n')
        ws.path.write_text(corrupt)
        qtbot.waitUntil(lambda: any(level == "error" and "not valid TOML" in text
                                    for level, text in stack.test_messages), timeout=10000)
        error = next(text for level, text in stack.test_messages if "not valid TOML" in text)
        assert str(ws.path) in error and "left as it is" in error
        runs = len(add_results(url))
        qtbot.waitUntil(lambda: len(add_results(url)) > runs, timeout=10000)  # beat keeps what it had
        assert ws.path.read_text() == corrupt
        assert mirror.read_text() == before
        assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("celerydesk.toml")) == ["celerydesk.toml"]
        assert stack.services["beat"].state == ProcessState.RUNNING
        assert sum("not valid TOML" in text for _, text in stack.test_messages) == 1  # said once, not every poll

        ws.path.write_text(corrupt.replace('name = "adder\n', 'name = "adder"').replace("every = 1", "every = 3600"))
        qtbot.waitUntil(lambda: '"every": 3600.0' in mirror.read_text(), timeout=10000)
    finally:
        stop_stack(qtbot, stack)
