"""``celerydesk watch``: record the task history of a stack celerydesk did not start.

The headless form of a watch-only window: it starts nothing and stops nothing. It receives the
broker's events and records them in the workspace's history (``core.history.headless``, as
``celerydesk up`` does), so ``celerydesk history`` and the Tasks page see what ran on staging
while no window was open. It runs until SIGTERM or SIGINT, then exits 0.

A broker that cannot be reached is not a reason to stop: a watcher is left running (in a
terminal, under systemd), and the broker may be restarting. It says once why it cannot reach
it, keeps retrying every second, and says when it is back. A workspace whose ``[broker] ssh``
tunnel dies has it started again, with ssh's reason said each time it fails. Exit 2 only for
what waiting cannot fix: a workspace file with problems, or a tunnel that fails at the start.
"""

from __future__ import annotations

import signal
import sys
import threading

from celerydesk.cli.main import add_workspace_option
from celerydesk.core.urls import shown_url
from celerydesk.core.workspace import load_workspace

TICK_S = 0.5


def add_parser(sub) -> None:
    p = sub.add_parser("watch", help="record the task history of a running stack (starts nothing); Ctrl-C stops")
    add_workspace_option(p)
    p.set_defaults(func=run)


def _say(text: str, err: bool = False) -> None:
    print(text, file=sys.stderr if err else sys.stdout, flush=True)


def run(args) -> int:
    ws = load_workspace(args.workspace)
    for warning in ws.warnings:
        _say(f"warning: {warning}", err=True)
    stop = threading.Event()
    previous = {s: signal.signal(s, lambda signum, _frame: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}

    from celerydesk.core.history.headless import HeadlessHistory
    from celerydesk.core.ssh_tunnel import open_for

    tunnel = open_for(ws)  # a tunnel that fails at the start: exit 2 with ssh's reason
    where = shown_url(ws.broker.url if ws.broker.mode == "external" else ws.broker_url())
    if tunnel is not None:
        where += f" (through ssh {ws.broker.ssh})"
    lock = " (read-only)" if ws.environment.read_only else ""
    _say(f"watching {ws.environment_name}{lock}: the broker at {where}; nothing is started or stopped")
    history = HeadlessHistory(ws, lambda level, text: _say(text if level == "info" else f"{level}: {text}",
                                                           err=level != "info"))
    try:
        history.start()
        history.consume(ws.broker_url())
        _follow(history.consumer, tunnel, stop)
    finally:
        history.close()
        if tunnel is not None:
            tunnel.close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    _say("stopped watching")
    return 0


def _follow(consumer, tunnel, stop: threading.Event) -> None:
    """Until ``stop``: say when the broker is reached, lost, or cannot be reached (once per
    change), and keep the tunnel up."""
    said = None
    while not stop.wait(TICK_S):
        if tunnel is not None:
            failed = tunnel.ensure()
            if failed is not None and said != str(failed):
                said = str(failed)
                _say(f"warning: {failed.message}; trying again", err=True)
                continue
        if consumer.connected.is_set():
            state = "connected"
            if said != state:
                _say("connected: recording the tasks the workers' events show")
        elif consumer.error:
            state = f"error: {consumer.error}"
            if said != state:
                _say(f"warning: cannot reach the broker: {consumer.error}; retrying every second (Ctrl-C stops)",
                     err=True)
        else:
            continue
        said = state
