"""A workspace as a docker compose file: the same stack, for the day the user leaves the desktop.

``compose_document(ws)`` builds the compose model (plain dicts and lists) from a Workspace;
``render_compose(ws)`` turns it into YAML text with explanatory comments; ``write_compose``
writes it, refusing to replace a file unless told to. No Qt, no YAML library: every scalar is
written as a JSON string or number (a JSON double-quoted string is a valid YAML scalar), mappings
in block style and lists in flow style, so quoting is always right and nothing is added to the
dependencies.

What the file runs, mirroring ``core.commands``:

- ``redis`` or ``rabbitmq`` (unless the broker is external): the workspace's broker image, its
  data in a named volume (Redis with AOF on; RabbitMQ with a fixed host name, which names its
  node and so its database), published on ``127.0.0.1:PORT`` only (RabbitMQ's management API
  too), with a healthcheck (``redis-cli ping``, ``rabbitmq-diagnostics -q ping``) that the Celery
  services wait for.
- ``worker-<name>`` per ``[[workers]]``: ``python -m celery -A APP -b URL worker -n name@%h -E
  -c N -P POOL -Q QUEUES -l LEVEL`` plus the worker's ``extra_args``, its ``stop_timeout`` as the
  grace period of a warm shutdown. celerydesk's desktop-only ``--without-mingle
  --without-gossip`` are left out: they save start-up time on a laptop, not on a server.
- ``beat`` when enabled: stock beat with the project's own ``beat_schedule``. celerydesk's live
  scheduler reads the workspace's ``[[schedules]]`` from files only the desktop writes, so the file
  says how to carry them over (``celerydesk schedules export``) instead of pretending to.
- ``flower`` when enabled: ``celery -b URL flower`` listening on every interface *inside* its
  container (or publishing could not reach it) and published on ``127.0.0.1:PORT`` only.

The Celery services are built from the project (``build: context``, relative to the compose
file); the header says what the Dockerfile must install. Environment: ``[project] env`` plus
``CELERY_BROKER_URL`` (``redis://redis:6379/0``, ``amqp://guest:guest@rabbitmq:5672//`` (the
official image's own user), or the external URL as given, with a comment when it names
localhost, which inside a container is the container itself). Flower gets RabbitMQ's
management API as ``FLOWER_BROKER_API``, for its Broker page.

Flower's password: never written into the compose file, which users commit. The export writes
the desktop Flower's generated login (``FLOWER_BASIC_AUTH=user:password``, mode 0600) into
``.celerydesk/compose-flower.env``, which the runtime folder's own ``.gitignore`` keeps out of
version control, and the flower service reads it with ``env_file``. So the exported file works
as it is (``docker compose config`` and ``up`` need nothing else), Flower is never open, and on
another machine compose stops with "env file ... not found" until the file is created there,
as the header explains. (A ``.env`` beside the compose file is not used: projects often have
one already, and commit it.)

An external broker URL with a password is never written into the file either: it goes into
``.celerydesk/compose-broker.env`` (``CELERY_BROKER_URL=...``, mode 0600), which every Celery
service reads with ``env_file``; celery reads that variable, so no ``-b`` is needed, and the
header shows the URL masked.

Compose interpolates ``$`` in every value, so each ``$`` coming from the workspace is doubled.
"""

from __future__ import annotations

import json
import os
import re
from datetime import datetime
from pathlib import Path
from typing import Any, Optional
from urllib.parse import urlsplit

from celerydesk import __version__
from celerydesk.core.brokers import DEFAULT_IMAGE, GUEST, LABEL, RABBITMQ, REDIS as REDIS_KIND
from celerydesk.core.commands import autoscale_option
from celerydesk.core.errors import DeskError
from celerydesk.core.runtime import Runtime, atomic_write
from celerydesk.core.urls import has_password, shown_url
from celerydesk.core.workspace import Workspace

FILE_NAME = "docker-compose.yml"
REDIS = "redis"
RABBITMQ_SERVICE = "rabbitmq"
BEAT = "beat"
FLOWER = "flower"
WORKER_PREFIX = "worker-"
APP_DIR = "/app"  # where the Dockerfile puts the project, and where the services run
IN_STACK_BROKER_URL = f"redis://{REDIS}:6379/0"
IN_STACK_RABBITMQ_URL = f"amqp://{GUEST[0]}:{GUEST[1]}@{RABBITMQ_SERVICE}:5672//"
FLOWER_AUTH_VAR = "FLOWER_BASIC_AUTH"
FLOWER_ENV_FILE = "compose-flower.env"  # in the workspace's runtime folder
BROKER_ENV_FILE = "compose-broker.env"  # the same, for an external broker URL with a password
# Files `docker compose` reads before docker-compose.yml when they exist in the same folder.
PREFERRED_NAMES = ("compose.yaml", "compose.yml")
_LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1", "0.0.0.0")


class Note:
    """A value with comment lines written above its key."""

    def __init__(self, comments: list[str], value: Any):
        self.comments = comments
        self.value = value


def worker_service(name: str) -> str:
    return f"{WORKER_PREFIX}{name}"


def default_path(ws: Workspace) -> Path:
    """``docker-compose.yml`` beside the workspace file."""
    return ws.root / FILE_NAME


def project_name(ws: Workspace) -> str:
    """The compose project name: lower case letters, digits, '-' and '_', starting with one of the first two."""
    name = re.sub(r"[^a-z0-9_-]+", "-", ws.name.lower()).strip("-_")
    return name or "celerydesk"


def broker_url(ws: Workspace) -> str:
    if ws.broker.mode == "external":
        return ws.broker.url
    return IN_STACK_RABBITMQ_URL if ws.broker.kind == RABBITMQ else IN_STACK_BROKER_URL


def broker_service(ws: Workspace) -> Optional[str]:
    """The compose service of the broker, or None for an external one."""
    if ws.broker.mode == "external":
        return None
    return RABBITMQ_SERVICE if ws.broker.kind == RABBITMQ else REDIS


def secret_url(ws: Workspace) -> bool:
    """An external URL's password is a secret, kept out of the file; the in-stack RabbitMQ's
    guest:guest is the image's documented default, reachable only inside the stack and on
    127.0.0.1, and is written as it is."""
    return ws.broker.mode == "external" and has_password(ws.broker.url)


def external_broker_on_loopback(ws: Workspace) -> bool:
    if ws.broker.mode != "external" or not ws.broker.url:
        return False
    try:
        host = urlsplit(ws.broker.url).hostname or ""
    except ValueError:
        return False
    return host in _LOOPBACK_HOSTS or host.startswith("127.")


def _escape(value: str) -> str:
    """Compose interpolates ``$VAR`` in values; ``$$`` is a literal dollar."""
    return value.replace("$", "$$")


def _build_context(ws: Workspace, compose_dir: Path) -> str:
    rel = os.path.relpath(ws.project.workdir, compose_dir)
    rel = rel.replace(os.sep, "/")
    return "." if rel == "." else (rel if rel.startswith("../") or rel == ".." else f"./{rel}")


def _project_service(ws: Workspace, compose_dir: Path, command: list[str], url: str) -> dict:
    env = {key: _escape(value) for key, value in ws.project.env.items()}
    if not secret_url(ws):  # else it is read from the broker's env file
        env["CELERY_BROKER_URL"] = _escape(url)
    env["PYTHONUNBUFFERED"] = "1"
    service: dict[str, Any] = {
        "build": {"context": _build_context(ws, compose_dir)},
        "working_dir": APP_DIR,
        "command": [_escape(part) for part in command],
        "environment": env,
        "restart": "unless-stopped",
    }
    if secret_url(ws):
        service["env_file"] = [os.path.relpath(broker_env_path(ws), compose_dir)]
    if broker_service(ws):
        service["depends_on"] = {broker_service(ws): {"condition": "service_healthy"}}
    return service


def _broker_option(url: str) -> list[str]:
    return [] if has_password(url) else ["-b", url]


def _celery(ws: Workspace, url: str) -> list[str]:
    return ["python", "-m", "celery", "-A", ws.project.app, *_broker_option(url)]


def _duration(seconds: float) -> str:
    return f"{int(seconds)}s" if float(seconds).is_integer() else f"{int(round(seconds * 1000))}ms"


def compose_document(ws: Workspace, compose_dir: Optional[Path] = None) -> dict:
    """The compose model: ``{"name", "services", ["volumes"]}``, values as compose wants them
    (``$`` already doubled). Comments ride along as ``Note`` wrappers; ``strip_notes`` removes them."""
    compose_dir = Path(compose_dir) if compose_dir is not None else ws.root
    url = broker_url(ws)
    services: dict[str, Any] = {}
    volumes: dict[str, Any] = {}

    if broker_service(ws) == REDIS:
        volumes["redis-data"] = {}
        services[REDIS] = Note(
            [f"The broker. Published on 127.0.0.1:{ws.broker.port} only, as on the desktop; the other",
             f"services reach it as {IN_STACK_BROKER_URL}. AOF keeps queued tasks across restarts."],
            {
                "image": _escape(ws.broker.image or "redis:7"),
                "command": ["redis-server", "--appendonly", "yes", "--appendfsync", "everysec"],
                "volumes": ["redis-data:/data"],
                "ports": [f"127.0.0.1:{ws.broker.port}:6379"],
                "healthcheck": {
                    "test": ["CMD", "redis-cli", "ping"],
                    "interval": "2s",
                    "timeout": "3s",
                    "retries": 30,
                },
                "restart": "unless-stopped",
            },
        )
    elif broker_service(ws) == RABBITMQ_SERVICE:
        volumes["rabbitmq-data"] = {}
        ports = [f"127.0.0.1:{ws.broker.port}:5672"]
        if ws.broker.management:
            ports.append(f"127.0.0.1:{ws.broker.management_port}:15672")
        services[RABBITMQ_SERVICE] = Note(
            [f"The broker. Published on 127.0.0.1:{ws.broker.port} only, as on the desktop (its management",
             f"API on 127.0.0.1:{ws.broker.management_port}); the other services reach it as",
             f"{IN_STACK_RABBITMQ_URL}. Its host name names its node, and so its database in the volume."],
            {
                "image": _escape(ws.broker.image or DEFAULT_IMAGE[RABBITMQ]),
                "hostname": RABBITMQ_SERVICE,
                "volumes": ["rabbitmq-data:/var/lib/rabbitmq"],
                "ports": ports,
                "healthcheck": {
                    "test": ["CMD", "rabbitmq-diagnostics", "-q", "ping"],
                    "interval": "5s",
                    "timeout": "10s",
                    "retries": 30,
                },
                "restart": "unless-stopped",
            },
        )

    for worker in ws.workers:
        command = _celery(ws, url) + [
            "worker",
            "-n", f"{worker.name}@%h",
            "-E",
            "-c", str(worker.concurrency),
            "-P", worker.pool,
            "-Q", ",".join(worker.queues),
            "-l", worker.loglevel,
        ] + autoscale_option(worker) + list(worker.extra_args)
        service = _project_service(ws, compose_dir, command, url)
        # SIGTERM is celery's warm shutdown: running tasks finish within this grace period.
        service["stop_grace_period"] = _duration(worker.stop_timeout)
        services[worker_service(worker.name)] = Note(
            [f'[[workers]] "{worker.name}": concurrency {worker.concurrency}, queues {", ".join(worker.queues)}.'],
            service)

    if ws.beat.enabled:
        comments = ["celery beat with the app's own beat_schedule (stock beat reads it once, at start)."]
        if ws.schedules:
            comments += [
                "The workspace's [[schedules]] are celerydesk's live schedules, which only the desktop",
                f"applies ({', '.join(s.name for s in ws.schedules)}). Put them into your settings as",
                "CELERY_BEAT_SCHEDULE, printed by",
                f"    celerydesk schedules export -w {_comment_text(str(ws.path))}",
            ]
        services[BEAT] = Note(comments, _project_service(
            ws, compose_dir,
            _celery(ws, url) + ["beat", "-l", ws.beat.loglevel, "-s", "/tmp/celerybeat-schedule"], url))

    if ws.flower.enabled:
        port = ws.flower.port
        service = _project_service(
            ws, compose_dir,
            ["python", "-m", "celery", *_broker_option(url), "flower",
             # every interface inside the container, or the published port could not reach it
             "--address=0.0.0.0", f"--port={port}"], url)
        env_file = os.path.relpath(flower_env_path(ws), compose_dir)
        service["env_file"] = service.get("env_file", []) + [env_file]
        if broker_service(ws) == RABBITMQ_SERVICE and ws.broker.management:  # Flower's Broker page
            service["environment"]["FLOWER_BROKER_API"] = f"http://{GUEST[0]}:{GUEST[1]}@{RABBITMQ_SERVICE}:15672/api/"
        service["ports"] = [f"127.0.0.1:{port}:{port}"]
        services[FLOWER] = Note(
            [f"Flower on http://127.0.0.1:{port}, published on 127.0.0.1 only. Its login,",
             f"{FLOWER_AUTH_VAR}=user:password, is read from {_comment_text(env_file)}",
             "(the desktop Flower's, written by the export; not under version control)."],
            service)

    doc: dict[str, Any] = {"name": project_name(ws), "services": services}
    if volumes:
        doc["volumes"] = volumes
    return doc


def strip_notes(value: Any) -> Any:
    """The document without its comments: what ``docker compose config`` reads back."""
    if isinstance(value, Note):
        return strip_notes(value.value)
    if isinstance(value, dict):
        return {k: strip_notes(v) for k, v in value.items()}
    if isinstance(value, list):
        return [strip_notes(v) for v in value]
    return value


def render_compose(ws: Workspace, compose_dir: Optional[Path] = None, now: Optional[datetime] = None) -> str:
    """The compose file's text: a header saying what to do before ``docker compose up``, then the document."""
    compose_dir = Path(compose_dir) if compose_dir is not None else ws.root
    doc = compose_document(ws, compose_dir)
    lines = [f"# {line}" if line else "#" for line in _header(ws, compose_dir, doc, now or datetime.now())]
    lines.append("")
    _emit_mapping(doc, 0, lines)
    return "\n".join(lines) + "\n"


def write_compose(ws: Workspace, path: Path, *, overwrite: bool = False, now: Optional[datetime] = None) -> Path:
    """Write the compose file to ``path``; an existing file is replaced only with ``overwrite``."""
    path = Path(path).absolute()
    if path.exists() and not overwrite:
        raise DeskError(f"{path} exists already",
                        hint="pass --force to replace it, or -o FILE to write elsewhere (-o - prints it)")
    if not path.parent.is_dir():
        raise DeskError(f"cannot write {path}: {path.parent} is not a folder")
    text = render_compose(ws, path.parent, now)
    try:
        if ws.flower.enabled:
            write_flower_env(ws)
        if secret_url(ws):
            write_broker_env(ws)
        atomic_write(path, text, mode=0o644)  # a project file, committed like any other
    except OSError as exc:
        raise DeskError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


def flower_env_path(ws: Workspace) -> Path:
    return ws.runtime_dir / FLOWER_ENV_FILE


def write_flower_env(ws: Workspace) -> Path:
    """The flower service's ``env_file``: the desktop Flower's login, readable by the owner only."""
    user, password = Runtime(ws.runtime_dir).flower_credentials()  # creates the ignored runtime folder
    path = flower_env_path(ws)
    atomic_write(path, "# Flower's login for the exported docker compose file (celerydesk export compose)\n"
                       f"{FLOWER_AUTH_VAR}={user}:{password}\n", mode=0o600)
    return path


def broker_env_path(ws: Workspace) -> Path:
    return ws.runtime_dir / BROKER_ENV_FILE


def write_broker_env(ws: Workspace) -> Path:
    """The Celery services' ``env_file`` for an external broker URL with a password (0600)."""
    Runtime(ws.runtime_dir).prepare()
    path = broker_env_path(ws)
    atomic_write(path, "# The broker for the exported docker compose file (celerydesk export compose)\n"
                       f"CELERY_BROKER_URL={broker_url(ws)}\n")
    return path


def shadowing_file(path: Path) -> Optional[Path]:
    """A compose.yaml/compose.yml beside ``path`` that `docker compose` would read instead of it."""
    path = Path(path)
    if path.name in PREFERRED_NAMES:
        return None
    for name in PREFERRED_NAMES:
        other = path.parent / name
        if other.exists():
            return other
    return None


def service_names(ws: Workspace) -> list[str]:
    return list(compose_document(ws)["services"])


# -- text ---------------------------------------------------------------------------------------


def _header(ws: Workspace, compose_dir: Path, doc: dict, now: datetime) -> list[str]:
    context = _build_context(ws, compose_dir)
    names = ", ".join(doc["services"])
    extra = "celery[redis]" if ws.broker.kind == REDIS_KIND else "celery"  # AMQP comes with celery
    lines = [
        f"docker compose file for the Celery stack of {_comment_text(ws.name)}: {names}.",
        f"Generated by celerydesk {__version__} from {_comment_text(str(ws.path))}",
        f"on {now.strftime('%Y-%m-%d %H:%M')}. Exporting again replaces your edits (celerydesk export compose --force).",
        "",
        "Before `docker compose up -d`:",
        f"1. The Celery services are built from your project (build context {context!s}): put a Dockerfile",
        f"   there that installs the project's requirements with {extra} (and flower, for the",
        f"   flower service) and copies the code to {APP_DIR}, e.g.",
        "       FROM python:3.12-slim",
        f"       WORKDIR {APP_DIR}",
        "       COPY requirements.txt .",
        f"       RUN pip install --no-cache-dir -r requirements.txt \"{extra}\" flower",
        "       COPY . .",
    ]
    if ws.flower.enabled:
        env_file = _comment_text(os.path.relpath(flower_env_path(ws), compose_dir))
        lines += [
            f"2. Flower's login is in {env_file}, which the export wrote (the desktop",
            "   Flower's login; celerydesk's runtime folder is never committed). On another machine, create it:",
            f"       echo \"{FLOWER_AUTH_VAR}=admin:$(openssl rand -hex 16)\" > {env_file}",
        ]
    lines += ["", "Ports are published on 127.0.0.1 only, as celerydesk does; widen them deliberately."]
    if ws.broker.mode == "external":
        lines += ["", f"Broker: external, {_comment_text(shown_url(ws.broker.url or ''))} "
                      f"(no {LABEL.get(ws.broker.kind, 'broker')} service here)."]
        if has_password(ws.broker.url):
            env_file = _comment_text(os.path.relpath(broker_env_path(ws), compose_dir))
            lines += [f"Its URL, password included, is read from {env_file} (written by the export, not",
                      "under version control); on another machine, write CELERY_BROKER_URL=... into it."]
        if external_broker_on_loopback(ws):
            lines += [
                "WARNING: that URL names this machine's loopback, which inside a container is the",
                "container itself. Use the broker's real host name, or host.docker.internal with",
                "    extra_hosts: [\"host.docker.internal:host-gateway\"]",
                "on each service.",
            ]
    return lines


def _comment_text(text: str) -> str:
    """One comment line: no line breaks, no control characters."""
    return "".join(ch if ch.isprintable() else " " for ch in text)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    if value is None:
        return "null"
    return _quote(str(value))


def _quote(text: str) -> str:
    """A YAML double-quoted scalar (JSON's escapes are YAML's), with non-printables escaped."""
    out = json.dumps(text, ensure_ascii=False)
    if all(ch.isprintable() for ch in out):
        return out
    return "".join(ch if ch.isprintable() else f"\\u{ord(ch):04x}" for ch in out)


def _flow_list_lines(label: str, items: list, continuation: str, width: int = 100) -> list[str]:
    """``key: [a, b, ...]``, continued on lines indented past the key when it grows too long
    (a flow sequence may span lines as long as they are indented more than its mapping)."""
    parts = [_scalar(item) for item in items]
    lines = [f"{label} ["]
    for i, part in enumerate(parts):
        text = part + ("," if i < len(parts) - 1 else "]")
        if lines[-1].endswith("[") or len(lines[-1]) + 1 + len(text) <= width:
            lines[-1] += ("" if lines[-1].endswith("[") else " ") + text
        else:
            lines.append(continuation + text)
    if not parts:
        lines[-1] += "]"
    return lines


def _emit_mapping(mapping: dict, indent: int, lines: list[str]) -> None:
    pad = " " * indent
    for key, value in mapping.items():
        if isinstance(value, Note):
            lines.extend(f"{pad}# {_comment_text(c)}" for c in value.comments)
            value = value.value
        label = f"{pad}{_key(key)}:"
        if isinstance(value, dict):
            if value:
                lines.append(label)
                _emit_mapping(value, indent + 2, lines)
            else:
                lines.append(f"{label} {{}}")
        elif isinstance(value, list):
            lines.extend(_flow_list_lines(label, value, pad + "    "))
        else:
            lines.append(f"{label} {_scalar(value)}")
        if indent <= 2 and isinstance(value, dict) and value and lines[-1]:
            lines.append("")  # a blank line between top-level blocks and between services
    while lines and not lines[-1].strip() and indent == 0:
        lines.pop()


def _key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", key) and key.lower() not in (
        "true", "false", "yes", "no", "on", "off", "null", "y", "n") else _quote(key)
