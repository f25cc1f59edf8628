"""The Workers page's actions, against a real stack (real Redis, a real prefork worker) and a real
worker started by hand: the pool grown from the window and saved to the workspace, the changing
buttons disabled on a read-only client, a remote worker shut down only after a confirmation.

One stack serves the module; every change is checked by asking the worker itself afterwards.
"""

from __future__ import annotations

import os
import signal

import pytest
from PySide6.QtCore import Qt

from celerydesk.core.worker_resources import parse_stats
from celerydesk.ui.worker_actions import READ_ONLY_TIP
from celerydesk.ui.workers_list import HERE
from celerydesk.ui.workers_panel import QtWorkersPanel
from tests.helpers.qt_wait import wait_for
from tests.helpers.stack import make_workspace, remote_worker, running_context
from tests.helpers.workers_page import action_result, select_worker

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def context(qapp, tmp_path_factory):
    ws = make_workspace(tmp_path_factory.mktemp("actions"), beat=False, flower=False,
                        workers=[{"name": "main", "concurrency": 2}])
    ws.path.write_text("# the team's notes stay\n" + ws.path.read_text())
    yield from running_context(ws)


def shown_panel(qtbot, context, **kwargs) -> QtWorkersPanel:
    panel = QtWorkersPanel(context, **kwargs)
    qtbot.addWidget(panel)
    panel.resize(1280, 600)
    panel.show()
    return panel


def pool_processes(context, name: str) -> int:
    stats = context.broker.client.inspect("stats", timeout=2.0, destination=[name], limit=1)
    return parse_stats(stats)[name].pool_processes


def test_the_pool_grown_from_the_window_and_saved_to_the_workspace(qtbot, context):
    panel = shown_panel(qtbot, context)
    row = select_worker(panel, "main@")
    assert row.where == HERE and panel.actions.save_button.isEnabled()
    wait_for(lambda: panel.actions.size.value() == 2, 30, "the pool size of the selected worker")
    panel.actions.size.setValue(3)
    qtbot.mouseClick(panel.actions.scale_button, Qt.MouseButton.LeftButton)
    said = action_result(panel)
    assert said == f"✓ {row.name}: pool grown from 2 to 3 processes (pool will grow)"
    assert pool_processes(context, row.name) == 3  # the worker itself says so

    panel.actions.result.clear()
    with qtbot.waitSignal(context.workspaceSaved, timeout=30000) as saved:
        qtbot.mouseClick(panel.actions.save_button, Qt.MouseButton.LeftButton)
    assert saved.args == [str(context.stack.ws.path)]
    assert action_result(panel).startswith("✓ saved to celerydesk.toml [[workers]] 'main': concurrency: 2 → 3")
    text = context.stack.ws.path.read_text()
    assert text.startswith("# the team's notes stay\n") and "concurrency = 3" in text

    panel.actions.size.setValue(2)  # back, for the other tests
    qtbot.mouseClick(panel.actions.scale_button, Qt.MouseButton.LeftButton)
    panel.actions.result.clear()
    assert action_result(panel).startswith("✓") and pool_processes(context, row.name) == 2


def test_the_selected_worker_is_asked_what_it_runs_and_a_refusal_shows_the_reason(qtbot, context):
    panel = shown_panel(qtbot, context)
    select_worker(panel, "main@")
    wait_for(lambda: panel.actions.state is not None, 30, "the worker's own account of what it runs")
    assert ": prefork pool ×2; queues: celery" in panel.actions.title.text()
    tasks = [panel.actions.task.itemText(i) for i in range(panel.actions.task.count())]
    assert "celerydesk.sample.tasks.add" in tasks  # what the worker registered
    assert not panel.actions.autoscale_button.isEnabled()
    assert "started without --autoscale" in panel.actions.autoscale_button.toolTip()

    panel.actions.task.setEditText("no.such.task")
    panel.actions.rate.setText("10/m")
    qtbot.mouseClick(panel.actions.rate_button, Qt.MouseButton.LeftButton)
    assert action_result(panel).endswith("refused rate_limit: unknown task")
    panel.actions.result.clear()
    panel.actions.task.setEditText("celerydesk.sample.tasks.add")
    panel.actions.rate.setText("ten a minute")
    qtbot.mouseClick(panel.actions.rate_button, Qt.MouseButton.LeftButton)
    assert action_result(panel).startswith("✗ rate 'ten a minute': expected a number of tasks per second")


def test_a_read_only_client_disables_every_changing_button(qtbot, context):
    panel = shown_panel(qtbot, context)
    select_worker(panel, "main@")
    assert panel.actions.scale_button.isEnabled()
    context.broker.client.read_only = True
    try:
        panel._refresh()
        for button in (panel.actions.scale_button, panel.actions.autoscale_button, panel.actions.rate_button,
                       panel.actions.time_button, panel.actions.consume_button, panel.actions.cancel_button,
                       panel.actions.shutdown_button):
            assert not button.isEnabled() and button.toolTip() == READ_ONLY_TIP
    finally:
        context.broker.client.read_only = False
    panel._refresh()
    assert panel.actions.scale_button.isEnabled()


def test_a_remote_worker_is_shut_down_only_after_a_confirmation(qtbot, context, tmp_path):
    asked: list[str] = []
    answers = [False, True]
    panel = shown_panel(qtbot, context, confirm=lambda _parent, _title, text: asked.append(text) or answers.pop(0))
    proc = remote_worker(context.stack.broker_url(), tmp_path, "-P", "solo")
    try:
        row = select_worker(panel, "remote@")
        wait_for(lambda: panel.actions.pool() == "solo", 40, "the remote worker's inspect stats")
        panel._refresh()
        assert not panel.actions.scale_button.isEnabled() and "solo pool" in panel.actions.scale_button.toolTip()
        assert not panel.actions.save_button.isEnabled()  # not this stack's: nothing to save

        qtbot.mouseClick(panel.actions.shutdown_button, Qt.MouseButton.LeftButton)
        assert len(asked) == 1 and row.name in asked[0]
        assert panel.actions.result.text() == f"{row.name} was not shut down"
        assert context.broker.client.ping(timeout=2.0, destination=[row.name]) == [row.name]

        qtbot.mouseClick(panel.actions.shutdown_button, Qt.MouseButton.LeftButton)
        assert action_result(panel, 60) == f"✓ {row.name} has shut down (it no longer answers ping)"
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
