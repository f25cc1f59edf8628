"""The docker compose export (celerydesk/core/compose.py).

Covered: the sample workspace's services (redis with AOF, a named volume, a ``redis-cli ping``
healthcheck and 127.0.0.1 publishing; worker, beat and Flower with the same celery options as
``core.commands`` and the broker at ``redis://redis:6379/0``); two workers with their queues,
concurrency, pool, log level, extra args and stop timeout, beat off, Flower on, an external broker
(no redis service, the URL as given, a warning when it names localhost); every published port bound
to 127.0.0.1; Flower's password and an external broker's never in the file (both in env files
under .celerydesk, read back by docker compose); ``$`` and odd characters surviving compose's
interpolation; the build context relative to the compose file; refusing to overwrite.
The text is read back by the real ``docker compose config`` (no YAML library is installed).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from celerydesk.core import compose
from celerydesk.core.errors import DeskError
from celerydesk.core.paths import write_sample_workspace
from celerydesk.core.runtime import Runtime
from celerydesk.core.workspace import load_workspace
from tests.helpers.compose import compose_config, compose_config_json, require_compose
from tests.helpers.stack import make_workspace



def option(argv: list[str], name: str) -> str:
    assert argv.count(name) == 1, argv
    return argv[argv.index(name) + 1]


def services(ws, compose_dir=None) -> dict:
    return compose.strip_notes(compose.compose_document(ws, compose_dir))["services"]


@pytest.fixture
def sample(tmp_path):
    return load_workspace(write_sample_workspace(tmp_path / "sample"))


@pytest.fixture
def two_workers(tmp_path):
    return make_workspace(
        tmp_path / "shop", mode="external", beat=False, flower=True, flower_port=5601,
        broker={"url": "redis://broker.internal:6380/2"},
        project={"env": {"DJANGO_SETTINGS_MODULE": "shop.settings", "PRICE": "$5 \"net\""}},
        workers=[
            {"name": "main", "concurrency": 3, "queues": ["celery", "emails"]},
            {"name": "io.bound", "concurrency": 8, "queues": ["io"], "pool": "threads", "loglevel": "warning",
             "stop_timeout": 2.5, "extra_args": ["--max-tasks-per-child=100", "--prefetch-multiplier=1"]},
        ])


@pytest.fixture
def docker_compose():
    require_compose()


def test_sample_services_mirror_the_desktop_stack(sample):
    svc = services(sample)
    assert list(svc) == ["redis", "worker-main", "beat", "flower"]

    redis = svc["redis"]
    assert redis["image"] == "redis:7-alpine"
    assert redis["ports"] == ["127.0.0.1:6390:6379"]
    assert redis["command"][:3] == ["redis-server", "--appendonly", "yes"]
    assert redis["volumes"] == ["redis-data:/data"]
    assert redis["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]

    worker = svc["worker-main"]["command"]
    assert worker[:7] == ["python", "-m", "celery", "-A", "celerydesk.sample", "-b", "redis://redis:6379/0"]
    assert worker[7] == "worker" and "-E" in worker
    assert option(worker, "-n") == "main@%h"
    assert option(worker, "-c") == "2"
    assert option(worker, "-Q") == "celery"
    assert option(worker, "-P") == "prefork"
    assert option(worker, "-l") == "info"
    assert svc["beat"]["command"][7:9] == ["beat", "-l"]
    assert "--port=5555" in svc["flower"]["command"]
    assert svc["flower"]["ports"] == ["127.0.0.1:5555:5555"]
    for name in ("worker-main", "beat", "flower"):
        assert svc[name]["environment"]["CELERY_BROKER_URL"] == "redis://redis:6379/0"
        assert svc[name]["depends_on"] == {"redis": {"condition": "service_healthy"}}
        assert svc[name]["build"] == {"context": "."}
    doc = compose.compose_document(sample)
    assert doc["volumes"] == {"redis-data": {}}
    assert doc["name"] == "sample"


def test_two_workers_external_broker_beat_off(two_workers):
    svc = services(two_workers)
    assert list(svc) == ["worker-main", "worker-io.bound", "flower"]  # no redis, no beat
    assert "volumes" not in compose.compose_document(two_workers)
    main = svc["worker-main"]
    assert option(main["command"], "-c") == "3"
    assert option(main["command"], "-Q") == "celery,emails"
    io = svc["worker-io.bound"]
    assert option(io["command"], "-n") == "io.bound@%h"
    assert option(io["command"], "-c") == "8"
    assert option(io["command"], "-Q") == "io"
    assert option(io["command"], "-P") == "threads"
    assert option(io["command"], "-l") == "warning"
    assert io["command"][-2:] == ["--max-tasks-per-child=100", "--prefetch-multiplier=1"]
    assert io["stop_grace_period"] == "2500ms" and main["stop_grace_period"] == "20s"
    for service in svc.values():
        assert "depends_on" not in service
        assert service["environment"]["CELERY_BROKER_URL"] == "redis://broker.internal:6380/2"
        assert option(service["command"], "-b") == "redis://broker.internal:6380/2"
        assert service["environment"]["DJANGO_SETTINGS_MODULE"] == "shop.settings"
        assert service["environment"]["PRICE"] == '$$5 "net"'  # compose reads $$ as one $
    assert svc["flower"]["ports"] == ["127.0.0.1:5601:5601"]
    text = compose.render_compose(two_workers)
    assert "external, redis://broker.internal:6380/2" in text
    assert "WARNING" not in text


def test_an_external_broker_on_localhost_is_warned_about(tmp_path):
    ws = make_workspace(tmp_path / "p", mode="external", broker={"url": "redis://localhost:6379/0"})
    text = compose.render_compose(ws)
    assert "WARNING: that URL names this machine's loopback" in text
    assert "host.docker.internal" in text


def test_every_published_port_is_bound_to_loopback(sample, two_workers):
    for ws in (sample, two_workers):
        published = [port for service in services(ws).values() for port in service.get("ports", [])]
        assert published
        assert all(port.startswith("127.0.0.1:") for port in published), published
        text = compose.render_compose(ws)
        assert "0.0.0.0:" not in text


def test_flower_login_is_read_from_the_ignored_runtime_folder_never_the_compose_file(sample):
    user, password = Runtime(sample.runtime_dir).flower_credentials()
    path = compose.write_compose(sample, sample.root / "docker-compose.yml")
    assert password not in path.read_text()
    flower = services(sample)["flower"]
    assert "FLOWER_BASIC_AUTH" not in flower["environment"]
    assert flower["env_file"] == [".celerydesk/compose-flower.env"]
    env_file = sample.root / ".celerydesk" / "compose-flower.env"
    assert f"\nFLOWER_BASIC_AUTH={user}:{password}\n" in env_file.read_text()  # the desktop's login
    assert env_file.stat().st_mode & 0o777 == 0o600
    assert (sample.root / ".celerydesk" / ".gitignore").read_text().splitlines()[-1] == "*"
    assert "echo \"FLOWER_BASIC_AUTH=" in path.read_text()  # the header says how to make one elsewhere


def test_an_external_broker_password_is_read_from_the_runtime_folder_never_the_compose_file(tmp_path):
    url = "redis://:s3cr%23t@broker.internal:6380/2"
    ws = make_workspace(tmp_path / "shop", mode="external", broker={"url": url})
    path = compose.write_compose(ws, ws.root / "docker-compose.yml")
    text = path.read_text()
    assert "s3cr" not in text and "redis://:***@broker.internal:6380/2" in text
    env_file = ws.root / ".celerydesk" / "compose-broker.env"
    assert f"\nCELERY_BROKER_URL={url}\n" in env_file.read_text()
    assert env_file.stat().st_mode & 0o777 == 0o600
    for name, service in services(ws).items():
        assert "CELERY_BROKER_URL" not in service["environment"] and "-b" not in service["command"], name
        assert service["env_file"][0] == ".celerydesk/compose-broker.env", name


def test_header_names_the_workspace_and_the_date(sample):
    text = compose.render_compose(sample, now=datetime(2026, 11, 25, 9, 30))
    head = text.splitlines()[:3]
    assert all(line.startswith("#") for line in head)
    assert str(sample.path) in "\n".join(head) and "2026-11-25 09:30" in "\n".join(head)
    assert "Dockerfile" in text
    assert "celerydesk schedules export" in text  # the sample has a [[schedules]] entry


def test_build_context_is_relative_to_the_compose_file(tmp_path):
    (tmp_path / "repo" / "src").mkdir(parents=True)
    ws = make_workspace(tmp_path / "repo", project={"workdir": "src"})
    assert services(ws)["worker-main"]["build"] == {"context": "./src"}
    assert services(ws, tmp_path / "elsewhere")["worker-main"]["build"] == {"context": "../repo/src"}


def test_project_name_is_what_compose_accepts(tmp_path):
    assert compose.project_name(make_workspace(tmp_path / "My Shop!")) == "my-shop"
    assert compose.project_name(make_workspace(tmp_path / "__")) == "celerydesk"


def test_write_refuses_to_overwrite(sample, tmp_path):
    target = tmp_path / "out" / "docker-compose.yml"
    target.parent.mkdir()
    target.write_text("mine\n")
    with pytest.raises(DeskError, match="exists already"):
        compose.write_compose(sample, target)
    assert target.read_text() == "mine\n"
    compose.write_compose(sample, target, overwrite=True)
    assert target.read_text().startswith("# docker compose file")
    with pytest.raises(DeskError, match="is not a folder"):
        compose.write_compose(sample, tmp_path / "missing" / "docker-compose.yml")


def test_a_preferred_compose_file_beside_it_is_found(tmp_path):
    target = tmp_path / "docker-compose.yml"
    assert compose.shadowing_file(target) is None
    (tmp_path / "compose.yaml").write_text("services: {}\n")
    assert compose.shadowing_file(target) == tmp_path / "compose.yaml"


# -- read back by the real `docker compose config` ----------------------------------------------


def _check_against_config(ws, path: Path) -> dict:
    compose.write_compose(ws, path)
    config = compose_config_json(path)  # nothing to set first: the file works as written
    expected = services(ws)
    assert sorted(config["services"]) == sorted(expected)
    for name, service in expected.items():
        got = config["services"][name]
        # `config` prints a literal $ escaped again ($$), so that its output is itself a compose file
        assert got["command"] == service["command"], name
        for key, value in service.get("environment", {}).items():
            assert got["environment"][key] == value, (name, key)
        ports = got.get("ports", [])
        assert len(ports) == len(service.get("ports", []))
        assert all(port["host_ip"] == "127.0.0.1" for port in ports), ports
    if "flower" in expected:
        user, password = Runtime(ws.runtime_dir).flower_credentials()
        assert config["services"]["flower"]["environment"]["FLOWER_BASIC_AUTH"] == f"{user}:{password}"
    return config


def test_docker_compose_config_reads_the_sample(docker_compose, sample):
    config = _check_against_config(sample, sample.root / "docker-compose.yml")
    redis = config["services"]["redis"]
    assert redis["ports"] == [{"mode": "ingress", "host_ip": "127.0.0.1", "target": 6379,
                               "published": "6390", "protocol": "tcp"}]
    assert redis["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    assert redis["volumes"][0]["source"] == "redis-data" and redis["volumes"][0]["target"] == "/data"
    assert config["services"]["worker-main"]["depends_on"]["redis"]["condition"] == "service_healthy"
    assert config["services"]["worker-main"]["stop_grace_period"] == "20s"
    assert config["services"]["worker-main"]["build"]["context"] == str(sample.root)
    assert config["name"] == "sample"


def test_docker_compose_config_reads_two_workers_on_an_external_broker(docker_compose, two_workers):
    config = _check_against_config(two_workers, two_workers.root / "docker-compose.yml")
    assert config["services"]["worker-io.bound"]["environment"]["PRICE"] == '$$5 "net"'  # a literal $
    assert config["services"]["flower"]["ports"][0]["published"] == "5601"
    assert "volumes" not in config or not config["volumes"]


def test_docker_compose_config_keeps_odd_characters(docker_compose, tmp_path):
    odd = "tab\there, ünïcode, 'quotes' \"double\", back\\slash, ${NOT_A_VAR} #not-a-comment: yes"
    ws = make_workspace(tmp_path / "odd", flower=False,
                        project={"env": {"ODD": odd, "EMPTY": "", "YES": "yes", "NUM": "007"}},
                        workers=[{"name": "main", "extra_args": ["--hostname=x$y", "-O", "fair"]}])
    path = ws.root / "docker-compose.yml"
    compose.write_compose(ws, path)
    result = compose_config(path)  # no Flower: no variable is needed
    assert result.returncode == 0, result.stderr
    config = compose_config_json(path)
    env = config["services"]["worker-main"]["environment"]
    # Not interpolated: `config` prints each literal $ escaped again, as $$.
    assert env["ODD"] == odd.replace("$", "$$")
    assert env["EMPTY"] == "" and env["YES"] == "yes" and env["NUM"] == "007"
    assert config["services"]["worker-main"]["command"][-3:] == ["--hostname=x$$y", "-O", "fair"]
    assert "NOT_A_VAR" not in result.stderr  # no "variable is not set" warning: nothing was interpolated


def test_docker_compose_config_reads_a_broker_password_from_the_env_file(docker_compose, tmp_path):
    url = "redis://:s3cr%23t@broker.internal:6380/2"
    ws = make_workspace(tmp_path / "shop", mode="external", broker={"url": url})
    path = compose.write_compose(ws, ws.root / "docker-compose.yml")
    config = compose_config_json(path)
    for name in ("worker-main", "beat", "flower"):
        assert config["services"][name]["environment"]["CELERY_BROKER_URL"] == url, name


def test_docker_compose_stops_without_a_flower_login(docker_compose, sample):
    path = compose.write_compose(sample, sample.root / "docker-compose.yml")
    (sample.root / ".celerydesk" / "compose-flower.env").unlink()  # a clone on another machine
    result = compose_config(path)
    assert result.returncode != 0
    assert "compose-flower.env" in result.stderr  # never an open Flower
