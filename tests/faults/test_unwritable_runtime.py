"""`celerydesk up` when `.celerydesk/` cannot be written: made read-only, or on a full disk.

Read-only needs a user the permissions apply to: as root, `up` runs without CAP_DAC_OVERRIDE
(setpriv drops it from the bounding set), so root is held to the owner's mode bits like anyone.
The full disk is a 4 MB tmpfs mounted on `.celerydesk/` in a private mount namespace (unshare:
root only), filled while the stack runs (nsenter into that namespace).

What must hold: every failed write is said once, in words with what to do, never a traceback;
the stack still stops on SIGTERM, within its timeouts, with exit code 1 (not clean); nothing is
left running; a Redis that can no longer write is named as such by `call`.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from celerydesk.core.runtime import Runtime
from tests.helpers.faults import left_running, started_pids, wait_until
from tests.helpers.stack import ChildProcess, write_workspace
from tests.helpers.strict import require

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


def without_dac_override() -> list[str]:
    """argv prefix: root loses the capabilities that ignore mode bits; anyone else has none."""
    if os.geteuid() != 0:
        return []
    require(shutil.which("setpriv") is not None, "setpriv (util-linux) is not installed")
    return ["setpriv", "--bounding-set", "-dac_override,-dac_read_search,-fowner", "--"]


def up_argv(path: Path) -> list[str]:
    return [sys.executable, "-m", "celerydesk", "up", "-w", str(path)]


def make_read_only(folder: Path) -> None:
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            target = Path(root) / name
            if not target.is_symlink():
                os.chmod(target, target.stat().st_mode & ~0o222)
    os.chmod(folder, folder.stat().st_mode & ~0o222)


def make_writable(folder: Path) -> None:
    os.chmod(folder, 0o700)
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            target = Path(root) / name
            if not target.is_symlink():
                os.chmod(target, target.stat().st_mode | 0o200)


def said_once(output: str, text: str) -> str:
    lines = [line for line in output.splitlines() if text in line]
    assert len(lines) == 1, f"{text!r} said {len(lines)} times:\n{output}"
    return lines[0]


def test_a_runtime_folder_made_read_only_while_running(tmp_path):
    path = write_workspace(tmp_path / "ro", beat=True, flower=True)
    runtime = path.parent / ".celerydesk"
    up = ChildProcess(without_dac_override() + up_argv(path))
    try:
        up.wait_for("stack ready", timeout=120)
        make_read_only(runtime)
        old = int(next(ln for ln in up.lines if ln.startswith("flower: RUNNING")).split("(pid ")[1].rstrip(")"))
        os.kill(old, signal.SIGKILL)  # its exit and its restart each rewrite the process record
        wait_until(lambda: sum(ln.startswith("flower: RUNNING") for ln in up.lines) == 2, 60, "Flower back")
        pids = started_pids(up.lines)
        up.signal(signal.SIGTERM)
        code = up.finish(timeout=90)
        output = "\n".join(up.lines)
        assert code == 1, output
        line = said_once(output, "cannot write the process record")
        assert "permission denied" in line
        assert output.count("make ") == 1 and "writable by you" in output  # the → line, once
        assert "Traceback" not in output
        assert left_running(pids) == []
    finally:
        up.kill_group()
        make_writable(runtime)


def test_a_read_only_runtime_folder_refuses_the_start_with_a_message(tmp_path):
    path = write_workspace(tmp_path / "ro-start", beat=False, flower=True)
    runtime = Runtime(path.parent / ".celerydesk")
    runtime.acquire_lock()  # what an earlier run leaves: the folders, the lock file, Flower's login
    runtime.release_lock()
    runtime.flower_credentials()
    make_read_only(runtime.dir)
    try:
        proc = subprocess.run(without_dac_override() + up_argv(path), capture_output=True, text=True, timeout=120,
                              cwd=REPO)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert "celerydesk: cannot write the stack's lock file" in proc.stderr and "permission denied" in proc.stderr
        assert "→ make" in proc.stderr and "Traceback" not in proc.stderr
    finally:
        make_writable(runtime.dir)


def test_a_full_disk_under_the_running_stack(tmp_path):
    require(os.geteuid() == 0 and shutil.which("unshare") and shutil.which("nsenter"),
            "a private mount namespace needs root, unshare and nsenter")
    path = write_workspace(tmp_path / "full", beat=True, flower=True)
    runtime = path.parent / ".celerydesk"
    runtime.mkdir()
    # The tmpfs exists only in up's mount namespace: its children share it, the test does not.
    script = 'mount -t tmpfs -o size=4m,mode=0700 tmpfs "$1" && exec "$2" -m celerydesk up -w "$3"'
    up = ChildProcess(["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh",
                       str(runtime), sys.executable, str(path)])
    try:
        up.wait_for("stack ready", timeout=120)
        fill = subprocess.run(["nsenter", "-t", str(up.proc.pid), "-m", "--", "dd", "if=/dev/zero",
                               f"of={runtime}/fill", "bs=64k"], capture_output=True, text=True, timeout=60)
        assert "No space left on device" in fill.stderr, fill.stderr
        # Redis cannot append to its AOF any more: it refuses writes, and `call` names that.
        def refused():
            call = subprocess.run([sys.executable, "-m", "celerydesk", "call", "celerydesk.sample.tasks.add",
                                   "--args", "[1, 2]", "--no-check", "-w", str(path)],
                                  capture_output=True, text=True, timeout=60, cwd=REPO)
            return call if "refuses writes" in call.stderr else None

        call = wait_until(refused, 60, "`call` to be refused by a Redis that cannot write", every=1)
        assert call.returncode == 2 and "MISCONF" in call.stderr and "free space" in call.stderr
        old = int(next(ln for ln in up.lines if ln.startswith("flower: RUNNING")).split("(pid ")[1].rstrip(")"))
        os.kill(old, signal.SIGKILL)  # a state change: the process record cannot be written
        wait_until(lambda: "the disk is full" in "\n".join(up.lines), 60, "the full disk said")
        pids = started_pids(up.lines)
        up.signal(signal.SIGTERM)
        code = up.finish(timeout=90)
        output = "\n".join(up.lines)
        assert code == 1, output
        said_once(output, "the disk is full")
        assert "Traceback" not in output
        assert left_running(pids) == []
    finally:
        up.kill_group()
