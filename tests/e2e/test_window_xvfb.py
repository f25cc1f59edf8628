"""The real window on a real X server (Xvfb): shown, started from the keyboard, SIGTERMed.

`celerydesk gui` runs as a child process with the xcb platform, as a user would start it; the
stack is started with the window's own shortcut (Ctrl+Shift+S, sent by xdotool), a screenshot
is taken from the X server, and SIGTERM must stop the stack and leave no process behind.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.helpers.stack import alive, write_workspace
from tests.helpers.strict import require

pytestmark = [pytest.mark.xvfb, pytest.mark.slow]
SHOTS = Path(os.environ.get("CELERYDESK_SHOTS", "/tmp/celerydesk-shots"))


@pytest.fixture
def display():
    require(shutil.which("Xvfb") is not None, "Xvfb is not installed (apt-get install xvfb)")
    require(shutil.which("xdotool") is not None, "xdotool is not installed (apt-get install xdotool)")
    # A display number nobody holds; ready once its socket exists.
    number = next(n for n in range(90, 200)
                  if not os.path.exists(f"/tmp/.X{n}-lock") and not os.path.exists(f"/tmp/.X11-unix/X{n}"))
    xvfb = subprocess.Popen(["Xvfb", f":{number}", "-screen", "0", "1280x860x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until(lambda: os.path.exists(f"/tmp/.X11-unix/X{number}") or xvfb.poll() is not None, 30, "Xvfb")
    assert xvfb.poll() is None, "Xvfb exited at start"
    yield f":{number}"
    xvfb.terminate()
    xvfb.wait(10)


def wait_until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def window_id(env, title: str):
    # --onlyvisible: Qt also creates unmapped windows with the same title, which cannot take focus.
    result = subprocess.run(["xdotool", "search", "--onlyvisible", "--name", title], env=env,
                            capture_output=True, text=True)
    ids = result.stdout.split()
    return ids[0] if ids else None


def recorded_processes(folder: Path) -> dict:
    try:
        return json.loads((folder / ".celerydesk" / "processes.json").read_text()).get("processes", {})
    except (OSError, ValueError):
        return {}


def test_window_starts_the_stack_and_sigterm_leaves_nothing(display, tmp_path):
    folder = tmp_path / "shop"
    path = write_workspace(folder, workers=[{"name": "main", "concurrency": 2}])
    env = {**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb",
           "QTWEBENGINE_CHROMIUM_FLAGS": "--no-sandbox", "XDG_CONFIG_HOME": str(tmp_path / "config")}
    app = subprocess.Popen([sys.executable, "-m", "celerydesk", "gui", "-w", str(path)], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wid = wait_until(lambda: window_id(env, "celerydesk.*shop"), 60, "the main window")

        def press_start_all():
            # Xvfb has no window manager: focus the window ourselves, then type as a user would.
            subprocess.run(["xdotool", "windowfocus", "--sync", wid], env=env, check=False,
                           capture_output=True)
            subprocess.run(["xdotool", "key", "--clearmodifiers", "ctrl+shift+s"], env=env, check=True)
            return wait_until(lambda: recorded_processes(folder) or None, 15, "the stack to start")

        records = None
        for _ in range(4):  # the first key press can land before Qt has the focus
            try:
                records = press_start_all()
                break
            except AssertionError:
                continue
        assert records, "Ctrl+Shift+S did not start the stack"
        records = wait_until(lambda: (lambda r: r if len(r) == 4 else None)(recorded_processes(folder)),
                             90, "broker, worker, beat and Flower to be started from the window")
        pids = [rec["pid"] for rec in records.values()]
        wait_until(lambda: "ready." in (folder / ".celerydesk" / "logs" / "worker-main.log").read_text(),
                   90, "the worker to be ready")
        pids += [c.pid for p in pids if psutil.pid_exists(p) for c in psutil.Process(p).children(recursive=True)]
        time.sleep(2)  # let the Flower tab load the dashboard before the screenshot
        SHOTS.mkdir(parents=True, exist_ok=True)
        shot = SHOTS / "window-running.png"
        subprocess.run(["import", "-display", display, "-window", "root", str(shot)], check=True, env=env)
        assert shot.stat().st_size > 20000  # a real picture, not a blank screen
        colors = subprocess.run(["identify", "-format", "%k", str(shot)], capture_output=True, text=True, env=env)
        assert int(colors.stdout or 0) > 50

        app.send_signal(signal.SIGTERM)
        assert app.wait(60) == 0, app.stdout.read().decode(errors="replace")
        assert wait_until(lambda: not alive(pids), 5, "every process of the stack to end")
    except AssertionError:
        if app.poll() is None:
            os.killpg(app.pid, signal.SIGKILL)
        output = app.stdout.read().decode(errors="replace")
        raise AssertionError(f"celerydesk gui said:\n{output[-3000:]}") from None
    finally:
        if app.poll() is None:
            os.killpg(app.pid, signal.SIGKILL)
            app.wait()
