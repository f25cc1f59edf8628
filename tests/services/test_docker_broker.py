"""The broker in docker mode against a real Docker engine: real containers, no mocks.

Covers the container's labels, loopback-only publishing, named volume and AOF; a task through
it; a clean stop; the reaper stopping it when ``celerydesk up`` is SIGKILLed; adoption (never a
second container) of a stopped or a running container, with its data; queued tasks surviving a
broker restart; a missing image reported in words without blocking; and the automatic restart
of a container killed behind celerydesk's back; a generated password that never shows in `ps`.

Every test removes its workspace's containers (found by label) and volumes in a finalizer,
even when it fails.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import psutil
import pytest

from celerydesk.core import broker_container
from celerydesk.core.states import ProcessState, StackPhase
from celerydesk.core.workspace import load_workspace
from tests.helpers.stack import UpProcess, alive, make_workspace, stack_pids, start_stack, stop_stack, write_workspace

pytestmark = [pytest.mark.docker, pytest.mark.slow]

ONE_WORKER = [{"name": "main", "concurrency": 1}]


# -- helpers --------------------------------------------------------------------------------------

def _docker():
    import docker

    return docker.from_env(timeout=60)


def _label(ws_path: Path) -> str:
    return f"{broker_container.LABEL_WORKSPACE}={ws_path}"


def _containers(ws_path: Path) -> list:
    client = _docker()
    try:
        return client.containers.list(all=True, filters={"label": _label(ws_path)})
    finally:
        client.close()


def _only_container(ws_path: Path):
    found = _containers(ws_path)
    assert len(found) == 1, [c.name for c in found]
    return found[0]


def _status(container) -> str:
    container.reload()
    return container.status


def _redis(ws):
    import redis

    return redis.Redis.from_url(ws.broker_url(), socket_timeout=5, decode_responses=True)


def _client(url):
    from celery import Celery

    return Celery("test-client", broker=url, backend=url, set_as_current=False)


def _wait(predicate, seconds: float, what: str) -> None:
    """For tests without a Qt loop to spin (the stack runs in a child ``celerydesk up``)."""
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds} s: {what}")
        time.sleep(0.05)


def _wait_pong(ws, seconds: float = 30) -> None:
    from celerydesk.core.broker_errors import answers

    _wait(lambda: answers(ws.broker_url()) is None, seconds, f"redis answering at {ws.broker_url()}")


def _descendants(pid: int) -> list[int]:
    try:
        return [p.pid for p in psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return []


@pytest.fixture
def docker_cleanup(request):
    """``track(path)``: when the test ends, pass or fail, remove every container labelled with
    that workspace and their volumes (plus the workspace's named volume)."""
    tracked: list[Path] = []

    def finalize() -> None:
        import docker

        client = _docker()
        try:
            for path in tracked:
                volumes = {broker_container.names_for(load_workspace(path))[1]} if path.is_file() else set()
                for container in client.containers.list(all=True, filters={"label": _label(path)}):
                    volumes |= {m["Name"] for m in container.attrs.get("Mounts", []) if m.get("Type") == "volume"}
                    container.remove(force=True)
                for name in volumes:
                    try:
                        client.volumes.get(name).remove(force=True)
                    except docker.errors.NotFound:
                        pass
        finally:
            client.close()

    request.addfinalizer(finalize)
    return tracked.append


# -- 1. the container as created, a task through it, a clean stop --------------------------------

def test_docker_stack_container_is_labelled_loopback_persistent_and_stops_cleanly(
        qtbot, tmp_path, docker_engine, docker_cleanup):
    ws = make_workspace(tmp_path, mode="docker", broker={"image": docker_engine},
                        beat=False, flower=False, workers=ONE_WORKER)
    docker_cleanup(ws.path)
    before = set(_descendants_of_test_process_named("celerydesk"))  # other tests' business
    stack = start_stack(qtbot, ws)
    try:
        broker = stack.services["broker"]
        assert any(level == "info" and "created the Redis container" in text
                   for level, text in stack.test_messages), stack.test_messages
        container = _only_container(ws.path)
        assert container.id == broker.container_id
        assert container.status == "running"

        labels = container.labels
        assert Path(labels[broker_container.LABEL_WORKSPACE]).is_absolute()
        assert labels[broker_container.LABEL_WORKSPACE] == str(ws.path.resolve())
        assert labels[broker_container.LABEL_ROLE] == "broker"

        # Published on loopback only, on the workspace's port, as configured and as in effect.
        assert container.attrs["HostConfig"]["PortBindings"]["6379/tcp"] == [
            {"HostIp": "127.0.0.1", "HostPort": str(ws.broker.port)}]
        assert container.attrs["NetworkSettings"]["Ports"]["6379/tcp"] == [
            {"HostIp": "127.0.0.1", "HostPort": str(ws.broker.port)}]

        # A named volume (not an anonymous one, not a bind mount) holds /data.
        data = [m for m in container.attrs["Mounts"] if m["Destination"] == "/data"]
        assert len(data) == 1, container.attrs["Mounts"]
        assert data[0]["Type"] == "volume"
        assert data[0]["Name"] == broker_container.names_for(ws)[1]

        r = _redis(ws)
        assert r.config_get("appendonly") == {"appendonly": "yes"}
        r.close()

        app = _client(ws.broker_url())
        assert app.send_task("celerydesk.sample.tasks.add", args=[19, 23]).get(timeout=60) == 42
        app.close()

        pids = stack_pids(stack)
        assert pids, "the worker has no process"
        reaper_pid = stack.records.reaper_pid
        assert reaper_pid is not None
    finally:
        stop_stack(qtbot, stack)

    assert stack.services["broker"].state == ProcessState.STOPPED
    container = _only_container(ws.path)
    assert _status(container) == "exited"
    assert container.attrs["State"]["Running"] is False
    assert container.attrs["State"]["ExitCode"] == 0  # SIGTERM: Redis shut down in order
    assert alive(pids + [reaper_pid]) == []
    assert set(_descendants_of_test_process_named("celerydesk")) - before == set()


def _descendants_of_test_process_named(word: str) -> list[int]:
    """Children of this test process whose command line mentions ``word`` (reaper, workers)."""
    out = []
    for child in psutil.Process().children(recursive=True):
        try:
            if child.status() != psutil.STATUS_ZOMBIE and any(word in part for part in child.cmdline()):
                out.append(child.pid)
        except psutil.Error:
            pass
    return out


# -- 2. adoption, never duplication ---------------------------------------------------------------

def _up_until_ready_then_sigkill(path: Path, ws) -> str:
    """Run ``celerydesk up``, write a key through its broker, SIGKILL it; wait until the
    reaper has stopped the container and no process of the stack is left. Returns its id."""
    up = UpProcess(path)
    try:
        up.wait_for("stack ready", timeout=120)
        assert any("created the Redis container" in line for line in up.lines), up.lines
        container = _only_container(ws.path)
        assert container.status == "running"
        r = _redis(ws)
        r.set("celerydesk-test:before", "kept")
        r.close()
        pids = _descendants(up.proc.pid)  # workers, their pool, the reaper
        records = json.loads((path.parent / ".celerydesk" / "processes.json").read_text())
        assert records.get("container") == container.id
        assert len(pids) >= 3, pids
        up.signal(signal.SIGKILL)
        up.proc.wait(10)
    finally:
        up.kill()
    # The reaper noticed its parent's death and stopped the container; nothing else survives.
    _wait(lambda: _status(container) != "running" and not alive(pids), 5,
          f"the reaper stopping the container (status {container.status}) and {alive(pids)}")
    assert container.attrs["State"]["Running"] is False
    return container.id


def test_after_sigkill_the_reaper_stops_the_container_and_a_new_stack_starts_the_same_one(
        qtbot, tmp_path, docker_engine, docker_cleanup):
    path = write_workspace(tmp_path, mode="docker", broker={"image": docker_engine},
                           beat=False, flower=False, workers=ONE_WORKER)
    ws = load_workspace(path)
    docker_cleanup(ws.path)
    first_id = _up_until_ready_then_sigkill(path, ws)

    stack = start_stack(qtbot, ws)
    try:
        infos = [text for level, text in stack.test_messages if level == "info"]
        assert any("started the existing Redis container" in t for t in infos), stack.test_messages
        assert not any("created the Redis container" in t for t in infos), stack.test_messages
        container = _only_container(ws.path)
        assert container.id == first_id == stack.services["broker"].container_id
        assert container.status == "running"
        # The volume and the AOF kept what was written before the kill.
        r = _redis(ws)
        assert r.get("celerydesk-test:before") == "kept"
        r.close()
        app = _client(ws.broker_url())
        assert app.send_task("celerydesk.sample.tasks.add", args=[1, 2]).get(timeout=60) == 3
        app.close()
    finally:
        stop_stack(qtbot, stack)
    assert _status(_only_container(ws.path)) == "exited"


def test_a_container_started_by_hand_is_adopted_not_duplicated(tmp_path, docker_engine, docker_cleanup):
    path = write_workspace(tmp_path, mode="docker", broker={"image": docker_engine},
                           beat=False, flower=False, workers=ONE_WORKER)
    ws = load_workspace(path)
    docker_cleanup(ws.path)
    first_id = _up_until_ready_then_sigkill(path, ws)

    container = _only_container(ws.path)
    container.start()  # `docker start` by hand, behind celerydesk's back
    _wait_pong(ws)

    up = UpProcess(path)
    try:
        up.wait_for("stack ready", timeout=120)
        output = "\n".join(up.lines)
        assert "adopted the running Redis container" in output, output
        assert "created the Redis container" not in output and "started the existing" not in output, output
        container = _only_container(ws.path)
        assert container.id == first_id
        r = _redis(ws)
        assert r.get("celerydesk-test:before") == "kept"
        r.close()
        up.signal(signal.SIGTERM)
        assert up.finish(timeout=90) == 0, "\n".join(up.lines)
    finally:
        up.kill()
    # The stack it adopted is the stack's to stop: a clean stop stops it.
    assert _status(_only_container(ws.path)) == "exited"


def test_a_generated_password_never_shows_in_ps_and_a_new_one_replaces_the_container(
        tmp_path, docker_engine, docker_cleanup):
    """The container's redis-server is a process of the host: its argv is in everyone's `ps`.
    The password goes in a config file copied into the container instead. A workspace that
    drops the password gets a new container (the old one required it), its volume kept."""
    import socket
    import subprocess

    path = write_workspace(tmp_path, mode="docker", broker={"image": docker_engine, "password": "generate"},
                           beat=False, flower=False, workers=ONE_WORKER)
    ws = load_workspace(path)
    docker_cleanup(ws.path)
    up = UpProcess(path)
    try:
        up.wait_for("stack ready", timeout=120)
        password = ws.broker_password()
        argv = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
        assert "redis-server" in argv and password not in argv
        assert password not in "\n".join(up.lines)
        with socket.create_connection(("127.0.0.1", ws.broker.port), timeout=5) as sock:
            sock.sendall(b"PING\r\n")
            assert sock.recv(100).startswith(b"-NOAUTH")
        r = _redis(ws)  # the URL holds the password
        r.set("celerydesk-test:before", "kept")
        r.close()
        app = _client(ws.broker_url())
        assert app.send_task("celerydesk.sample.tasks.add", args=[1, 2]).get(timeout=60) == 3
        app.close()
        first = _only_container(ws.path)
        assert first.labels[broker_container.LABEL_AUTH] not in ("none", password)
        up.signal(signal.SIGTERM)
        assert up.finish(timeout=90) == 0, "\n".join(up.lines)
    finally:
        up.kill()

    path.write_text(path.read_text().replace('password = "generate"\n', ""))
    ws = load_workspace(path)
    up = UpProcess(path)
    try:
        up.wait_for("stack ready", timeout=120)
        log = (ws.runtime_dir / "logs" / "broker.log").read_text()
        assert "has another image, port or password; replacing it" in log, log
        assert any("created the Redis container" in line for line in up.lines)
        container = _only_container(ws.path)
        assert container.id != first.id and container.labels[broker_container.LABEL_AUTH] == "none"
        r = _redis(ws)
        assert r.get("celerydesk-test:before") == "kept"  # the same volume
        r.close()
        up.signal(signal.SIGTERM)
        assert up.finish(timeout=90) == 0, "\n".join(up.lines)
    finally:
        up.kill()


# -- 3. queued tasks survive a restart of the container -------------------------------------------

def test_queued_tasks_survive_a_broker_container_restart(qtbot, tmp_path, docker_engine, docker_cleanup):
    ws = make_workspace(tmp_path, mode="docker", broker={"image": docker_engine},
                        beat=False, flower=False, workers=ONE_WORKER)
    docker_cleanup(ws.path)
    stack = start_stack(qtbot, ws)
    try:
        worker, broker = stack.services["worker-main"], stack.services["broker"]
        worker.stop()
        qtbot.waitUntil(lambda: worker.state == ProcessState.STOPPED, timeout=60000)
        app = _client(ws.broker_url())
        with app.producer_or_acquire() as producer:
            ids = [app.send_task("celerydesk.sample.tasks.noop", producer=producer).id for _ in range(200)]
        app.close()
        r = _redis(ws)
        assert r.llen("celery") == 200
        r.close()

        old_id = broker.container_id
        stack.test_states.clear()
        broker.restart()
        qtbot.waitUntil(lambda: ("broker", "STOPPED") in stack.test_states
                        and broker.state == ProcessState.RUNNING, timeout=60000)
        broker_states = [name for key, name in stack.test_states if key == "broker"]
        assert broker_states == ["STOPPING", "STOPPED", "STARTING", "RUNNING"], broker_states
        assert broker.container_id == old_id  # the same container, started again
        assert len(_containers(ws.path)) == 1
        r = _redis(ws)
        assert r.llen("celery") == 200
        r.close()

        worker.start()
        app = _client(ws.broker_url())
        qtbot.waitUntil(lambda: sum(app.AsyncResult(i).state == "SUCCESS" for i in ids) == len(ids),
                        timeout=120000)
        app.close()
    finally:
        stop_stack(qtbot, stack)


# -- RabbitMQ in a container ------------------------------------------------------------------------

def test_a_rabbitmq_container_on_loopback_with_a_generated_password(qtbot, tmp_path, docker_rabbitmq_image,
                                                                     docker_cleanup):
    """The local image (.ci/build-rabbitmq-image) stands in for rabbitmq:3-management."""
    import subprocess

    from celerydesk.core.broker_client import BrokerClient
    from celerydesk.core.broker_errors import answers
    from celerydesk.core.ports import free_ports

    amqp, management = free_ports(2)
    ws = make_workspace(tmp_path, mode="docker", broker_port=amqp, beat=False, flower=False, workers=ONE_WORKER,
                        broker={"kind": "rabbitmq", "image": docker_rabbitmq_image, "password": "generate",
                                "management_port": management})
    docker_cleanup(ws.path)
    stack = start_stack(qtbot, ws, timeout_ms=180000)
    try:
        assert any(level == "info" and "created the RabbitMQ container" in text
                   for level, text in stack.test_messages), stack.test_messages
        container = _only_container(ws.path)
        bindings = container.attrs["HostConfig"]["PortBindings"]
        assert bindings == {"5672/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(amqp)}],
                            "15672/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(management)}]}
        # Its node, and so its database in the volume, is named after a host name that does not change.
        label = container.labels[broker_container.LABEL_AUTH]
        assert container.attrs["Config"]["Hostname"] == f"celerydesk-{label}"
        data = [m for m in container.attrs["Mounts"] if m["Destination"] == "/var/lib/rabbitmq"]
        assert [(m["Type"], m["Name"]) for m in data] == [("volume", broker_container.names_for(ws)[1])]

        password = ws.broker_password()
        assert answers(ws.broker_url()) is None
        assert answers(f"amqp://guest:guest@127.0.0.1:{amqp}//").kind == "wrong password"
        argv = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
        assert "rabbitmq" in argv and password not in argv

        from celery import Celery

        app = Celery("test-client", broker=ws.broker_url(), backend="rpc://", set_as_current=False)
        assert app.send_task("celerydesk.sample.tasks.add", args=[20, 22]).get(timeout=60) == 42
        app.close()
        with BrokerClient(ws.broker_url(), management=ws.management_api()) as client:
            listed, note = client.broker_queues()  # the management API, as the generated user
        assert note is None and listed["celery"].consumers == 1
    finally:
        stop_stack(qtbot, stack, timeout_ms=120000)
    container = _only_container(ws.path)
    assert _status(container) == "exited" and container.attrs["State"]["ExitCode"] == 0


# -- 4. a missing image: words, not a hang ----------------------------------------------------------

def test_missing_image_is_reported_with_the_fix_and_never_blocks(qtbot, tmp_path, docker_engine, docker_cleanup):
    from celerydesk.services.stack import StackController

    image = "celerydesk-test/does-not-exist:1"
    ws = make_workspace(tmp_path, mode="docker", broker={"image": image},
                        beat=False, flower=False, workers=ONE_WORKER)
    docker_cleanup(ws.path)
    client = _docker()
    try:
        import docker

        with pytest.raises(docker.errors.ImageNotFound):
            client.images.get(image)
    finally:
        client.close()

    stack = StackController(ws)
    messages: list = []
    outcome: list = []
    stack.message.connect(lambda level, text: messages.append((level, text)))
    stack.stackReady.connect(lambda: outcome.append("ready"))
    stack.stackStopped.connect(lambda: outcome.append("stopped"))
    stack.serviceStateChanged.connect(
        lambda key, state: outcome.append("fatal") if key == "broker" and state == ProcessState.FATAL else None)
    try:
        stack.start_all()
        # start_all only schedules: the engine is asked in the background, so the window
        # returns to its event loop before anything is known.
        assert stack.phase == StackPhase.PREFLIGHT
        assert not [m for m in messages if m[0] == "error"]
        qtbot.waitUntil(lambda: bool(outcome), timeout=120000)
        assert "ready" not in outcome, messages
        errors = "\n".join(text for level, text in messages if level == "error")
        assert f"the image {image} is not on this machine and could not be pulled" in errors, messages
        assert 'mode = "local"' in errors, messages
        broker = stack.services["broker"]
        assert broker.state == ProcessState.FATAL
        assert broker.container_id is None
        assert stack.services["worker-main"].state == ProcessState.STOPPED  # nothing else started
        assert _containers(ws.path) == []
        # The broker's log says it too (what the window's log pane shows).
        assert any("could not be pulled" in text for text, _ in broker.history), broker.history
    finally:
        stop_stack(qtbot, stack)
    assert stack.phase == StackPhase.IDLE


# A registry that knows the image but has lost its layer: the engine's pull starts (progress
# lines) and fails inside the stream, not in its first answer. 127.0.0.0/8 is an insecure
# registry by default, so plain HTTP on loopback is enough. A real child process.
_BROKEN_REGISTRY = r"""
import hashlib, json, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}).encode()
config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
manifest = json.dumps({
    "schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
    "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": len(config),
               "digest": config_digest},
    "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 100,
                "digest": "sha256:" + "ab" * 32}]}).encode()

class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, code, body, ctype, digest=None):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Docker-Distribution-Api-Version", "registry/2.0")
        if digest:
            self.send_header("Docker-Content-Digest", digest)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        if self.path == "/v2/":
            return self.reply(200, b"{}", "application/json")
        if "/manifests/" in self.path:
            return self.reply(200, manifest, "application/vnd.docker.distribution.manifest.v2+json",
                              "sha256:" + hashlib.sha256(manifest).hexdigest())
        if self.path.endswith("/blobs/" + config_digest):
            return self.reply(200, config, "application/octet-stream", config_digest)
        self.reply(404, b'{"errors": [{"code": "BLOB_UNKNOWN", "message": "blob unknown"}]}', "application/json")

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


@pytest.fixture
def broken_registry():
    """``127.0.0.1:PORT``: a registry whose image's layer is missing."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", _BROKEN_REGISTRY], stdout=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline())
        yield f"127.0.0.1:{port}"
    finally:
        proc.kill()
        proc.wait()


def test_a_pull_failing_mid_stream_is_reported_with_the_same_fix(
        qtbot, tmp_path, docker_engine, docker_cleanup, broken_registry):
    from celerydesk.services.stack import StackController

    image = f"{broken_registry}/celerydesk-test/lost-layer:1"
    ws = make_workspace(tmp_path, mode="docker", broker={"image": image},
                        beat=False, flower=False, workers=ONE_WORKER)
    docker_cleanup(ws.path)
    stack = StackController(ws)
    messages: list = []
    stack.message.connect(lambda level, text: messages.append((level, text)))
    try:
        with qtbot.waitSignal(stack.serviceStateChanged, timeout=120000,
                              check_params_cb=lambda key, state: key == "broker" and state == ProcessState.FATAL):
            stack.start_all()
        broker = stack.services["broker"]
        logged = "\n".join(text for text, _ in broker.history)
        assert f"pulling {image} ..." in logged and "Pulling fs layer" in logged, logged  # progress shown
        errors = "\n".join(text for level, text in messages if level == "error")
        assert f"the image {image} is not on this machine and could not be pulled" in errors, messages
        assert "unknown blob" in errors, messages  # the engine's own reason
        assert 'mode = "local"' in errors, messages
        assert _containers(ws.path) == []
    finally:
        stop_stack(qtbot, stack)


# -- 5. a container killed behind celerydesk's back is restarted ----------------------------------

def test_a_container_killed_behind_our_back_is_restarted(qtbot, tmp_path, docker_engine, docker_cleanup):
    ws = make_workspace(tmp_path, mode="docker", broker={"image": docker_engine},
                        beat=False, flower=False, workers=ONE_WORKER)
    docker_cleanup(ws.path)
    stack = start_stack(qtbot, ws)
    try:
        broker = stack.services["broker"]
        old_id = broker.container_id
        r = _redis(ws)
        r.set("celerydesk-test:before-kill", "kept")
        r.close()
        stack.test_states.clear()
        container = _only_container(ws.path)
        started_at = container.attrs["State"]["StartedAt"]
        container.kill()  # `docker kill`: SIGKILL, exit code 137

        qtbot.waitUntil(lambda: ("broker", "EXITED") in stack.test_states
                        and broker.state == ProcessState.RUNNING, timeout=60000)
        broker_states = [name for key, name in stack.test_states if key == "broker"]
        assert broker_states[:3] == ["EXITED", "STARTING", "RUNNING"], broker_states
        assert broker.supervision.restarts == 1
        assert broker.supervision.exit_code == 137
        # The same container, started afresh; still only one.
        container = _only_container(ws.path)
        assert container.id == old_id == broker.container_id
        assert container.status == "running"
        assert container.attrs["State"]["StartedAt"] != started_at
        assert any("container stopped with code 137" in text for text, _ in broker.history), broker.history
        assert any("started the existing Redis container" in text for text, _ in broker.history), broker.history

        # A SIGKILL skips the shutdown save: the AOF (fsync every second) is what kept this.
        r = _redis(ws)
        assert r.get("celerydesk-test:before-kill") == "kept"
        r.close()
        # The worker reconnects to the restarted broker and serves again.
        app = _client(ws.broker_url())
        assert app.send_task("celerydesk.sample.tasks.add", args=[40, 2]).get(timeout=90) == 42
        app.close()
        assert stack.services["worker-main"].state == ProcessState.RUNNING
    finally:
        stop_stack(qtbot, stack)
    assert _status(_only_container(ws.path)) == "exited"


def test_stop_while_the_automatic_restart_is_in_flight_stops_the_container_once(
        qtbot, tmp_path, docker_engine, docker_cleanup):
    """A stop that arrives while Docker is still starting the container again (after it died
    behind our back) must wait for that start and then stop it: one stop, no exception, and
    no container left running. How the engine orders the two calls varies, so a few rounds."""
    from PySide6.QtCore import QTimer

    ws = make_workspace(tmp_path, mode="docker", broker={"image": docker_engine},
                        beat=False, flower=False, workers=ONE_WORKER)
    docker_cleanup(ws.path)
    stack = start_stack(qtbot, ws)
    try:
        broker = stack.services["broker"]
        seen: list[str] = []

        def on_state(key, state) -> None:
            if key != "broker":
                return
            seen.append(state.name)
            if seen[-2:] == ["EXITED", "STARTING"]:
                # Queued: it runs once this transition is done, while the background
                # ensure_container (the restart) has not reported back yet.
                QTimer.singleShot(0, broker.stop)

        stack.serviceStateChanged.connect(on_state)
        for round_ in range(5):
            seen.clear()
            _only_container(ws.path).kill()
            qtbot.waitUntil(lambda: broker.state == ProcessState.STOPPED, timeout=60000)
            assert seen[:4] == ["EXITED", "STARTING", "STOPPING", "STOPPED"], (round_, seen)
            qtbot.wait(1000)  # anything still in flight reports now (a second stop would raise)
            assert broker.state == ProcessState.STOPPED, (round_, seen)
            assert broker.container_id is None
            assert _status(_only_container(ws.path)) == "exited", round_
            broker.start()
            qtbot.waitUntil(lambda: broker.state == ProcessState.RUNNING, timeout=60000)
    finally:
        stop_stack(qtbot, stack)
    assert _status(_only_container(ws.path)) == "exited"
