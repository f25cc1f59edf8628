"""Is a TCP port free on loopback, and if not, which process holds it."""

from __future__ import annotations

import errno
import socket
from typing import Optional

import psutil


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # What a server binding the port would see: redis-server and Flower (tornado) set
        # SO_REUSEADDR, so connections of a stack just stopped (TIME_WAIT) do not hold the
        # port; a listening socket still does. (On Windows the option means something else.)
        if hasattr(socket, "SO_REUSEPORT"):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def port_holder(port: int) -> Optional[str]:
    """'redis-server (pid 812)' for the process listening on ``port``, or None if none is."""
    try:
        conns = psutil.net_connections(kind="tcp")
    except (psutil.AccessDenied, OSError):
        conns = []
    for c in conns:
        if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port:
            if c.pid is None:
                return "a process of another user"
            try:
                return f"{psutil.Process(c.pid).name()} (pid {c.pid})"
            except psutil.Error:
                return f"pid {c.pid}"
    return None


def free_port(host: str = "127.0.0.1") -> int:
    """A port the kernel says is free now (for tests and benchmarks)."""
    return free_ports(1, host)[0]


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` different free ports: all are held until all are chosen, since a port just
    released may be the kernel's next answer (two ``free_port()`` calls can return one port)."""
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sockets.append(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sockets[-1].bind((host, 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()
