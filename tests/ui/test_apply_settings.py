"""Saved settings reach the stack (DeskApplication.apply_saved_settings, celerydesk/ui/app.py).

A stack is built from the workspace it was opened with, so a saved file applies once the
workspace is reopened. Real stacks (local broker and a worker) and a real window, offscreen:
saved while idle, the next start uses the new file; saved while running and restarted, the new
worker runs with it and the log panes go on from the first run's lines; saved while running and not restarted, the running stack keeps its
settings and the next start after it stops uses the new ones. The observable setting is
``[project] nice``, read back from the worker process; and a worker's pool grown and saved on the
Workers page, read back from the restarted worker.
"""

from __future__ import annotations

import os
import re

import psutil
import pytest
from PySide6.QtCore import QSettings, Qt

from celerydesk.core.commands import BROKER, worker_key
from celerydesk.core.states import StackPhase
from celerydesk.ui.app import DeskApplication
from celerydesk.ui.log_model import PLAIN
from celerydesk.ui.log_view import QtLogsWidget
from tests.helpers.stack import make_workspace
from tests.helpers.workers_page import action_result, select_worker

OWN_NICE = os.getpriority(os.PRIO_PROCESS, 0)


@pytest.fixture
def desk(qapp, qtbot, tmp_path):
    desk = DeskApplication(qapp, QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    desk.open(make_workspace(tmp_path / "proj", beat=False, flower=False))
    yield desk
    if desk.stack.phase != StackPhase.IDLE:
        with qtbot.waitSignal(desk.stack.stackStopped, timeout=60000, raising=False):
            desk.stack.stop_all()
    desk.window.shutdown()
    desk.window.deleteLater()
    desk.signals.close()


def save_nice(desk, nice: int):
    """What OK in the settings dialog does to the file."""
    path = desk.stack.ws.path
    path.write_text(re.sub(r"(\[project\]\n)", rf"\1nice = {nice}\n", path.read_text(), count=1))
    return path


def start(qtbot, desk) -> None:
    with qtbot.waitSignal(desk.stack.stackReady, timeout=90000):
        desk.stack.start_all()


def worker_nice(desk) -> int:
    return psutil.Process(desk.stack.services[worker_key("main")].pid).nice() - OWN_NICE


def test_saved_while_idle_the_next_start_uses_it(qtbot, desk):
    old_window = desk.window
    desk.apply_saved_settings(save_nice(desk, 2), restart=False)
    assert desk.window is not old_window and desk.stack.ws.project.nice == 2
    start(qtbot, desk)
    assert worker_nice(desk) == 2


def test_saved_while_running_and_restarted_the_new_worker_uses_it(qtbot, desk):
    start(qtbot, desk)
    assert worker_nice(desk) == 5
    old_pid = desk.stack.services[worker_key("main")].pid
    desk.apply_saved_settings(save_nice(desk, 3), restart=True)
    qtbot.waitUntil(lambda: desk.stack.ws.project.nice == 3 and desk.stack.phase == StackPhase.RUNNING, timeout=90000)
    assert desk.stack.services[worker_key("main")].pid != old_pid
    assert worker_nice(desk) == 3
    # The log panes go on from the first run's lines, as after a restart of one service.
    for key, first, second in ((worker_key("main"), "starting at nice 5:", "starting at nice 3:"),
                               (BROKER, "starting:", "starting:")):
        started = [text for text, _ in desk.stack.services[key].history if "[celerydesk] starting" in text]
        assert len(started) == 2 and first in started[0] and second in started[1], (key, started)
    qtbot.waitUntil(lambda: desk.window.findChild(QtLogsWidget) is not None, timeout=10000)
    model = desk.window.findChild(QtLogsWidget).pane(worker_key("main")).model
    shown = [model.record(row)[PLAIN] for row in range(model.rowCount())]
    assert sum("starting at nice 5:" in line for line in shown) == 1
    assert sum("starting at nice 3:" in line for line in shown) == 1


def test_saved_while_running_it_applies_after_the_stack_stops(qtbot, desk):
    start(qtbot, desk)
    running = desk.stack
    desk.apply_saved_settings(save_nice(desk, 4), restart=False)
    desk.apply_saved_settings(desk.stack.ws.path, restart=False)  # saved twice: reopened once
    assert desk.stack is running and worker_nice(desk) == 5  # the running stack is left as it is
    with qtbot.waitSignal(running.stackStopped, timeout=60000):
        running.stop_all()
    assert desk.stack is not running and desk.stack.ws.project.nice == 4
    start(qtbot, desk)
    assert worker_nice(desk) == 4


def test_a_pool_grown_and_saved_on_the_workers_page_holds_after_a_restart(qtbot, desk):
    start(qtbot, desk)
    running = desk.stack
    desk.window.show()
    desk.window.show_page("workers")
    panel = desk.window.workers_tab.ensure()
    select_worker(panel, "main@")
    qtbot.waitUntil(lambda: panel.actions.size.value() == 2, timeout=30000)
    panel.actions.size.setValue(3)
    qtbot.mouseClick(panel.actions.scale_button, Qt.MouseButton.LeftButton)
    assert action_result(panel).endswith("pool grown from 2 to 3 processes (pool will grow)")
    panel.actions.result.clear()
    qtbot.mouseClick(panel.actions.save_button, Qt.MouseButton.LeftButton)
    assert "concurrency: 2 → 3" in action_result(panel)
    assert desk.stack is running  # the running stack is left as it is

    with qtbot.waitSignal(running.stackStopped, timeout=60000):
        running.stop_all()
    assert desk.stack is not running and desk.stack.ws.worker("main").concurrency == 3
    start(qtbot, desk)
    worker = psutil.Process(desk.stack.services[worker_key("main")].pid)
    assert len(worker.children()) == 3  # the restarted worker's pool
