"""The broker container of a workspace (Redis or RabbitMQ), through the Docker Engine API (the
docker SDK). No Qt.

One container per workspace, found by its labels, never by name alone: a second start adopts
the running container (or starts the stopped one) instead of creating a duplicate. It publishes
the broker on 127.0.0.1 only and keeps its data in a named volume, so queued tasks survive a
container restart: Redis with AOF on, RabbitMQ with its database in ``/var/lib/rabbitmq``
(durable queues, persistent messages). Every call here blocks; the services layer runs them off
the GUI thread.

RabbitMQ keeps its database per node name, and a container's node is named after its host
name, which Docker makes up per container: the container gets a fixed host name, so a new
container finds the volume's database. Its management API (``rabbitmq:3-management``) is
published on 127.0.0.1 too, at ``[broker] management_port``.

With ``[broker] password = "generate"`` the broker requires the workspace's password. It is never
an argument: the container's process is visible in the host's ``ps``. It goes into a config
file copied into the container before it first starts (Docker keeps it in the container's own
layer, readable by root alone on the host); a label holds a digest of it, so a container made
with another password (or none) is replaced, its volume kept. RabbitMQ makes its users with its
database: its host name (so its node and database) carries the digest, so a new password starts
a new database in the volume rather than one that refuses it.
"""

from __future__ import annotations

import hashlib
import io
import re
import tarfile
from typing import Callable, Optional

from dataclasses import dataclass

from celerydesk.core.brokers import GENERATED_USER, LABEL, RABBITMQ
from celerydesk.core.errors import DeskError
from celerydesk.core.workspace import Workspace

LABEL_WORKSPACE = "celerydesk.workspace"
LABEL_ROLE = "celerydesk.role"
LABEL_AUTH = "celerydesk.auth"  # "none", or a digest of the password the broker requires
REDIS_PORT, AMQP_PORT, MANAGEMENT_PORT = "6379/tcp", "5672/tcp", "15672/tcp"


@dataclass(frozen=True)
class Recipe:
    """What differs between a Redis and a RabbitMQ container."""

    suffix: str  # of the container's and volume's names
    port: str  # the broker's port in the container
    data: str  # where the volume is mounted
    config_path: str  # where the config file with the password goes
    # The command, or None for the image's own (rabbitmq-server, which reads config_path).
    command: Optional[Callable[[bool], list[str]]]


def _redis_command(with_config: bool) -> list[str]:
    return ["redis-server", *([REDIS_CONFIG] if with_config else []), "--port", "6379",
            # Inside the container Redis must accept the port proxy's connections; the host side
            # is published on 127.0.0.1 only, so nothing beyond loopback sees it.
            "--bind", "0.0.0.0", "--protected-mode", "no",
            "--appendonly", "yes", "--appendfsync", "everysec", "--save", "", "--dir", "/data"]


REDIS_CONFIG = "/celerydesk-redis.conf"  # in the container; the root exists in every image
REDIS_RECIPE = Recipe("redis", REDIS_PORT, "/data", REDIS_CONFIG, _redis_command)
# The official image reads /etc/rabbitmq/conf.d/*.conf (after its own 10-defaults.conf).
RABBITMQ_RECIPE = Recipe("rabbitmq", AMQP_PORT, "/var/lib/rabbitmq", "/etc/rabbitmq/conf.d/90-celerydesk.conf", None)


def recipe_for(ws: Workspace) -> Recipe:
    return RABBITMQ_RECIPE if ws.broker.kind == RABBITMQ else REDIS_RECIPE


def _client(timeout: int = 10):
    import docker

    return docker.from_env(timeout=timeout)


def engine_error(timeout: int = 2) -> Optional[str]:
    """None when a Docker engine answers, else a short sentence saying why not."""
    try:
        import docker
    except ImportError:
        return "the docker Python package is not installed"
    try:
        client = docker.from_env(timeout=timeout)
        try:
            client.ping()
        finally:
            client.close()
        return None
    except Exception as exc:  # DockerException, requests' ConnectionError, ...
        text = str(exc)
        if "FileNotFoundError" in text or "No such file" in text:
            return "no Docker socket (is the Docker daemon running?)"
        if "Permission denied" in text:
            return "permission denied on the Docker socket (add yourself to the docker group)"
        return re.sub(r"\s+", " ", text)[:200]


def names_for(ws: Workspace) -> tuple[str, str]:
    """(container name, volume name): readable, and unique per workspace file."""
    digest = hashlib.sha256(str(ws.path).encode()).hexdigest()[:8]
    slug = re.sub(r"[^a-zA-Z0-9_.-]+", "-", ws.name).strip("-").lower() or "workspace"
    base = f"celerydesk-{slug}-{digest}-{recipe_for(ws).suffix}"
    return base, f"{base}-data"


def find_container(client, ws: Workspace):
    found = client.containers.list(all=True, filters={"label": f"{LABEL_WORKSPACE}={ws.path}"})
    return found[0] if found else None


def workspace_container_publishes(ws: Workspace) -> bool:
    """True when this workspace's own running container holds the broker port (so it is no conflict)."""
    try:
        client = _client(timeout=5)
    except Exception:
        return False
    try:
        container = find_container(client, ws)
        return container is not None and container.status == "running" and _matches(container, ws)
    finally:
        client.close()


def _published(container) -> dict[str, tuple[str, str]]:
    bindings = container.attrs.get("HostConfig", {}).get("PortBindings") or {}
    return {port: (found[0].get("HostIp", ""), found[0].get("HostPort", "")) for port, found in bindings.items() if found}


def _ports(ws: Workspace) -> dict[str, tuple[str, int]]:
    """Container port -> (127.0.0.1, host port): the broker's, and RabbitMQ's management API."""
    ports = {recipe_for(ws).port: ("127.0.0.1", ws.broker.port)}
    if ws.broker.kind == RABBITMQ and ws.broker.management:
        ports[MANAGEMENT_PORT] = ("127.0.0.1", ws.broker.management_port)
    return ports


def _auth_label(password: Optional[str]) -> str:
    return hashlib.sha256(f"celerydesk:{password}".encode()).hexdigest()[:16] if password else "none"


def _matches(container, ws: Workspace) -> bool:
    image_ok = ws.broker.image in (container.attrs.get("Config", {}).get("Image"), *container.image.tags)
    # A container from before passwords has no label: it runs without one.
    auth = (container.labels or {}).get(LABEL_AUTH, "none")
    wanted = {port: (host, str(number)) for port, (host, number) in _ports(ws).items()}
    return image_ok and _published(container) == wanted and auth == _auth_label(ws.broker_password())


def _config_text(ws: Workspace, password: str) -> str:
    if ws.broker.kind == RABBITMQ:
        return f"default_user = {GENERATED_USER}\ndefault_pass = {password}\n"
    return f"requirepass {password}\n"


def _config_archive(path: str, text: str) -> bytes:
    """A tar holding the config file with the password, for ``put_archive``."""
    data = text.encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo(path.lstrip("/"))
        # The official images run the broker as its own user, who must read it.
        info.size, info.mode = len(data), 0o644
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _ensure_image(client, image: str, progress: Callable[[str], None]) -> None:
    import docker

    try:
        client.images.get(image)
        return
    except docker.errors.ImageNotFound:
        pass
    repository, _, tag = image.rpartition(":") if ":" in image.split("/")[-1] else (image, "", "latest")
    progress(f"pulling {image} ...")
    try:
        last = {}
        for event in client.api.pull(repository, tag=tag or "latest", stream=True, decode=True):
            status, ident = event.get("status", ""), event.get("id", "")
            if last.get(ident) != status:  # one line per layer and status change, not per byte
                last[ident] = status
                progress(f"pull {image}: {ident} {status} {event.get('progress', '')}".rstrip())
            if "error" in event:
                # Into the except below: an error inside the stream (e.g. "manifest unknown", a
                # dropped line) deserves the same words and hint as one the engine answers at once.
                raise docker.errors.APIError(event["error"], explanation=event["error"])
    except docker.errors.APIError as exc:
        raise DeskError(
            f"the image {image} is not on this machine and could not be pulled ({exc.explanation or exc})",
            hint="pull it when online (`docker pull IMAGE`), set [broker] image to one you have, "
            "or use [broker] mode = \"local\"",
        ) from None


def ensure_container(ws: Workspace, progress: Callable[[str], None]) -> tuple[str, str]:
    """Start (or adopt) the workspace's broker container; return (container id, what was done)."""
    import docker

    what = LABEL[ws.broker.kind]
    recipe = recipe_for(ws)
    client = _client(timeout=30)
    try:
        name, volume = names_for(ws)
        container = find_container(client, ws)
        if container is not None and not _matches(container, ws):
            progress(f"container {container.name} has another image, port or password; replacing it (its volume stays)")
            container.remove(force=True)
            container = None
        if container is not None:
            if container.status == "running":
                return container.id, f"adopted the running {what} container {container.name}"
            container.start()
            return container.id, f"started the existing {what} container {container.name}"
        _ensure_image(client, ws.broker.image, progress)
        password = ws.broker_password()
        auth = _auth_label(password)
        try:
            container = client.containers.create(
                ws.broker.image,
                command=recipe.command(bool(password)) if recipe.command else None,
                # RabbitMQ's node (and database) is named after the host name: fixed, so a new
                # container finds the volume's; with the password's digest (see the docstring).
                hostname=f"celerydesk-{auth}" if ws.broker.kind == RABBITMQ else None,
                name=name,
                labels={LABEL_WORKSPACE: str(ws.path), LABEL_ROLE: "broker", LABEL_AUTH: auth},
                ports=_ports(ws),
                volumes={volume: {"bind": recipe.data, "mode": "rw"}},
            )
            if password:
                container.put_archive("/", _config_archive(recipe.config_path, _config_text(ws, password)))
            container.start()
        except docker.errors.APIError as exc:
            raise DeskError(f"Docker could not start the {what} container: {exc.explanation or exc}",
                            hint="see `docker ps -a` and `docker logs` for the container, "
                            "or use [broker] mode = \"local\"") from None
        return container.id, f"created the {what} container {name} (volume {volume})"
    finally:
        client.close()


def stop_container(container_id: str, timeout: int = 10) -> Optional[int]:
    """Stop it (SIGTERM: Redis flushes its AOF, RabbitMQ stops cleanly); return its exit code,
    None if it was gone."""
    import docker

    client = _client(timeout=timeout + 20)
    try:
        container = client.containers.get(container_id)
        container.stop(timeout=timeout)
        return int(container.wait(timeout=timeout + 10).get("StatusCode", 0))
    except docker.errors.NotFound:
        return None
    finally:
        client.close()


def follow_logs(container_id: str, on_line: Callable[[str], None]) -> int:
    """Stream the container's output until it stops; return its exit code."""
    client = _client(timeout=30)
    try:
        container = client.containers.get(container_id)
        pending = b""
        # No ``since=0``: docker 7.x rejects it ("since value should be datetime or positive
        # int/float"), which made every follow fail at once and looked like a container exit.
        for chunk in container.logs(stream=True, follow=True, tail=50):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                on_line(line.decode("utf-8", errors="replace").rstrip("\r"))
        if pending:
            on_line(pending.decode("utf-8", errors="replace"))
        try:
            return int(container.wait(timeout=10).get("StatusCode", -1))
        except Exception:
            return -1
    finally:
        client.close()
