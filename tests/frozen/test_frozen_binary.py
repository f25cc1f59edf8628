"""The PyInstaller build (``make binary``): what someone with no Python installed runs.

CELERYDESK_FROZEN_BINARY names the built ``dist/celerydesk/celerydesk``; .ci/run builds it and
sets it before the tests. Without it these tests skip (a failure in strict mode).

- ``--version`` and ``self-test`` with a bare environment (``env -i PATH=/usr/bin:/bin``): the
  sample's worker and beat run through the binary's own ``_python`` sub-command;
- a user project still runs in its own interpreter (the storefront's virtualenv), with none
  of the bundled libraries leaking into it;
- the binary's window on Xvfb: Ctrl+Shift+S starts the stack and the Flower tab shows Flower.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from celerydesk import __version__
from tests.helpers.project_venv import storefront_venv
from tests.helpers.stack import ChildProcess, alive, write_workspace
from tests.helpers.strict import require
from tests.helpers.xvfb import running_xvfb, window_starts_stack_shows_flower_and_stops

pytestmark = pytest.mark.slow
PROJECTS = Path(__file__).resolve().parent.parent / "projects"


@pytest.fixture(scope="module")
def binary() -> Path:
    path = os.environ.get("CELERYDESK_FROZEN_BINARY", "")
    require(bool(path) and Path(path).is_file(),
            "no frozen build to test: `make binary`, then CELERYDESK_FROZEN_BINARY=dist/celerydesk/celerydesk")
    return Path(path).resolve()


def bare_env(home: Path) -> dict:
    """What `env -i PATH=/usr/bin:/bin` leaves: no virtualenv, no PYTHONPATH, no locale."""
    home.mkdir(parents=True, exist_ok=True)
    return {"PATH": "/usr/bin:/bin", "HOME": str(home)}


def test_version_with_a_bare_environment(binary, tmp_path):
    result = subprocess.run([str(binary), "--version"], env=bare_env(tmp_path), capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"celerydesk {__version__}"
    assert result.stderr == ""  # no locale warning from Qt, nothing else


def test_self_test_passes_with_a_bare_environment(binary, tmp_path):
    result = subprocess.run([str(binary), "self-test"], env=bare_env(tmp_path), capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "(frozen build)" in out
    for check in ("stack:", "notify_customers:", "process_video:", "beat:", "flower:", "stop:"):
        assert f"  ok   {check}" in out, out
    assert "self-test passed" in out


def test_user_project_runs_in_its_own_interpreter(binary, tmp_path):
    project = tmp_path / "storefront"
    shutil.copytree(PROJECTS / "storefront", project)
    python = storefront_venv()
    write_workspace(project, app="storefront",
                    project={"python": str(python), "env": {"DJANGO_SETTINGS_MODULE": "storefront.settings"}})
    env = bare_env(tmp_path / "home")
    up = ChildProcess([str(binary), "up", "-w", str(project)], env=env)
    try:
        up.wait_for("stack ready", timeout=120)
        call = subprocess.run([str(binary), "call", "playground.tasks.notify_customers", "-w", str(project),
                               "--args", '["Hello World"]', "--wait", "60"], env=env, capture_output=True,
                              text=True, timeout=120)
        assert call.returncode == 0, call.stdout + call.stderr
        assert "notified customers: Hello World" in call.stdout
        records = (project / ".celerydesk" / "processes.json").read_text()
        worker_pid = int(json.loads(records)["processes"]["worker-main"]["pid"])
        cmdline = Path(f"/proc/{worker_pid}/cmdline").read_bytes().split(b"\0")
        assert cmdline[0].decode() == str(python)  # the project's interpreter, not the binary
        environ = Path(f"/proc/{worker_pid}/environ").read_bytes().split(b"\0")
        assert not any(var.startswith(b"LD_LIBRARY_PATH=") and b"_internal" in var for var in environ)
        up.signal()
        assert up.finish(60) == 0
        assert not alive([worker_pid])
    finally:
        up.kill_group()


@pytest.fixture
def display():
    yield from running_xvfb()


@pytest.mark.xvfb
def test_window_starts_the_stack_and_shows_flower(binary, display, tmp_path):
    window_starts_stack_shows_flower_and_stops([str(binary)], tmp_path / "frozen-shop", display,
                                               "frozen-window-running.png")
