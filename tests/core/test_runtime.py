"""The runtime folder (celerydesk/core/runtime.py): atomic writes, Flower credentials, the lock.

Covered: atomic_write sets exact mode bits (whatever the umask), replaces, and leaves no
temporary file, also when it fails; the folder private (0700, fixed when an older one was not),
its files 0600; Flower credentials and the broker's generated password generated once, mode
0600, the same across calls and Runtime objects; acquire_lock refused in a real second process
with StackAlreadyRunning (exit code 3) naming the holder's pid, re-acquirable after release,
not kept by a child the holder started, idempotent in the holder; a folder that cannot be
written is a DeskError saying what to do; process records round-trip; WriteFailures says each
kind of failure once, in words with a hint.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from celerydesk.core.errors import DeskError, StackAlreadyRunning
from celerydesk.core.runtime import Runtime, WriteFailures, atomic_write, write_problem

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


def test_the_folder_and_its_files_are_the_owners_alone(tmp_path):
    folder = tmp_path / ".celerydesk"
    folder.mkdir(mode=0o755)  # as an older celerydesk left it
    os.chmod(folder, 0o755)
    rt = Runtime(folder).ensure()
    rt.acquire_lock()
    rt.flower_credentials()
    rt.broker_password()
    rt.write_records({"processes": {}})
    rt.release_lock()
    for path in [folder, *folder.rglob("*")]:
        assert mode_of(path) == (0o700 if path.is_dir() else 0o600), path


def test_the_broker_password_is_generated_once_url_safe_and_private(tmp_path):
    rt = Runtime(tmp_path / ".celerydesk")
    password = rt.broker_password()
    assert len(password) >= 24 and all(ch.isalnum() or ch in "-_" for ch in password)
    assert Runtime(tmp_path / ".celerydesk").broker_password() == password
    assert mode_of(rt.broker_password_file) == 0o600
    assert Runtime(tmp_path / "other").broker_password() != password


def test_a_folder_that_cannot_be_made_is_a_message(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")  # a file where the folder's parent should be
    with pytest.raises(DeskError) as info:
        Runtime(blocker / ".celerydesk").acquire_lock()
    assert "cannot write the runtime folder" in info.value.message and info.value.hint


@pytest.mark.parametrize("code, words, hint", [
    (errno.ENOSPC, "the disk is full", "free some space"),
    (errno.EACCES, "permission denied", "writable by you"),
    (errno.EROFS, "read-only", "writable disk"),
    (errno.EIO, "Input/output error", "check the disk"),
])
def test_write_problems_say_what_to_do(tmp_path, code, words, hint):
    problem = write_problem(tmp_path / "processes.json", OSError(code, os.strerror(code)), "the process record")
    assert problem.message.startswith(f"cannot write the process record ({tmp_path / 'processes.json'}): ")
    assert words in problem.message and hint in problem.hint


def test_each_kind_of_write_failure_is_said_once():
    said: list = []
    failures = WriteFailures(said.append)
    for _ in range(3):
        failures.note(Path("/x/logs/a.log"), OSError(errno.ENOSPC, "full"), "the log a.log")
        failures.note(Path("/x/processes.json"), OSError(errno.ENOSPC, "full"), "the process record")
    failures.note(Path("/x/processes.json"), OSError(errno.EACCES, "denied"), "the process record")
    assert [p.message.split(":")[1].strip() for p in said] == ["the disk is full", "permission denied"]
    failures.reset()
    failures.note(Path("/x/logs/a.log"), OSError(errno.ENOSPC, "full"))
    assert len(said) == 3


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
        with pytest.raises(StackAlreadyRunning) as info:
            rt.acquire_lock()
        assert f"(pid {other.pid})" in info.value.message
        assert info.value.hint
        assert info.value.exit_code == 3  # a refusal, told apart from bad input (2)
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


def test_the_holder_taking_it_again_keeps_it(tmp_path):
    rt = Runtime(tmp_path / ".celerydesk")
    rt.acquire_lock()
    rt.acquire_lock()  # `up` takes it before the stack does: the stack's start must not be refused
    try:
        assert second_try(rt.dir)[0] == 3
    finally:
        rt.release_lock()
    assert second_try(rt.dir) == (0, "ACQUIRED")


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
