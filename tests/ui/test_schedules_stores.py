"""The Schedules tab on projects that keep their periodic tasks in a store, offscreen with
pytest-qt: the shop (django-celery-beat, SQLite made by its migrations) and the RedBeat app on a
real redis-server, each introspected and read by the real store agent in its own venv.

Covered: database rows beside the workspace's, with source, schedule in words, next run and run
count; a row changed outside celerydesk (the Django ORM, as the admin) and an entry the RedBeat
app saves appear in the tab within 5 s of the change; the editor opened on a database row
saves through the project's models (the row in the database changes) and refuses what
django-celery-beat refuses; Disable and Delete go to the store; clocked and solar entries
are listed in words with their next run and open read-only, saying why; the app's settings entry stored by beat says that beat writes it back.
"""

from __future__ import annotations

import time

import pytest
from PySide6.QtCore import Qt

from celerydesk.core import schedule_store
from celerydesk.core.workspace import load_workspace
from celerydesk.services.context import DeskContext
from celerydesk.services.stack import StackController
from celerydesk.ui.schedules_panel import ENABLED, NEXT, RUNS, SOURCE, WHEN, QtSchedulesPanel
from tests.helpers.beat_stores import add_redbeat_entry, django_shell, redbeat_project, shop_project
from tests.helpers.redis_server import start_redis_server

pytestmark = pytest.mark.slow

WORKSPACE_ONE = """
[[schedules]]
name = "ws-hourly"
task = "orders.tasks.record"
cron = "0 * * * *"
"""


def open_panel(qtbot, path):
    stack = StackController(load_workspace(path))
    panel = QtSchedulesPanel(DeskContext(stack, parent=stack), refresh_ms=1000)
    panel.test_messages = []
    panel.message.connect(lambda level, text: panel.test_messages.append((level, text)))
    qtbot.addWidget(panel)
    panel.resize(1200, 360)
    panel.show()
    return panel


def row(panel, name, source):
    for index, view in enumerate(panel.views):
        if (view.source, view.name) == (source, name):
            return index, view
    return None, None


def cell(panel, name, source, column):
    index, _ = row(panel, name, source)
    return panel.table.item(index, column).text() if index is not None else None


def appears_within(qtbot, condition, seconds: float = 5.0) -> float:
    """How long ``condition`` took to hold (waiting at most twice ``seconds`` on a loaded machine)."""
    start = time.monotonic()
    qtbot.waitUntil(condition, timeout=int(seconds * 2000))
    return time.monotonic() - start


@pytest.fixture
def shop(tmp_path):
    return shop_project(tmp_path / "shop", WORKSPACE_ONE)


def test_database_rows_follow_changes_made_elsewhere_and_edit_through_the_models(qtbot, shop):
    folder = shop.parent
    panel = open_panel(qtbot, shop)
    try:
        qtbot.waitUntil(lambda: row(panel, "record-every-2s", "database")[1] is not None, timeout=180000)
        assert "DatabaseScheduler runs the entries kept in django-celery-beat's database" in panel.status.text()
        assert cell(panel, "record-every-2s", "database", SOURCE) == "database"
        assert cell(panel, "record-every-2s", "database", WHEN) == "Every 2 seconds"
        assert cell(panel, "record-every-2s", "database", NEXT) != "—"
        assert cell(panel, "record-every-2s", "database", RUNS) == "0"
        assert row(panel, "ws-hourly", "workspace")[1] is not None

        # Changed in the "admin": the tab shows it within 5 s.
        django_shell(folder, "from django_celery_beat.models import PeriodicTask as P, IntervalSchedule as I; "
                             "t = P.objects.get(name='record-every-2s'); "
                             "t.interval = I.objects.get_or_create(every=5, period='minutes')[0]; t.save()")
        took = appears_within(qtbot, lambda: cell(panel, "record-every-2s", "database", WHEN) == "Every 5 minutes")
        print(f"\nan admin edit showed in the tab after {took:.2f} s")
        django_shell(folder, "from django_celery_beat.models import PeriodicTask as P, ClockedSchedule as C; "
                             "from datetime import datetime, timezone; "
                             "P.objects.create(name='launch', task='orders.tasks.record', one_off=True, "
                             "clocked=C.objects.create(clocked_time=datetime(2031, 1, 2, 3, 4, tzinfo=timezone.utc)))")
        django_shell(folder, "from django_celery_beat.models import PeriodicTask as P, SolarSchedule as S; "
                             "P.objects.create(name='sunset', task='orders.tasks.record', solar=S.objects.create("
                             "event='sunset', latitude=48.8566, longitude=2.3522))")
        appears_within(qtbot, lambda: row(panel, "launch", "database")[1] is not None
                       and row(panel, "sunset", "database")[1] is not None)
        assert cell(panel, "launch", "database", WHEN) == "Once, at 2031-01-02T03:04:00+00:00 (once)"
        assert "2031-01-02" in cell(panel, "launch", "database", NEXT)
        assert cell(panel, "sunset", "database", WHEN) == "At sunset at latitude 48.856600, longitude 2.352200"
        assert cell(panel, "sunset", "database", NEXT) != "—" and not row(panel, "sunset", "database")[1].problems

        # The editor on a database row: saved through the project's models.
        panel.select("record-every-2s", "database")
        dialog = panel.edit_selected()
        assert dialog.windowTitle() == "Edit schedule record-every-2s in django-celery-beat's database"
        assert dialog.every_value.value() == 5 and dialog.every_unit.currentText() == "minutes"
        dialog.every_value.setValue(30)
        dialog.every_unit.setCurrentIndex(0)  # seconds
        dialog.priority.setValue(300)  # the spin box stops at 255
        dialog.priority.setValue(7)
        with qtbot.waitSignal(dialog.saved, timeout=10000):
            dialog.accept()
        (entry,) = [e for e in schedule_store.list_entries(load_workspace(shop), "database")
                    if e["name"] == "record-every-2s"]
        assert (entry["every"], entry["priority"]) == (30.0, 7)
        appears_within(qtbot, lambda: cell(panel, "record-every-2s", "database", WHEN) == "Every 30 seconds")

        # What django-celery-beat refuses stays in the dialog with its words.
        panel.select("launch", "database")
        clocked = panel.edit_selected()
        assert getattr(clocked, "read_only", False) and not clocked.ok_button.isVisible()
        assert "this is a clocked schedule" in clocked.banner.text() and "Django admin" in clocked.banner.text()
        clocked.reject()
        panel.select("sunset", "database")
        solar = panel.edit_selected()
        assert "this is a solar schedule (At sunset at latitude 48.856600" in solar.banner.text()
        solar.reject()

        # The app's settings entry, stored by beat's own scheduler when it runs: here, written by the
        # scheduler's update_from_dict as beat would, through the project's code.
        django_shell(folder, "from shop.celery import app; from django_celery_beat.schedulers import "
                             "DatabaseScheduler as D; D(app=app)")
        appears_within(qtbot, lambda: row(panel, "nightly-report", "database")[1] is not None)
        _, nightly = row(panel, "nightly-report", "database")
        assert nightly.from_settings and "writes it into the database at every start" in nightly.notes[0]
        assert row(panel, "nightly-report", "app")[1] is None  # shown once, where beat runs it

        # Disable and Delete go to the store.
        panel.select("launch", "database")
        panel.toggle_selected()
        appears_within(qtbot, lambda: row(panel, "launch", "database")[1].enabled is False)
        assert panel.table.item(row(panel, "launch", "database")[0], ENABLED).checkState() == Qt.CheckState.Unchecked
        panel._confirm = lambda *_: True
        panel.select("launch", "database")
        assert panel.delete_selected()
        appears_within(qtbot, lambda: row(panel, "launch", "database")[1] is None)
        assert not [m for m in panel.test_messages if m[0] == "error"], panel.test_messages
    finally:
        panel.shutdown()


def test_an_entry_the_redbeat_app_saves_shows_in_the_tab(qtbot, tmp_path):
    proc, url = start_redis_server(tmp_path)
    try:
        path = redbeat_project(tmp_path / "redbeatapp", broker_port=int(url.rsplit(":", 1)[1].split("/")[0]))
        panel = open_panel(qtbot, path)
        try:
            qtbot.waitUntil(lambda: panel.agent is not None and panel.agent.entries is not None, timeout=180000)
            assert "RedBeatScheduler runs the entries kept in RedBeat's Redis" in panel.status.text()
            add_redbeat_entry(path.parent, url, "added-live", 2, "redbeat")
            took = appears_within(qtbot, lambda: row(panel, "added-live", "redbeat")[1] is not None)
            print(f"\nan entry saved by the app showed in the tab after {took:.2f} s")
            assert cell(panel, "added-live", "redbeat", WHEN) == "Every 2 seconds"
            panel.select("added-live", "redbeat")
            dialog = panel.edit_selected()
            assert not dialog.cron_editor.timezone.isEnabled() and not dialog.one_off.isEnabled()
            dialog.kinds.setCurrentIndex(0)
            dialog.cron_editor.set_expression("*/5 * * * *")
            with qtbot.waitSignal(dialog.saved, timeout=10000):
                dialog.accept()
            appears_within(qtbot, lambda: cell(panel, "added-live", "redbeat", WHEN) == "Every 5 minutes")
        finally:
            panel.shutdown()
    finally:
        proc.terminate()
        proc.wait(10)
