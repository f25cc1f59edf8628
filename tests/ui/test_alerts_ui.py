"""Alerts in the window: the editor dialog (ui/alerts_dialog.py) and the firings' notice and badge
(services/alerts.py, ui/pages.py, ui/tray.py's fallback, the banner).

The dialog edits the real file through a WorkspaceDocument: add, edit, remove and rename in one
save, comments kept; a mistake keeps the dialog open with the loader's words and writes nothing;
a file changed on disk is not overwritten. The window's evaluator is fed celery-shaped events as
its consumer would feed them: the Dashboard's sidebar entry counts unseen firings until it is
shown, the firing is stored in the history the window writes, and (no tray offscreen) the banner
says it.
"""

from __future__ import annotations

import time

import pytest

from celerydesk.core.alerts.store import read_firings
from celerydesk.core.history.queries import HistoryReader
from celerydesk.core.workspace import load_workspace
from celerydesk.ui.alerts_dialog import QtAlertsDialog
from tests.helpers.alerts import workspace_with_alerts



@pytest.fixture
def path(tmp_path):
    return workspace_with_alerts(tmp_path)


def test_add_edit_remove_and_rename_in_one_save_keeping_comments(qtbot, path):
    dialog = QtAlertsDialog(path)
    qtbot.addWidget(dialog)
    assert [dialog.list.item(i).text() for i in range(dialog.list.count())] == ["video-failed", "backlog"]
    assert dialog.description.text() == "Fires when a task process_video fails."
    # Edit the backlog rule: a new threshold and a new name.
    dialog.select("backlog")
    assert not dialog.form.isRowVisible(dialog.window) and dialog.form.isRowVisible(dialog.for_s)
    dialog.above.setValue(3)
    dialog.for_s.setValue(2)
    dialog.name.setText("parked")
    dialog.name.textEdited.emit("parked")
    # Add a worker-offline rule.
    dialog.add_rule()
    dialog.name.setText("main-gone")
    dialog.name.textEdited.emit("main-gone")
    dialog.when.setCurrentIndex(dialog.when.findData("worker-offline"))
    assert dialog.form.labelForField(dialog.target).text() == "Worker"
    assert not dialog.form.isRowVisible(dialog.above)
    dialog.target.setText("main@*")
    dialog.target.textEdited.emit("main@*")
    dialog.for_s.setValue(30)
    assert dialog.description.text() == "Fires when worker main@* is offline for 30 s."
    # Remove the first.
    dialog.select("video-failed")
    dialog.remove_rule()
    with qtbot.waitSignal(dialog.saved) as saved:
        assert dialog.save()
    assert [r.name for r in saved.args[0].alerts] == ["parked", "main-gone"]
    ws = load_workspace(path)
    assert [r.table() for r in ws.alerts] == [
        {"name": "parked", "when": "queue-depth", "queue": "celery", "above": 3.0, "for": 2.0},
        {"name": "main-gone", "when": "worker-offline", "worker": "main@*", "for": 30.0}]
    text = path.read_text()
    assert "# Alerts: who gets woken up, and why." in text and "# The end of the file." in text
    assert "the one the support team asked for" not in text  # it went with its rule


def test_a_mistake_keeps_the_dialog_open_and_writes_nothing(qtbot, path):
    before = path.read_text()
    dialog = QtAlertsDialog(path)
    qtbot.addWidget(dialog)
    dialog.select("backlog")
    dialog.name.setText("video-failed")  # a name taken
    dialog.name.textEdited.emit("video-failed")
    assert not dialog.save()
    assert dialog.banner.isVisibleTo(dialog) and "used twice" in dialog.banner.text()
    assert '[[alerts]] #2 &quot;video-failed&quot; name' in dialog.banner.text()
    dialog.name.setText("")
    dialog.name.textEdited.emit("")
    assert "missing" in dialog.description.text()
    assert path.read_text() == before


def test_a_file_changed_on_disk_is_not_overwritten(qtbot, path):
    dialog = QtAlertsDialog(path)
    qtbot.addWidget(dialog)
    path.write_text(path.read_text() + "\n# edited elsewhere\n")
    dialog.add_rule()
    assert not dialog.save()
    assert "changed on disk" in dialog.banner.text() and "edited elsewhere" in path.read_text()


def test_the_window_badges_the_dashboard_stores_and_says_a_firing(qtbot, path):
    from celerydesk.services.context import DeskContext
    from celerydesk.services.stack import StackController
    from celerydesk.ui.main_window import QtMainWindow

    stack = StackController(load_workspace(path))
    window = QtMainWindow(DeskContext(stack, parent=stack))
    qtbot.addWidget(window)
    try:
        with qtbot.waitSignal(window.panelsBuilt, timeout=10000):
            window.show()
        history = window.context.history
        qtbot.waitUntil(lambda: history.state == "writing", timeout=10000)
        assert window.pages.badge("dashboard") == 0
        now = time.time()
        failed = [{"type": "task-received", "uuid": "t-1", "name": "celerydesk.sample.tasks.process_video",
                   "timestamp": now},
                  {"type": "task-failed", "uuid": "t-1", "timestamp": now, "exception": "FileNotFoundError('x')"}]
        window.context.alerts.submit(failed)  # on this thread, as the consumer's would be on its own
        qtbot.waitUntil(lambda: window.pages.badge("dashboard") == 1, timeout=5000)
        assert "Alert video-failed" in window.banner.label.text() and "t-1" in window.banner.label.text()
        assert "1 new alert" in window.pages.sidebar.item(1).toolTip()
        window.context.alerts.submit([{**failed[1], "uuid": "t-2"}])  # still failing: no second firing
        assert history.recorder.flush(10)
        reader = HistoryReader(stack.runtime.dir)
        try:
            assert [(f["rule"], f["task_id"]) for f in read_firings(reader.db)] == [("video-failed", "t-1")]
        finally:
            reader.close()
        window.show_page("dashboard")
        assert window.pages.badge("dashboard") == 0
        # The menu opens the editor.
        dialog = window.edit_alerts()
        assert dialog is window.alerts_dialog and dialog.list.count() == 2
        dialog.reject()
    finally:
        window.shutdown()
        stack.deleteLater()
