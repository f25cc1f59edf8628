"""A worker that dies right after every start, and a stop that a second signal cuts short.

- Killed each time it reports ready, the worker is restarted at once, then after growing delays,
  and the fifth crash within 60 s leaves it FATAL: `up` says so, with the reason and its log.
- While a stop waits for a worker's running task, a SIGKILLed broker is not restarted, and a
  second SIGTERM kills what is left at once: `up` exits 1, nothing is left running.
"""

from __future__ import annotations

import os
import signal

import pytest

from celerydesk.core.workspace import load_workspace
from tests.helpers.faults import client, left_running, started_pids, wait_until
from tests.helpers.stack import UpProcess, write_workspace

pytestmark = pytest.mark.slow


def next_line(up: UpProcess, start: int, prefixes: tuple[str, ...]) -> tuple[int, str]:
    """(index after it, line): the first line of `up` from ``start`` on that begins with one of ``prefixes``."""
    def found():
        return next(((i + 1, ln) for i, ln in enumerate(up.lines[start:], start) if ln.startswith(prefixes)), None)

    return wait_until(found, 60, f"a line starting with {prefixes}:\n" + "\n".join(up.lines[-10:]))


def test_a_worker_killed_whenever_it_is_ready_ends_fatal(tmp_path):
    path = write_workspace(tmp_path / "loop", beat=False, flower=False)
    up = UpProcess(path)
    try:
        up.wait_for("stack ready", timeout=120)
        seen, kills = 0, 0
        while True:  # kill it each time it is ready, until it is given up on
            seen, line = next_line(up, seen, ("worker main: RUNNING (pid", "worker main: FATAL"))
            if "FATAL" in line:
                break
            os.kill(int(line.split("(pid ")[1].rstrip(")")), signal.SIGKILL)
            kills += 1
            assert kills <= 6, "\n".join(up.lines)
        fatal = up.wait_for("worker main: FATAL", timeout=60)
        output = "\n".join(up.lines)
        assert kills == 5, output
        assert "it crashed 5 times within 60 s, so it is not restarted again" in fatal
        error = up.wait_for("error: worker main failed:", timeout=10)
        assert "crashed 5 times within 60 s" in error and error.endswith("worker-main.log")
        # Restarted at once after the first crash, then after 1, 2 and 4 seconds.
        backoffs = [line for line in up.lines if line.startswith("worker main: BACKOFF")]
        assert [line.split("restarting in ")[1].rstrip(")") for line in backoffs] == ["1 s", "2 s", "4 s"], output
        pids = started_pids(up.lines)
        up.signal(signal.SIGTERM)
        assert up.finish(timeout=60) == 0  # the FATAL worker is no unclean stop: nothing had to be killed
        assert left_running(pids) == []
        assert "Traceback" not in "\n".join(up.lines)
    finally:
        up.kill_group()


def test_a_second_sigterm_kills_at_once_and_nothing_restarts_while_stopping(tmp_path):
    # The worker's warm shutdown would wait two minutes for its running task.
    path = write_workspace(tmp_path / "second", beat=False, flower=False,
                           workers=[{"name": "main", "concurrency": 1, "stop_timeout": 120}])
    ws = load_workspace(path)
    up = UpProcess(path)
    try:
        up.wait_for("stack ready", timeout=120)
        app = client(ws.broker_url())
        task = app.send_task("celerydesk.sample.tasks.notify_customers", args=["long"], kwargs={"delay": 300})
        wait_until(lambda: app.AsyncResult(task.id).state == "STARTED", 30, "the long task running")
        app.close()
        pids = started_pids(up.lines)
        broker = int(next(ln for ln in up.lines if ln.startswith("broker: RUNNING")).split("(pid ")[1].rstrip(")"))
        up.signal(signal.SIGTERM)
        up.wait_for("worker main: STOPPING", timeout=30)
        stopping_at = len(up.lines)
        os.kill(broker, signal.SIGKILL)  # it dies while the stack stops: it must stay dead
        up.wait_for("broker: EXITED", timeout=30)
        up.signal(signal.SIGTERM)
        up.wait_for("killing what is still running", timeout=30)
        code = up.finish(timeout=30)  # far less than the worker's 120 s: the second signal killed it
        output = "\n".join(up.lines)
        assert code == 1, output
        assert not [ln for ln in up.lines[stopping_at:] if ln.startswith("broker: STARTING")], output
        assert left_running(pids) == []
        assert "Traceback" not in output
    finally:
        up.kill_group()
