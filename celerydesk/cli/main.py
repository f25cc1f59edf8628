"""Argument parsing and dispatch for every ``celerydesk`` sub-command.

Each sub-command lives in its own module with ``add_parser(subparsers)`` and ``run(args)``.
Only the module of the command being run is imported (all of them only for ``--help`` or a
mistyped command), so ``celerydesk logs`` never loads Qt and ``up`` pays for nothing but itself:
start-up time is part of every command's, and of the stack's.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Optional

from celerydesk import __version__
from celerydesk.core.errors import DeskError

COMMANDS = ("gui", "up", "watch", "logs", "call", "retry", "revoke", "tasks", "queues", "workers", "history",
            "schedules", "alerts", "env", "init", "export", "self-test")
# Run by celerydesk itself in frozen builds, where there is no `python -m`.
HIDDEN = {"_reaper": "celerydesk.core.reaper", "_python": "celerydesk.core.frozen_python"}


def build_parser(only: Optional[str] = None) -> argparse.ArgumentParser:
    """The parser of every command, or of the command ``only`` alone."""
    parser = argparse.ArgumentParser(
        prog="celerydesk",
        description="A control panel for Celery stacks: broker, workers, beat and Flower.",
    )
    parser.add_argument("--version", action="version", version=f"celerydesk {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        if only in (None, name):
            _command_module(name).add_parser(sub)
    return parser


def _command_module(name: str):
    return importlib.import_module(f"celerydesk.cli.{name.replace('-', '_')}_cmd")


def add_workspace_option(parser: argparse.ArgumentParser, default=None) -> None:
    parser.add_argument("-w", "--workspace", metavar="W", default=default,
                        help="the workspace file, or the folder holding celerydesk.toml (default: ./celerydesk.toml)")


def workspace_client(ws, workspace_option=None):
    """The broker client of a workspace for a command: its URL (through its ssh tunnel, opened
    here for the rest of the command, when it has one), its management API, the advice to start
    the stack when nothing listens at a broker celerydesk runs, and its environment's read-only
    guard."""
    from celerydesk.core.broker_client import BrokerClient
    from celerydesk.core.history.sent import spool_dir

    open_workspace_tunnel(ws)
    start = None if ws.broker.mode == "external" else \
        f"start the stack first: celerydesk up{f' -w {workspace_option}' if workspace_option else ''}"
    return BrokerClient(ws.broker_url(), start_hint=start, management=ws.management_api(),
                        sent_spool=spool_dir(ws.runtime_dir), read_only=ws.environment.read_only,
                        environment=ws.environment_name, unlock_hint=cli_unlock_hint(ws))


def cli_unlock_hint(ws) -> str:
    return f"to allow it, set read_only = false in [environment] of {ws.path}"


def open_workspace_tunnel(ws):
    """Open ``ws``'s ssh tunnel (``[broker] ssh``) for as long as this command runs; None without one."""
    if not ws.broker.ssh or ws.tunnel_url:
        return None
    import atexit

    from celerydesk.core.ssh_tunnel import open_for

    tunnel = open_for(ws)
    atexit.register(tunnel.close)
    return tunnel


def _ensure_utf8_locale() -> None:
    """Qt switches a non-UTF-8 locale (``env -i``, a bare container) to C.UTF-8 anyway, with a
    four-line warning on every start; choosing it first keeps the output clean, and the children
    (which inherit it) read and write UTF-8 logs."""
    current = os.environ.get("LC_ALL") or os.environ.get("LC_CTYPE") or os.environ.get("LANG") or ""
    if sys.platform.startswith("linux") and "utf" not in current.lower().replace("-", ""):
        os.environ["LC_CTYPE"] = "C.UTF-8"
        os.environ.pop("LC_ALL", None)


def main(argv: Optional[list[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    _ensure_utf8_locale()
    if argv and argv[0] in HIDDEN:
        return importlib.import_module(HIDDEN[argv[0]]).main()
    if argv == ["--version"]:  # what scripts and the self-test ask first: without loading every command
        print(f"celerydesk {__version__}")
        return 0
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version")):
        argv = ["gui", *argv]  # plain `celerydesk [-w W]`: the window
    parser = build_parser(only=argv[0] if argv[0] in COMMANDS else None)
    args = parser.parse_args(argv)
    module = _command_module(args.command)
    try:
        return module.run(args)
    except DeskError as exc:
        print(f"celerydesk: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
