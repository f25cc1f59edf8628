"""``kind = "rabbitmq"``, ``mode = "local"``: the system's rabbitmq-server as the stack's broker.

A real node under the workspace's ``.celerydesk/rabbitmq/``, the sample's worker on it (its
results through rpc://, the sample's choice beside RabbitMQ), Flower's Broker page through the
management API; every socket the node's process group listens on is on loopback, and after a
stop, or a SIGKILL of ``celerydesk up``, nothing of it is left: not the Erlang VM, not its epmd.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import psutil
import pytest

from celerydesk.core.ports import port_holder, port_is_free
from celerydesk.core.states import ProcessState
from tests.helpers.rabbitmq_server import rabbitmq_script
from tests.helpers.stack import UpProcess, alive, make_workspace, start_stack, stop_stack, write_workspace
from tests.helpers.strict import require

pytestmark = pytest.mark.slow
ONE_WORKER = [{"name": "main", "concurrency": 1}]


@pytest.fixture(autouse=True)
def _rabbitmq_installed():
    require(rabbitmq_script() is not None, "rabbitmq-server is not installed (apt-get install rabbitmq-server)")


def group_of(pid: int) -> list[psutil.Process]:
    """Every process of the broker's process group (the script, the Erlang VM, its epmd, ...)."""
    out = []
    for proc in psutil.process_iter(["pid"]):
        try:
            if proc.pid == pid or os.getpgid(proc.pid) == pid:
                out.append(proc)
        except (psutil.Error, OSError):
            pass
    return out


def listening(processes: list[psutil.Process]) -> list[tuple[str, int, str]]:
    pids = {p.pid for p in processes}
    return sorted((c.laddr.ip, c.laddr.port, psutil.Process(c.pid).name()) for c in psutil.net_connections("tcp")
                  if c.status == psutil.CONN_LISTEN and c.pid in pids)


def sample_add(url: str) -> int:
    """A client of the sample's own making: its results come back through rpc://."""
    from celery import Celery

    app = Celery("test-client", broker=url, backend="rpc://", set_as_current=False)
    try:
        return app.send_task("celerydesk.sample.tasks.add", args=[20, 22]).get(timeout=60)
    finally:
        app.close()


def test_the_local_rabbitmq_runs_the_stack_on_loopback_and_leaves_nothing(qtbot, tmp_path):
    from celerydesk.core.ports import free_ports

    amqp, management = free_ports(2)
    ws = make_workspace(tmp_path, broker_port=amqp, broker={"kind": "rabbitmq", "management_port": management},
                        beat=False, flower=True, workers=ONE_WORKER)
    stack = start_stack(qtbot, ws, timeout_ms=180000)
    try:
        broker = stack.services["broker"]
        group = group_of(broker.pid)
        names = {p.name() for p in group}
        assert "beam.smp" in names and "epmd" in names, names
        sockets = listening(group)
        assert {ip for ip, _, _ in sockets} <= {"127.0.0.1", "::1"}, sockets  # loopback only
        assert ("127.0.0.1", amqp, "beam.smp") in sockets and ("127.0.0.1", management, "beam.smp") in sockets

        assert sample_add(ws.broker_url()) == 42

        node_dir = ws.runtime_dir / "rabbitmq" / "mnesia"
        assert any(p.name.startswith("celerydesk-") for p in node_dir.iterdir())
        log = (ws.runtime_dir / "logs" / "broker.log").read_text()
        assert "Server startup complete" in log  # RabbitMQ's own log, in the broker's pane and file

        # Flower's Broker page, through the management API it got in its environment, not argv.
        import requests

        user, password = stack.flower_credentials()
        page = requests.get(f"http://127.0.0.1:{ws.flower.port}/broker", auth=(user, password), timeout=30).text
        assert "<td>celery</td>" in page
        api = ws.management_api().flower_url()
        argv = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
        assert api not in argv and "guest:guest" not in argv
        pids = [p.pid for p in group]
    finally:
        stop_stack(qtbot, stack, timeout_ms=120000)
    assert stack.services["broker"].state == ProcessState.STOPPED
    assert alive(pids) == []  # the VM and its epmd too
    assert port_is_free(amqp) and port_is_free(management)


def test_a_generated_password_keeps_guest_out_and_a_killed_up_leaves_nothing(tmp_path):
    from celerydesk.core.broker_errors import answers
    from celerydesk.core.workspace import load_workspace

    path = write_workspace(tmp_path, broker={"kind": "rabbitmq", "password": "generate", "management": False},
                           beat=False, flower=False, workers=ONE_WORKER)
    ws = load_workspace(path)
    up = UpProcess(path)
    try:
        up.wait_for("stack ready", timeout=180)
        password = ws.broker_password()
        assert answers(ws.broker_url()) is None
        assert answers(f"amqp://guest:guest@127.0.0.1:{ws.broker.port}//").kind == "wrong password"
        argv = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
        assert "rabbitmq-server" in argv and password not in argv
        assert password not in "\n".join(up.lines)
        broker_pid = int(up.wait_for("broker: RUNNING").split("pid ")[1].rstrip(")"))
        pids = [p.pid for p in group_of(broker_pid)]
        assert len(pids) >= 3, pids  # the script, the VM, epmd (and the VM's helpers)
        up.signal(signal.SIGKILL)
        up.proc.wait(10)
    finally:
        up.kill()
    deadline = time.monotonic() + 15  # the reaper's work, once it sees celerydesk gone
    while (alive(pids) or not port_is_free(ws.broker.port)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert alive(pids) == []
    assert port_is_free(ws.broker.port), port_holder(ws.broker.port)
