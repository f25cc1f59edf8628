"""The application on a watch-only workspace (ui/app.py, services/tunnel.py): it starts watching
by itself (only the broker's probe: no process is started), closing the window does not ask about
a stack to stop, and a broker behind ``[broker] ssh`` is reached through a real ssh tunnel (a
private sshd on loopback) kept up by the window, whose failure is said in the banner."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QSettings

from celerydesk.core.states import ProcessState, StackPhase
from celerydesk.core.workspace import load_workspace
from celerydesk.ui.app import DeskApplication
from tests.helpers.remote_stack import write_watch_workspace


@pytest.fixture
def desk(qapp, qtbot, tmp_path):
    desk = DeskApplication(qapp, QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    yield desk
    if desk.stack is not None and desk.stack.phase != StackPhase.IDLE:
        with qtbot.waitSignal(desk.stack.stackStopped, timeout=30000, raising=False):
            desk.stack.stop_all()
    desk._stop_tunnel()
    if desk.window is not None:
        desk.window.shutdown()
        desk.window.deleteLater()
    desk.signals.close()


def test_a_watch_only_workspace_is_watched_as_soon_as_its_window_opens(qtbot, desk, tmp_path, redis_url):
    ws = load_workspace(write_watch_workspace(tmp_path / "staging", redis_url))
    window = desk.open(ws)
    qtbot.waitUntil(lambda: desk.stack.state("broker") == ProcessState.RUNNING, timeout=20000)
    assert desk.stack.services["broker"].pid is None  # a probe, not a process
    assert list(desk.stack.services) == ["broker"]
    closed = []
    window.quitRequested.connect(lambda: closed.append(True))
    window.close()  # no question about stopping a stack: it only stops watching
    assert closed == [True]


def test_the_window_reaches_a_broker_through_its_ssh_tunnel(qtbot, desk, tmp_path, redis_url, bastion):
    path = write_watch_workspace(tmp_path / "behind", redis_url, broker={"ssh": "bastion",
                                                                       "ssh_config": str(bastion.ssh_config)})
    desk.open(load_workspace(path))
    assert desk.stack.broker_url() == desk.tunnel.tunnel.local_url != redis_url
    qtbot.waitUntil(lambda: desk.stack.state("broker") == ProcessState.RUNNING, timeout=30000)
    assert desk.tunnel.tunnel.running
    depths = desk.context.broker.client.depths(["celery"])  # the window's client, through the tunnel
    assert depths == {"celery": 0}
    ssh = desk.tunnel.tunnel
    desk._finish()  # leaving closes the tunnel
    assert not ssh.running


def test_a_tunnel_that_fails_is_said_in_the_banner(qtbot, desk, tmp_path, redis_url, bastion):
    path = write_watch_workspace(tmp_path / "refused", redis_url, broker={"ssh": "stranger@bastion",
                                                                        "ssh_config": str(bastion.ssh_config)})
    window = desk.open(load_workspace(path))
    qtbot.waitUntil(lambda: window.banner.isVisible(), timeout=30000)
    text = window.banner.label.text()
    assert "the ssh tunnel to" in text and "through stranger@bastion failed" in text
    assert "Permission denied (publickey)" in text and "trying again every 10 s" in text


def test_a_broker_that_did_not_answer_is_watched_again_when_asked(qtbot, desk, tmp_path):
    """Nothing listens at first: the broker's row says why and offers "Watch again", which, once a
    broker listens there, watches it."""
    from celerydesk.core.ports import free_port
    from tests.helpers.redis_server import start_redis_server

    port = free_port()
    window = desk.open(load_workspace(write_watch_workspace(tmp_path / "later", f"redis://127.0.0.1:{port}/0")))
    qtbot.waitUntil(lambda: desk.stack.state("broker") == ProcessState.FATAL, timeout=30000)
    again = window.services.buttons["broker"]["Watch again"]
    qtbot.waitUntil(again.isEnabled, timeout=10000)
    assert "nothing listens on 127.0.0.1" in desk.stack.services["broker"].supervision.message
    proc, _url = start_redis_server(tmp_path, port=port)
    try:
        again.click()
        qtbot.waitUntil(lambda: desk.stack.state("broker") == ProcessState.RUNNING, timeout=20000)
        assert not again.isEnabled()
    finally:
        proc.terminate()
        proc.wait(10)
