"""`celerydesk export compose` as a real child process, its file read back by `docker compose config`.

Covered: the default file beside the workspace, the message naming the services and next steps,
refusing to overwrite without --force (exit 2, naming the file), ``-o FILE`` and ``-o -``, a
missing workspace; and the written file accepted by `docker compose config`, with the same
services, every published port on host_ip 127.0.0.1, and the workers' options in their commands.
"""

from __future__ import annotations

import subprocess
import sys

from celerydesk.core.runtime import Runtime
from tests.helpers.compose import compose_config_json, require_compose
from tests.helpers.stack import write_workspace



def celerydesk(*args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "celerydesk", *args], capture_output=True, text=True,
                          timeout=120, **kwargs)


def test_writes_beside_the_workspace_and_refuses_to_overwrite(tmp_path):
    project = tmp_path / "shop"
    write_workspace(project, app="shop")
    result = celerydesk("export", "compose", "-w", str(project))
    assert result.returncode == 0, result.stderr
    target = project / "docker-compose.yml"
    assert f"wrote {target}" in result.stdout
    assert "redis, worker-main, beat, flower" in result.stdout
    assert f"Flower's login (the desktop's): {project / '.celerydesk' / 'compose-flower.env'}" in result.stdout
    assert "docker compose up -d" in result.stdout
    first = target.read_text()
    assert first.startswith("# docker compose file")

    target.write_text("# my own edits\n")
    again = celerydesk("export", "compose", "-w", str(project / "celerydesk.toml"))
    assert again.returncode == 2
    assert str(target) in again.stderr and "--force" in again.stderr
    assert target.read_text() == "# my own edits\n"

    forced = celerydesk("export", "compose", "-w", str(project), "--force")
    assert forced.returncode == 0, forced.stderr
    assert target.read_text().startswith("# docker compose file")


def test_output_file_and_stdout(tmp_path):
    project = tmp_path / "shop"
    write_workspace(project, app="shop", flower=False)
    out = tmp_path / "deploy" / "stack.yml"
    out.parent.mkdir()
    result = celerydesk("export", "compose", "-w", str(project), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert "context: \"../shop\"" in out.read_text()  # the build context is relative to the file
    assert not (project / "docker-compose.yml").exists()
    assert "Flower's login" not in result.stdout  # no Flower, no login

    printed = celerydesk("export", "compose", "-w", str(project), "-o", "-", cwd=project)
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout.startswith("# docker compose file")
    assert "worker-main:" in printed.stdout and "context: \".\"" in printed.stdout
    assert not (project / "docker-compose.yml").exists()


def test_notes_a_compose_yaml_that_docker_compose_would_read_first(tmp_path):
    project = tmp_path / "shop"
    write_workspace(project, app="shop")
    (project / "compose.yaml").write_text("services: {}\n")
    result = celerydesk("export", "compose", "-w", str(project))
    assert result.returncode == 0, result.stderr
    assert "compose.yaml exists too" in result.stdout and "-f docker-compose.yml" in result.stdout


def test_missing_workspace_is_a_clear_error(tmp_path):
    result = celerydesk("export", "compose", "-w", str(tmp_path))
    assert result.returncode == 2
    assert "no workspace file here" in result.stderr
    assert not (tmp_path / "docker-compose.yml").exists()


def test_docker_compose_config_accepts_the_exported_file(tmp_path):
    require_compose()
    project = tmp_path / "shop"
    write_workspace(project, app="shop", broker_port=6391, flower_port=5591,
                    project={"env": {"DJANGO_SETTINGS_MODULE": "shop.settings"}},
                    workers=[{"name": "main", "concurrency": 2, "queues": ["celery"]},
                             {"name": "mail", "concurrency": 6, "queues": ["emails", "digest"],
                              "pool": "threads", "loglevel": "debug", "extra_args": ["--max-tasks-per-child=50"]}])
    result = celerydesk("export", "compose", "-w", str(project))
    assert result.returncode == 0, result.stderr

    config = compose_config_json(project / "docker-compose.yml")
    services = config["services"]
    assert sorted(services) == ["beat", "flower", "redis", "worker-mail", "worker-main"]
    published = {name: [(p["host_ip"], p["published"], p["target"]) for p in s.get("ports", [])]
                 for name, s in services.items()}
    assert published["redis"] == [("127.0.0.1", "6391", 6379)]
    assert published["flower"] == [("127.0.0.1", "5591", 5591)]
    assert all(not ports for name, ports in published.items() if name not in ("redis", "flower"))

    mail = services["worker-mail"]["command"]
    assert mail[mail.index("worker") - 4:mail.index("worker")] == ["-A", "shop", "-b", "redis://redis:6379/0"]
    for flag, value in (("-n", "mail@%h"), ("-c", "6"), ("-Q", "emails,digest"), ("-P", "threads"), ("-l", "debug")):
        assert mail[mail.index(flag) + 1] == value, (flag, mail)
    assert "-E" in mail and mail[-1] == "--max-tasks-per-child=50"
    main = services["worker-main"]["command"]
    assert main[main.index("-c") + 1] == "2" and main[main.index("-Q") + 1] == "celery"
    for name in ("worker-main", "worker-mail", "beat", "flower"):
        assert services[name]["environment"]["CELERY_BROKER_URL"] == "redis://redis:6379/0"
        assert services[name]["environment"]["DJANGO_SETTINGS_MODULE"] == "shop.settings"
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy"
    user, password = Runtime(project / ".celerydesk").flower_credentials()
    assert services["flower"]["environment"]["FLOWER_BASIC_AUTH"] == f"{user}:{password}"
    assert "redis-data" in config["volumes"]
