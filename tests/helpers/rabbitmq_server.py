"""A real, private rabbitmq-server for tests: free loopback ports, its files in a scratch folder.

Debian's ``rabbitmq-server`` on PATH switches to the rabbitmq user when run as root, who cannot
write a root-owned scratch folder; the package's own script (in its lib folder) does not. The
node's name, ports, data, logs and config all live under the folder, so it touches nothing of
a system RabbitMQ. Erlang's ``epmd`` (started by the node) outlives it: it is shared and harmless.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Optional


def rabbitmq_script() -> Optional[str]:
    """The package's own rabbitmq-server script, or None when RabbitMQ is not installed."""
    found = sorted(glob.glob("/usr/lib/rabbitmq/lib/rabbitmq_server-*/sbin/rabbitmq-server"))
    if found:
        return found[-1]
    return shutil.which("rabbitmq-server")


def start_rabbitmq_server(folder: "str | os.PathLike[str]", timeout: float = 90.0) -> tuple[subprocess.Popen, str]:
    """Start a node and wait until its AMQP port takes a connection; return (process, url).
    The caller stops it with ``stop_rabbitmq_server``."""
    from celerydesk.core.ports import free_ports

    script = rabbitmq_script()
    if script is None:
        raise FileNotFoundError("rabbitmq-server is not installed")
    folder = Path(folder)
    amqp_port, dist_port = free_ports(2)
    for sub in ("mnesia", "log", "home"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    (folder / "enabled_plugins").write_text("[].\n")
    (folder / "rabbitmq.conf").write_text("loopback_users = none\n")
    node = f"celerydesk-test-{amqp_port}@localhost"
    env = {**os.environ, "HOME": str(folder / "home"), "RABBITMQ_NODENAME": node,
           "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1", "RABBITMQ_NODE_PORT": str(amqp_port),
           "RABBITMQ_DIST_PORT": str(dist_port), "RABBITMQ_MNESIA_BASE": str(folder / "mnesia"),
           "RABBITMQ_LOG_BASE": str(folder / "log"), "RABBITMQ_ENABLED_PLUGINS_FILE": str(folder / "enabled_plugins"),
           "RABBITMQ_CONFIG_FILE": str(folder / "rabbitmq"), "RABBITMQ_LOGS": str(folder / "log" / "node.log")}
    proc = subprocess.Popen([script], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    url = f"amqp://guest:guest@127.0.0.1:{amqp_port}//"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"rabbitmq-server exited with {proc.returncode}; its log: {folder / 'log'}")
        if _amqp_answers(amqp_port):
            return proc, url
        time.sleep(0.2)
    stop_rabbitmq_server(proc)
    raise TimeoutError(f"rabbitmq-server did not listen within {timeout:g} s; its log: {folder / 'log'}")


def stop_rabbitmq_server(proc: subprocess.Popen) -> None:
    """SIGTERM to its session (the script and the Erlang VM), SIGKILL if it lingers."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def _amqp_answers(port: int) -> bool:
    """The AMQP greeting: a connection alone is accepted before the broker is ready."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"AMQP\x00\x00\x09\x01")
            return sock.recv(8)[:1] == b"\x01"  # a Connection.Start frame
    except OSError:
        return False
