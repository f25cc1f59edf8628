"""``celerydesk up``: run the workspace's stack in the foreground until SIGINT or SIGTERM.

Prints one line per state change (``worker main: RUNNING``), ``stack ready`` once everything
runs, and on SIGINT/SIGTERM stops the stack in order and exits 0. A second signal kills what
is still running at once.
"""

from __future__ import annotations

import signal
import socket
import sys

from celerydesk.cli.main import add_workspace_option
from celerydesk.core.paths import sample_workspace_path
from celerydesk.core.states import ProcessState
from celerydesk.core.workspace import load_workspace

EXPLAINED = {ProcessState.BACKOFF, ProcessState.FATAL, ProcessState.EXITED}


def add_parser(sub) -> None:
    p = sub.add_parser("up", help="start the stack in the foreground; Ctrl-C stops it")
    add_workspace_option(p)
    p.add_argument("--sample", action="store_true", help="run the built-in sample workspace")
    p.set_defaults(func=run)


def _say(text: str, err: bool = False) -> None:
    print(text, file=sys.stderr if err else sys.stdout, flush=True)


def run(args) -> int:
    ws = load_workspace(sample_workspace_path() if args.sample else args.workspace)
    for warning in ws.warnings:
        _say(f"warning: {warning}", err=True)

    from PySide6.QtCore import QCoreApplication, QSocketNotifier

    from celerydesk.services.stack import StackController

    app = QCoreApplication.instance() or QCoreApplication([sys.argv[0]])
    stack = StackController(ws)
    outcome = {"code": 0, "signals": 0, "ready": False}

    def on_state(key: str, state: ProcessState) -> None:
        service = stack.services[key]
        line = f"{service.label}: {state.name}"
        if state in EXPLAINED and service.supervision.message:
            line += f" ({service.supervision.message})"
        elif state == ProcessState.RUNNING and service.pid:
            line += f" (pid {service.pid})"
        _say(line)

    def on_message(level: str, text: str) -> None:
        if level == "error":
            outcome["code"] = 1 if not outcome["ready"] else outcome["code"]
            _say(f"error: {text}", err=True)
        else:
            _say(text if level == "info" else f"{level}: {text}")

    def on_ready() -> None:
        outcome["ready"] = True
        _say("stack ready")

    stack.serviceStateChanged.connect(on_state)
    stack.message.connect(on_message)
    stack.stackReady.connect(on_ready)
    stack.stackStopped.connect(app.quit)

    # Python runs signal handlers only between bytecodes; the Qt loop is C++. A wakeup fd
    # watched by a socket notifier brings the signal into the event loop immediately.
    rsock, wsock = socket.socketpair()
    for s in (rsock, wsock):
        s.setblocking(False)
    signal.set_wakeup_fd(wsock.fileno())
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda *_: None)
    notifier = QSocketNotifier(rsock.fileno(), QSocketNotifier.Type.Read)

    def on_signal() -> None:
        try:
            rsock.recv(64)
        except BlockingIOError:
            return
        outcome["signals"] += 1
        if outcome["signals"] == 1:
            _say("stopping (workers finish their running tasks; signal again to kill now) ...")
            stack.stop_all()
        else:
            _say("killing what is still running")
            for service in stack.services.values():
                kill = getattr(service, "_kill_group", None)
                if kill:
                    kill()

    notifier.activated.connect(on_signal)
    stack.start_all()
    app.exec()
    signal.set_wakeup_fd(-1)
    if outcome["signals"]:
        return 0
    return outcome["code"] or 1  # stopped without being asked: a failed start
