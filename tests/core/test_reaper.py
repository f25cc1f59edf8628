"""The orphan reaper (celerydesk/core/reaper.py) as a real child process.

A real process group is registered: a leader in its own session, a pool child in its group,
and a grandchild that left the group with setsid() (only the reaper's descendant snapshots
can find it). Covered: when celerydesk's end of the pipe closes without unregistering (what
the kernel does when celerydesk dies, SIGKILL included) everything registered dies within
5 s, the setsid grandchild too, also when the leader died first; on the clean path
(unregister, then close()) nothing is killed.

The reaper snapshots descendants every 0.25 s and gives no sign of having done so: the tests
wait (bounded) until it has loaded psutil, which its first snapshot does, then give it half a
second more, a couple of snapshot rounds (the one deliberate sleep here).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from celerydesk.core.reaper import ReaperClient

REPO = Path(__file__).resolve().parents[2]
SNAPSHOT_WAIT = 1.0

# A service's main process: a pool child in its group, and a grandchild that leaves the group.
LEADER = r"""
import os, subprocess, sys, time
sleep = [sys.executable, "-c", "import time; time.sleep(60)"]
pool = subprocess.Popen(sleep)
escaped = subprocess.Popen([sys.executable, "-c", "import os, time; os.setsid(); time.sleep(60)"])
print(pool.pid, escaped.pid, flush=True)
time.sleep(60)
"""


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_until(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


class Family:
    """The leader and its two descendants; all killed at teardown whatever happened."""

    def __init__(self):
        self.leader = subprocess.Popen([sys.executable, "-c", LEADER], stdout=subprocess.PIPE, text=True,
                                       start_new_session=True)
        self.pool, self.escaped = (int(x) for x in self.leader.stdout.readline().split())
        # wait for the setsid() to have happened, so the test is about a process outside the group
        assert wait_until(lambda: _pgid(self.escaped) == self.escaped, 10)
        assert _pgid(self.pool) == self.leader.pid
        self.create_time = psutil.Process(self.leader.pid).create_time()

    @property
    def pids(self) -> list[int]:
        return [self.leader.pid, self.pool, self.escaped]

    def living(self) -> list[int]:
        return [pid for pid in self.pids if alive(pid)]

    def kill(self) -> None:
        for pid in (self.pool, self.escaped):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        try:
            os.killpg(self.leader.pid, signal.SIGKILL)
        except OSError:
            pass
        self.leader.wait(10)


def _pgid(pid: int):
    try:
        return os.getpgid(pid)
    except OSError:
        return None


@pytest.fixture
def family():
    fam = Family()
    yield fam
    fam.kill()


@pytest.fixture
def reaper():
    client = ReaperClient([sys.executable, "-m", "celerydesk.core.reaper"])
    proc = client._proc
    yield client
    if proc.poll() is None:
        proc.kill()
    proc.wait(10)


def snapshotting(pid: int) -> bool:
    """psutil's extension is mapped in the reaper: its first snapshot has begun."""
    try:
        return "_psutil_linux" in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


def register(client: ReaperClient, fam: Family) -> None:
    client.register_group(fam.leader.pid, fam.leader.pid, fam.create_time)
    if sys.platform.startswith("linux"):
        assert wait_until(lambda: snapshotting(client.pid), 15), "the reaper never took a snapshot"
        time.sleep(0.5)
    else:
        time.sleep(SNAPSHOT_WAIT)


def test_the_reaper_runs_in_its_own_session(reaper):
    assert os.getsid(reaper.pid) == reaper.pid  # a terminal's Ctrl-C does not reach it
    assert reaper._proc.poll() is None


def test_celerydesk_dying_kills_everything_registered(reaper, family):
    register(reaper, family)
    assert family.living() == family.pids

    reaper._proc.stdin.close()  # what the kernel does when celerydesk dies

    assert wait_until(lambda: not family.living(), 5), f"still alive: {family.living()}"
    assert reaper._proc.wait(5) == 0


def test_descendants_are_killed_even_when_the_leader_died_first(reaper, family):
    register(reaper, family)
    family.leader.kill()
    family.leader.wait(10)
    assert alive(family.escaped)
    time.sleep(SNAPSHOT_WAIT)  # snapshots taken after the leader's death must keep the orphans

    reaper._proc.stdin.close()

    assert wait_until(lambda: not family.living(), 5), f"still alive: {family.living()}"


def test_an_unrelated_process_is_never_killed(reaper, family):
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        register(reaper, family)
        reaper._proc.stdin.close()
        assert wait_until(lambda: not family.living(), 5)
        assert alive(bystander.pid)
    finally:
        bystander.kill()
        bystander.wait(10)


def test_clean_close_does_not_kill_the_unregistered_leader(reaper, family):
    register(reaper, family)
    reaper.unregister_group(family.leader.pid)
    proc = reaper._proc
    reaper.close()
    assert proc.returncode == 0  # left on its own, not killed by close()
    assert alive(family.leader.pid)


def test_clean_close_kills_nothing(reaper, family):
    register(reaper, family)
    reaper.unregister_group(family.leader.pid)
    reaper.close()
    assert family.living() == family.pids
