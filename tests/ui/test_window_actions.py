"""Every menu, toolbar and tray action does what it says when triggered, as a click would.

QAction.triggered passes ``checked``: an action wired straight to a signal's ``emit`` or to a
method with an optional parameter gets it as an argument (``settingsRequested.emit(False)``
raised TypeError, ``start_all(False)``), so the button looked dead.
"""

from __future__ import annotations

import pytest
from PySide6.QtGui import QIcon

from celerydesk.core.states import StackPhase
from celerydesk.services.context import DeskContext
from celerydesk.ui.main_window import QtMainWindow
from celerydesk.ui.tray import QtTray
from tests.helpers.stack import make_workspace


@pytest.fixture
def stack(qtbot, tmp_path):
    from celerydesk.services.stack import StackController

    stack = StackController(make_workspace(tmp_path, beat=False, flower=False))
    yield stack
    if stack.phase != StackPhase.IDLE:  # a failed test must not leave the stack running
        with qtbot.waitSignal(stack.stackStopped, timeout=60000, raising=False):
            stack.stop_all()
    stack.deleteLater()


@pytest.fixture
def window(qtbot, stack):
    window = QtMainWindow(DeskContext(stack, parent=stack))
    qtbot.addWidget(window)
    yield window
    window.shutdown()


def menu_action(window, text: str):
    for menu_action in window.menuBar().actions():
        for action in menu_action.menu().actions():
            if action.text() == text:
                return action
    raise AssertionError(f"no menu item {text!r}")


@pytest.mark.parametrize("text, signal", [("&Open…", "openRequested"), ("&New from a project folder…", "newRequested"),
                                          ("Open in a new &window…", "newWindowRequested"),
                                          ("Settings…", "settingsRequested"), ("&Quit", "quitRequested")])
def test_workspace_menu_items_ask_for_what_they_say(qtbot, window, text, signal):
    with qtbot.waitSignal(getattr(window, signal), timeout=2000):
        menu_action(window, text).trigger()


def test_the_settings_toolbar_button_and_its_shortcut_action(qtbot, window):
    with qtbot.waitSignal(window.settingsRequested, timeout=2000):
        window.settings_action.trigger()


def test_tray_items_show_start_and_stop(qtbot, stack):
    tray = QtTray(stack, QIcon())
    with qtbot.waitSignal(tray.showRequested, timeout=2000):
        tray.show_action.trigger()
    with qtbot.waitSignal(stack.stackReady, timeout=90000):
        tray.start_action.trigger()  # the whole stack, not start_all(only=False)
    assert {key: s.state.name for key, s in stack.services.items()} == {"broker": "RUNNING", "worker-main": "RUNNING"}
    with qtbot.waitSignal(stack.stackStopped, timeout=60000):
        tray.stop_action.trigger()


def test_window_start_and_stop_all(qtbot, window, stack):
    with qtbot.waitSignal(stack.stackReady, timeout=90000):
        window.start_all_action.trigger()
    with qtbot.waitSignal(stack.stackStopped, timeout=60000):
        window.stop_all_action.trigger()
