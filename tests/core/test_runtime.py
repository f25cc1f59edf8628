"""The runtime folder (celerydesk/core/runtime.py): atomic writes, Flower credentials, the lock.

Covered: atomic_write sets exact mode bits (whatever the umask), replaces, and leaves no
temporary file, also when it fails; Flower credentials generated once, mode 0600, the same
across calls and Runtime objects; acquire_lock refused in a real second process with a
DeskError naming the holder's pid, re-acquirable after release, not kept by a child the
holder started; process records round-trip.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from celerydesk.core.errors import DeskError
from celerydesk.core.runtime import Runtime, atomic_write

REPO = Path(__file__).resolve().parents[2]

# A second celerydesk: tries the lock, says what happened, then holds it until stdin closes.
TRY_LOCK = r"""
import sys
from celerydesk.core.errors import DeskError
from celerydesk.core.runtime import Runtime
try:
    Runtime(sys.argv[1]).acquire_lock()
except DeskError as exc:
    print("REFUSED", exc.message, flush=True)
    sys.exit(3)
print("ACQUIRED", flush=True)
sys.stdin.read()
"""


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- atomic_write ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o644])
@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_atomic_write_sets_the_mode_and_leaves_no_temp_file(tmp_path, mode, umask):
    path = tmp_path / "f.json"
    old = os.umask(umask)
    try:
        atomic_write(path, "one", mode=mode)
    finally:
        os.umask(old)
    assert path.read_text() == "one"
    assert mode_of(path) == mode
    assert os.listdir(tmp_path) == ["f.json"]


def test_atomic_write_replaces_content_and_mode(tmp_path):
    path = tmp_path / "f"
    atomic_write(path, "first, longer text", mode=0o644)
    atomic_write(path, "second", mode=0o600)
    assert path.read_text() == "second"
    assert mode_of(path) == 0o600
    assert os.listdir(tmp_path) == ["f"]


def test_atomic_write_that_fails_leaves_no_temp_file(tmp_path):
    target = tmp_path / "taken"
    target.mkdir()
    (target / "inside").write_text("keep")
    with pytest.raises(OSError):
        atomic_write(target, "text")  # cannot replace a non-empty folder
    assert sorted(os.listdir(tmp_path)) == ["taken"]
    assert (target / "inside").read_text() == "keep"


# -- runtime folder and Flower's credentials ---------------------------------------------------------


def test_ensure_makes_the_folders_and_ignores_itself_in_git(tmp_path):
    rt = Runtime(tmp_path / ".celerydesk").ensure()
    assert rt.logs_dir.is_dir() and rt.redis_dir.is_dir()
    assert "*" in (rt.dir / ".gitignore").read_text().splitlines()
    assert rt.log_path("worker-main") == rt.dir / "logs" / "worker-main.log"


def test_flower_credentials_are_generated_once_and_private(tmp_path):
    rt = Runtime(tmp_path / ".celerydesk")
    user, password = rt.flower_credentials()
    assert user and len(password) >= 16
    assert ":" not in user  # FLOWER_BASIC_AUTH is user:password
    assert rt.flower_credentials() == (user, password)
    assert Runtime(tmp_path / ".celerydesk").flower_credentials() == (user, password)
    assert mode_of(rt.credentials_file) == 0o600
    assert json.loads(rt.credentials_file.read_text()) == {"user": user, "password": password}


def test_flower_credentials_differ_between_workspaces(tmp_path):
    assert Runtime(tmp_path / "a").flower_credentials() != Runtime(tmp_path / "b").flower_credentials()


def test_damaged_credentials_are_regenerated(tmp_path):
    rt = Runtime(tmp_path / ".celerydesk").ensure()
    rt.credentials_file.write_text("{not json")
    user, password = rt.flower_credentials()
    assert password
    assert rt.flower_credentials() == (user, password)
    assert mode_of(rt.credentials_file) == 0o600


# -- the lock -----------------------------------------------------------------------------------------


def start_second(runtime_dir: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", TRY_LOCK, str(runtime_dir)], cwd=REPO,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def second_try(runtime_dir: Path) -> tuple[int, str]:
    """A second process tries the lock and exits (releasing it, if it got it)."""
    proc = start_second(runtime_dir)
    out, _ = proc.communicate("", timeout=60)
    return proc.returncode, out.strip()


def test_a_second_process_is_refused_with_our_pid(tmp_path):
    rt = Runtime(tmp_path / ".celerydesk")
    rt.acquire_lock()
    try:
        code, out = second_try(rt.dir)
        assert code == 3, out
        assert out.startswith("REFUSED")
        assert f"(pid {os.getpid()})" in out
    finally:
        rt.release_lock()


def test_a_released_lock_can_be_taken_again(tmp_path):
    rt = Runtime(tmp_path / ".celerydesk")
    rt.acquire_lock()
    rt.release_lock()
    assert second_try(rt.dir) == (0, "ACQUIRED")
    rt.acquire_lock()  # and by us again, once that process is gone
    rt.release_lock()


def test_we_are_refused_while_another_process_holds_it(tmp_path):
    rt = Runtime(tmp_path / ".celerydesk")
    other = start_second(rt.dir)
    try:
        assert other.stdout.readline().strip() == "ACQUIRED"
        with pytest.raises(DeskError) as info:
            rt.acquire_lock()
        assert f"(pid {other.pid})" in info.value.message
        assert info.value.hint
    finally:
        other.communicate("", timeout=30)
    rt.acquire_lock()  # the holder exited: the kernel released its lock
    rt.release_lock()


def test_a_child_of_the_holder_does_not_keep_the_lock(tmp_path):
    rt = Runtime(tmp_path / ".celerydesk")
    rt.acquire_lock()
    # Like a worker started while the stack runs: everything inheritable is inherited.
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                             stdin=subprocess.PIPE, close_fds=False)
    try:
        rt.release_lock()
        assert second_try(rt.dir) == (0, "ACQUIRED")
    finally:
        child.communicate("", timeout=30)


# -- records ------------------------------------------------------------------------------------------


def test_records_round_trip(tmp_path):
    rt = Runtime(tmp_path / ".celerydesk")
    assert rt.read_records() == {}  # nothing written yet
    records = {
        "processes": {"worker-main": {"pid": 123, "pgid": 123, "create_time": 1764000000.25}},
        "container": "abc123",
    }
    rt.write_records(records)
    assert rt.read_records() == records
    assert Runtime(tmp_path / ".celerydesk").read_records() == records
    assert [p.name for p in rt.dir.iterdir() if p.name.endswith(".tmp")] == []


@pytest.mark.parametrize("content", ["{broken", "[1, 2]", ""])
def test_unreadable_records_read_as_empty(tmp_path, content):
    rt = Runtime(tmp_path / ".celerydesk").ensure()
    rt.state_file.write_text(content)
    assert rt.read_records() == {}
