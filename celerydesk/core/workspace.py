"""The workspace file ``celerydesk.toml``: its model, defaults and validation.

The keys documented in DESIGN.md are a contract (tests and users rely on them): keys may be
added, never renamed. Validation collects every problem at once, each naming the key
(``[[workers]] #2 "fast": concurrency must be ...``), so a user fixes the file in one pass;
unknown keys are warnings, not errors, so a newer file still opens in an older celerydesk.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from celerydesk.core import brokers, limits
from celerydesk.core import schedule_options
from celerydesk.core.environment import EnvironmentConfig, color_problem, name_problem, normal_color
from celerydesk.core.errors import WorkspaceError
from celerydesk.core.limits import Bounds
from celerydesk.core.priority import DEFAULT_NICE, MAX_NICE
from celerydesk.core.urls import shown_url, url_form_problem

if TYPE_CHECKING:
    from celerydesk.core.alerts.rules import AlertRule

FILE_NAME = "celerydesk.toml"
RUNTIME_DIR_NAME = ".celerydesk"
BROKER_MODES = ("auto", "docker", "local", "external")
POOLS = ("prefork", "solo", "threads", "gevent", "eventlet")
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
# What `celery -A` takes: a dotted module path, optionally ":attribute".
_APP_RE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*(:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*)?$")
GENERATE = "generate"  # [broker] password: a password celerydesk generates and keeps


@dataclass
class ProjectConfig:
    app: str
    workdir: Path
    python: Path
    python_detected: bool  # True when no ``python`` key was given
    env: dict[str, str] = field(default_factory=dict)
    nice: int = DEFAULT_NICE  # CPU priority of workers, beat and Flower (core/priority.py)


@dataclass
class BrokerConfig:
    mode: str = "auto"
    port: int = 6379  # the default depends on the kind: brokers.DEFAULT_PORT
    image: str = "redis:7-alpine"  # ... and so does this one: brokers.DEFAULT_IMAGE
    url: Optional[str] = None
    password: Optional[str] = None  # GENERATE: the broker requires a generated password (local, docker)
    # redis | rabbitmq: what celerydesk runs in local and docker mode; an external broker's is
    # its URL's (or None for another transport, sqs or memory).
    kind: Optional[str] = brokers.REDIS
    management: bool = True  # RabbitMQ (local, docker): its management API, for queues and Flower
    management_port: int = brokers.DEFAULT_MANAGEMENT_PORT
    management_url: Optional[str] = None  # an external RabbitMQ's management API (http://host:15672)
    ssh: Optional[str] = None  # an external broker reached through `ssh -L` via this host (core/ssh_tunnel.py)
    ssh_config: Optional[Path] = None  # an ssh_config file for that (ssh -F), relative to the workspace

    @property
    def label(self) -> str:
        """"Redis", "RabbitMQ", or the transport's scheme for another external broker."""
        if self.kind in brokers.LABEL:
            return brokers.LABEL[self.kind]
        return (self.url or "").split("://", 1)[0] or "broker"


@dataclass
class SupervisionConfig:
    """A service that crashes ``max_crashes`` times within ``crash_window`` seconds is FATAL."""

    max_crashes: int = 5
    crash_window: float = 60.0


@dataclass
class WorkerConfig:
    name: str = "main"
    concurrency: int = 2
    queues: list[str] = field(default_factory=lambda: ["celery"])
    pool: str = "prefork"
    loglevel: str = "info"
    stop_timeout: float = 20.0  # warm shutdown lets running tasks finish; then the group is killed
    extra_args: list[str] = field(default_factory=list)
    autoscale: Optional[tuple[int, int]] = None  # (max, min) pool processes, celery's --autoscale


@dataclass
class BeatConfig:
    enabled: bool = True
    loglevel: str = "info"


@dataclass
class FlowerConfig:
    enabled: bool = True
    port: int = 5555


@dataclass
class ScheduleConfig:
    name: str
    task: str
    cron: Optional[str] = None
    every: Optional[float] = None
    args: list = field(default_factory=list)
    kwargs: dict = field(default_factory=dict)
    enabled: bool = True
    queue: Optional[str] = None
    timezone: Optional[str] = None  # a crontab read in this zone rather than the app's
    expires: Optional[float | str] = None  # seconds (each message's) or an ISO time (no run after it)
    one_off: bool = False  # sent once, then not again until edited or re-enabled
    start_at: Optional[str] = None  # ISO time: nothing is sent before it
    priority: Optional[int] = None  # the messages' priority, 0-255


@dataclass
class HistoryConfig:
    keep_days: int = 30  # tasks older than this are pruned from the history
    max_tasks: int = 2_000_000  # ... and the oldest beyond this many


@dataclass
class Workspace:
    path: Path  # the celerydesk.toml file
    project: ProjectConfig
    broker: BrokerConfig
    workers: list[WorkerConfig]
    beat: BeatConfig
    flower: FlowerConfig
    schedules: list[ScheduleConfig]
    warnings: list[str] = field(default_factory=list)
    history: HistoryConfig = field(default_factory=HistoryConfig)
    supervision: SupervisionConfig = field(default_factory=SupervisionConfig)
    alerts: list[AlertRule] = field(default_factory=list)
    environment: EnvironmentConfig = field(default_factory=EnvironmentConfig)
    _password: Optional[str] = field(default=None, init=False, repr=False, compare=False)
    # The local end of the ssh tunnel to an external broker, while one is open (core/ssh_tunnel.py).
    tunnel_url: Optional[str] = field(default=None, init=False, repr=False, compare=False)

    @property
    def root(self) -> Path:
        return self.path.parent

    @property
    def name(self) -> str:
        return self.root.name or str(self.root)

    @property
    def runtime_dir(self) -> Path:
        return self.root / RUNTIME_DIR_NAME

    @property
    def watch_only(self) -> bool:
        """A window on a stack celerydesk did not start: an external broker, no workers, no beat,
        no Flower. Nothing is started and nothing is stopped."""
        return self.broker.mode == "external" and not self.workers and not self.beat.enabled \
            and not self.flower.enabled

    @property
    def environment_name(self) -> str:
        return self.environment.name or self.name

    def broker_url(self, db: int = 0) -> str:
        """The URL every process gets; local and docker brokers listen on loopback only.

        A RabbitMQ's holds its user and password (``guest:guest``, or the generated one's), a
        Redis's the generated password when there is one: give it to children through their
        environment, and show it through ``shown_url``. ``db`` is Redis's database."""
        if self.broker.mode == "external":
            return self.tunnel_url or self.broker.url
        return brokers.local_url(self.broker.kind, self.broker.port, self.broker_password(), db)

    def management_api(self) -> Optional[brokers.ManagementApi]:
        """Where this workspace's RabbitMQ answers its management API (None: not RabbitMQ, or off)."""
        return brokers.management_api(self.broker, self.broker_url())

    def broker_password(self) -> Optional[str]:
        """The generated password the broker requires (kept in the runtime folder), or None."""
        if self.broker.mode == "external" or self.broker.password != GENERATE:
            return None
        if self._password is None:
            from celerydesk.core.runtime import Runtime

            self._password = Runtime(self.runtime_dir).broker_password()
        return self._password

    def worker(self, name: str) -> WorkerConfig:
        for worker in self.workers:
            if worker.name == name:
                return worker
        raise KeyError(name)


def resolve_workspace_path(given: Optional[str | os.PathLike]) -> Path:
    """``-w`` takes the file or its folder; without it, ``./celerydesk.toml``."""
    path = Path(given) if given else Path.cwd()
    path = path.expanduser().absolute()
    if path.is_dir():
        path = path / FILE_NAME
    return path


def load_workspace(given: Optional[str | os.PathLike] = None) -> Workspace:
    path = resolve_workspace_path(given)
    if not path.is_file():
        raise WorkspaceError(
            path,
            ["no workspace file here"],
            hint="create one with `celerydesk init --app YOURAPP` in your project folder, "
            "or try the built-in sample with `celerydesk up --sample`",
        )
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise WorkspaceError(path, [f"not valid TOML: {exc}"], hint="fix the syntax at the line shown") from None
    except UnicodeDecodeError as exc:
        raise WorkspaceError(path, [f"is not UTF-8 text (byte {exc.start}: {exc.reason})"],
                             hint="save it as UTF-8, as TOML requires") from None
    except OSError as exc:
        raise WorkspaceError(path, [f"cannot be read: {exc.strerror or exc}"],
                             hint="check that the file exists and that you may read it") from None
    except RecursionError:
        raise WorkspaceError(path, ["nests arrays or tables too deeply to read"],
                             hint="flatten the deeply nested value") from None
    return parse_workspace(data, path)


def parse_workspace(data: dict, path: Path) -> Workspace:
    v = _Validator()
    v.unknown(data, "", ("project", "broker", "workers", "beat", "flower", "schedules", "history", "supervision",
                         "alerts", "environment"))
    root = path.parent
    project = _parse_project(v, v.table(data, "project"), root)
    broker = _parse_broker(v, v.table(data, "broker"), root)
    workers = _parse_workers(v, data.get("workers"))
    beat_t = v.table(data, "beat")
    v.unknown(beat_t, "[beat]", ("enabled", "loglevel"))
    beat = BeatConfig(
        enabled=v.boolean(beat_t, "[beat]", "enabled", True),
        loglevel=v.choice(beat_t, "[beat]", "loglevel", LOG_LEVELS, "info"),
    )
    flower_t = v.table(data, "flower")
    v.unknown(flower_t, "[flower]", ("enabled", "port"))
    flower = FlowerConfig(
        enabled=v.boolean(flower_t, "[flower]", "enabled", True),
        port=v.port(flower_t, "[flower]", "port", 5555),
    )
    supervision_t = v.table(data, "supervision")
    v.unknown(supervision_t, "[supervision]", ("max_crashes", "crash_window"))
    supervision = SupervisionConfig(
        max_crashes=v.integer(supervision_t, "[supervision]", "max_crashes", 5, limits.MAX_CRASHES),
        crash_window=v.number(supervision_t, "[supervision]", "crash_window", 60.0, limits.CRASH_WINDOW),
    )
    schedules = _parse_schedules(v, data.get("schedules"))
    history = _parse_history(v, v.table(data, "history"))
    alerts = _parse_alerts(v, data.get("alerts"))
    taken = _broker_ports(broker) if broker.mode != "external" and flower.enabled else {}
    if flower.port in taken:
        v.problem(f"[flower] port: {flower.port} is also {taken[flower.port]}; pick another")
    # An external broker with no [[workers]] and neither beat nor Flower: a stack celerydesk only
    # watches. Elsewhere a missing [[workers]] still means one default worker.
    watch_only = broker.mode == "external" and not data.get("workers") and not beat.enabled and not flower.enabled
    if watch_only:
        workers = []
    environment = _parse_environment(v, v.table(data, "environment"), watch_only)
    if v.problems:
        raise WorkspaceError(path, v.problems, hint="edit the keys named above and try again")
    return Workspace(path, project, broker, workers, beat, flower, schedules, warnings=v.warnings,
                     history=history, supervision=supervision, alerts=alerts, environment=environment)


def _parse_environment(v: "_Validator", t: dict, watch_only: bool) -> EnvironmentConfig:
    v.unknown(t, "[environment]", ("name", "color", "read_only"))
    name = v.string(t, "[environment]", "name", None)
    if name is not None and name_problem(name):
        v.problem(f"[environment] name: {name_problem(name)}")
        name = None
    color = v.string(t, "[environment]", "color", None)
    if color is not None:
        if color_problem(color):
            v.problem(f"[environment] color: {color_problem(color)}")
            color = None
        else:
            color = normal_color(color)
    read_only = v.boolean(t, "[environment]", "read_only", watch_only)
    return EnvironmentConfig(name=name.strip() if name else None, color=color, read_only=read_only)


def detect_python(workdir: Path) -> Optional[Path]:
    """A virtualenv interpreter in the project folder, the way developers lay them out."""
    for venv in (".venv", "venv", "env"):
        for rel in ("bin/python", "Scripts/python.exe"):
            candidate = workdir / venv / rel
            if candidate.exists():
                return candidate
    return None


def _parse_project(v: "_Validator", t: dict, root: Path) -> ProjectConfig:
    v.unknown(t, "[project]", ("app", "workdir", "python", "env", "nice"))
    app = v.string(t, "[project]", "app", None)
    if app is None:
        v.problem('[project] app: missing; set it to the value you pass to `celery -A` (e.g. app = "storefront")')
        app = ""
    elif not _APP_RE.match(app):
        v.problem(f"[project] app: {app!r} is not a module path; give what you pass to `celery -A`, "
                  'a dotted name such as "storefront" or "proj.celery:app"')
    workdir = (root / v.string(t, "[project]", "workdir", ".")).resolve()
    if not workdir.is_dir():
        v.problem(f"[project] workdir: {workdir} is not a folder")
    python_value = v.string(t, "[project]", "python", None)
    detected = python_value is None
    if detected:
        python = detect_python(workdir) or Path(sys.executable)
    else:
        python = _resolve_python(python_value, workdir)
        if python is None:
            v.problem(
                f"[project] python: {python_value!r} was not found (looked in {workdir} and on PATH); "
                "point it at your project's interpreter, e.g. python = \".venv/bin/python\""
            )
            python = Path(python_value)
    env_t = t.get("env", {})
    env: dict[str, str] = {}
    if not isinstance(env_t, dict):
        v.problem("[project] env: must be a table of NAME = \"value\"")
    else:
        for key, value in env_t.items():
            if not isinstance(value, (str, int, float, bool)):
                v.problem(f"[project] env.{key}: must be a string, got {type(value).__name__}")
            else:
                env[str(key)] = str(value)
    nice = v.integer(t, "[project]", "nice", DEFAULT_NICE, Bounds(0, MAX_NICE))
    return ProjectConfig(app=app, workdir=workdir, python=python, python_detected=detected, env=env, nice=nice)


def _resolve_python(value: str, workdir: Path) -> Optional[Path]:
    candidate = Path(value).expanduser()
    if not candidate.is_absolute() and ("/" in value or "\\" in value):
        candidate = workdir / candidate
    if candidate.is_absolute():
        return candidate if candidate.is_file() else None
    found = shutil.which(value)
    return Path(found) if found else None


def _parse_broker(v: "_Validator", t: dict, root: Optional[Path] = None) -> BrokerConfig:
    v.unknown(t, "[broker]", ("mode", "kind", "port", "image", "url", "password", "management",
                              "management_port", "management_url", "ssh", "ssh_config"))
    mode = v.choice(t, "[broker]", "mode", BROKER_MODES, "auto")
    url = v.string(t, "[broker]", "url", None)
    given_kind = v.choice(t, "[broker]", "kind", brokers.KINDS, None) if "kind" in t else None
    kind = given_kind or brokers.REDIS
    if mode == "external":
        kind = _external_kind(v, url, given_kind)
    password = v.string(t, "[broker]", "password", None)
    if password is not None and password != GENERATE:
        v.problem('[broker] password: the only value is "generate" (the broker then requires a password '
                  "celerydesk generates and keeps in .celerydesk/); an external broker's password goes in its url")
        password = None
    elif password == GENERATE and mode == "external":
        v.problem('[broker] password: "generate" is for the broker celerydesk runs (local, docker); '
                  "an external broker's password goes in its url")
        password = None
    management_url = v.string(t, "[broker]", "management_url", None)
    if management_url is not None:
        if mode != "external" or kind != brokers.RABBITMQ:
            v.problem("[broker] management_url: only for an external RabbitMQ (mode = \"external\", an amqp:// url); "
                      "the RabbitMQ celerydesk runs has its own on 127.0.0.1 at management_port")
        elif not re.match(r"^https?://[^/\s]+", management_url):
            v.problem(f"[broker] management_url: {shown_url(management_url)!r} is not an http:// or https:// URL; "
                      'give the management API\'s address, e.g. "http://rabbit.internal:15672"')
        elif url_form_problem(management_url):
            v.problem(f"[broker] management_url: {shown_url(management_url)!r}: {url_form_problem(management_url)}")
    config = BrokerConfig(
        mode=mode,
        port=v.port(t, "[broker]", "port", brokers.DEFAULT_PORT.get(kind, 6379)),
        image=v.string(t, "[broker]", "image", brokers.DEFAULT_IMAGE.get(kind, brokers.DEFAULT_IMAGE[brokers.REDIS])),
        url=url,
        password=password,
        kind=kind,
        management=v.boolean(t, "[broker]", "management", True),
        management_port=v.port(t, "[broker]", "management_port", brokers.DEFAULT_MANAGEMENT_PORT),
        management_url=management_url,
        **_ssh(v, t, mode, url, root),
    )
    if mode != "external" and kind == brokers.RABBITMQ and config.management and config.management_port == config.port:
        v.problem(f"[broker] management_port: {config.port} is also the broker's port; pick another")
    return config


def _ssh(v: "_Validator", t: dict, mode: str, url: Optional[str], root: Optional[Path]) -> dict:
    """``ssh`` and ``ssh_config`` of ``[broker]``: a jump host for an external broker."""
    ssh = v.string(t, "[broker]", "ssh", None)
    config = v.string(t, "[broker]", "ssh_config", None)
    if ssh is None:
        if config is not None:
            v.problem("[broker] ssh_config: only with ssh = \"user@bastion\"")
        return {}
    from celerydesk.core.ssh_tunnel import destination_problem

    problem = destination_problem(ssh)
    if mode != "external":
        v.problem('[broker] ssh: only for an external broker (mode = "external"): the broker celerydesk runs is '
                  "on this machine")
    elif problem:
        v.problem(f"[broker] ssh: {problem}")
    elif url and not _url_host(url):
        v.problem(f"[broker] ssh: the url {shown_url(url)!r} names no host to reach through the tunnel")
    path = None
    if config is not None:
        path = (root / config).expanduser() if root is not None else Path(config).expanduser()
        if root is not None and not path.is_file():
            v.problem(f"[broker] ssh_config: {path} is not a file")
    return {"ssh": ssh, "ssh_config": path}


def _url_host(url: str) -> Optional[str]:
    from urllib.parse import urlparse

    try:
        return urlparse(url).hostname
    except ValueError:
        return None


def broker_config(table: dict) -> BrokerConfig:
    """A ``[broker]`` table as the loader reads it, its problems ignored (for a form that shows
    the defaults, which depend on the kind)."""
    return _parse_broker(_Validator(), table if isinstance(table, dict) else {})


def _external_kind(v: "_Validator", url: Optional[str], given: Optional[str]) -> Optional[str]:
    """An external broker's kind: its URL's. A ``kind`` that says otherwise is a problem."""
    if not url:
        v.problem('[broker] url: mode "external" needs a url, e.g. url = "redis://host:6379/0" '
                  'or url = "amqp://user:password@host:5672//"')
        return given
    if not re.match(r"^(redis|rediss|unix|amqp|amqps|pyamqp|sqs|memory)://", url):
        v.problem(f"[broker] url: {shown_url(url)!r} is not a broker URL (redis://, rediss://, amqp://, amqps://...)")
        return given
    if url_form_problem(url):
        v.problem(f"[broker] url: {shown_url(url)!r}: {url_form_problem(url)}")
    found = brokers.kind_of_url(url)
    if given is not None and found != given:
        v.problem(f"[broker] kind: {given!r}, but the url {shown_url(url)!r} is "
                  f"{'a ' + brokers.LABEL[found] + ' URL' if found else 'another transport'}; "
                  "leave kind out for an external broker (its URL says it) or make them agree")
    return found


def _broker_ports(broker: BrokerConfig) -> dict[int, str]:
    """The ports on 127.0.0.1 that the broker celerydesk runs takes, and what each is."""
    ports = {broker.port: "the broker's port"}
    if broker.kind == brokers.RABBITMQ and broker.management:
        ports[broker.management_port] = "the port of RabbitMQ's management API ([broker] management_port)"
    return ports


def _parse_workers(v: "_Validator", value: Any) -> list[WorkerConfig]:
    if value is None:
        return [WorkerConfig()]
    if not isinstance(value, list):
        v.problem("workers: must be an array of tables, written [[workers]]")
        return [WorkerConfig()]
    workers: list[WorkerConfig] = []
    seen: set[str] = set()
    for i, t in v.tables(value, "workers"):
        where = f"[[workers]] #{i}"
        name = v.string(t, where, "name", "main" if i == 1 else f"worker{i}")
        where = f'[[workers]] #{i} "{name}"'
        v.unknown(t, where, ("name", "concurrency", "queues", "pool", "loglevel", "stop_timeout", "extra_args",
                             "autoscale"))
        if not _NAME_RE.match(name):
            v.problem(f"{where} name: use letters, digits, '.', '_' or '-' (it becomes the node name {name}@host)")
        if name in seen:
            v.problem(f"{where} name: another worker is already called {name!r}; names must be unique")
        seen.add(name)
        pool = v.choice(t, where, "pool", POOLS, "prefork")
        workers.append(
            WorkerConfig(
                name=name,
                concurrency=v.integer(t, where, "concurrency", min(2, limits.CONCURRENCY[pool].high),
                                      limits.CONCURRENCY[pool], f'with pool = "{pool}"'),
                queues=v.string_list(t, where, "queues", ["celery"], non_empty=True),
                pool=pool,
                loglevel=v.choice(t, where, "loglevel", LOG_LEVELS, "info"),
                stop_timeout=v.number(t, where, "stop_timeout", 20.0, limits.STOP_TIMEOUT),
                extra_args=v.string_list(t, where, "extra_args", []),
                autoscale=_autoscale(v, t, where, pool),
            )
        )
    return workers or [WorkerConfig()]


def _autoscale(v: "_Validator", t: dict, where: str, pool: str) -> Optional[tuple[int, int]]:
    """``autoscale = [max, min]``: celery grows the pool up to max processes under load and
    shrinks it to min when idle. Only the prefork pool can change its size this way."""
    value = t.get("autoscale")
    if value is None:
        return None
    bounds = limits.CONCURRENCY["prefork"]
    if (not isinstance(value, list) or len(value) != 2
            or not all(isinstance(n, int) and not isinstance(n, bool) for n in value)):
        v.problem(f"{where} autoscale: expected [max, min], two whole numbers, got {value!r}")
        return None
    high, low = value
    if pool != "prefork":
        v.problem(f'{where} autoscale: only the prefork pool can autoscale, not pool = "{pool}"')
    elif not (0 <= low <= high and bounds.low <= high <= bounds.high):
        v.problem(f"{where} autoscale: [max, min] needs 0 <= min <= max and max {bounds.text()}, got {value!r}")
    else:
        return high, low
    return None


def _parse_alerts(v: "_Validator", value: Any) -> list:
    if value is None:
        return []
    # Only for a file that has rules: the window's first paint reads the workspace file.
    from celerydesk.core.alerts.rules import parse_alerts

    return parse_alerts(v, value)


def _parse_history(v: "_Validator", t: dict) -> HistoryConfig:
    v.unknown(t, "[history]", ("keep_days", "max_tasks"))
    return HistoryConfig(
        keep_days=v.integer(t, "[history]", "keep_days", 30, limits.HISTORY_KEEP_DAYS),
        max_tasks=v.integer(t, "[history]", "max_tasks", 2_000_000, limits.HISTORY_MAX_TASKS),
    )


def _parse_schedules(v: "_Validator", value: Any) -> list[ScheduleConfig]:
    if value is None:
        return []
    if not isinstance(value, list):
        v.problem("schedules: must be an array of tables, written [[schedules]]")
        return []
    schedules = []
    names: set[str] = set()
    for i, t in v.tables(value, "schedules"):
        where = f"[[schedules]] #{i}"
        name = v.string(t, where, "name", None)
        where = f'[[schedules]] #{i} "{name}"' if name else where
        v.unknown(t, where, ("name", "task", "cron", "every", "args", "kwargs", "enabled", "queue", "timezone",
                             "expires", "one_off", "start_at", "priority"))
        if not name:
            v.problem(f"{where} name: missing; every schedule needs a unique name")
        elif name in names:
            v.problem(f"{where} name: used twice; schedule names must be unique")
        names.add(name or "")
        task = v.string(t, where, "task", None)
        if not task:
            v.problem(f'{where} task: missing; the registered task name, e.g. "playground.tasks.notify_customers"')
        cron = v.string(t, where, "cron", None)
        every = v.number(t, where, "every", None, limits.EVERY)
        if "every" in t and every is None:
            pass  # already reported as out of range; "give exactly one" would be a second, wrong, problem
        elif (cron is None) == (every is None):
            v.problem(f'{where}: give exactly one of cron = "m h dom mon dow" or every = SECONDS')
        elif cron is not None and len(cron.split()) != 5:
            v.problem(f"{where} cron: {cron!r} has {len(cron.split())} fields; cron needs 5 (minute hour day-of-month month day-of-week)")
        args = t.get("args", [])
        if not isinstance(args, list):
            v.problem(f"{where} args: must be an array, e.g. args = [\"Hello\"]")
            args = []
        kwargs = t.get("kwargs", {})
        if not isinstance(kwargs, dict):
            v.problem(f"{where} kwargs: must be a table, e.g. kwargs = {{ x = 1 }}")
            kwargs = {}
        for key, value in (("args", args), ("kwargs", kwargs)):
            if limits.json_depth(value) > limits.MAX_JSON_DEPTH:
                v.problem(f"{where} {key}: nested deeper than {limits.MAX_JSON_DEPTH} levels")
        schedules.append(
            ScheduleConfig(
                name=name or "",
                task=task or "",
                cron=cron,
                every=every,
                args=args,
                kwargs=kwargs,
                enabled=v.boolean(t, where, "enabled", True),
                queue=v.string(t, where, "queue", None),
                **_schedule_options(v, t, where, cron is not None),
            )
        )
    return schedules


def _schedule_options(v: "_Validator", t: dict, where: str, is_cron: bool) -> dict:
    """timezone, expires, one_off, start_at and priority of one [[schedules]] table."""
    zone = v.string(t, where, "timezone", None)
    if zone is not None:
        if not is_cron:
            v.problem(f"{where} timezone: only a cron schedule has one (an interval runs the same in every zone)")
        elif not schedule_options.known_zone(zone):
            v.problem(f"{where} timezone: {zone!r} is not a known timezone; use an IANA name such as "
                      "\"Europe/Paris\" or \"UTC\"")
    expires = t.get("expires")
    if expires is not None and not isinstance(expires, bool) and isinstance(expires, (int, float)):
        problem = limits.out_of_bounds(expires, limits.EXPIRES)
        if problem:
            v.problem(f"{where} expires: {problem}")
            expires = None
        else:
            expires = float(expires)
    elif expires is not None:
        expires = _iso_time(v, expires, where, "expires", "seconds (3600) or a time (\"2026-12-31T18:00:00+01:00\")")
    start_at = t.get("start_at")
    if start_at is not None:
        start_at = _iso_time(v, start_at, where, "start_at", "a time (\"2026-12-24T18:00:00+01:00\")")
    return {"timezone": zone, "expires": expires, "one_off": v.boolean(t, where, "one_off", False),
            "start_at": start_at, "priority": v.integer(t, where, "priority", None, limits.PRIORITY)}


def _iso_time(v: "_Validator", value: Any, where: str, key: str, expected: str) -> Optional[str]:
    """An ISO 8601 time as text, from a string or a TOML date-time; a problem (and None) otherwise."""
    found = schedule_options.iso_time(value)
    if found is None:
        v.problem(f"{where} {key}: expected {expected}, got {value!r}")
    return found


class _Validator:
    """Reads typed values out of TOML tables, collecting problems instead of raising."""

    def __init__(self):
        self.problems: list[str] = []
        self.warnings: list[str] = []

    def tables(self, value: list, key: str):
        """(its number from 1, the table) for each table of the array of tables ``[[key]]``;
        an entry that is not a table is reported and skipped."""
        for i, t in enumerate(value, 1):
            if not isinstance(t, dict):
                self.problem(f"[[{key}]] #{i}: must be a table")
                continue
            yield i, t

    def problem(self, text: str) -> None:
        self.problems.append(text)

    def unknown(self, t: dict, where: str, known: tuple) -> None:
        for key in t:
            if key not in known:
                label = f"{where} {key}" if where else key
                self.warnings.append(f"{label}: unknown key, ignored (known: {', '.join(known)})")

    def table(self, data: dict, key: str) -> dict:
        value = data.get(key, {})
        if not isinstance(value, dict):
            self.problem(f"[{key}]: must be a table")
            return {}
        return value

    def _typed(self, t, where, key, default, types, expected):
        if key not in t:
            return default, False
        value = t[key]
        if isinstance(value, bool) and bool not in types:
            value = None
        if value is None or not isinstance(value, types):
            self.problem(f"{where} {key}: expected {expected}, got {t[key]!r}")
            return default, False
        return value, True

    def string(self, t, where, key, default):
        value, _ = self._typed(t, where, key, default, (str,), "a string")
        return value

    def boolean(self, t, where, key, default):
        value, _ = self._typed(t, where, key, default, (bool,), "true or false")
        return value

    def integer(self, t, where, key, default, bounds: Bounds, context: str = ""):
        value, given = self._typed(t, where, key, default, (int,), f"a whole number {bounds.text()}")
        if given and not bounds.low <= value <= bounds.high:
            self.problem(f"{where} {key}: must be {bounds.text()}{' ' + context if context else ''}, got {value}")
            return default
        return value

    def number(self, t, where, key, default, bounds: Bounds):
        value, given = self._typed(t, where, key, default, (int, float), f"a number {bounds.text()}")
        problem = limits.out_of_bounds(value, bounds) if given else None
        if problem:
            self.problem(f"{where} {key}: {problem}")
            return default
        return float(value) if value is not None else None

    def port(self, t, where, key, default):
        return self.integer(t, where, key, default, limits.PORT)

    def choice(self, t, where, key, choices, default):
        value = self.string(t, where, key, default)
        if value not in choices:
            self.problem(f"{where} {key}: {value!r} is not one of {', '.join(choices)}")
            return default
        return value

    def string_list(self, t, where, key, default, non_empty=False):
        value = t.get(key, default)
        if not isinstance(value, list) or not all(isinstance(x, str) and x for x in value):
            self.problem(f"{where} {key}: expected an array of strings, got {value!r}")
            return list(default)
        if non_empty and not value:
            self.problem(f"{where} {key}: must name at least one queue")
            return list(default)
        return list(value)
