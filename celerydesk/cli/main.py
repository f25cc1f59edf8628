"""Argument parsing and dispatch for every ``celerydesk`` sub-command.

Each sub-command lives in its own module with ``add_parser(subparsers)`` and ``run(args)``;
modules are imported only when their command runs, so ``celerydesk logs`` never loads Qt.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Optional

from celerydesk import __version__
from celerydesk.core.errors import DeskError

COMMANDS = ("gui", "up", "logs", "call", "tasks", "schedules", "init", "export", "self-test")
# Run by celerydesk itself in frozen builds, where there is no `python -m`.
HIDDEN = {"_reaper": "celerydesk.core.reaper", "_python": "celerydesk.core.frozen_python"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="celerydesk",
        description="A control panel for Celery stacks: broker, workers, beat and Flower.",
    )
    parser.add_argument("--version", action="version", version=f"celerydesk {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        _command_module(name).add_parser(sub)
    return parser


def _command_module(name: str):
    return importlib.import_module(f"celerydesk.cli.{name.replace('-', '_')}_cmd")


def add_workspace_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-w", "--workspace", metavar="W",
                        help="the workspace file, or the folder holding celerydesk.toml (default: ./celerydesk.toml)")


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
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version")):
        argv = ["gui", *argv]  # plain `celerydesk [-w W]`: the window
    parser = build_parser()
    args = parser.parse_args(argv)
    module = _command_module(args.command)
    try:
        return module.run(args)
    except DeskError as exc:
        print(f"celerydesk: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
