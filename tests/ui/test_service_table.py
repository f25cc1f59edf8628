"""The services table against a real stack: rows, badges, buttons, restarts, shortcuts."""

from __future__ import annotations

import os
import signal

import pytest
from PySide6.QtCore import Qt

from celerydesk.core.states import ProcessState
from celerydesk.ui import defs
from celerydesk.ui.service_table import PID, RESTARTS, STATE, UPTIME, QtServiceTable, format_uptime
from celerydesk.ui.tray import stack_color_state
from tests.helpers.stack import make_workspace, stop_stack

pytestmark = pytest.mark.slow


@pytest.fixture
def table(qtbot, tmp_path):
    from celerydesk.services.stack import StackController

    stack = StackController(make_workspace(tmp_path, beat=False, flower=False))
    widget = QtServiceTable(stack)
    qtbot.addWidget(widget)
    widget.resize(700, 200)
    widget.show()
    yield widget
    stop_stack(qtbot, stack)


def cell(table, key, column):
    return table.model.index(table.model.row_of(key), column).data()


def badge_pixel_colors(table, key):
    rect = table.view.visualRect(table.model.index(table.model.row_of(key), STATE))
    image = table.view.viewport().grab(rect).toImage()
    y = image.height() // 2
    return {image.pixelColor(x, y).name() for x in range(image.width())}


def test_rows_buttons_and_a_start_from_idle(qtbot, table):
    assert table.model.keys == ["broker", "worker-main"]
    assert [cell(table, k, STATE) for k in table.model.keys] == ["STOPPED", "STOPPED"]
    start, stop = table.buttons["worker-main"]["Start"], table.buttons["worker-main"]["Stop"]
    assert start.isEnabled() and not stop.isEnabled()

    qtbot.mouseClick(start, Qt.MouseButton.LeftButton)  # starts the broker first, then the worker
    stack = table.stack
    qtbot.waitUntil(lambda: stack.state("worker-main") == ProcessState.RUNNING, timeout=60000)
    assert stack.state("broker") == ProcessState.RUNNING
    assert cell(table, "worker-main", PID) == str(stack.services["worker-main"].pid)
    qtbot.waitUntil(lambda: cell(table, "worker-main", UPTIME) not in ("", None), timeout=5000)
    assert not start.isEnabled() and stop.isEnabled()
    assert defs.STATE_COLORS[ProcessState.RUNNING].name() in badge_pixel_colors(table, "worker-main")

    # A crash is shown: the restart counter moves and the row comes back to RUNNING.
    old = stack.services["worker-main"].pid
    os.kill(old, signal.SIGKILL)
    qtbot.waitUntil(lambda: cell(table, "worker-main", RESTARTS) == "1", timeout=30000)
    qtbot.waitUntil(lambda: stack.state("worker-main") == ProcessState.RUNNING, timeout=60000)

    qtbot.mouseClick(stop, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: stack.state("worker-main") == ProcessState.STOPPED, timeout=60000)
    assert cell(table, "worker-main", PID) == ""
    assert start.isEnabled()


def test_restart_shortcut_acts_on_the_selected_row(qtbot, table):
    stack = table.stack
    table.install_shortcuts(table)
    qtbot.mouseClick(table.buttons["worker-main"]["Start"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: stack.state("worker-main") == ProcessState.RUNNING, timeout=60000)
    old = stack.services["worker-main"].pid
    table.view.selectRow(table.model.row_of("worker-main"))
    table.view.setFocus()
    qtbot.keyClick(table.view, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: stack.services["worker-main"].pid not in (None, old)
                    and stack.state("worker-main") == ProcessState.RUNNING, timeout=60000)


def test_stack_colour_state_puts_trouble_first():
    S = ProcessState
    assert stack_color_state([S.RUNNING, S.RUNNING]) == S.RUNNING
    assert stack_color_state([S.RUNNING, S.BACKOFF]) == S.BACKOFF
    assert stack_color_state([S.RUNNING, S.FATAL, S.STARTING]) == S.FATAL
    assert stack_color_state([S.STOPPED, S.RUNNING]) == S.STOPPED
    assert stack_color_state([]) == S.STOPPED


@pytest.mark.parametrize("seconds, text", [(None, ""), (5.9, "5s"), (65, "1m 05s"), (3725, "1h 02m")])
def test_format_uptime(seconds, text):
    assert format_uptime(seconds) == text
