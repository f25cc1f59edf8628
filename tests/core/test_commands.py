"""Service command lines for a workspace (celerydesk/core/commands.py).

Covered: workers (project interpreter, ``-A``, ``-b URL`` before the sub-command and
CELERY_BROKER_URL winning over the project's own, ``-E``, ``-n name@%h``, ``-Q``, ``-c``,
options celery really knows); beat (schedule file inside the runtime folder); Flower
(``--address=127.0.0.1``, credentials in FLOWER_BASIC_AUTH and never in argv); the local
redis-server (``--bind 127.0.0.1``, ``--appendonly yes``, its port and folder, a private umask);
the project's env vars reach the worker and beat; a broker URL with a password (generated, or
an external one) only in CELERY_BROKER_URL, never in any argv, and Redis's password on stdin.
"""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import pytest

from celerydesk.core import commands
from celerydesk.core.commands import beat_spec, flower_spec, local_broker_spec, worker_spec
from tests.helpers.stack import make_workspace

CREDS = ("celerydesk", "s3cret-Pa55word")


def option(argv: list[str], name: str) -> str:
    """The value after ``name`` in argv (exactly one occurrence)."""
    assert argv.count(name) == 1, argv
    return argv[argv.index(name) + 1]


@pytest.fixture
def ws(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONHOME", "/somewhere/else")  # must not reach the project's interpreter
    monkeypatch.setenv("FLOWER_UNAUTHENTICATED_API", "1")  # must not reach Flower
    return make_workspace(
        tmp_path / "proj",
        workers=[{"name": "main", "concurrency": 2},
                 {"name": "fast", "concurrency": 5, "queues": ["fast", "urgent"], "pool": "threads"}],
        project={"env": {"DJANGO_SETTINGS_MODULE": "shop.settings", "CELERY_BROKER_URL": "amqp://guest@elsewhere//"}},
    )


@pytest.fixture
def url(ws):
    return ws.broker_url()


# -- workers ------------------------------------------------------------------------------------


def test_worker_command_line(ws, url):
    spec = worker_spec(ws, ws.worker("fast"), url)
    argv = spec.argv
    assert argv[:3] == [str(ws.project.python), "-m", "celery"]
    assert option(argv, "-A") == ws.project.app
    assert option(argv, "-b") == url
    assert argv.index("-b") < argv.index("worker")  # a global option of `celery`, before the sub-command
    assert "-E" in argv
    assert option(argv, "-n") == "fast@%h"
    assert option(argv, "-Q") == "fast,urgent"
    assert option(argv, "-c") == "5"
    assert option(argv, "-P") == "threads"
    assert spec.key == "worker-fast" and spec.kind == commands.WORKER and spec.worker_name == "fast"
    assert spec.cwd == ws.project.workdir
    assert spec.stop_signal == signal.SIGTERM  # celery's warm shutdown


def test_worker_defaults(ws, url):
    argv = worker_spec(ws, ws.worker("main"), url).argv
    assert option(argv, "-n") == "main@%h"
    assert option(argv, "-Q") == "celery"
    assert option(argv, "-c") == "2"


def test_worker_env_has_the_broker_and_the_project_env(ws, url):
    env = worker_spec(ws, ws.worker("main"), url).env
    assert env["CELERY_BROKER_URL"] == url  # ours wins over the project's amqp:// setting
    assert env["DJANGO_SETTINGS_MODULE"] == "shop.settings"
    assert env["PYTHONUNBUFFERED"] == "1"
    assert "PYTHONHOME" not in env
    assert env["PATH"] == os.environ["PATH"]  # the rest of the environment is kept


def test_worker_readiness_follows_its_loglevel(tmp_path):
    ws = make_workspace(tmp_path, workers=[{"name": "a", "loglevel": "info"}, {"name": "b", "loglevel": "warning"}])

    info = worker_spec(ws, ws.worker("a"), ws.broker_url()).readiness
    assert info.kind == "log"
    assert re.search(info.pattern, "[2026-11-25 10:00:00,000: INFO/MainProcess] a@host ready.")
    assert not re.search(info.pattern, "[2026-11-25 10:00:00,000: INFO/MainProcess] Connected to redis://")
    quiet = worker_spec(ws, ws.worker("b"), ws.broker_url()).readiness
    assert quiet.kind != "log"  # the "ready." line is not logged at WARNING


def test_worker_options_are_ones_celery_knows(ws, url):
    from celery.bin.celery import celery as celery_cli
    from celery.bin.worker import worker as worker_cli

    def known(command) -> set[str]:
        return {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}

    argv = worker_spec(ws, ws.worker("fast"), url).argv
    split = argv.index("worker")
    global_opts, worker_opts = argv[3:split], argv[split + 1:]
    for arg in global_opts:
        if arg.startswith("-"):
            assert arg.split("=")[0] in known(celery_cli), arg
    for arg in worker_opts:
        if arg.startswith("-"):
            assert arg.split("=")[0] in known(worker_cli), arg


# -- beat ---------------------------------------------------------------------------------------------


def test_beat_command_line_keeps_its_schedule_in_the_runtime_dir(ws, url):
    runtime_dir = ws.runtime_dir
    spec = beat_spec(ws, url, runtime_dir)
    argv = spec.argv
    assert argv[:3] == [str(ws.project.python), "-m", "celery"]
    assert "beat" in argv
    assert option(argv, "-A") == ws.project.app
    assert option(argv, "-b") == url and argv.index("-b") < argv.index("beat")
    schedule = Path(option(argv, "-s"))
    assert schedule.parent == runtime_dir
    assert spec.env["CELERY_BROKER_URL"] == url
    assert spec.env["DJANGO_SETTINGS_MODULE"] == "shop.settings"
    assert "PYTHONHOME" not in spec.env
    assert spec.cwd == ws.project.workdir
    assert spec.key == commands.BEAT


# -- Flower --------------------------------------------------------------------------------------------


def test_flower_listens_on_loopback_with_credentials_in_the_env(ws, url):
    spec = flower_spec(ws, url, CREDS, ws.runtime_dir)
    argv = spec.argv
    assert "flower" in argv
    assert "--address=127.0.0.1" in argv
    assert f"--port={ws.flower.port}" in argv
    assert option(argv, "-b") == url and argv.index("-b") < argv.index("flower")
    assert spec.env["FLOWER_BASIC_AUTH"] == "celerydesk:s3cret-Pa55word"
    assert not any(CREDS[1] in arg for arg in argv)  # `ps` shows argv to every user
    assert "FLOWER_UNAUTHENTICATED_API" not in spec.env
    assert spec.env["CELERY_BROKER_URL"] == url
    assert spec.readiness.url == f"http://127.0.0.1:{ws.flower.port}/healthcheck"
    assert spec.key == commands.FLOWER


# -- the local broker -------------------------------------------------------------------------------------


def test_local_redis_binds_loopback_with_aof(ws, tmp_path):
    redis_dir = tmp_path / "redis-data"
    spec = local_broker_spec(ws, redis_dir)
    argv = spec.argv
    assert Path(argv[0]).name == "redis-server" and Path(argv[0]).is_file()
    assert option(argv, "--bind") == "127.0.0.1"
    assert option(argv, "--appendonly") == "yes"
    assert option(argv, "--port") == str(ws.broker.port)
    assert option(argv, "--dir") == str(redis_dir)
    assert option(argv, "--daemonize") == "no"  # supervised: it must stay our child
    assert spec.readiness.kind == "redis" and spec.readiness.url == ws.broker_url()
    assert spec.key == commands.BROKER
    assert spec.stdin is None and "-" not in argv  # no password: nothing read from stdin
    assert spec.umask == 0o077  # its AOF holds the queued tasks' arguments


# -- a broker URL with a password: never in argv ------------------------------------------------------


def test_a_generated_password_reaches_redis_and_every_child_through_stdin_and_the_environment(tmp_path):
    ws = make_workspace(tmp_path / "guarded", broker={"password": "generate"})
    password = ws.broker_password()
    url = ws.broker_url()
    assert url == f"redis://:{password}@127.0.0.1:{ws.broker.port}/0"
    broker = local_broker_spec(ws, tmp_path / "redis-data")
    assert broker.argv[1] == "-"  # the configuration on stdin comes first, the options after it
    assert broker.stdin == f"requirepass {password}\n".encode()
    specs = [worker_spec(ws, ws.workers[0], url), beat_spec(ws, url, ws.runtime_dir),
             flower_spec(ws, url, CREDS, ws.runtime_dir)]
    for spec in [broker, *specs]:
        assert password not in " ".join(spec.argv), spec.key
    for spec in specs:
        assert "-b" not in spec.argv and spec.env["CELERY_BROKER_URL"] == url, spec.key


def test_an_external_url_with_a_password_is_not_an_argument(tmp_path):
    url = "redis://:s3cr%23t@broker.example:6379/0"
    ws = make_workspace(tmp_path / "ext", mode="external", broker={"url": url})
    worker = worker_spec(ws, ws.workers[0], url)
    assert "-b" not in worker.argv and "s3cr" not in " ".join(worker.argv)
    assert worker.env["CELERY_BROKER_URL"] == url
