"""The stack controller against real services: local redis-server, sample worker, beat, Flower.

Covers start and stop order, loopback-only listeners, Flower's generated credentials, the
supervised restart of a SIGKILLed worker without losing acks-late tasks, tasks surviving a
broker restart, the one-stack-per-workspace lock, and an external broker.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import stat
import urllib.error
import urllib.request

import psutil
import pytest

from celerydesk.core.states import ProcessState
from tests.helpers.stack import alive, make_workspace, stack_pids, start_stack, stop_stack

pytestmark = pytest.mark.slow


def _first(states, key, name):
    return states.index((key, name))


def _client(url):
    from celery import Celery

    return Celery("test-client", broker=url, backend=url, set_as_current=False)


def _listening_ips(pid):
    return {c.laddr.ip for c in psutil.Process(pid).net_connections(kind="inet") if c.status == psutil.CONN_LISTEN}


def test_start_order_loopback_credentials_and_clean_stop(qtbot, tmp_path):
    ws = make_workspace(tmp_path, workers=[{"name": "main", "concurrency": 2}, {"name": "io", "concurrency": 1,
                                                                                 "queues": ["io"]}])
    stack = start_stack(qtbot, ws)
    try:
        states = stack.test_states
        broker_running = _first(states, "broker", "RUNNING")
        for key in ("worker-main", "worker-io", "beat", "flower"):
            assert _first(states, key, "STARTING") > broker_running, states
            assert stack.services[key].state == ProcessState.RUNNING
        pids = stack_pids(stack)
        assert len(pids) >= 1 + 2 + 1 + 1 + (2 + 1)  # mains plus prefork pool children

        # Nothing celerydesk starts listens beyond 127.0.0.1.
        for key in ("broker", "flower"):
            assert _listening_ips(stack.services[key].pid) == {"127.0.0.1"}, key

        # Flower asks for the generated credentials, which are readable by the owner only.
        creds_file = stack.runtime.credentials_file
        assert stat.S_IMODE(os.stat(creds_file).st_mode) == 0o600
        creds = json.loads(creds_file.read_text())
        api = f"http://127.0.0.1:{ws.flower.port}/api/workers"
        with pytest.raises(urllib.error.HTTPError) as denied:
            urllib.request.urlopen(api, timeout=5)
        assert denied.value.code == 401
        token = base64.b64encode(f"{creds['user']}:{creds['password']}".encode()).decode()
        request = urllib.request.Request(api, headers={"Authorization": f"Basic {token}"})
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200

        # The worker really serves: a sample task runs and returns.
        app = _client(ws.broker_url())
        assert app.send_task("celerydesk.sample.tasks.add", args=[2, 3]).get(timeout=30) == 5
        app.close()
        stack.test_states.clear()
    finally:
        stop_stack(qtbot, stack)

    states = stack.test_states
    # Beat and Flower stop before the workers begin to; the broker goes last.
    last_of_first_layer = max(_first(states, "beat", "STOPPED"), _first(states, "flower", "STOPPED"))
    assert _first(states, "worker-main", "STOPPING") > last_of_first_layer, states
    assert _first(states, "broker", "STOPPING") > max(_first(states, "worker-main", "STOPPED"),
                                                     _first(states, "worker-io", "STOPPED")), states
    assert alive(pids) == []
    assert stack.runtime.read_records().get("processes") in (None, {})
    log = stack.runtime.log_path("worker-main").read_text()
    assert "main@" in log and "ready." in log


def test_sigkilled_worker_is_restarted_and_no_acks_late_task_is_lost(qtbot, tmp_path):
    # The sample sets a visibility timeout; a short one brings the killed worker's reserved
    # messages back within the test instead of after five minutes.
    ws = make_workspace(tmp_path, beat=False, flower=False, project={"env": {"SAMPLE_VISIBILITY_TIMEOUT": "3"}})
    stack = start_stack(qtbot, ws)
    try:
        app = _client(ws.broker_url())
        # Tasks of 250 ms: the worker fetches a message about 8 times a second. Kombu's Redis
        # transport takes a message off its list and then records it as unacked, in two round
        # trips: a SIGKILL in between loses it, whatever the settings. With 20 ms tasks (100
        # fetches a second) that window was hit about once in a dozen runs.
        ids = [app.send_task("celerydesk.sample.tasks.notify_customers", args=[f"m{i}"],
                             kwargs={"delay": 0.25}).id for i in range(40)]
        worker = stack.services["worker-main"]
        old_pid = worker.pid
        stack.test_states.clear()
        qtbot.waitUntil(lambda: app.AsyncResult(ids[3]).ready(), timeout=30000)
        os.kill(old_pid, signal.SIGKILL)
        qtbot.waitUntil(lambda: worker.state == ProcessState.RUNNING and worker.pid != old_pid, timeout=60000)
        worker_states = [name for key, name in stack.test_states if key == "worker-main"]
        assert worker_states[:3] == ["EXITED", "STARTING", "RUNNING"], worker_states
        assert worker.supervision.restarts == 1

        def unfinished():
            states = {i: app.AsyncResult(i).state for i in ids}
            return {i: state for i, state in states.items() if state != "SUCCESS"}

        # All but the messages the killed worker had reserved finish within seconds; those come
        # back once their visibility timeout (3 s) has passed and a worker's restore sweep (every
        # 10 s with the sample's unacked_restore_throttle of 1; ~100 s by default) finds them.
        try:
            qtbot.waitUntil(lambda: not unfinished(), timeout=120000)
        except qtbot.TimeoutError:
            raise AssertionError(f"tasks not done after 120 s: {unfinished()}") from None
        app.close()
    finally:
        stop_stack(qtbot, stack)


def test_thousand_tasks_queued_survive_a_broker_restart(qtbot, tmp_path):
    ws = make_workspace(tmp_path, beat=False, flower=False)
    stack = start_stack(qtbot, ws)
    try:
        worker, broker = stack.services["worker-main"], stack.services["broker"]
        worker.stop()
        qtbot.waitUntil(lambda: worker.state == ProcessState.STOPPED, timeout=30000)
        app = _client(ws.broker_url())
        with app.producer_or_acquire() as producer:
            ids = [app.send_task("celerydesk.sample.tasks.noop", producer=producer).id for _ in range(1000)]
        app.close()
        import redis

        assert redis.Redis.from_url(ws.broker_url()).llen("celery") == 1000
        old_pid = broker.pid
        broker.restart()
        qtbot.waitUntil(lambda: broker.state == ProcessState.RUNNING and broker.pid != old_pid, timeout=30000)
        assert redis.Redis.from_url(ws.broker_url()).llen("celery") == 1000
        worker.start()
        app = _client(ws.broker_url())
        qtbot.waitUntil(lambda: sum(app.AsyncResult(i).state == "SUCCESS" for i in ids[::50]) == 20,
                        timeout=120000)
        qtbot.waitUntil(lambda: sum(app.AsyncResult(i).state == "SUCCESS" for i in ids) == 1000, timeout=120000)
        app.close()
    finally:
        stop_stack(qtbot, stack)


def test_a_second_stack_on_the_same_workspace_is_refused(qtbot, tmp_path):
    ws = make_workspace(tmp_path, beat=False, flower=False)
    stack = start_stack(qtbot, ws)
    try:
        from tests.helpers.stack import start_stack_expecting_failure

        errors = start_stack_expecting_failure(qtbot, ws)
        assert any(f"already run by celerydesk (pid {os.getpid()})" in e for e in errors), errors
    finally:
        stop_stack(qtbot, stack)


def test_external_broker_is_checked_not_started(qtbot, tmp_path, redis_server):
    ws = make_workspace(tmp_path, mode="external", broker={"url": redis_server}, beat=False, flower=False)
    stack = start_stack(qtbot, ws)
    try:
        assert stack.services["broker"].pid is None
        app = _client(redis_server)
        assert app.send_task("celerydesk.sample.tasks.add", args=[20, 22]).get(timeout=30) == 42
        app.close()
    finally:
        stop_stack(qtbot, stack)
