"""The window on a watch-only, read-only workspace (ui/main_window.py, ui/environment.py,
ui/read_only.py) on a real redis-server: no Start or Stop but "watching <name>"; the
environment's name in the title, the status bar and the tray, its colour as a band; every action
that changes the stack disabled with the reason (Launch's Send, retry and revoke, the bulk
actions, purge, delete and move, Run now) while peek works; unlocking only after the name is
typed exactly, for the window's session, and locking again."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QApplication

from celerydesk.core.broker_client import BrokerClient, SendOptions
from celerydesk.core.states import ProcessState
from celerydesk.core.workspace import load_workspace
from celerydesk.services.context import DeskContext
from celerydesk.ui.environment import QtUnlockDialog
from celerydesk.ui.main_window import QtMainWindow
from tests.helpers.remote_stack import write_watch_workspace
from tests.helpers.qt_wait import wait_for

ADD = "celerydesk.sample.tasks.add"
SCHEDULE = '\n[[schedules]]\nname = "nightly"\ntask = "celerydesk.sample.tasks.add"\nevery = 60.0\nargs = [1, 2]\n'


@pytest.fixture
def watching(qtbot, tmp_path, redis_url, redis):
    """A window on a watch-only workspace "staging" (orange), its broker probe running, with two
    messages parked on a queue; ``window.test_ids`` are theirs."""
    from celerydesk.services.stack import StackController

    path = write_watch_workspace(tmp_path, redis_url, environment={"name": "staging", "color": "orange"})
    path.write_text(path.read_text() + SCHEDULE)
    with BrokerClient(redis_url) as client:
        ids = [client.send(ADD, [n, 1], options=SendOptions(queue="parked")) for n in range(2)]
    stack = StackController(load_workspace(path))
    window = QtMainWindow(DeskContext(stack, parent=stack))  # the sample project, introspected for real
    window.test_ids = ids
    qtbot.addWidget(window)
    window.show()
    stack.start_all()  # what the app does for a watch-only workspace: only the broker's probe
    qtbot.waitUntil(lambda: stack.state("broker") == ProcessState.RUNNING, timeout=20000)
    yield window
    stack.stop_all()
    qtbot.waitUntil(lambda: stack.state("broker") != ProcessState.RUNNING, timeout=20000)
    window.shutdown()
    stack.deleteLater()


def changing_buttons(window) -> dict:
    tasks, queues = window.tasks, window.show_page("queues").ensure()
    return {"retry all": tasks.retry_all_button, "revoke all": tasks.revoke_all_button,
            "revoke": tasks.details.revoke_button, "terminate": tasks.details.terminate_button,
            "retry": tasks.details.retry_button, "retry edited": tasks.details.edit_button,
            "purge": queues.purge_button}


def test_a_watch_only_window_says_watching_and_names_its_environment(watching):
    window = watching
    toolbar_actions = window.findChild(type(window.addToolBar("x")), "stack-toolbar").actions()
    assert window.start_all_action not in toolbar_actions and window.stop_all_action not in toolbar_actions
    assert window.watching_label.text().strip() == "watching staging"
    menus = [a.text() for a in window.menuBar().actions()]
    assert "&Stack" not in menus and "&Environment" in menus
    assert window.windowTitle() == "celerydesk — staging (read-only)"
    assert window.environment_label.text() == "staging (read-only)"
    assert window.band.isVisible() and "#d35400" in window.band.styleSheet()
    assert window.band.text() == "staging · watching · read-only: changes are disabled (Environment ▸ Unlock…)"
    assert window.stack.ws.workers == [] and window.stack.enabled_keys() == ["broker"]
    # No Start, Stop or Restart on the broker's row either: only "Watch again", for when it did not answer.
    assert list(window.services.buttons) == ["broker"] and list(window.services.buttons["broker"]) == ["Watch again"]
    assert not window.services.buttons["broker"]["Watch again"].isEnabled()  # it is being watched


def test_the_tray_names_the_environment_and_offers_no_start_or_stop(watching):
    from celerydesk.ui.tray import QtTray

    tray = QtTray(watching.stack, QApplication.windowIcon(), broker=watching.context.broker)
    assert tray.icon.toolTip() == "celerydesk — staging (read-only): watching"
    assert tray.start_action not in tray._menu.actions()
    watching.context.broker.set_read_only(False)
    assert tray.icon.toolTip() == "celerydesk — staging: watching"


def test_every_changing_action_is_disabled_with_the_reason_and_peek_still_works(qtbot, watching):
    window = watching
    for name, button in changing_buttons(window).items():
        assert not button.isEnabled(), name
        assert "'staging' is read-only" in button.toolTip() and "Unlock" in button.toolTip(), name
    launch = window.show_page("launch").ensure()
    assert "'staging' is read-only" in launch.send_blocker() and not launch.send_button.isEnabled()
    queues = window.queues
    queues.depths.poll()
    wait_for(lambda: queues.table.rowCount() and "parked" in [queues.table.item(r, 0).text()
                                                              for r in range(queues.table.rowCount())],
             what="the parked queue listed")
    names = [queues.table.item(r, 0).text() for r in range(queues.table.rowCount())]
    queues.table.selectRow(names.index("parked"))
    wait_for(lambda: queues.messages.ids() == window.test_ids, what="the peeked messages")
    queues.messages.selectRow(0)
    assert queues.peek_button.isEnabled()
    assert not queues.delete_button.isEnabled() and not queues.move_button.isEnabled()
    assert "read-only" in queues.delete_button.toolTip()
    schedules = window.show_page("schedules").ensure()
    wait_for(lambda: schedules.table.rowCount() >= 1, what="the workspace's schedule")
    schedules.table.selectRow(0)
    assert not schedules.buttons["run"].isEnabled() and "read-only" in schedules.buttons["run"].toolTip()


def test_a_change_that_gets_through_the_buttons_is_still_refused_and_said(qtbot, watching):
    """The client is the guard: a purge asked for anyway sends nothing and the banner says why."""
    window = watching
    window.context.broker.purge("parked")
    qtbot.waitUntil(lambda: window.banner.isVisible(), timeout=10000)
    assert "purge failed: 'staging' is read-only" in window.banner.label.text()
    with BrokerClient(window.stack.broker_url()) as client:
        assert client.depths(["parked"]) == {"parked": 2}


def test_unlocking_takes_the_exact_name_and_lasts_until_locked_again(qtbot, watching):
    window = watching
    buttons = changing_buttons(window)
    asked = []
    window.environment._ask = lambda parent, name: asked.append(name) or False  # the user cancels
    assert window.environment.unlock() is False and window.context.broker.client.read_only
    assert asked == ["staging"]
    window.environment._ask = lambda parent, name: True  # the name typed
    assert window.environment.unlock() is True
    assert window.context.broker.client.read_only is False  # the attribute other pages read
    assert all(b.isEnabled() for b in buttons.values())
    assert window.windowTitle() == "celerydesk — staging"
    assert "UNLOCKED in this window" in window.band.text()
    assert window.environment.lock_action.isEnabled() and not window.environment.unlock_action.isEnabled()
    assert load_workspace(window.stack.ws.path).environment.read_only  # the file is unchanged
    window.environment.lock_action.trigger()
    assert window.context.broker.client.read_only is True
    assert not any(b.isEnabled() for b in buttons.values())
    assert window.windowTitle() == "celerydesk — staging (read-only)"


def test_the_unlock_dialog_accepts_only_the_exact_name(qtbot):
    dialog = QtUnlockDialog("prod-eu")
    qtbot.addWidget(dialog)
    for typed in ("", "prod", "Prod-eu", "prod-eu "):
        dialog.edit.setText(typed)
        assert not dialog.unlock_button.isEnabled(), typed
        dialog.accept()  # Return with the wrong name
        assert dialog.result() != dialog.DialogCode.Accepted
    dialog.edit.setText("prod-eu")
    assert dialog.unlock_button.isEnabled()
    dialog.unlock_button.click()
    assert dialog.result() == dialog.DialogCode.Accepted


def test_an_ordinary_workspace_has_start_and_stop_and_no_band(qtbot, tmp_path):
    from celerydesk.services.stack import StackController
    from tests.helpers.stack import make_workspace

    stack = StackController(make_workspace(tmp_path / "dev", beat=False, flower=False))
    window = QtMainWindow(DeskContext(stack, introspect=lambda ws, force=False: None, parent=stack))
    qtbot.addWidget(window)
    try:
        assert window.findChild(type(window.addToolBar("x")), "stack-toolbar").actions()[0] is window.start_all_action
        assert window.band.isHidden() and window.windowTitle() == "celerydesk — dev"
        assert window.environment.unlock_action.isEnabled() is False
    finally:
        window.shutdown()
        stack.deleteLater()
