"""The headless CLI end to end: `celerydesk up/call/logs/init` as real child processes.

The Django storefront runs in its own virtualenv (celery and Django, not celerydesk), with a
settings file pointing at another broker that celerydesk's must override.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.helpers.project_venv import storefront_venv
from tests.helpers.stack import UpProcess, alive, write_workspace

pytestmark = pytest.mark.slow
PROJECTS = Path(__file__).resolve().parent.parent / "projects"


def celerydesk(*args, timeout=120, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "celerydesk", *args], capture_output=True, text=True,
                          timeout=timeout, **kwargs)


def stack_processes(workspace_dir: Path) -> list[int]:
    """Every process of the stack: the recorded main processes and all their descendants."""
    records = json.loads((workspace_dir / ".celerydesk" / "processes.json").read_text())
    pids = []
    for rec in records["processes"].values():
        pids.append(rec["pid"])
        try:
            pids += [c.pid for c in psutil.Process(rec["pid"]).children(recursive=True)]
        except psutil.Error:
            pass
    return pids


def wait_gone(pids, seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    while alive(pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return alive(pids)


@pytest.fixture
def storefront(tmp_path):
    project = tmp_path / "storefront"
    shutil.copytree(PROJECTS / "storefront", project)
    python = storefront_venv()
    write_workspace(project, app="storefront",
                    project={"python": str(python), "env": {"DJANGO_SETTINGS_MODULE": "storefront.settings"}})
    return project


def test_storefront_up_call_and_sigterm_leaves_nothing(storefront):
    up = UpProcess(storefront)
    try:
        up.wait_for("stack ready", timeout=120)
        assert "worker main: RUNNING" in "\n".join(up.lines)
        pids = stack_processes(storefront)
        call = celerydesk("call", "playground.tasks.notify_customers", "-w", str(storefront),
                          "--args", '["Hello World"]', "--wait", "60")
        assert call.returncode == 0, call.stderr
        assert "notified customers: Hello World" in call.stdout
        up.signal(signal.SIGTERM)
        assert up.finish(timeout=90) == 0, "\n".join(up.lines)
    finally:
        up.kill()
    assert wait_gone(pids, 5) == []
    # The project's own setting points at AMQP; celerydesk's broker won.
    log = (storefront / ".celerydesk" / "logs" / "worker-main.log").read_text()
    assert "redis://" in log and "amqp://" not in log


def test_kill_9_of_up_leaves_no_process_of_the_stack(tmp_path):
    path = write_workspace(tmp_path, workers=[{"name": "main", "concurrency": 3}])
    up = UpProcess(path)
    try:
        up.wait_for("stack ready", timeout=120)
        pids = stack_processes(tmp_path)
        assert len(pids) >= 4 + 3  # redis, worker, beat, flower, and the worker's 3 pool children
        up.signal(signal.SIGKILL)
        up.proc.wait(10)
        assert wait_gone(pids, 5) == [], [psutil.Process(p).cmdline() for p in alive(pids)]
    finally:
        up.kill()


def test_leftovers_of_a_dead_celerydesk_are_cleaned_and_reported(tmp_path):
    path = write_workspace(tmp_path, beat=False, flower=False)
    stray = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True)
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True)
    try:
        runtime = tmp_path / ".celerydesk"
        runtime.mkdir()
        records = {"processes": {
            "worker-main": {"pid": stray.pid, "pgid": stray.pid, "create_time": psutil.Process(stray.pid).create_time()},
            # Same pid as a live process, but not the one recorded: a recycled pid, left alone.
            "beat": {"pid": stranger.pid, "pgid": stranger.pid, "create_time": 12345.0},
        }}
        (runtime / "processes.json").write_text(json.dumps(records))
        up = UpProcess(path)
        try:
            line = up.wait_for("left running", timeout=60)
            assert f"worker-main (pid {stray.pid})" in line
            up.wait_for("stack ready", timeout=120)
            assert stray.wait(5) is not None
            assert stranger.poll() is None
            up.signal(signal.SIGINT)
            assert up.finish(timeout=60) == 0
        finally:
            up.kill()
    finally:
        for p in (stray, stranger):
            p.kill()
            p.wait()


def test_call_refuses_malformed_json_and_sends_nothing(tmp_path, redis_server):
    path = write_workspace(tmp_path, mode="external", broker={"url": redis_server})
    import redis

    client = redis.Redis.from_url(redis_server)
    bad = celerydesk("call", "celerydesk.sample.tasks.add", "-w", str(path), "--args", "[1, 2")
    assert bad.returncode == 2
    assert "--args is not valid JSON" in bad.stderr and "column" in bad.stderr
    not_list = celerydesk("call", "celerydesk.sample.tasks.add", "-w", str(path), "--args", '{"x": 1}')
    assert not_list.returncode == 2 and "must be a JSON array" in not_list.stderr
    bad_kwargs = celerydesk("call", "celerydesk.sample.tasks.add", "-w", str(path), "--kwargs", "[1]")
    assert bad_kwargs.returncode == 2 and "must be a JSON object" in bad_kwargs.stderr
    assert client.llen("celery") == 0
    good = celerydesk("call", "celerydesk.sample.tasks.add", "-w", str(path), "--args", "[1, 2]")
    assert good.returncode == 0 and "sent celerydesk.sample.tasks.add[" in good.stdout
    assert client.llen("celery") == 1


def test_call_without_a_running_broker_says_to_start_the_stack(tmp_path):
    path = write_workspace(tmp_path)
    result = celerydesk("call", "celerydesk.sample.tasks.add", "-w", str(path), "--args", "[1, 2]")
    assert result.returncode == 2
    assert "refused the connection: nothing listens on" in result.stderr and "celerydesk up" in result.stderr


def test_call_wait_reports_a_failing_task_with_its_traceback(tmp_path):
    path = write_workspace(tmp_path, beat=False, flower=False)
    up = UpProcess(path)
    try:
        up.wait_for("stack ready", timeout=120)
        failed = celerydesk("call", "celerydesk.sample.tasks.process_video", "-w", str(path),
                            "--args", '["/no/such/video.mp4"]', "--wait", "60")
        assert failed.returncode == 1
        assert "FileNotFoundError" in failed.stderr and "Traceback" in failed.stderr
        logs = celerydesk("logs", "worker", "-w", str(path))
        assert logs.returncode == 0 and "main@" in logs.stdout and "ready." in logs.stdout
        named = celerydesk("logs", "main", "-w", str(path), "--tail", "3")
        assert named.returncode == 0 and len(named.stdout.splitlines()) == 3
        broker = celerydesk("logs", "broker", "-w", str(path))
        assert "Ready to accept connections" in broker.stdout
        up.signal(signal.SIGTERM)
        assert up.finish(timeout=60) == 0
    finally:
        up.kill()


def test_logs_of_an_unknown_service_lists_the_known_ones(tmp_path):
    path = write_workspace(tmp_path)
    result = celerydesk("logs", "nosuch", "-w", str(path))
    assert result.returncode == 2
    assert "no service called 'nosuch'" in result.stderr and "broker, beat, flower, worker, main" in result.stderr


def test_logs_follow_prints_new_lines(tmp_path):
    path = write_workspace(tmp_path)
    log = tmp_path / ".celerydesk" / "logs" / "beat.log"
    log.parent.mkdir(parents=True)
    log.write_text("first\n")
    proc = subprocess.Popen([sys.executable, "-m", "celerydesk", "logs", "beat", "-w", str(path), "--follow"],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline() == "first\n"
        with open(log, "a") as f:
            f.write("second\n")
        assert proc.stdout.readline() == "second\n"
        os.replace(log, log.with_name("beat.log.1"))  # rotation
        log.write_text("third\n")
        assert proc.stdout.readline() == "third\n"
    finally:
        proc.kill()
        proc.wait()


def test_init_writes_a_loadable_workspace(tmp_path):
    project = tmp_path / "shop"
    (project / ".venv" / "bin").mkdir(parents=True)
    (project / ".venv" / "bin" / "python").symlink_to(sys.executable)
    result = celerydesk("init", str(project), "--app", "shop")
    assert result.returncode == 0, result.stderr
    text = (project / "celerydesk.toml").read_text()
    assert 'app = "shop"' in text and 'python = ".venv/bin/python"' in text
    again = celerydesk("init", str(project), "--app", "shop")
    assert again.returncode == 2 and "exists already" in again.stderr
    no_app = celerydesk("init", str(tmp_path / "other"))
    assert no_app.returncode == 2 and "--app" in no_app.stderr
    sample = celerydesk("init", "--sample", str(tmp_path / "sample"))
    assert sample.returncode == 0
    assert 'app = "celerydesk.sample"' in (tmp_path / "sample" / "celerydesk.toml").read_text()


@pytest.mark.docker
def test_storefront_with_a_docker_broker(storefront, docker_engine):
    import docker

    write_workspace(storefront, app="storefront", mode="docker", broker={"image": docker_engine},
                    project={"python": str(storefront_venv()),
                             "env": {"DJANGO_SETTINGS_MODULE": "storefront.settings"}})
    client = docker.from_env()
    label = f"celerydesk.workspace={storefront / 'celerydesk.toml'}"
    up = UpProcess(storefront)
    try:
        up.wait_for("stack ready", timeout=120)
        [container] = client.containers.list(filters={"label": label})
        bindings = container.attrs["HostConfig"]["PortBindings"]["6379/tcp"]
        assert [b["HostIp"] for b in bindings] == ["127.0.0.1"]
        call = celerydesk("call", "playground.tasks.notify_customers", "-w", str(storefront),
                          "--args", '["Hello Docker"]', "--wait", "60")
        assert call.returncode == 0 and "notified customers: Hello Docker" in call.stdout, call.stderr
        up.signal(signal.SIGTERM)
        assert up.finish(timeout=90) == 0
        container.reload()
        assert container.status == "exited"
    finally:
        up.kill()
        for c in client.containers.list(all=True, filters={"label": label}):
            volumes = [m["Name"] for m in c.attrs.get("Mounts", []) if m.get("Type") == "volume"]
            c.remove(force=True)
            for name in volumes:
                client.volumes.get(name).remove(force=True)
        client.close()


@pytest.mark.docker
def test_up_exits_with_an_error_when_the_broker_cannot_start(tmp_path, docker_engine):
    path = write_workspace(tmp_path, mode="docker", broker={"image": "celerydesk-test/does-not-exist:1"})
    up = UpProcess(path)
    try:
        assert up.finish(timeout=120) == 1
        text = "\n".join(up.lines)
        assert "could not be pulled" in text and "broker: FATAL" in text
        assert "worker main: STARTING" not in text
    finally:
        up.kill()
