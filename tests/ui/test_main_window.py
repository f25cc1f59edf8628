"""The main window's panes built after its first paint (celerydesk/ui/main_window.py).

The services table is there at once; the log panes, Flower and the task monitor come right
after the first paint (or after a second when the window is never painted), in that order, and
the window says so with ``panelsBuilt``. The services table's current row, picked before the
logs exist, is the log tab they open on.
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from celerydesk.services.context import DeskContext
from celerydesk.ui.main_window import QtMainWindow
from tests.helpers.stack import make_workspace


@pytest.fixture
def window(qtbot, tmp_path):
    from celerydesk.services.stack import StackController

    stack = StackController(make_workspace(tmp_path, beat=False, flower=False))
    window = QtMainWindow(DeskContext(stack, parent=stack))
    qtbot.addWidget(window)
    yield window
    window.shutdown()
    # Deleted now, with the widgets, rather than whenever the garbage collector gets to it.
    stack.deleteLater()


def test_the_panes_come_after_the_first_paint_in_order(qtbot, window):
    built = []
    for name in ("logs_tab", "flower_tab", "tasks_tab"):
        getattr(window, name).built.connect(lambda _w, n=name: built.append(n))
    assert window.services.model.keys == ["broker", "worker-main"]
    assert window.logs_tab.widget is None and window.flower_tab.widget is None
    assert window.tasks_tab.widget is None
    with qtbot.waitSignal(window.panelsBuilt, timeout=5000):
        window.show()
    assert built == ["logs_tab", "flower_tab", "tasks_tab"]
    assert window.logs is window.logs_tab.widget and window.flower is window.flower_tab.widget
    assert window.logs.keys() == ["broker", "worker-main"]
    # Launch and Schedules still wait until they are first shown.
    assert window.launch_tab.widget is None and window.schedules_tab.widget is None


def test_the_selected_service_is_the_log_tab_shown(qtbot, window):
    window.services.view.selectRow(1)  # before the logs exist
    assert window.logs_tab.widget is None
    with qtbot.waitSignal(window.panelsBuilt, timeout=5000):
        window.show()
    assert window.logs.tabs.currentWidget() is window.logs.pane("worker-main")
    window.services.view.selectRow(0)  # and after
    assert window.logs.tabs.currentWidget() is window.logs.pane("broker")


def test_the_table_taking_the_focus_does_not_switch_the_logs_away_from_all(qtbot, window):
    with qtbot.waitSignal(window.panelsBuilt, timeout=5000):
        window.show()
    all_pane = window.logs.tabs.currentWidget()
    window.services.view.setFocus()  # Qt makes the first row current, without selecting it
    qtbot.wait(50)
    assert window.services.view.currentIndex().isValid()
    assert window.logs.tabs.currentWidget() is all_pane
    qtbot.keyClick(window.services.view, Qt.Key.Key_Down)  # the user moving does switch
    assert window.logs.tabs.currentWidget() is not all_pane


def test_a_window_never_painted_builds_its_panes_anyway(qtbot, window):
    with qtbot.waitSignal(window.panelsBuilt, timeout=5000):
        pass  # not shown: the fallback timer builds them
    assert window.logs_tab.widget is not None and window.tasks_tab.widget is not None


def test_asking_for_a_pane_builds_it_at_once(window):
    assert window.logs_tab.widget is None
    assert window.logs.keys() == ["broker", "worker-main"]
    assert window.flower.stack is window.stack


def test_the_status_bar_shows_the_broker_without_its_password(qtbot, tmp_path):
    from celerydesk.services.stack import StackController

    ws = make_workspace(tmp_path, mode="external", beat=False, flower=False,
                        broker={"url": "redis://:s3cret@127.0.0.1:6399/0"})
    stack = StackController(ws)
    window = QtMainWindow(DeskContext(stack, parent=stack))
    qtbot.addWidget(window)
    try:
        text = window.broker_label.text()
        assert "redis://:***@127.0.0.1:6399/0" in text and "s3cret" not in text
    finally:
        window.shutdown()
        stack.deleteLater()
