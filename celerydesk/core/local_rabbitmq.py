"""The local RabbitMQ (``kind = "rabbitmq"``, ``mode = "local"``): the system's rabbitmq-server as
a supervised child, its node kept whole under ``.celerydesk/rabbitmq/``.

Which script: the package's own ``rabbitmq-server`` (Debian keeps it in
``/usr/lib/rabbitmq/lib/rabbitmq_server-*/sbin/``, Homebrew in ``opt/rabbitmq/sbin/``), never
Debian's wrapper on PATH, which switches to the rabbitmq user when run as root (who cannot write
the workspace's folder) and refuses any other user.

What it runs: a node named ``celerydesk-<digest>@localhost`` whose data (mnesia), logs, config,
enabled plugins and Erlang cookie (``HOME``) all live in the folder, so it touches nothing of a
system RabbitMQ. Everything listens on 127.0.0.1 only: AMQP (``[broker] port``), the management
API (``management_port``), and Erlang's distribution port (``inet_dist_use_interface``).

Erlang's port mapper, ``epmd``: a node registers its name there, and ``erl`` starts one as a
daemon that outlives the node (and listens on every interface). Here the node gets a private
epmd instead, on a port of its own (``ERL_EPMD_PORT``), listening on loopback, started in the
foreground by the same shell that then becomes the rabbitmq-server script, and ``erl`` is told
never to start one (``-start_epmd false``). So epmd lives in the broker's process group: it is
killed with the rest of the group when the script exits, by the reaper if celerydesk dies, and
by the leftover cleaner after a crash. Nothing of the node survives its stop.

Its stop is the script's own: SIGTERM, which it forwards to the Erlang VM for a clean shutdown.
RabbitMQ logs to its stdout here, so its log is the broker's pane and ``.celerydesk/logs/broker.log``.
"""

from __future__ import annotations

import glob
import hashlib
import os
import re
import shutil
import signal
from pathlib import Path
from typing import Optional

from celerydesk.core.brokers import GENERATED_USER
from celerydesk.core.commands import BROKER, Readiness, ServiceSpec
from celerydesk.core.errors import DeskError
from celerydesk.core.runtime import atomic_write, write_problem
from celerydesk.core.selfcmd import child_environ
from celerydesk.core.supervision import RestartPolicy
from celerydesk.core.workspace import Workspace

DEBIAN_SCRIPTS = "/usr/lib/rabbitmq/lib/rabbitmq_server-*/sbin/rabbitmq-server"
HOMEBREW_SCRIPTS = ("/opt/homebrew/opt/rabbitmq/sbin/rabbitmq-server", "/usr/local/opt/rabbitmq/sbin/rabbitmq-server")
STOP_TIMEOUT = 30.0  # RabbitMQ's own clean stop (queues synced to disk) takes seconds
# The shell that starts the private epmd, waits until it answers, and becomes the server
# script. ``$1`` epmd, ``$2`` the script: arguments, never pasted into the text.
_LAUNCH = """\
"$1" -address 127.0.0.1 &
tries=0
until "$1" -names >/dev/null 2>&1; do
  tries=$((tries + 1))
  if [ "$tries" -gt 200 ]; then echo "celerydesk: epmd did not start on 127.0.0.1:$ERL_EPMD_PORT" >&2; exit 1; fi
  sleep 0.05
done
exec "$2"
"""


def _version_key(path: str) -> tuple:
    return tuple(int(n) for n in re.findall(r"\d+", Path(path).parent.parent.name))


def rabbitmq_server_script() -> Path:
    """The package's own rabbitmq-server script; DeskError saying what to install when none is."""
    found = sorted(glob.glob(DEBIAN_SCRIPTS), key=_version_key)
    if found:
        return Path(found[-1])
    for candidate in HOMEBREW_SCRIPTS:
        if os.access(candidate, os.X_OK):
            return Path(candidate)
    on_path = shutil.which("rabbitmq-server")
    if on_path and Path(os.path.realpath(on_path)).name != "rabbitmq-script-wrapper":
        return Path(on_path)
    raise DeskError(
        "no rabbitmq-server found for the local broker",
        hint="install it (`apt-get install rabbitmq-server`, `brew install rabbitmq`), or set "
             "[broker] mode = \"docker\" (RabbitMQ in a container) or \"external\"",
    )


def epmd_binary() -> Path:
    found = shutil.which("epmd") or next(iter(sorted(glob.glob("/usr/lib/erlang/erts-*/bin/epmd"))), None)
    if not found:
        raise DeskError("no epmd (Erlang's port mapper) found for the local RabbitMQ",
                        hint="install Erlang with RabbitMQ (`apt-get install rabbitmq-server` brings it)")
    return Path(found)


def node_name(ws: Workspace) -> str:
    """Unique per workspace file, so two workspaces' nodes never share a name or a database."""
    return f"celerydesk-{hashlib.sha256(str(ws.path).encode()).hexdigest()[:8]}@localhost"


def node_config(ws: Workspace) -> str:
    """The node's rabbitmq.conf: the management API on loopback, the generated user if any."""
    lines = ["# Written by celerydesk at each start of the local RabbitMQ; edits are not kept."]
    if ws.broker.management:
        lines += ["management.tcp.ip = 127.0.0.1", f"management.tcp.port = {ws.broker.management_port}"]
    password = ws.broker_password()
    if password:
        # Applies when the node's database is made; the node's name carries no password, so
        # write_node_files starts a new database when the password changes (see there).
        lines += [f"default_user = {GENERATED_USER}", f"default_pass = {password}"]
    return "\n".join(lines) + "\n"


def write_node_files(ws: Workspace, folder: Path) -> None:
    """The config and plugin files the node reads, written before each start (0600: the config
    may hold the generated password). A DeskError saying what to do when they cannot be written.

    RabbitMQ creates its users when it first makes its database, so a database made with
    another password (or none) would refuse the new one: its folder is then moved aside
    (``mnesia.replaced-<digest>``) and a new one made, its messages kept on disk, said in the log."""
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        for sub in ("mnesia", "log", "home", "conf.d"):
            (folder / sub).mkdir(mode=0o700, exist_ok=True)
        marker, auth = folder / "database-auth", _auth_digest(ws.broker_password())
        if marker.exists() and marker.read_text().strip() != auth:
            aside = folder / f"mnesia.replaced-{marker.read_text().strip()}"
            shutil.rmtree(aside, ignore_errors=True)
            (folder / "mnesia").rename(aside)
            (folder / "mnesia").mkdir(mode=0o700)
        atomic_write(marker, auth + "\n")
        atomic_write(folder / "rabbitmq.conf", node_config(ws))
        atomic_write(folder / "enabled_plugins", "[rabbitmq_management].\n" if ws.broker.management else "[].\n")
    except OSError as exc:
        raise write_problem(Path(exc.filename or folder), exc, "the local RabbitMQ's files") from None


def _auth_digest(password: Optional[str]) -> str:
    return hashlib.sha256(f"celerydesk:{password}".encode()).hexdigest()[:16] if password else "none"


def local_rabbitmq_spec(ws: Workspace, folder: Path, dist_port: int, epmd_port: int) -> ServiceSpec:
    """The supervised child; ``dist_port`` and ``epmd_port`` are free ports chosen by the caller
    (nothing outside the node connects to them). ``write_node_files`` must have run."""
    env = child_environ()
    env.update({
        "HOME": str(folder / "home"),  # the Erlang cookie
        "RABBITMQ_NODENAME": node_name(ws),
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODE_PORT": str(ws.broker.port),
        "RABBITMQ_DIST_PORT": str(dist_port),
        "ERL_EPMD_PORT": str(epmd_port),
        "RABBITMQ_MNESIA_BASE": str(folder / "mnesia"),
        "RABBITMQ_LOG_BASE": str(folder / "log"),
        "RABBITMQ_LOGS": "-",  # to stdout: the broker's log pane and log file
        "RABBITMQ_CONFIG_FILE": str(folder / "rabbitmq"),  # .conf is added
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(folder / "enabled_plugins"),
        # None of the system RabbitMQ's files: /etc/rabbitmq/rabbitmq-env.conf, conf.d/, advanced.config.
        "RABBITMQ_CONF_ENV_FILE": os.devnull,
        "RABBITMQ_CONFIG_FILES": str(folder / "conf.d"),
        "RABBITMQ_ADVANCED_CONFIG_FILE": str(folder / "advanced.config"),
        "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-start_epmd false -kernel inet_dist_use_interface {127,0,0,1}",
    })
    return ServiceSpec(
        key=BROKER,
        label="broker",
        kind=BROKER,
        argv=["/bin/sh", "-c", _LAUNCH, "celerydesk-rabbitmq", str(epmd_binary()), str(rabbitmq_server_script())],
        cwd=folder,
        env=env,
        readiness=Readiness("amqp", url=ws.broker_url()),
        policy=RestartPolicy(start_timeout=90.0),
        stop_signal=signal.SIGTERM,
        stop_timeout=STOP_TIMEOUT,
        umask=0o077,  # its database holds the queued tasks' arguments
    )
