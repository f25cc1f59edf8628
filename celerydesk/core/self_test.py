"""``celerydesk self-test``: the built-in sample stack, end to end, in a scratch folder.

What a user runs when something looks wrong, and what CI runs against the frozen binary. It
writes the sample's workspace into a temporary folder (free ports, a local broker, one extra
schedule that beat sends every second), starts ``celerydesk up`` on it as a child process
(the same engine and code path a user's ``up`` takes), then checks, in order:

1. the stack comes up: broker, worker, beat and Flower all report RUNNING;
2. ``notify_customers`` and ``process_video`` run on the worker and return what they should;
3. beat sends the every-second schedule and the worker runs it;
4. Flower answers, with the generated credentials, and has seen the worker and the tasks;
5. ``up`` stops everything on SIGTERM, exits 0, and leaves no process and no port behind.

Each check prints one line; the first failure stops the run (the stack is stopped all the
same) and the scratch folder with its logs is kept for the user to read. Only celerydesk's
broker client (celery as a client) and the standard library are used here: no Qt.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from celerydesk import __version__
from celerydesk.core.paths import write_sample_workspace
from celerydesk.core.ports import free_ports, port_is_free
from celerydesk.core.runtime import Runtime
from celerydesk.core.selfcmd import cli_argv, is_frozen
from celerydesk.core.workspace import RUNTIME_DIR_NAME, load_workspace
from celerydesk.core.workspace_edit import WorkspaceDocument

SAMPLE_TASKS = "celerydesk.sample.tasks"
BEAT_SCHEDULE = "self-test-every-second"
BEAT_MESSAGE = "self-test: sent by beat"
VIDEO_BYTES = 3 * 1024 * 1024 + 12345  # several chunks, and a last one that is not full


class CheckFailed(Exception):
    """A check did not pass: ``str()`` says what was seen, ``hint`` what to look at."""

    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.hint = hint


@dataclass
class SelfTestOptions:
    timeout: float = 120.0  # for the stack to come up; the other checks have their own bounds
    keep: bool = False  # keep the scratch folder even when everything passed


class UpProcess:
    """``celerydesk up`` on the scratch workspace, its output read line by line on a thread."""

    def __init__(self, workspace: Path):
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        self.proc = subprocess.Popen(
            cli_argv("up", "-w", str(workspace)), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, text=True, env=env, start_new_session=True)
        self.lines: "queue.Queue[Optional[str]]" = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True, name="self-test-up-reader").start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.output.append(line.rstrip("\n"))
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_for(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise CheckFailed(f"no {text!r} within {timeout:g} s; `celerydesk up` said:\n"
                                  + self.tail(), hint="the service logs below say why") from None
            if line is None:
                raise CheckFailed(f"`celerydesk up` exited with code {self.proc.wait()} before {text!r}:\n"
                                  + self.tail())
            if line.strip() == text:
                return

    def tail(self, lines: int = 12) -> str:
        return "\n".join(f"      | {line}" for line in self.output[-lines:])

    def stop(self, timeout: float = 60.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)  # its own session: the whole stack goes
            self.proc.wait()
            raise CheckFailed(f"`celerydesk up` did not stop within {timeout:g} s of SIGTERM; killed:\n"
                              + self.tail()) from None


class SelfTest:
    def __init__(self, options: SelfTestOptions, say: Callable[[str], None] = print):
        self.options = options
        self.say = say
        self.folder = Path(tempfile.mkdtemp(prefix="celerydesk-self-test-"))
        self.up: Optional[UpProcess] = None
        self.client = None

    # -- setting up --------------------------------------------------------------------------------

    def write_workspace(self) -> Path:
        path = write_sample_workspace(self.folder)
        doc = WorkspaceDocument.load(path)
        doc.set(("broker", "mode"), "local")
        broker_port, flower_port = free_ports(2)
        doc.set(("broker", "port"), broker_port)
        doc.set(("flower", "port"), flower_port)
        doc.add_schedule(BEAT_SCHEDULE, f"{SAMPLE_TASKS}.notify_customers", every=1.0,
                         args=[BEAT_MESSAGE, 0], kwargs={})
        doc.save()
        return path

    # -- the checks ----------------------------------------------------------------------------------

    def check_stack_up(self, workspace: Path) -> str:
        self.up = UpProcess(workspace)
        self.up.wait_for("stack ready", self.options.timeout)
        return "broker, worker main, beat and flower are RUNNING"

    def broker_client(self, url: str):
        from celerydesk.core.broker_client import BrokerClient  # the sample's code is not imported here

        self.client = BrokerClient(url, backend=url)
        return self.client

    def send(self, name: str, args=(), kwargs=None):
        """The task's AsyncResult; a broker that refuses is named (a wrong password, a full disk ...)."""
        from celerydesk.core.errors import DeskError

        try:
            return self.client.result(self.client.send(name, args, kwargs))
        except DeskError as problem:  # the client's words (core.broker_errors names the cause)
            raise CheckFailed(problem.message, hint=problem.hint) from None

    def check_notify(self) -> str:
        result = self.send(f"{SAMPLE_TASKS}.notify_customers", args=["self-test", 0])
        value = self._result(result, "notify_customers")
        if value != "Sent 'self-test' to 10000 customers":
            raise CheckFailed(f"notify_customers returned {value!r}")
        return f"returned {value!r}"

    def check_process_video(self) -> str:
        video = self.folder / "upload.mp4"
        data = os.urandom(VIDEO_BYTES)
        video.write_bytes(data)
        result = self.send(f"{SAMPLE_TASKS}.process_video", args=[str(video)], kwargs={"chunk_size": 1024 * 1024})
        value = self._result(result, "process_video")
        expected = hashlib.sha256(data).hexdigest()
        if not isinstance(value, dict) or value.get("sha256") != expected or value.get("bytes") != len(data):
            raise CheckFailed(f"process_video returned {value!r}; expected {len(data)} bytes with sha256 {expected}")
        return f"read {value['bytes']:,} bytes in {value['chunks']} chunks, sha256 matches"

    def _result(self, result, name: str):
        try:
            return result.get(timeout=30, propagate=True)
        except Exception as exc:  # a timeout, the task's own exception, or the backend's trouble
            from celerydesk.core.broker_errors import OTHER, classify

            trouble = classify(exc, self.client.url)
            if trouble.kind != OTHER:  # the result backend (the same Redis) could not be read
                raise CheckFailed(f"{name} [{result.id}]: the result backend {trouble.reason}",
                                  hint=trouble.hint) from None
            raise CheckFailed(f"{name} [{result.id}] did not succeed: {type(exc).__name__}: {exc}",
                              hint="the worker's log below says why") from None

    def flower_get(self, url: str, credentials: tuple[str, str], timeout: float = 5.0):
        request = urllib.request.Request(url)
        token = base64.b64encode(f"{credentials[0]}:{credentials[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read().decode() or "null")

    def check_beat_and_flower(self, flower_port: int, credentials: tuple[str, str]) -> tuple[str, str]:
        """Beat's every-second schedule ran on the worker, as Flower saw it in the task events."""
        base = f"http://127.0.0.1:{flower_port}"
        try:
            urllib.request.urlopen(f"{base}/healthcheck", timeout=5).read()
        except OSError as exc:
            raise CheckFailed(f"Flower's /healthcheck did not answer: {exc}") from None
        try:  # without the credentials Flower must refuse
            urllib.request.urlopen(f"{base}/api/workers", timeout=5).read()
            raise CheckFailed("Flower answered /api/workers without credentials: basic auth is off")
        except urllib.error.HTTPError as exc:
            if exc.code != 401:
                raise CheckFailed(f"Flower answered /api/workers without credentials with {exc.code}") from None
        deadline = time.monotonic() + 30
        workers, beat_runs = {}, []
        while time.monotonic() < deadline:
            try:
                workers = self.flower_get(f"{base}/api/workers?refresh=1", credentials) or {}
                tasks = self.flower_get(f"{base}/api/tasks?taskname={SAMPLE_TASKS}.notify_customers",
                                        credentials) or {}
            except (OSError, ValueError) as exc:
                raise CheckFailed(f"Flower's API did not answer with the generated credentials: {exc}") from None
            beat_runs = [t for t in tasks.values()
                         if BEAT_MESSAGE in str(t.get("args")) and t.get("state") == "SUCCESS"]
            if beat_runs and any(name.startswith("main@") for name in workers):
                break
            time.sleep(0.5)
        if not beat_runs:
            raise CheckFailed(f"no run of beat's every-second schedule {BEAT_SCHEDULE!r} succeeded within 30 s",
                              hint="beat's log below says whether it sent it, the worker's whether it ran it")
        if not any(name.startswith("main@") for name in workers):
            raise CheckFailed(f"Flower does not list worker main (it lists {sorted(workers) or 'none'})")
        worker = next(name for name in workers if name.startswith("main@"))
        return (f"sent {BEAT_SCHEDULE!r} and the worker ran it {len(beat_runs)} time(s)",
                f"answers with the generated credentials (and refuses without), lists {worker} and the tasks")

    def check_stopped(self, ports: list[int], records: dict) -> str:
        processes = records.get("processes", {})
        code = self.up.stop()
        if code != 0:
            raise CheckFailed(f"`celerydesk up` exited with code {code} on SIGTERM:\n" + self.up.tail())
        left = [f"{key} (pid {pid})" for key, pid in _still_running(processes)]
        left += [f"port {port} still listening" for port in ports if not port_is_free(port)]
        if left:
            raise CheckFailed(f"left behind after stopping: {', '.join(left)}")
        return f"SIGTERM stopped {len(processes)} processes and their children, exit code 0, nothing left"

    # -- running it ----------------------------------------------------------------------------------

    def step(self, name: str, action: Callable[[], str]) -> str:
        started = time.monotonic()
        detail = action()
        self.say(f"  ok   {name}: {detail} ({time.monotonic() - started:.1f} s)")
        return detail

    def run(self) -> bool:
        started = time.monotonic()
        build = "frozen build" if is_frozen() else "from source"
        self.say(f"celerydesk self-test: celerydesk {__version__} ({build}), Python {sys.version.split()[0]}, "
                 f"in {self.folder}")
        ok = False
        try:
            self.step("workspace", lambda: f"the sample's, local broker, beat every second: "
                                  f"{self.write_workspace().name}")
            ws = load_workspace(self.folder)
            runtime = Runtime(self.folder / RUNTIME_DIR_NAME)
            self.step("stack", lambda: self.check_stack_up(self.folder))
            self.broker_client(ws.broker_url())
            self.step("notify_customers", self.check_notify)
            self.step("process_video", self.check_process_video)
            beat, flower = self.check_beat_and_flower(ws.flower.port, runtime.flower_credentials())
            self.say(f"  ok   beat: {beat}")
            self.say(f"  ok   flower: {flower}")
            records = runtime.read_records()
            self.step("stop", lambda: self.check_stopped([ws.broker.port, ws.flower.port], records))
            ok = True
        except CheckFailed as failure:
            self.say(f"  FAIL {failure}")
            if failure.hint:
                self.say(f"       → {failure.hint}")
            self._show_logs()
        finally:
            if self.client is not None:
                self.client.close()
            if self.up is not None and self.up.proc.poll() is None:
                try:
                    self.up.stop()
                except CheckFailed as failure:
                    self.say(f"  FAIL {failure}")
                    ok = False
        seconds = time.monotonic() - started
        if ok and not self.options.keep:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.say(f"self-test passed in {seconds:.1f} s")
        elif ok:
            self.say(f"self-test passed in {seconds:.1f} s; kept {self.folder}")
        else:
            self.say(f"self-test FAILED after {seconds:.1f} s; the workspace and its logs are kept in {self.folder}")
        return ok

    def _show_logs(self, lines: int = 8) -> None:
        logs = self.folder / RUNTIME_DIR_NAME / "logs"
        for log in sorted(logs.glob("*.log")) if logs.is_dir() else []:
            tail = log.read_text(errors="replace").splitlines()[-lines:]
            if tail:
                self.say(f"    {log}:")
                for line in tail:
                    self.say(f"      | {line}")


def _still_running(processes: dict) -> list[tuple[str, int]]:
    """Recorded processes (pid and create time) still alive, and any process of their groups."""
    import psutil

    from celerydesk.core.reaper import same_process

    found, groups = [], {}
    for key, rec in processes.items():
        if same_process(int(rec["pid"]), float(rec["create_time"])):
            found.append((key, int(rec["pid"])))
        groups[int(rec.get("pgid", rec["pid"]))] = key
    for proc in psutil.process_iter(["pid", "status"]):
        try:
            group = os.getpgid(proc.pid)
        except OSError:
            continue
        if group in groups and proc.info["status"] != psutil.STATUS_ZOMBIE and \
                all(pid != proc.pid for _, pid in found):
            found.append((f"{groups[group]}'s child", proc.pid))
    return found


def run_self_test(options: SelfTestOptions, say: Callable[[str], None] = print) -> bool:
    return SelfTest(options, say).run()
