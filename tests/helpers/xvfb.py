"""A real X server for window tests: Xvfb on a free display, xdotool to type, import to look.

Used by the window test from source (tests/e2e) and of the frozen binary (tests/frozen).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Iterator

import psutil

from celerydesk.core.workspace import load_workspace
from tests.helpers.stack import ChildProcess, alive, write_workspace
from tests.helpers.strict import require

SHOTS = Path(os.environ.get("CELERYDESK_SHOTS", "/tmp/celerydesk-shots"))


def running_xvfb() -> Iterator[str]:
    """Start Xvfb on a display nobody holds; yield ``":N"``; stop it. (A fixture body.)"""
    require(shutil.which("Xvfb") is not None, "Xvfb is not installed (apt-get install xvfb)")
    require(shutil.which("xdotool") is not None, "xdotool is not installed (apt-get install xdotool)")
    number = next(n for n in range(90, 200)
                  if not os.path.exists(f"/tmp/.X{n}-lock") and not os.path.exists(f"/tmp/.X11-unix/X{n}"))
    xvfb = subprocess.Popen(["Xvfb", f":{number}", "-screen", "0", "1280x860x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until(lambda: os.path.exists(f"/tmp/.X11-unix/X{number}") or xvfb.poll() is not None, 30, "Xvfb")
    assert xvfb.poll() is None, "Xvfb exited at start"
    try:
        yield f":{number}"
    finally:
        xvfb.terminate()
        xvfb.wait(10)


def gui_env(display: str, config_home: Path) -> dict:
    return {**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb",
            "QTWEBENGINE_CHROMIUM_FLAGS": "--no-sandbox", "XDG_CONFIG_HOME": str(config_home)}


def wait_until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def window_id(env: dict, title: str):
    # --onlyvisible: Qt also creates unmapped windows with the same title, which cannot take focus.
    result = subprocess.run(["xdotool", "search", "--onlyvisible", "--name", title], env=env,
                            capture_output=True, text=True)
    ids = result.stdout.split()
    return ids[0] if ids else None


def press(env: dict, wid: str, keys: str) -> None:
    # Xvfb has no window manager: focus the window ourselves, then type as a user would.
    subprocess.run(["xdotool", "windowfocus", "--sync", wid], env=env, check=False, capture_output=True)
    subprocess.run(["xdotool", "key", "--clearmodifiers", keys], env=env, check=True)


def screenshot(display: str, name: str) -> Path:
    """The whole screen as a PNG in SHOTS; asserts it is a real picture, not a blank screen."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    shot = SHOTS / name
    subprocess.run(["import", "-display", display, "-window", "root", str(shot)], check=True)
    assert shot.stat().st_size > 20000
    colors = subprocess.run(["identify", "-format", "%k", str(shot)], capture_output=True, text=True)
    assert int(colors.stdout or 0) > 50
    return shot


def recorded_processes(folder: Path) -> dict:
    try:
        return json.loads((folder / ".celerydesk" / "processes.json").read_text()).get("processes", {})
    except (OSError, ValueError):
        return {}


def show_page(app: ChildProcess, env: dict, wid: str, keys: str, page: str) -> None:
    """Press a page's shortcut until the window says it shows it (``gui -v``: "page: KEY")."""
    for _ in range(4):  # the first key press can land before Qt has the focus
        seen = sum(f"page: {page}" in line for line in app.lines)
        press(env, wid, keys)
        try:
            wait_until(lambda: sum(f"page: {page}" in line for line in app.lines) > seen, 5, f"the {page} page")
            return
        except AssertionError:
            continue
    raise AssertionError(f"{keys} did not show the {page} page")


def window_starts_stack_shows_flower_and_stops(command: list[str], folder: Path, display: str,
                                               shot_name: str) -> Path:
    """The user's path through the real window: open ``command gui`` on a workspace, press
    Ctrl+Shift+S, see the stack run; see the Dashboard (Ctrl+2) build; go to the Workers page (Ctrl+7), then the Flower page
    (Ctrl+8), built only then, and see Flower's page load there; take a screenshot, then
    SIGTERM: exit 0 and no process of the stack left 5 s later."""
    path = write_workspace(folder, workers=[{"name": "main", "concurrency": 2}])
    flower_port = load_workspace(path).flower.port
    env = gui_env(display, folder.parent / "config")
    app = ChildProcess([*command, "gui", "--verbose", "-w", str(path)], env=env)
    try:
        wid = wait_until(lambda: window_id(env, f"celerydesk.*{folder.name}"), 60, "the main window")
        records = None
        for _ in range(4):  # the first key press can land before Qt has the focus
            press(env, wid, "ctrl+shift+s")
            try:
                records = wait_until(lambda: recorded_processes(folder) or None, 15, "the stack to start")
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
        # The Dashboard (built when shown) imports pyqtgraph and numpy: a frozen build missing them fails here.
        show_page(app, env, wid, "ctrl+2", "dashboard")
        time.sleep(1)
        assert not any("Traceback" in line or "Error:" in line for line in app.lines), "\n".join(app.lines)
        show_page(app, env, wid, "ctrl+7", "workers")
        time.sleep(1)  # Flower runs by now: a Flower page built already would be loading it
        assert not any("flower tab: " in line for line in app.lines), "the Flower page was built before it was shown"
        # The Flower page, built when shown: its web view loads Flower's dashboard, credentials supplied.
        show_page(app, env, wid, "ctrl+8", "flower")
        app.wait_for(f"flower tab: loaded http://127.0.0.1:{flower_port}/", 90)
        time.sleep(1.5)  # let the dashboard draw before the screenshot
        shot = screenshot(display, shot_name)
        app.signal(signal.SIGTERM)
        assert app.finish(60) == 0
        assert wait_until(lambda: not alive(pids), 5, "every process of the stack to end")
        assert not any("flower tab: " in line and "loaded" not in line for line in app.lines), app.lines
        return shot
    except AssertionError as exc:
        app.kill_group()
        raise AssertionError(f"{exc}\n{' '.join(command)} gui said:\n" + "\n".join(app.lines[-60:])) from None
    finally:
        app.kill_group()
