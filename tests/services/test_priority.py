"""The CPU priority of what celerydesk starts (core/priority.py, services/managed_process.py).

Real processes, read back from the kernel (``getpriority`` through psutil, ``/proc/PID/autogroup``):
a started stack's worker (its pool processes too), beat and Flower run at the workspace's nice
value, 5 by default, both as processes and as sessions; the broker keeps its normal priority. A
ManagedProcess at nice 0 changes nothing; at nice 7, a child and the process it forks both run at 7.
When the kernel asks to wait (its limit of one session change per 100 ms, which root, as in CI,
never meets) the change is tried again until it lands, and a refusal to the end is logged.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

import psutil
import pytest

from celerydesk.core.commands import BEAT, BROKER, FLOWER, WORKER, Readiness, ServiceSpec, worker_key
from celerydesk.core.priority import DEFAULT_NICE
from celerydesk.core.states import ProcessState
from celerydesk.core.supervision import Autorestart, RestartPolicy
from celerydesk.services import managed_process
from celerydesk.services.managed_process import SYSTEM, ManagedProcess
from tests.helpers.stack import make_workspace, start_stack, stop_stack

OWN_NICE = os.getpriority(os.PRIO_PROCESS, 0)  # `nice -n N` adds to the nice value it inherits
HAS_AUTOGROUPS = Path("/proc/self/autogroup").exists()
FORKS = "import os, time\nif os.fork() == 0:\n    time.sleep(60)\nelse:\n    time.sleep(60)\n"


def session_nice(pid: int) -> Optional[int]:
    """The autogroup nice value of ``pid`` (``/autogroup-42 nice 5``), None without autogroups."""
    try:
        text = Path(f"/proc/{pid}/autogroup").read_text()
    except OSError:
        return None
    _, _, value = text.partition(" nice ")
    return int(value) if value.strip().lstrip("-").isdigit() else None


def assert_priority(pid: int, nice: int) -> None:
    assert psutil.Process(pid).nice() == min(OWN_NICE + nice, 19), pid
    if HAS_AUTOGROUPS:
        assert session_nice(pid) == nice, pid


def test_services_run_below_the_windows_priority_and_the_broker_does_not(qtbot, tmp_path):
    ws = make_workspace(tmp_path / "proj")
    assert ws.project.nice == DEFAULT_NICE
    stack = start_stack(qtbot, ws)
    try:
        worker = stack.services[worker_key("main")]
        pool = psutil.Process(worker.pid).children()
        assert len(pool) == 2, "concurrency 2: two pool processes"
        for pid in [worker.pid, *(child.pid for child in pool), stack.services[BEAT].pid,
                    stack.services[FLOWER].pid]:
            assert_priority(pid, DEFAULT_NICE)
        # The broker serves the user's own programs too: it keeps its priority.
        assert_priority(stack.services[BROKER].pid, 0)
    finally:
        stop_stack(qtbot, stack)


def forking_child(tmp_path, nice: int) -> ManagedProcess:
    spec = ServiceSpec(key="worker-forks", label="worker-forks", kind=WORKER,
                       argv=[sys.executable, "-c", FORKS], cwd=tmp_path, env=dict(os.environ),
                       readiness=Readiness("uptime"), policy=RestartPolicy(autorestart=Autorestart.NEVER),
                       stop_timeout=2.0, nice=nice)
    return ManagedProcess(spec)


@pytest.mark.parametrize("nice", [0, 7])
def test_a_child_and_what_it_forks_run_at_the_specs_nice(qtbot, tmp_path, nice):
    proc = forking_child(tmp_path, nice)
    lines: list[str] = []
    proc.linesReceived.connect(lambda _key, entries: lines.extend(t for t, ch in entries if ch == SYSTEM))
    proc.start()
    try:
        qtbot.waitUntil(lambda: proc.pid is not None and len(psutil.Process(proc.pid).children()) == 1,
                        timeout=10000)
        # The session's nice is set just after the start; retried if the kernel asks to wait.
        qtbot.waitUntil(lambda: not HAS_AUTOGROUPS or session_nice(proc.pid) == nice, timeout=5000)
        assert_priority(proc.pid, nice)
        assert_priority(psutil.Process(proc.pid).children()[0].pid, nice)
        assert lines[0].startswith(f"[celerydesk] starting at nice {nice}:" if nice else "[celerydesk] starting:"), lines
    finally:
        proc.stop()
        qtbot.waitUntil(lambda: proc.state in (ProcessState.STOPPED, ProcessState.EXITED), timeout=10000)
        proc.deleteLater()


def refusing(times: int):
    """The real set_session_nice, refused the way the kernel does for its first ``times`` calls."""
    real, calls = managed_process.set_session_nice, []

    def set_session_nice(pid, nice):
        calls.append(pid)
        if len(calls) <= times:
            raise BlockingIOError(11, "Resource temporarily unavailable")
        return real(pid, nice)
    return set_session_nice, calls


@pytest.mark.skipif(not HAS_AUTOGROUPS, reason="no autogroups on this kernel")
def test_a_refused_session_nice_is_tried_again_until_it_lands(qtbot, tmp_path, monkeypatch):
    patched, calls = refusing(3)
    monkeypatch.setattr(managed_process, "set_session_nice", patched)
    proc = forking_child(tmp_path, 7)
    proc.start()
    try:
        qtbot.waitUntil(lambda: proc.pid is not None and session_nice(proc.pid) == 7, timeout=5000)
        assert len(calls) == 4
    finally:
        proc.stop()
        qtbot.waitUntil(lambda: proc.state in (ProcessState.STOPPED, ProcessState.EXITED), timeout=10000)
        proc.deleteLater()


def test_a_session_nice_refused_to_the_end_is_logged(qtbot, tmp_path, monkeypatch):
    patched, calls = refusing(1000)
    monkeypatch.setattr(managed_process, "set_session_nice", patched)
    monkeypatch.setattr(managed_process, "SESSION_NICE_TRIES", 3)
    proc = forking_child(tmp_path, 7)
    lines: list[str] = []
    proc.linesReceived.connect(lambda _key, entries: lines.extend(t for t, ch in entries if ch == SYSTEM))
    proc.start()
    try:
        qtbot.waitUntil(lambda: any("kernel kept refusing" in line for line in lines), timeout=5000)
        assert len(calls) == 3
        assert proc.state in (ProcessState.STARTING, ProcessState.RUNNING)  # it runs all the same
        assert psutil.Process(proc.pid).nice() == min(OWN_NICE + 7, 19)
    finally:
        proc.stop()
        qtbot.waitUntil(lambda: proc.state in (ProcessState.STOPPED, ProcessState.EXITED), timeout=10000)
        proc.deleteLater()
