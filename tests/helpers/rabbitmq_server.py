"""A real, private rabbitmq-server for tests: free loopback ports, its files in a scratch folder.

Debian's ``rabbitmq-server`` on PATH switches to the rabbitmq user when run as root, who cannot
write a root-owned scratch folder; the package's own script (in its lib folder) does not. The
node's name, ports, data, logs and config all live under the folder, so it touches nothing of
a system RabbitMQ. Like celerydesk's local broker, it runs a private epmd in its own process
group (``ERL_EPMD_PORT``; erl told not to start one), so stopping the node leaves nothing.

With ``management=True`` the management plugin answers on a third free port (a second or two
more at start): tests then make a virtual host each (``RabbitNode.vhost``), so one node serves a
whole test session without one test's queues reaching another's.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Optional
from urllib.parse import quote


def rabbitmq_script() -> Optional[str]:
    """The package's own rabbitmq-server script, or None when RabbitMQ is not installed."""
    from celerydesk.core.errors import DeskError
    from celerydesk.core.local_rabbitmq import rabbitmq_server_script

    try:
        return str(rabbitmq_server_script())
    except DeskError:
        return None


@dataclass
class RabbitNode:
    proc: subprocess.Popen
    url: str  # amqp://guest:guest@127.0.0.1:PORT// (the default vhost)
    amqp_port: int
    management_port: Optional[int] = None
    log: Optional[Path] = None  # the node's log file

    def logins(self, vhost: str, settle: float = 1.0, timeout: float = 20.0) -> int:
        """How many connections the node has let into ``vhost`` (its log says each), once the
        count has not changed for ``settle`` seconds: the node writes its log a little late."""
        def count() -> int:
            return self.log.read_text(errors="replace").count(f"granted access to vhost '{vhost}'")

        last, since, deadline = count(), time.monotonic(), time.monotonic() + timeout
        while time.monotonic() - since < settle and time.monotonic() < deadline:
            time.sleep(0.2)
            now = count()
            if now != last:
                last, since = now, time.monotonic()
        return last

    @property
    def management_url(self) -> str:
        return f"http://127.0.0.1:{self.management_port}"

    def api(self, method: str, path: str, body: Optional[dict] = None):
        request = urllib.request.Request(
            f"{self.management_url}/api{path}", method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Authorization": "Basic " + base64.b64encode(b"guest:guest").decode(),
                     "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read()
        return json.loads(text) if text else None

    def vhost(self, name: str) -> str:
        """A new virtual host for guest; its URL."""
        self.api("PUT", f"/vhosts/{quote(name, safe='')}", {})
        self.api("PUT", f"/permissions/{quote(name, safe='')}/guest", {"configure": ".*", "write": ".*", "read": ".*"})
        return f"amqp://guest:guest@127.0.0.1:{self.amqp_port}/{quote(name, safe='')}"


def start_rabbitmq_node(folder: "str | os.PathLike[str]", management: bool = False,
                        timeout: float = 120.0) -> RabbitNode:
    """Start a node and wait until it lets guest in (and its management API answers, if on).
    The caller stops it with ``stop_rabbitmq_server(node.proc)``."""
    from celerydesk.core.broker_errors import answers
    from celerydesk.core.local_rabbitmq import epmd_binary
    from celerydesk.core.ports import free_ports

    script = rabbitmq_script()
    if script is None:
        raise FileNotFoundError("rabbitmq-server is not installed")
    folder = Path(folder)
    amqp_port, dist_port, epmd_port, management_port = free_ports(4)
    for sub in ("mnesia", "log", "home", "conf.d"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    (folder / "enabled_plugins").write_text("[rabbitmq_management].\n" if management else "[].\n")
    config = "loopback_users = none\n"
    if management:
        config += f"management.tcp.ip = 127.0.0.1\nmanagement.tcp.port = {management_port}\n"
    (folder / "rabbitmq.conf").write_text(config)
    node = f"celerydesk-test-{amqp_port}@localhost"
    env = {**os.environ, "HOME": str(folder / "home"), "RABBITMQ_NODENAME": node,
           "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1", "RABBITMQ_NODE_PORT": str(amqp_port),
           "RABBITMQ_DIST_PORT": str(dist_port), "ERL_EPMD_PORT": str(epmd_port),
           "RABBITMQ_MNESIA_BASE": str(folder / "mnesia"), "RABBITMQ_LOG_BASE": str(folder / "log"),
           "RABBITMQ_ENABLED_PLUGINS_FILE": str(folder / "enabled_plugins"),
           "RABBITMQ_CONFIG_FILE": str(folder / "rabbitmq"), "RABBITMQ_CONFIG_FILES": str(folder / "conf.d"),
           "RABBITMQ_CONF_ENV_FILE": os.devnull, "RABBITMQ_LOGS": str(folder / "log" / "node.log"),
           "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-start_epmd false -kernel inet_dist_use_interface {127,0,0,1}"}
    launch = '"$1" -address 127.0.0.1 & until "$1" -names >/dev/null 2>&1; do sleep 0.05; done; exec "$2"'
    proc = subprocess.Popen(["/bin/sh", "-c", launch, "rabbitmq-test", str(epmd_binary()), script], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    url = f"amqp://guest:guest@127.0.0.1:{amqp_port}//"
    result = RabbitNode(proc, url, amqp_port, management_port if management else None, folder / "log" / "node.log")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"rabbitmq-server exited with {proc.returncode}; its log: {folder / 'log'}")
        if _amqp_answers(amqp_port) and answers(url, 2.0) is None and (not management or _api_answers(result)):
            return result
        time.sleep(0.2)
    stop_rabbitmq_server(proc)
    raise TimeoutError(f"rabbitmq-server did not listen within {timeout:g} s; its log: {folder / 'log'}")


def start_rabbitmq_server(folder: "str | os.PathLike[str]", timeout: float = 120.0) -> tuple[subprocess.Popen, str]:
    """A node without its management plugin: (process, url)."""
    node = start_rabbitmq_node(folder, timeout=timeout)
    return node.proc, node.url


def stop_rabbitmq_server(proc: subprocess.Popen) -> None:
    """SIGTERM to the script (which stops the VM cleanly), then the rest of its group (its epmd)."""
    try:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(10)


def _amqp_answers(port: int) -> bool:
    """The AMQP greeting: a connection alone is accepted before the broker is ready."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"AMQP\x00\x00\x09\x01")
            return sock.recv(8)[:1] == b"\x01"  # a Connection.Start frame
    except OSError:
        return False


def _api_answers(node: RabbitNode) -> bool:
    try:
        node.api("GET", "/overview")
        return True
    except OSError:
        return False
