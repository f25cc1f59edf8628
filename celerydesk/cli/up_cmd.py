"""``celerydesk up``: run the workspace's stack in the foreground until SIGINT or SIGTERM.

Prints one line per state change (``worker main: RUNNING``), ``stack ready`` once everything
runs, and on SIGINT/SIGTERM stops the stack in order and exits 0, or 1 when the stop was not
clean (a service had to be killed, or its logs or records could not be written). A second
signal kills what is still running at once. A workspace whose stack another celerydesk runs is
refused before anything starts, with exit code 3.

While it runs, the tasks the broker's events show are recorded in the workspace's history
(``core.history.headless``), from the moment the broker is up; a history that cannot be
written is said once and the stack runs on without it. The workspace's ``[[alerts]]`` are
evaluated over the same events (and the depths of the queues they name), each firing printed
as ``alert: RULE: message`` on stderr and stored in the history.
"""

from __future__ import annotations

import signal
import sys

from celerydesk.cli.main import add_workspace_option, open_workspace_tunnel
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
    if ws.watch_only:  # said, so that "stack ready" is not read as something having started
        _say(f"note: {ws.environment_name} is watch-only (an external broker, no [[workers]], beat or Flower): "
             "nothing is started or stopped; the tasks are recorded as `celerydesk watch` does")

    from PySide6.QtCore import QCoreApplication, QTimer

    from celerydesk.services.stack import StackController
    from celerydesk.services.unix_signals import SignalWatcher

    app = QCoreApplication.instance() or QCoreApplication([sys.argv[0]])
    from celerydesk.core.commands import BROKER
    from celerydesk.core.history.headless import HeadlessHistory

    tunnel = open_workspace_tunnel(ws)  # [broker] ssh: every service gets the tunnel's local end
    if tunnel is not None:
        _say(f"ssh tunnel: 127.0.0.1:{tunnel.local_port} → {tunnel.remote[0]}:{tunnel.remote[1]} "
             f"through {tunnel.destination}")
    stack = StackController(ws)
    stack.runtime.acquire_lock()  # refused (exit 3) before a loop runs that nothing would end
    outcome = {"code": 0, "signals": 0, "ready": False, "failed": False}
    history = HeadlessHistory(ws, lambda level, text: _say(
        text if level == "info" else f"{level}: {text}", err=level != "info"), runtime_dir=stack.runtime.dir)
    history.start()
    # The queue depths over time, for the Dashboard: the window's poll, without the window.
    from celerydesk.core.broker_client import BrokerClient
    from celerydesk.services.broker import BrokerService
    from celerydesk.services.queue_depths import QueueDepths

    depths = QueueDepths(stack, BrokerService(BrokerClient(stack.broker_url(), management=ws.management_api())))
    depths.depthsChanged.connect(history.record_depths)

    def on_state(key: str, state: ProcessState) -> None:
        service = stack.services[key]
        line = f"{service.label}: {state.name}"
        if state in EXPLAINED and service.supervision.message:
            line += f" ({service.supervision.message})"
        elif state == ProcessState.RUNNING and service.pid:
            line += f" (pid {service.pid})"
        _say(line)
        if state == ProcessState.STOPPING:
            history.service_stopping(key)
        if key == BROKER and state == ProcessState.RUNNING:
            history.consume(stack.broker_url())  # now: the events of the workers' start are recorded too
        if state == ProcessState.FATAL and not outcome["ready"] and not outcome["failed"]:
            # In the foreground a start that failed ends the command (the window stays, to fix and
            # retry); after "stack ready" a service that gives up leaves the others running.
            outcome["failed"] = True
            # After the stack's own message saying why (it is emitted after this state change).
            QTimer.singleShot(0, lambda: (_say(f"error: the stack did not come up ({service.label} failed); "
                                               "stopping what started", err=True), stack.stop_all()))

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

    def on_signal(signum: int) -> None:
        outcome["signals"] += 1
        if outcome["signals"] == 1:
            _say(f"{signal.Signals(signum).name}: stopping (workers finish their running tasks; "
                 "signal again to kill now) ...")
            stack.stop_all()
        else:
            _say("killing what is still running")
            stack.kill_all()

    watcher = SignalWatcher()
    watcher.received.connect(on_signal)
    QTimer.singleShot(0, stack.start_all)  # in the loop: a start that fails at once can end it
    app.exec()
    watcher.close()
    depths.stop()
    history.close()
    if outcome["signals"]:
        if not stack.last_stop_clean:
            _say("error: the stop was not clean (see above)", err=True)
        return 0 if stack.last_stop_clean else 1
    return outcome["code"] or 1  # stopped without being asked: a failed start
