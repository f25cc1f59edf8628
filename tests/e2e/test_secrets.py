"""Broker passwords stay secret: never in any process's argv (`ps`), in a log celerydesk writes,
or in `up`'s output; the runtime folder is the owner's alone; and everything still works.

- A local Redis with ``[broker] password = "generate"``: Redis requires the generated password
  (a client without it gets NOAUTH), which reaches every child through its environment; `call`
  sends with it, `env` prints it for the user's own app.
- An external Redis whose password holds characters a URL must percent-encode: written
  encoded, it works and shows masked; written raw, the file is refused with the way to encode it.
"""

from __future__ import annotations

import signal
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from celerydesk.core.commands import redis_server_binary
from celerydesk.core.ports import free_port
from celerydesk.core.workspace import load_workspace
from tests.helpers.faults import left_running, started_pids, wait_until
from tests.helpers.stack import UpProcess, write_workspace

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
OWN_FILES = (".gitignore", "stack.lock", "processes.json", "flower-credentials.json", "broker-password",
             "schedules.json", "beat-state.json", "beat.lock", "logs")


def celerydesk(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "celerydesk", *args], capture_output=True, text=True,
                          timeout=120, cwd=REPO)


def occurrences(secret: str, up: UpProcess, runtime: Path) -> dict[str, int]:
    """Where ``secret`` shows: every process's argv, each log file, `up`'s output."""
    argv = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    found = {"ps -eo args": argv.count(secret), "up's output": "\n".join(up.lines).count(secret)}
    for log in sorted((runtime / "logs").iterdir()):
        found[log.name] = log.read_text(errors="replace").count(secret)
    return found


def raw_ping(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"PING\r\n")
        return sock.recv(100)


def assert_private(runtime: Path) -> None:
    assert stat.S_IMODE(runtime.stat().st_mode) == 0o700
    for name in OWN_FILES:
        for path in [runtime / name, *(runtime / name).rglob("*")] if (runtime / name).is_dir() else [runtime / name]:
            if path.exists():
                expected = 0o700 if path.is_dir() else 0o600
                assert stat.S_IMODE(path.stat().st_mode) == expected, path


def stop(up: UpProcess) -> None:
    pids = started_pids(up.lines)
    up.signal(signal.SIGTERM)
    assert up.finish(timeout=90) == 0, "\n".join(up.lines)
    assert left_running(pids) == []


def test_a_generated_broker_password_stays_secret_and_works(tmp_path):
    path = write_workspace(tmp_path / "shop", broker={"password": "generate"})
    ws = load_workspace(path)
    runtime = ws.runtime_dir
    up = UpProcess(path)
    try:
        up.wait_for("stack ready", timeout=120)
        password = (runtime / "broker-password").read_text().strip()
        assert len(password) >= 24
        assert raw_ping(ws.broker.port).startswith(b"-NOAUTH"), "Redis must refuse a client without the password"
        call = celerydesk("call", "celerydesk.sample.tasks.notify_customers", "-w", str(path),
                          "--args", '["hello", 0]', "--wait", "60")
        assert call.returncode == 0 and "Sent 'hello' to 10000 customers" in call.stdout, call.stderr
        assert password not in call.stdout + call.stderr
        env = celerydesk("env", "-w", str(path))
        assert f"export CELERY_BROKER_URL=redis://:{password}@127.0.0.1:{ws.broker.port}/0" in env.stdout
        where = occurrences(password, up, runtime)
        assert where == {k: 0 for k in where}
        assert f"broker: local at redis://:***@127.0.0.1:{ws.broker.port}/0" in up.lines
        assert_private(runtime)
        stop(up)
    finally:
        up.kill_group()


@pytest.fixture
def guarded_redis(tmp_path):
    """A Redis of the user's own, requiring a password with every character a URL reserves."""
    password = "p@ss/w#rd?x:y%z"
    port = free_port()
    proc = subprocess.Popen([str(redis_server_binary()), "-", "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no"], stdin=subprocess.PIPE, cwd=tmp_path,
                            stdout=subprocess.DEVNULL)
    proc.stdin.write(f'requirepass "{password}"\n'.encode())
    proc.stdin.close()
    wait_until(lambda: raw_ping(port) if _listening(port) else None, 10, "the Redis to listen")
    yield port, password
    proc.terminate()
    proc.wait(10)


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


def test_an_external_broker_password_with_reserved_characters(tmp_path, guarded_redis):
    from urllib.parse import quote

    port, password = guarded_redis
    encoded = quote(password, safe="")
    raw = write_workspace(tmp_path / "raw", mode="external", beat=False, broker={"url": f"redis://:{password}@127.0.0.1:{port}/0"})
    refused = celerydesk("up", "-w", str(raw))
    assert refused.returncode == 2
    assert "which a URL must percent-encode" in refused.stderr and "'#' as %23" in refused.stderr
    assert "w#rd" not in refused.stderr and "Traceback" not in refused.stderr

    path = write_workspace(tmp_path / "shop", mode="external", broker={"url": f"redis://:{encoded}@127.0.0.1:{port}/0"})
    up = UpProcess(path)
    try:
        up.wait_for("stack ready", timeout=120)
        assert f"broker: external at redis://:***@127.0.0.1:{port}/0" in up.lines
        call = celerydesk("call", "celerydesk.sample.tasks.notify_customers", "-w", str(path),
                          "--args", '["hello", 0]', "--wait", "60")
        assert call.returncode == 0, call.stderr
        for secret in (password, encoded):
            where = occurrences(secret, up, load_workspace(path).runtime_dir)
            assert where == {k: 0 for k in where}, secret
        stop(up)
    finally:
        up.kill_group()


def test_a_wrong_external_password_is_named_as_such(tmp_path, guarded_redis):
    port, password = guarded_redis
    path = write_workspace(tmp_path / "wrong", mode="external", beat=False, flower=False,
                           broker={"url": f"redis://:not-it@127.0.0.1:{port}/0"})
    call = celerydesk("call", "celerydesk.sample.tasks.add", "-w", str(path), "--args", "[1, 2]")
    assert call.returncode == 2
    assert "refused the password" in call.stderr and "check the password" in call.stderr
    assert "not-it" not in call.stderr and "start the stack" not in call.stderr
    up = UpProcess(path)
    try:
        assert up.finish(timeout=90) == 1
        output = "\n".join(up.lines)
        assert "refused the password" in output and "Its URL: redis://:***@" in output
        assert "broker.log" not in output  # an external broker has no log of ours to point at
    finally:
        up.kill_group()
