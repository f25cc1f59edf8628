"""Shared fixtures: strict mode, real Redis, workspaces on free ports, a running stack.

``CELERYDESK_STRICT=1`` (set by .ci/run) turns a skip for a missing Docker engine or Xvfb into
a failure, so CI cannot pass by skipping what it was meant to check.
"""

from __future__ import annotations

import gc
import os
import shutil
import signal
from pathlib import Path

import pytest

# Widget tests run offscreen; the one test of the real window starts its own Xvfb.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from tests.helpers.stack import make_workspace  # noqa: E402
from tests.helpers.strict import require  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _collect_garbage_on_the_main_thread():
    """Python's cyclic collector runs in whichever thread happens to allocate. A test's
    StackController dropped in a cycle and freed from a worker thread (a preflight, a probe)
    deletes Qt objects off their thread, which crashes Qt. So collect between tests, here."""
    gc.disable()
    yield
    gc.collect()
    gc.enable()


@pytest.fixture(autouse=True)
def _private_data_dir(tmp_path_factory, monkeypatch):
    """celerydesk's user data folder (the sample workspace lives there) per test session."""
    monkeypatch.setenv("CELERYDESK_DATA_DIR", str(tmp_path_factory.getbasetemp() / "celerydesk-data"))


@pytest.fixture
def workspace(tmp_path):
    """A loaded sample workspace on free ports, local broker; customise with make_workspace."""
    return make_workspace(tmp_path)


@pytest.fixture
def redis_server(tmp_path):
    """A real redis-server on a free loopback port; yields its URL."""
    from tests.helpers.redis_server import start_redis_server

    proc, url = start_redis_server(tmp_path)
    yield url
    proc.send_signal(signal.SIGTERM)
    proc.wait(10)


def _local_image(variable: str, default: str, recipe: str) -> str:
    """The image tag ``variable`` names (else ``default``) if the engine has it; else skipped
    (a failure in strict mode), naming the script that builds it."""
    image = os.environ.get(variable, default)
    import docker

    client = docker.from_env()
    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        require(False, f"no local image {image}: run {recipe}")
    finally:
        client.close()
    return image


@pytest.fixture
def docker_engine():
    """The local Redis image (.ci/build-redis-image), once a Docker engine answers."""
    from celerydesk.core import broker_container

    error = broker_container.engine_error()
    require(error is None, f"no Docker engine: {error}")
    return _local_image("CELERYDESK_TEST_REDIS_IMAGE", "celerydesk-test/redis:local", ".ci/build-redis-image")


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    """A real redis-server shared by a test module; each test gets it empty through ``redis``."""
    from tests.helpers.redis_server import start_redis_server

    proc, url = start_redis_server(tmp_path_factory.mktemp("redis"))
    yield url
    proc.send_signal(signal.SIGTERM)
    proc.wait(10)


@pytest.fixture
def redis(redis_url):
    """A redis-py client of the module's redis-server, emptied first."""
    import redis

    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture(scope="module")
def remote_stack(tmp_path_factory):
    """A stack celerydesk did not start, shared by a test module: a redis-server and the sample's
    worker ``remote@<host>`` (``.node``), answering (tests/helpers/remote_stack.py)."""
    from tests.helpers.remote_stack import RemoteStack

    stack = RemoteStack(tmp_path_factory.mktemp("remote-stack"))
    try:
        stack.node = stack.wait_ready()
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def bastion(tmp_path_factory):
    """A private sshd on 127.0.0.1 (tests/helpers/sshd.py): ``.ssh_config`` names it host ``bastion``."""
    from tests.helpers import sshd

    require(not sshd.available(), sshd.available())
    server = sshd.start_sshd(tmp_path_factory.mktemp("sshd"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def rabbitmq_node(tmp_path_factory):
    """One real rabbitmq-server, with its management API, for the whole session (a node takes
    seconds to start and to stop); tests keep apart with a virtual host each (``rabbitmq_url``)."""
    from tests.helpers.rabbitmq_server import rabbitmq_script, start_rabbitmq_node, stop_rabbitmq_server

    require(rabbitmq_script() is not None, "rabbitmq-server is not installed (apt-get install rabbitmq-server)")
    node = start_rabbitmq_node(tmp_path_factory.mktemp("rabbitmq"), management=True)
    yield node
    stop_rabbitmq_server(node.proc)


@pytest.fixture
def rabbitmq_url(rabbitmq_node, request):
    """The URL of a virtual host of its own on the session's RabbitMQ (guest's)."""
    import hashlib

    return rabbitmq_node.vhost("t-" + hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:12])


@pytest.fixture
def docker_rabbitmq_image(docker_engine):
    """The local RabbitMQ image (.ci/build-rabbitmq-image), standing in for rabbitmq:3-management."""
    return _local_image("CELERYDESK_TEST_RABBITMQ_IMAGE", "celerydesk-test/rabbitmq:local",
                        ".ci/build-rabbitmq-image")


@pytest.fixture
def xvfb():
    require(shutil.which("Xvfb") is not None, "Xvfb is not installed (apt-get install xvfb)")
