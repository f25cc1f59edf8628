"""The schedules table (celerydesk/ui/schedules_panel.py), offscreen with pytest-qt, on real
workspace files, a real redis-server and the Django storefront introspected from its own venv.

Covered: the storefront's own CELERY_BEAT_SCHEDULE as read-only project rows beside the
workspace's, copied into the workspace through the editor (and then marked replaced); the
Enabled checkbox and Disable button write the file (comments kept); delete asks first;
duplicate opens the editor on a free name and adds; the export snippet parses as Python, holds
crontab(...) calls and runs under celery; Run now puts one message on queue ``celery`` of a real
Redis; last run and run count from beat's state file; rows follow file edits made elsewhere and
``schedule_sync.mirrorWritten``.
"""

from __future__ import annotations

import ast
import json
import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QGuiApplication

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from celerydesk.core.introspection import Introspection
from celerydesk.core.schedule_mirror import state_path
from celerydesk.core.workspace import load_workspace
from celerydesk.core.workspace_edit import WorkspaceDocument
from celerydesk.services.context import DeskContext
from celerydesk.services.stack import StackController
from celerydesk.ui.schedules_panel import ENABLED, LAST, NAME, RUNS, SOURCE, QtSchedulesPanel
from tests.helpers.stack import write_workspace

PROJECTS = Path(__file__).resolve().parents[1] / "projects"
SCHEDULES = """
# Schedules below are the team's; keep this comment.
[[schedules]]
name = "nightly-report"
task = "playground.tasks.add"
cron = "0 3 * * *"   # three in the morning
args = [1, 2]

[[schedules]]
name = "poll"
task = "playground.tasks.add"
every = 30.0
kwargs = { x = 1, y = 2 }
"""


def no_project(ws, force=False):
    """An introspector for tests not about the project's own schedules: no tasks, no schedules."""
    return Introspection(app={}, tasks={}, beat_schedule=[])


def make_panel(qtbot, path: Path, introspector=no_project, **kwargs) -> QtSchedulesPanel:
    stack = StackController(load_workspace(path))
    panel = QtSchedulesPanel(DeskContext(stack, introspect=introspector, parent=stack), **kwargs)
    panel.test_messages = []
    panel.message.connect(lambda level, text: panel.test_messages.append((level, text)))
    qtbot.addWidget(panel)
    panel.resize(1100, 320)
    panel.show()
    qtbot.waitExposed(panel)
    return panel


@pytest.fixture
def workspace_file(tmp_path) -> Path:
    path = write_workspace(tmp_path / "project")
    path.write_text(path.read_text() + SCHEDULES)
    return path


@pytest.fixture
def panel(qtbot, workspace_file):
    return make_panel(qtbot, workspace_file)


def cell(panel, name: str, column: int, source: str = "workspace"):
    for row, view in enumerate(panel.views):
        if view.name == name and view.source == source:
            return panel.table.item(row, column)
    raise AssertionError(f"no {source} row {name!r} in {[(v.source, v.name) for v in panel.views]}")


def names(panel) -> list:
    return [(v.source, v.name) for v in panel.views]


def file_schedules(path: Path) -> list:
    return tomllib.loads(path.read_text()).get("schedules", [])


# -- workspace rows ---------------------------------------------------------------------------------


def test_workspace_rows_show_when_next_last_and_runs(panel):
    assert names(panel) == [("workspace", "nightly-report"), ("workspace", "poll")]
    assert cell(panel, "nightly-report", SOURCE).text() == "workspace"
    assert panel.table.item(0, 3).text() == "At 03:00"
    assert panel.table.item(1, 3).text() == "Every 30 seconds"
    assert cell(panel, "poll", LAST).text() == "—" and cell(panel, "poll", RUNS).text() == "0"
    assert cell(panel, "poll", ENABLED).flags() & Qt.ItemFlag.ItemIsUserCheckable
    panel.select("nightly-report")
    assert all(panel.buttons[k].isEnabled() for k in ("edit", "duplicate", "delete", "toggle", "run"))
    assert not panel.buttons["copy"].isEnabled()


def test_last_run_and_run_count_come_from_beats_state_file(qtbot, workspace_file):
    panel = make_panel(qtbot, workspace_file, refresh_ms=200)
    state = state_path(load_workspace(workspace_file).runtime_dir)
    state.parent.mkdir(parents=True, exist_ok=True)
    when = datetime(2026, 11, 25, 8, 15, 0, tzinfo=timezone.utc)
    state.write_text(json.dumps({"entries": {"poll": {"source": "workspace", "last_run_at": when.isoformat(),
                                                      "total_run_count": 7}}}))
    qtbot.waitUntil(lambda: cell(panel, "poll", RUNS).text() == "7", timeout=5000)
    assert cell(panel, "poll", LAST).text() == when.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def test_enable_checkbox_and_button_write_the_file(qtbot, panel, workspace_file):
    box = panel.table.visualItemRect(cell(panel, "nightly-report", ENABLED))
    # A click on the check box itself, at the left of the cell, as a user would.
    qtbot.mouseClick(panel.table.viewport(), Qt.MouseButton.LeftButton,
                     pos=QPoint(box.left() + box.height() // 2, box.center().y()))
    qtbot.waitUntil(lambda: file_schedules(workspace_file)[0].get("enabled") is False, timeout=5000)
    assert "# Schedules below are the team's; keep this comment." in workspace_file.read_text()
    assert "# three in the morning" in workspace_file.read_text()
    assert cell(panel, "nightly-report", ENABLED).checkState() == Qt.CheckState.Unchecked
    assert cell(panel, "nightly-report", 4).text() == "—"  # a disabled schedule has no next run
    panel.select("nightly-report")
    assert panel.buttons["toggle"].text() == "Enable"
    qtbot.mouseClick(panel.buttons["toggle"], Qt.MouseButton.LeftButton)
    assert file_schedules(workspace_file)[0]["enabled"] is True
    assert panel.buttons["toggle"].text() == "Disable"


def test_delete_asks_first(qtbot, workspace_file):
    answers = []
    panel = make_panel(qtbot, workspace_file, confirm=lambda parent, text: answers.pop(0))
    before = workspace_file.read_bytes()
    panel.select("poll")
    answers.append(False)
    assert panel.delete_selected() is False
    assert workspace_file.read_bytes() == before
    answers.append(True)
    qtbot.mouseClick(panel.buttons["delete"], Qt.MouseButton.LeftButton)
    assert [s["name"] for s in file_schedules(workspace_file)] == ["nightly-report"]
    assert names(panel) == [("workspace", "nightly-report")]


def test_duplicate_opens_the_editor_on_a_free_name(qtbot, panel, workspace_file):
    panel.select("nightly-report")
    qtbot.mouseClick(panel.buttons["duplicate"], Qt.MouseButton.LeftButton)
    dialog = panel.dialog
    assert dialog.isVisible() and dialog.windowTitle() == "New schedule"
    assert dialog.name.text() == "nightly-report-copy"
    assert [e.text() for e in dialog.cron_editor.fields] == ["0", "3", "*", "*", "*"]
    with qtbot.waitSignal(panel.refreshed, timeout=5000):
        dialog.accept()
    schedules = file_schedules(workspace_file)
    assert schedules[2] == {"name": "nightly-report-copy", "task": "playground.tasks.add", "cron": "0 3 * * *",
                            "args": [1, 2], "kwargs": {}, "enabled": True}
    assert ("workspace", "nightly-report-copy") in names(panel)
    panel.select("nightly-report")
    panel.duplicate_selected()
    assert panel.dialog.name.text() == "nightly-report-copy-2"


def test_rows_follow_edits_made_elsewhere_and_beats_mirror(qtbot, panel, workspace_file):
    doc = WorkspaceDocument.load(workspace_file)  # as `celerydesk schedules add` does
    doc.add_schedule("from-the-cli", "playground.tasks.add", cron="0 9 13 * 5", args=[], kwargs={})
    doc.save()
    qtbot.waitUntil(lambda: ("workspace", "from-the-cli") in names(panel), timeout=5000)
    when = cell(panel, "from-the-cli", 3)
    assert when.text().startswith("⚠ At 09:00, on day 13")  # celery ANDs the two day fields
    assert "celery runs only on days matching BOTH" in when.toolTip()
    with qtbot.waitSignal(panel.refreshed, timeout=2000):
        panel.stack.schedule_sync.mirrorWritten.emit()


# -- export ----------------------------------------------------------------------------------------


def test_export_snippet_is_python_with_crontab_calls(qtbot, panel):
    qtbot.mouseClick(panel.buttons["export"], Qt.MouseButton.LeftButton)
    dialog = panel.export_dialog
    assert dialog.isVisible()
    text = dialog.text.toPlainText()
    ast.parse(text)
    assert 'crontab(minute="0", hour="3")' in text
    namespace: dict = {}
    exec(compile(text, "settings.py", "exec"), namespace)  # celery is installed here
    beat = namespace["CELERY_BEAT_SCHEDULE"]
    assert set(beat) == {"nightly-report", "poll"}
    assert beat["poll"]["schedule"] == 30.0 and beat["nightly-report"]["args"] == (1, 2)
    qtbot.mouseClick(dialog.copy_button, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == text


# -- run now ---------------------------------------------------------------------------------------


def test_run_now_sends_the_task_once_to_the_broker(qtbot, tmp_path, redis_server):
    import redis

    path = write_workspace(tmp_path / "ext", mode="external", broker={"url": redis_server})
    path.write_text(path.read_text() + SCHEDULES)
    panel = make_panel(qtbot, path)
    panel.select("nightly-report")
    with qtbot.waitSignal(panel.sent, timeout=20000) as sent:
        qtbot.mouseClick(panel.buttons["run"], Qt.MouseButton.LeftButton)
    name, task_id = sent.args
    assert name == "nightly-report"
    client = redis.Redis.from_url(redis_server)
    assert client.llen("celery") == 1
    message = json.loads(client.lindex("celery", 0))
    assert message["headers"]["task"] == "playground.tasks.add" and message["headers"]["id"] == task_id
    assert ("info", f"run nightly-report now: sent playground.tasks.add[{task_id}]") in panel.test_messages


def test_run_now_without_a_broker_says_so(qtbot, panel):
    panel.select("poll")
    with qtbot.waitSignal(panel.message, timeout=20000) as said:
        panel.run_selected()
    level, text = said.args
    assert level == "error" and "does not answer" in text and "start the stack first" in text


# -- the project's own schedules (the Django storefront, introspected from its venv) ----------------


@pytest.fixture
def storefront(tmp_path) -> Path:
    from tests.helpers.project_venv import storefront_venv

    project = tmp_path / "storefront"
    shutil.copytree(PROJECTS / "storefront", project)
    path = write_workspace(project, app="storefront", project={
        "python": str(storefront_venv()), "env": {"DJANGO_SETTINGS_MODULE": "storefront.settings"}})
    path.write_text(path.read_text() + SCHEDULES)
    return path


def test_project_rows_are_read_only_and_copy_into_the_workspace(qtbot, storefront):
    stack = StackController(load_workspace(storefront))
    panel = QtSchedulesPanel(DeskContext(stack, parent=stack))  # the real introspector, in the background
    qtbot.addWidget(panel)
    panel.show()
    qtbot.waitUntil(lambda: any(v.source == "app" for v in panel.views), timeout=180000)
    assert names(panel) == [("workspace", "nightly-report"), ("workspace", "poll"),
                            ("app", "notify_customers"), ("app", "notify_customers_every_15_seconds")]
    row = cell(panel, "notify_customers", SOURCE, "app")
    assert row.text() == "app (settings)"
    assert cell(panel, "notify_customers", 3, "app").text() == "At 07:30, only on Monday"
    assert cell(panel, "notify_customers_every_15_seconds", 3, "app").text() == "Every 15 seconds"
    assert not cell(panel, "notify_customers", ENABLED, "app").flags() & Qt.ItemFlag.ItemIsUserCheckable
    panel.select("notify_customers", "app")
    assert not any(panel.buttons[k].isEnabled() for k in ("edit", "duplicate", "delete", "toggle"))
    assert panel.buttons["copy"].isEnabled() and panel.buttons["run"].isEnabled()

    qtbot.mouseClick(panel.buttons["copy"], Qt.MouseButton.LeftButton)
    dialog = panel.dialog
    assert dialog.name.text() == "notify_customers" and dialog.windowTitle() == "New schedule"
    assert [e.text() for e in dialog.cron_editor.fields] == ["30", "7", "*", "*", "1"]
    assert dialog.task.findText("playground.tasks.notify_customers") >= 0  # the introspected tasks
    dialog.cron_editor.fields[1].setText("8")
    with qtbot.waitSignal(panel.refreshed, timeout=5000):
        dialog.accept()
    assert file_schedules(storefront)[2] == {
        "name": "notify_customers", "task": "playground.tasks.notify_customers", "cron": "30 8 * * 1",
        "args": ["Hello World"], "kwargs": {}, "enabled": True}
    assert cell(panel, "notify_customers", NAME).text() == "notify_customers"
    replaced = cell(panel, "notify_customers", SOURCE, "app").text()
    assert replaced == "app (settings), replaced by the workspace's"
    assert cell(panel, "notify_customers", 4, "app").text() == "—"  # beat runs the workspace's instead
