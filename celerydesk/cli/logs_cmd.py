"""``celerydesk logs SERVICE [--follow]``: print (and follow) a service's log file.

SERVICE is ``broker``, ``beat``, ``flower``, a worker's name, or ``worker`` for all workers,
whose lines are then prefixed with the worker's name. Following survives log rotation.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from celerydesk.cli.main import add_workspace_option
from celerydesk.core.commands import BEAT, BROKER, FLOWER, WORKER, worker_key
from celerydesk.core.errors import DeskError
from celerydesk.core.runtime import Runtime
from celerydesk.core.workspace import load_workspace


def add_parser(sub) -> None:
    p = sub.add_parser("logs", help="print a service's log: broker, beat, flower, worker, or a worker's name")
    p.add_argument("service", help="broker | beat | flower | worker (all workers) | a worker's name")
    add_workspace_option(p)
    p.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    p.add_argument("-n", "--tail", type=int, metavar="N", help="start with the last N lines only")
    p.set_defaults(func=run)


def resolve_logs(ws, runtime: Runtime, service: str) -> list[tuple[str, Path]]:
    """[(prefix, path)] for SERVICE; the prefix is empty for a single log."""
    workers = [w.name for w in ws.workers]
    if service in (BROKER, BEAT, FLOWER):
        return [("", runtime.log_path(service))]
    if service == WORKER:
        return [(f"{name} | " if len(workers) > 1 else "", runtime.log_path(worker_key(name))) for name in workers]
    name = service[len(WORKER) + 1:] if service.startswith(f"{WORKER}-") or service.startswith(f"{WORKER} ") else service
    if name in workers:
        return [("", runtime.log_path(worker_key(name)))]
    raise DeskError(f"no service called {service!r} in {ws.path}",
                    hint=f"choose one of: broker, beat, flower, worker, {', '.join(workers)}")


class _Follower:
    """Reads a growing file from where it left off; reopens it when it is rotated."""

    def __init__(self, prefix: str, path: Path, tail: int | None):
        self.prefix, self.path = prefix, path
        self.file = None
        self.inode = None
        self.pending = ""
        self.tail = tail

    def read(self) -> list[str]:
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return []
        if self.file is None or stat.st_ino != self.inode or stat.st_size < self.file.tell():
            lines = self._drain() if self.file is not None else []  # finish the rotated file first
            self.file = open(self.path, encoding="utf-8", errors="replace")
            self.inode = stat.st_ino
            lines += self._drain()
            if self.tail is not None:
                lines, self.tail = lines[-self.tail:] if self.tail else [], None
            return lines
        return self._drain()

    def _drain(self) -> list[str]:
        text = self.pending + self.file.read()
        *lines, self.pending = text.split("\n")
        return [self.prefix + line for line in lines]


def run(args) -> int:
    ws = load_workspace(args.workspace)
    runtime = Runtime(ws.runtime_dir)
    followers = [_Follower(prefix, path, args.tail) for prefix, path in resolve_logs(ws, runtime, args.service)]
    if not args.follow and not any(f.path.exists() for f in followers):
        raise DeskError(f"{args.service} has no log yet in {runtime.logs_dir}",
                        hint="start the stack first (`celerydesk up`)")
    out = sys.stdout
    try:
        while True:
            for follower in followers:
                lines = follower.read()
                if lines:
                    out.write("\n".join(lines) + "\n")
            out.flush()
            if not args.follow:
                return 0
            time.sleep(0.2)
    except BrokenPipeError:  # `celerydesk logs worker | head`
        return 0
