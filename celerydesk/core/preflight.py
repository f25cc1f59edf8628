"""Everything checked before a stack starts, so failures are sentences, not crash loops.

Runs off the GUI thread (it may wait on Docker and on the project's interpreter). It resolves
``auto`` to docker or local, cleans what a dead celerydesk left, and collects every problem at
once: a port in use (with the process that holds it), no Docker engine, no redis-server or
rabbitmq-server, a project interpreter without celery[redis]. A local RabbitMQ's config files
are written here too, so a folder that cannot be written is said before anything starts.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Optional

from celerydesk.core import broker_container
from celerydesk.core.brokers import RABBITMQ
from celerydesk.core.commands import project_env, redis_server_binary
from celerydesk.core.errors import DeskError
from celerydesk.core.interpreter import InterpreterInfo, check_interpreter
from celerydesk.core.leftovers import clean_leftover_processes
from celerydesk.core.paths import user_data_dir
from celerydesk.core.ports import port_holder, port_is_free
from celerydesk.core.runtime import Runtime
from celerydesk.core.workspace import Workspace


@dataclass
class PreflightResult:
    mode: str  # docker | local | external
    notes: list[str] = field(default_factory=list)  # what was done or decided, for the user
    problems: list[DeskError] = field(default_factory=list)


def resolve_broker_mode(ws: Workspace) -> tuple[str, Optional[str]]:
    """(mode, note): ``auto`` is docker when an engine answers, else local."""
    if ws.broker.mode != "auto":
        return ws.broker.mode, None
    error = broker_container.engine_error()
    if error is None:
        return "docker", f"broker: auto mode found a Docker engine; {ws.broker.label} runs in a container"
    server = "rabbitmq-server" if ws.broker.kind == RABBITMQ else "redis-server"
    return "local", f"broker: auto mode runs a local {server} ({error})"


def _port_problem(port: int, what: str, key: str) -> Optional[DeskError]:
    if port_is_free(port):
        return None
    holder = port_holder(port) or "another program"
    return DeskError(f"port {port} ({what}) is used by {holder}",
                     hint=f"stop that program, or pick another port in {key} of the workspace file")


def _broker_port_problems(ws: Workspace) -> list[DeskError]:
    ports = [(ws.broker.port, "the broker", "[broker] port")]
    if ws.broker.kind == RABBITMQ and ws.broker.management:
        ports.append((ws.broker.management_port, "RabbitMQ's management API", "[broker] management_port"))
    return [problem for problem in (_port_problem(*port) for port in ports) if problem]


def _local_server_problems(ws: Workspace) -> list[DeskError]:
    if ws.broker.kind == RABBITMQ:
        from celerydesk.core import local_rabbitmq

        checks = (local_rabbitmq.rabbitmq_server_script, local_rabbitmq.epmd_binary)
    else:
        checks = (redis_server_binary,)
    problems = []
    for check in checks:
        try:
            check()
        except DeskError as exc:
            problems.append(exc)
    return problems


def check_broker(ws: Workspace, mode: str) -> list[DeskError]:
    problems = []
    if mode == "local":
        problems += _local_server_problems(ws)
        problems += _broker_port_problems(ws)
    elif mode == "docker":
        error = broker_container.engine_error()
        if error is not None:
            server = "rabbitmq-server" if ws.broker.kind == RABBITMQ else "redis-server"
            problems.append(DeskError(
                f"broker mode is docker but no Docker engine answers: {error}",
                hint="start Docker (`sudo systemctl start docker`, or Docker Desktop), "
                f"or set [broker] mode = \"local\" to run {server} without Docker",
            ))
        elif not broker_container.workspace_container_publishes(ws):
            problems += _broker_port_problems(ws)
    return problems


def run_preflight(ws: Workspace, runtime: Runtime) -> PreflightResult:
    """The fast checks, before the broker starts. The project interpreter is checked apart
    (``check_project_interpreter``), while the broker starts, since it costs a celery import."""
    runtime.prepare()
    mode, note = resolve_broker_mode(ws)
    result = PreflightResult(mode=mode, notes=[note] if note else [])
    result.notes.extend(clean_leftover_processes(runtime))
    result.problems.extend(check_broker(ws, mode))
    if mode == "local" and ws.broker.kind == RABBITMQ and not result.problems:
        from celerydesk.core.local_rabbitmq import write_node_files

        try:
            write_node_files(ws, runtime.rabbitmq_dir)
        except DeskError as exc:
            result.problems.append(exc)
    if ws.flower.enabled:
        problem = _port_problem(ws.flower.port, "Flower", "[flower] port")
        if problem:
            result.problems.append(problem)
    return result


def check_project_interpreter(ws: Workspace) -> InterpreterInfo:
    """Raises DeskError with the fix when the project's interpreter cannot run a worker."""
    digest = hashlib.sha256(str(ws.project.python).encode()).hexdigest()[:16]
    cache_dir = user_data_dir() / "interpreter-checks"
    cache_dir.mkdir(parents=True, exist_ok=True)
    return check_interpreter(ws.project.python, ws.project.workdir, project_env(ws, ws.broker_url()),
                             cache_file=cache_dir / f"{digest}.json")
