"""The orphan reaper: kills what celerydesk started if celerydesk dies without stopping it.

celerydesk starts this small program (its own session, so a terminal's Ctrl-C does not reach
it) with a pipe on its stdin and tells it, line by line, which process groups and containers
it owns. When celerydesk exits in any way, SIGKILL included, the kernel closes the pipe; on
that EOF the reaper kills every group still registered, every descendant it saw them spawn
(even one that left its group), and the registered containers, then exits. On a clean stop
everything was unregistered first, so it exits having killed nothing.

The parent-death signal set in each child covers the main processes; this covers the rest
(a prefork worker's pool children, anything a task spawned). Standard library and psutil only.

Protocol (one command a line):  group PGID PID CREATE_TIME | ungroup PGID |
                                container ID | uncontainer ID
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from typing import Optional

POLL_S = 0.25  # how often descendants are snapshot; what spawns in between is still in its group


def _docker_socket() -> str:
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    return host[len("unix://"):] if host.startswith("unix://") else "/var/run/docker.sock"


def _kill_container(container_id: str) -> None:
    import http.client  # only ever needed here, at the end: not worth its import at start-up
    import socket

    class UnixHTTPConnection(http.client.HTTPConnection):
        def connect(self):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(5)
            self.sock.connect(_docker_socket())

    try:
        conn = UnixHTTPConnection("localhost", timeout=5)
        conn.request("POST", f"/containers/{container_id}/stop?t=2")
        conn.getresponse().read()
    except OSError:
        pass


def same_process(pid: int, create_time: float) -> bool:
    """Is ``pid`` still the process recorded with ``create_time`` (not a recycled pid)?"""
    import psutil

    try:
        return abs(psutil.Process(pid).create_time() - create_time) < 0.05
    except psutil.Error:
        return False


class Reaper:
    def __init__(self):
        self.groups: dict[int, tuple[int, float]] = {}  # pgid -> (leader pid, create time)
        self.descendants: dict[int, dict[int, float]] = {}  # pgid -> {pid: create time}
        self.containers: set[str] = set()

    def handle(self, line: str) -> None:
        parts = line.split()
        if not parts:
            return
        cmd, args = parts[0], parts[1:]
        if cmd == "group" and len(args) == 3:
            self.groups[int(args[0])] = (int(args[1]), float(args[2]))
        elif cmd == "ungroup" and args:
            self.groups.pop(int(args[0]), None)
            self.descendants.pop(int(args[0]), None)  # stopped cleanly: nothing of it to reap
        elif cmd == "container" and args:
            self.containers.add(args[0])
        elif cmd == "uncontainer" and args:
            self.containers.discard(args[0])

    def snapshot(self) -> None:
        import psutil

        children = _children_by_parent()  # one pass over the process table for every group
        for pgid, (leader, _) in self.groups.items():
            known = self.descendants.setdefault(pgid, {})
            # Keep the ones seen before whose parent has died since: they are the orphans.
            for pid, create_time in list(known.items()):
                if not same_process(pid, create_time):
                    del known[pid]
            for pid in _descendants(leader, children):
                if pid not in known:
                    try:
                        known[pid] = psutil.Process(pid).create_time()
                    except psutil.Error:
                        pass

    def reap(self) -> None:
        for pgid in self.groups:
            try:
                os.killpg(pgid, signal.SIGKILL)
            except OSError:
                pass
        for pid, create_time in (item for known in self.descendants.values() for item in known.items()):
            if same_process(pid, create_time):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        for container in self.containers:
            _kill_container(container)


def _children_by_parent() -> dict[int, list[int]]:
    """{ppid: [pid, ...]} for the whole process table (psutil reads it once per call of
    ``children()``; the reaper needs it for several groups every POLL_S)."""
    import psutil

    children: dict[int, list[int]] = {}
    if os.path.isdir("/proc/self"):
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open(f"/proc/{name}/stat", "rb") as stat:
                    # "pid (comm) state ppid ...": comm may hold spaces and parentheses
                    ppid = int(stat.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(name))
        return children
    for proc in psutil.process_iter(["ppid"]):
        children.setdefault(proc.info["ppid"], []).append(proc.pid)
    return children


def _descendants(pid: int, children: dict[int, list[int]]) -> list[int]:
    found, todo = [], list(children.get(pid, ()))
    while todo:
        child = todo.pop()
        found.append(child)
        todo.extend(children.get(child, ()))
    return found


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        # A watcher: it must not compete for the CPU with the stack it watches while that starts.
        os.nice(5)
    except OSError:
        pass
    reaper = Reaper()
    last_snapshot = 0.0
    stdin = sys.stdin.buffer.raw if hasattr(sys.stdin.buffer, "raw") else sys.stdin.buffer
    fd = stdin.fileno()
    pending = b""
    while True:
        readable, _, _ = select.select([fd], [], [], POLL_S)
        if readable:
            chunk = os.read(fd, 65536)
            if not chunk:
                break  # celerydesk is gone
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                reaper.handle(line.decode(errors="replace"))
        if reaper.groups and time.monotonic() - last_snapshot >= POLL_S:
            reaper.snapshot()
            last_snapshot = time.monotonic()
    reaper.reap()
    return 0


class ReaperClient:
    """celerydesk's side: starts the reaper and keeps it told."""

    def __init__(self, argv: list[str]):
        self._proc: Optional[subprocess.Popen] = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            start_new_session=True,
            close_fds=True,
        )

    @property
    def pid(self) -> Optional[int]:
        return self._proc.pid if self._proc else None

    def _send(self, line: str) -> None:
        if self._proc is None or self._proc.stdin is None:
            return
        try:
            self._proc.stdin.write(line.encode() + b"\n")
            self._proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass

    def register_group(self, pgid: int, pid: int, create_time: float) -> None:
        self._send(f"group {pgid} {pid} {create_time!r}")

    def unregister_group(self, pgid: int) -> None:
        self._send(f"ungroup {pgid}")

    def register_container(self, container_id: str) -> None:
        self._send(f"container {container_id}")

    def unregister_container(self, container_id: str) -> None:
        self._send(f"uncontainer {container_id}")

    def close(self) -> None:
        """A clean exit: everything was unregistered, so the reaper just leaves."""
        if self._proc is None:
            return
        try:
            self._proc.stdin.close()
        except OSError:
            pass
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
        self._proc = None


if __name__ == "__main__":
    raise SystemExit(main())
