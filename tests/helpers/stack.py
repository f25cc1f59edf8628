"""Workspaces on free ports, and a StackController driven to ready and back, for tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

from celerydesk.core.ports import free_ports
from celerydesk.core.states import StackPhase
from celerydesk.core.workspace import load_workspace


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    return json.dumps(value)


def write_workspace(folder: Path, *, app: str = "celerydesk.sample", mode: str = "local",
                    broker_port: Optional[int] = None, flower_port: Optional[int] = None,
                    workers: Optional[list[dict]] = None, beat: bool = True, flower: bool = True,
                    project: Optional[dict] = None, broker: Optional[dict] = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    ports = free_ports(2)  # two different ones, whichever are not given
    lines = ["[project]", f"app = {toml_value(app)}"]
    for key, value in (project or {}).items():
        lines.append(f"{key} = {toml_value(value)}")
    lines += ["", "[broker]", f"mode = {toml_value(mode)}", f"port = {broker_port or ports[0]}"]
    for key, value in (broker or {}).items():
        lines.append(f"{key} = {toml_value(value)}")
    for worker in workers or [{"name": "main", "concurrency": 2}]:
        lines += ["", "[[workers]]"] + [f"{k} = {toml_value(v)}" for k, v in worker.items()]
    lines += ["", "[beat]", f"enabled = {toml_value(beat)}",
              "", "[flower]", f"enabled = {toml_value(flower)}", f"port = {flower_port or ports[1]}", ""]
    path = folder / "celerydesk.toml"
    path.write_text("\n".join(lines))
    return path


def make_workspace(folder: Path, **kwargs):
    return load_workspace(write_workspace(folder, **kwargs))


def start_stack(qtbot, ws, timeout_ms: int = 90000):
    """A StackController started and waited for; messages are kept on ``stack.test_messages``."""
    from celerydesk.services.stack import StackController

    stack = StackController(ws)
    stack.test_messages = []
    stack.test_states = []  # (key, state name) in the order they happened
    stack.message.connect(lambda level, text: stack.test_messages.append((level, text)))
    stack.serviceStateChanged.connect(lambda key, state: stack.test_states.append((key, state.name)))
    outcome: list[str] = []
    stack.stackReady.connect(lambda: outcome.append("ready"))
    stack.stackStopped.connect(lambda: outcome.append("stopped"))
    stack.start_all()
    qtbot.waitUntil(lambda: bool(outcome), timeout=timeout_ms)
    assert outcome[0] == "ready", stack.test_messages
    return stack


def start_broker_alone(ws):
    """A StackController with only its broker started (and waited for, outside any one test's
    qtbot): what the window's broker services need to run. Stop it with ``stop_broker_alone``."""
    return start_outside_a_test(ws, only=set())


def start_outside_a_test(ws, only=None):
    """A StackController started (``only`` those services, or all) and waited for outside any one
    test's qtbot, for a module's fixture. Stop it with ``stop_broker_alone``."""
    from celerydesk.services.stack import StackController
    from tests.helpers.qt_wait import wait_for

    stack = StackController(ws)
    stack.test_outcome = []
    stack.stackReady.connect(lambda: stack.test_outcome.append("ready"))
    stack.stackStopped.connect(lambda: stack.test_outcome.append("stopped"))
    stack.start_all(only=only)
    wait_for(lambda: stack.test_outcome, 120, "the stack")
    assert stack.test_outcome == ["ready"]
    return stack


def stop_broker_alone(stack) -> None:
    from tests.helpers.qt_wait import wait_for

    stack.test_outcome.clear()
    stack.stop_all()
    wait_for(lambda: stack.test_outcome, 60, "the stack to stop")


def start_stack_expecting_failure(qtbot, ws, timeout_ms: int = 60000) -> list:
    """Start a stack that must not start; return its error messages."""
    from celerydesk.services.stack import StackController

    stack = StackController(ws)
    messages: list = []
    stack.message.connect(lambda level, text: messages.append((level, text)))
    with qtbot.waitSignal(stack.stackStopped, timeout=timeout_ms):
        stack.start_all()
    assert not stack.services or all(s.pid is None for s in stack.services.values())
    return [text for level, text in messages if level == "error"]


def stop_stack(qtbot, stack, timeout_ms: int = 60000) -> None:
    if stack.phase == StackPhase.IDLE:
        return
    with qtbot.waitSignal(stack.stackStopped, timeout=timeout_ms):
        stack.stop_all()


def alive(pids) -> list[int]:
    import psutil

    out = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                out.append(pid)
        except psutil.Error:
            pass
    return out


def stack_pids(stack) -> list[int]:
    """Main processes and every descendant of the stack's children."""
    import psutil

    pids = []
    for service in stack.services.values():
        if service.pid:
            pids.append(service.pid)
            try:
                pids += [c.pid for c in psutil.Process(service.pid).children(recursive=True)]
            except psutil.Error:
                pass
    return pids


class ChildProcess:
    """A celerydesk command as a real child process (own session), its output collected line by line."""

    def __init__(self, argv: list[str], env: Optional[dict] = None):
        import threading

        self.proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
            env={**os.environ, **(env or {})}, start_new_session=True)
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for(self, text: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        seen = 0
        with self._changed:
            while True:
                for line in self.lines[seen:]:
                    if text in line:
                        return line
                seen = len(self.lines)
                left = deadline - time.monotonic()
                if left <= 0 or not self._reader.is_alive():
                    break
                self._changed.wait(min(left, 0.5))
        raise AssertionError(f"{text!r} not seen within {timeout} s; output:\n" + "\n".join(self.lines))

    def signal(self, signum=signal.SIGTERM) -> None:
        self.proc.send_signal(signum)

    def finish(self, timeout: float = 60.0) -> int:
        code = self.proc.wait(timeout=timeout)
        self._reader.join(10)
        return code

    def kill_group(self) -> None:
        """SIGKILL the child's whole session: what a failed test must not leave behind."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                pass
            self.proc.wait()


class UpProcess(ChildProcess):
    """``celerydesk up`` (from source) as a real child process."""

    def __init__(self, workspace_path: Path, *extra: str, env: Optional[dict] = None):
        super().__init__([sys.executable, "-m", "celerydesk", "up", "-w", str(workspace_path), *extra], env)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def running_context(ws):
    """A stack of ``ws`` started (outside any one test's qtbot) and its window context: for a
    module-scoped fixture, ``yield from running_context(ws)``. Shuts both down after."""
    from celerydesk.services.context import DeskContext

    stack = start_outside_a_test(ws)
    context = DeskContext(stack, parent=stack)
    yield context
    context.shutdown()
    stop_broker_alone(stack)
    stack.deleteLater()


def remote_worker(broker_url: str, cwd, *options: str) -> subprocess.Popen:
    """A worker of the sample app named ``remote@<host>``, started by hand as someone else's would
    be (its own session, quiet): ``options`` are its own (``-c 1``, ``-P solo``, ``-Q q``)."""
    return subprocess.Popen([sys.executable, "-m", "celery", "-A", "celerydesk.sample", "worker", "-n", "remote@%h",
                             "-E", "-l", "warning", "--without-mingle", "--without-gossip", *options],
                            env={**os.environ, "CELERY_BROKER_URL": broker_url}, cwd=cwd, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
