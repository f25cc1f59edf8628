"""An external broker reached through a jump host: the system's ``ssh -N -L``, as a child.

``[broker] ssh = "user@bastion"`` (or ``ssh://user@bastion:2222``) makes celerydesk run

    ssh -N -L 127.0.0.1:<free port>:<broker host>:<broker port> -o BatchMode=yes
        -o ExitOnForwardFailure=yes -o ServerAliveInterval=15 [-F ssh_config] -- user@bastion

and talk to the broker at the local end (the URL with its host and port swapped for
``127.0.0.1:<free port>``; user, password and path are kept, and never reach ssh's argv).
``BatchMode`` means ssh never asks for a password: a key (or an agent) must let it in, and if
none does, the tunnel fails with ssh's own words, summarised. ``ExitOnForwardFailure`` makes a
forward that cannot be set up a failure rather than a silent, useless connection.

:class:`SshTunnel` is supervised by whoever holds it: ``open()`` waits until the local end
accepts connections (or raises why not); ``ensure()`` starts ssh again if it died (a watcher
calls it on each turn); ``close()`` ends it. The child runs in its own session, so a Ctrl-C in
the terminal reaches celerydesk, which then closes the tunnel itself.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Optional
from urllib.parse import urlparse, urlunparse

from celerydesk.core.errors import DeskError
from celerydesk.core.ports import free_ports
from celerydesk.core.urls import shown_url

OPEN_TIMEOUT_S = 20.0
DEFAULT_PORTS = {"redis": 6379, "rediss": 6379, "amqp": 5672, "pyamqp": 5672, "amqps": 5671}  # a URL without one
_DESTINATION = re.compile(r"^(ssh://)?([A-Za-z0-9._-]+@)?[A-Za-z0-9._-]+(:\d{1,5})?$")


def destination_problem(value: str) -> Optional[str]:
    """Why ``value`` is not an ssh destination celerydesk passes on, or None. A leading ``-``
    would be read as an option."""
    if not _DESTINATION.match(value) or value.startswith("-"):
        return (f"{value!r} is not an ssh destination; give user@host, a host from your ~/.ssh/config, "
                "or ssh://user@host:port")
    if ":" in value.removeprefix("ssh://") and not value.startswith("ssh://"):
        return f"{value!r}: give a port as ssh://{value} (ssh reads host:port only in that form)"
    return None


def _summary(stderr: str) -> str:
    """ssh's stderr without its banners and warnings about known hosts: the reason, one line."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    useful = [line for line in lines if not line.startswith(("Warning: Permanently added", "**"))]
    return "; ".join(useful[-3:]) or "ssh exited without saying why"


class SshTunnel:
    """One ``ssh -L`` to ``url``'s host and port through ``destination``."""

    def __init__(self, url: str, destination: str, config: Optional[Path] = None, ssh: str = "ssh"):
        parsed = urlparse(url)
        port = parsed.port or DEFAULT_PORTS.get(parsed.scheme)
        if not parsed.hostname or not port:
            raise DeskError(f"the broker URL {shown_url(url)} names no host and port to reach through ssh",
                            hint="give [broker] url with both, e.g. redis://10.0.0.5:6379/0")
        self.url = url
        self.destination = destination
        self.config = config
        self.ssh = ssh
        self.remote = (parsed.hostname, port)
        self.local_port = free_ports(1)[0]
        self._process: Optional[subprocess.Popen] = None
        self._stderr = None
        self.restarts = 0

    @property
    def local_url(self) -> str:
        """``url`` with its host and port replaced by the tunnel's local end."""
        parsed = urlparse(self.url)
        userinfo = parsed.netloc.rpartition("@")[0]
        netloc = f"{userinfo}@127.0.0.1:{self.local_port}" if userinfo else f"127.0.0.1:{self.local_port}"
        return urlunparse(parsed._replace(netloc=netloc))

    def argv(self) -> list[str]:
        host, port = self.remote
        argv = [self.ssh, "-N", "-L", f"127.0.0.1:{self.local_port}:{host}:{port}",
                "-o", "BatchMode=yes", "-o", "ExitOnForwardFailure=yes", "-o", "ServerAliveInterval=15",
                "-o", "ServerAliveCountMax=3", "-o", "ConnectTimeout=10"]
        if self.config is not None:
            argv += ["-F", str(self.config)]
        return argv + ["--", self.destination]

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start ssh without waiting (the window's way: its broker probe waits for the local end)."""
        if shutil.which(self.ssh) is None:
            raise DeskError(f"[broker] ssh needs the ssh client, and {self.ssh!r} is not on PATH",
                            hint="install OpenSSH's client (Debian: apt install openssh-client)")
        self.close()
        self._stderr = tempfile.TemporaryFile()
        self._process = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=self._stderr, start_new_session=True)

    def failure(self) -> Optional[DeskError]:
        """Why ssh is no longer running (its stderr summarised), or None while it runs."""
        if self._process is None or self._process.poll() is None:
            return None
        return self._failure(f"ssh exited with code {self._process.returncode}")

    def open(self, timeout: float = OPEN_TIMEOUT_S) -> "SshTunnel":
        """Start ssh and wait until the local end accepts connections; DeskError saying why not."""
        self.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            failed = self.failure()
            if failed is not None:
                self.close()
                raise failed
            if _accepts(self.local_port):
                return self
            time.sleep(0.1)
        failed = self._failure(f"the tunnel did not open within {timeout:.0f} s")
        self.close()
        raise failed

    def ensure(self) -> Optional[DeskError]:
        """Start ssh again if it died; the error if that failed (it is tried again next time)."""
        if self.running:
            return None
        self.restarts += 1
        try:
            self.open()
        except DeskError as exc:
            return exc
        return None

    def close(self, grace: float = 3.0) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(grace)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def _failure(self, what: str) -> DeskError:
        said = ""
        if self._stderr is not None:
            self._stderr.seek(0)
            said = self._stderr.read().decode("utf-8", "replace")
        host, port = self.remote
        config = f" -F {self.config}" if self.config is not None else ""
        return DeskError(f"the ssh tunnel to {host}:{port} through {self.destination} failed: {what}: {_summary(said)}",
                         hint=f"check that `ssh -o BatchMode=yes{config} {self.destination}` logs in without a password "
                              "(a key or an agent), and that the bastion can reach the broker's host and port")

    def __enter__(self) -> "SshTunnel":
        return self.open()

    def __exit__(self, *_exc) -> None:
        self.close()


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def open_for(ws, timeout: float = OPEN_TIMEOUT_S) -> Optional[SshTunnel]:
    """The tunnel of ``ws``'s ``[broker] ssh``, open, with ``ws.broker_url()`` now its local
    end; None when the workspace has no ssh. The caller closes it."""
    if not ws.broker.ssh:
        return None
    tunnel = SshTunnel(ws.broker.url, ws.broker.ssh, ws.broker.ssh_config).open(timeout)
    ws.tunnel_url = tunnel.local_url
    return tunnel
