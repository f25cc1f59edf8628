"""core/broker_errors.py: the real cause of a broker failure, from real brokers' real errors.

Each case is a real redis-server (or a real socket) and the real client celerydesk uses there:
redis-py's PING, and celery's send_task (kombu wraps the transport's error in OperationalError):
a wrong password, none where one is required, a Redis refusing writes (MISCONF: here its RDB
cannot be saved, as on a full disk), nothing listening, an unknown host, no answer in time.
The password never appears in the words; the advice fits the cause.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time

import pytest

from celerydesk.core.broker_errors import (AUTH, MISCONF, NO_HOST, NO_PASSWORD, REFUSED, TIMEOUT, answers,
                                           broker_error, classify)
from celerydesk.core.commands import redis_server_binary
from celerydesk.core.ports import free_port
from tests.helpers.strict import require

SECRET = "s3cret-Pa55"


def start_redis(tmp_path, *args: str, binary=None) -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = subprocess.Popen([str(binary or redis_server_binary()), "--port", str(port), "--bind", "127.0.0.1",
                             "--appendonly", "no", *args], cwd=tmp_path, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.02)
    proc.kill()
    raise AssertionError("redis-server did not listen")


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    """A Redis that requires SECRET."""
    proc, port = start_redis(tmp_path_factory.mktemp("guarded"), "--save", "", "--requirepass", SECRET)
    yield port
    proc.terminate()
    proc.wait(10)


def celery_send(url: str) -> BaseException:
    from celery import Celery

    app = Celery("test-broker-errors", broker=url, set_as_current=False)
    app.conf.broker_transport_options = {"max_retries": 1}  # the error, without kombu's retries first
    try:
        app.send_task("celerydesk.sample.tasks.add", args=[1, 2], retry=False)
    except Exception as exc:  # what `call` and the self-test meet
        return exc
    finally:
        app.close()
    raise AssertionError("the send succeeded")


def test_a_wrong_password(guarded):
    url = f"redis://:wrong-{SECRET}@127.0.0.1:{guarded}/0"
    for trouble in (answers(url), classify(celery_send(url), url)):
        assert trouble.kind == AUTH
        assert trouble.reason.startswith("refused the password")
        assert "check the password" in trouble.hint
    error = broker_error(celery_send(url), url)
    assert SECRET not in str(error) and f"redis://:***@127.0.0.1:{guarded}/0" in error.message


def test_no_password_where_one_is_required(guarded):
    url = f"redis://127.0.0.1:{guarded}/0"
    for trouble in (answers(url), classify(celery_send(url), url)):
        assert trouble.kind == NO_PASSWORD
        assert "requires a password" in trouble.reason


def test_the_right_password_answers(guarded):
    assert answers(f"redis://:{SECRET}@127.0.0.1:{guarded}/0") is None


def test_a_redis_that_refuses_writes(tmp_path):
    """RDB snapshots on and a save that fails (its folder takes no files, as a full disk would):
    Redis then refuses writes, and PING too, with MISCONF."""
    system = shutil.which("redis-server")
    require(system is not None, "no system redis-server (apt-get install redis-server)")
    proc, port = start_redis(tmp_path, "--save", "3600 1", "--dir", "/proc", binary=system)
    try:
        import redis

        client = redis.Redis(port=port)
        client.set("a", 1)
        client.bgsave()
        deadline = time.monotonic() + 10
        while client.info("persistence")["rdb_last_bgsave_status"] != "err":
            assert time.monotonic() < deadline, "the save did not fail"
            time.sleep(0.05)
        client.close()
        url = f"redis://127.0.0.1:{port}/0"
        for trouble in (answers(url), classify(celery_send(url), url)):
            assert trouble.kind == MISCONF
            assert "disk is full" in trouble.reason and "free space" in trouble.hint
    finally:
        proc.kill()  # it would refuse SIGTERM: a shutdown saves the RDB, which fails
        proc.wait(10)


def test_nothing_listening():
    url = f"redis://127.0.0.1:{free_port()}/0"
    trouble = answers(url)
    assert trouble.kind == REFUSED and "nothing listens on 127.0.0.1:" in trouble.reason
    assert classify(celery_send(url), url).kind == REFUSED
    assert broker_error(celery_send(url), url, start_hint="start the stack first: celerydesk up").hint == \
        "start the stack first: celerydesk up"
    amqp = f"amqp://guest:guest@127.0.0.1:{free_port()}//"
    assert answers(amqp).kind == REFUSED


def test_an_unknown_host():
    url = "redis://no-such-host.invalid:6379/0"
    trouble = answers(url, timeout=5)
    assert trouble.kind == NO_HOST and "host name is not known" in trouble.reason


def test_no_answer_in_time():
    with socket.socket() as silent:  # accepts connections (the kernel does), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
        trouble = answers(url, timeout=0.3)
    assert trouble.kind == TIMEOUT


def test_an_error_reply_read_off_a_bare_socket():
    """The Tasks page reads Redis with a RESP reader of its own: its errors are plain text."""
    url = f"redis://:{SECRET}@127.0.0.1:6379/0"
    trouble = classify(ConnectionError("WRONGPASS invalid username-password pair or user is disabled."), url)
    assert trouble.kind == AUTH and SECRET not in trouble.reason
