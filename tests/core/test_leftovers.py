"""Cleaning what a dead celerydesk left running (celerydesk/core/leftovers.py), with real processes.

Covered: a recorded process whose pid and create time match is stopped, with a note naming
its key and pid; one whose create time does not match (a recycled pid) is left alone; the
recorded process's group goes too, including a grandchild that outlived its parent; the
records are emptied afterwards, other keys of the record file kept.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from celerydesk.core.leftovers import clean_leftover_processes
from celerydesk.core.runtime import Runtime

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]

# A service's main process that started a pool child in its own group, as a prefork worker does.
PARENT_WITH_CHILD = r"""
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
print(child.pid, flush=True)
time.sleep(60)
"""


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_dead(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.fixture
def spawn():
    """Start real children in their own session; whatever is left is killed at teardown."""
    procs: list[subprocess.Popen] = []
    extra_pids: list[int] = []

    def _spawn(argv, **kwargs) -> subprocess.Popen:
        proc = subprocess.Popen(argv, start_new_session=True, **kwargs)
        procs.append(proc)
        return proc

    _spawn.extra_pids = extra_pids
    yield _spawn
    for pid in extra_pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    for proc in procs:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass
        proc.wait(10)


def record(runtime: Runtime, key: str, proc, create_time=None, pgid=None, **extra) -> None:
    data = runtime.read_records()
    data.update(extra)
    data.setdefault("processes", {})[key] = {
        "pid": proc.pid,
        "pgid": proc.pid if pgid is None else pgid,
        "create_time": psutil.Process(proc.pid).create_time() if create_time is None else create_time,
    }
    runtime.write_records(data)


def test_a_recorded_process_is_stopped_with_a_note(tmp_path, spawn):
    rt = Runtime(tmp_path / ".celerydesk")
    proc = spawn(SLEEPER)
    record(rt, "worker-main", proc, container="abc")

    notes = clean_leftover_processes(rt, grace=5)

    assert wait_dead(proc.pid)
    assert len(notes) == 1
    assert "worker-main" in notes[0] and f"pid {proc.pid}" in notes[0]
    assert rt.read_records() == {"processes": {}, "container": "abc"}


def test_a_recycled_pid_is_left_alone(tmp_path, spawn):
    rt = Runtime(tmp_path / ".celerydesk")
    proc = spawn(SLEEPER)
    real = psutil.Process(proc.pid).create_time()
    record(rt, "beat", proc, create_time=real - 120.0)  # the pid, but another process's start

    notes = clean_leftover_processes(rt, grace=1)

    assert notes == []
    assert alive(proc.pid)
    assert proc.poll() is None
    assert rt.read_records()["processes"] == {}  # a record that is not ours is forgotten


def test_the_group_dies_with_it_grandchild_included(tmp_path, spawn):
    rt = Runtime(tmp_path / ".celerydesk")
    proc = spawn([sys.executable, "-c", PARENT_WITH_CHILD], stdout=subprocess.PIPE, text=True)
    grandchild = int(proc.stdout.readline())
    spawn.extra_pids.append(grandchild)
    assert os.getpgid(grandchild) == proc.pid  # same group, not a descendant we could list later
    record(rt, "worker-main", proc)

    notes = clean_leftover_processes(rt, grace=5)

    assert wait_dead(proc.pid)
    assert wait_dead(grandchild)
    assert [n for n in notes if f"pid {proc.pid}" in n]
    assert rt.read_records()["processes"] == {}


def test_several_records_mixed(tmp_path, spawn):
    rt = Runtime(tmp_path / ".celerydesk")
    ours, stranger = spawn(SLEEPER), spawn(SLEEPER)
    gone = spawn(SLEEPER)
    record(rt, "worker-main", ours)
    record(rt, "beat", stranger, create_time=psutil.Process(stranger.pid).create_time() + 30)
    record(rt, "flower", gone)
    gone.kill()
    gone.wait(10)
    data = rt.read_records()
    data["processes"]["broken"] = {"pid": "nope"}
    rt.write_records(data)

    notes = clean_leftover_processes(rt, grace=5)

    assert len(notes) == 1 and "worker-main" in notes[0]
    assert wait_dead(ours.pid)
    assert alive(stranger.pid)
    assert rt.read_records()["processes"] == {}


def test_nothing_recorded_is_nothing_to_do(tmp_path):
    rt = Runtime(tmp_path / ".celerydesk")
    assert clean_leftover_processes(rt) == []
    rt.write_records({"container": "x"})
    assert clean_leftover_processes(rt) == []
    assert json.loads(rt.state_file.read_text()) == {"container": "x"}
