"""The schedule editor (celerydesk/ui/schedule_dialog.py) and its crontab page
(celerydesk/ui/cron_editor.py), offscreen with pytest-qt, on a copy of the sample workspace
file (which has comments and one schedule).

Covered: the presets fill the five fields; the plain-words description; the next runs are
core.cron.next_runs for an injected ``after`` and follow the timezone; field-level errors
(``61``, ``*/0``, ``1,,2``, a month name in day-of-week) next to the field at fault while
``mon-fri`` is accepted; the day-of-month + day-of-week warning; the interval page saves
``every``; OK with errors keeps the dialog open and the file unchanged; OK saves with the
comments kept; editing an existing schedule (and turning it into an interval); Cancel.
"""

from __future__ import annotations

import html

import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QTime
from PySide6.QtWidgets import QDialog

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from celerydesk.core import cron
from celerydesk.core.schedules import workspace_schedules
from celerydesk.core.workspace import load_workspace
from celerydesk.ui.cron_editor import DAILY, EVERY_MINUTE, HOURLY, MONTHLY, WEEKLY
from celerydesk.ui.schedule_dialog import EVERY_PAGE, QtScheduleDialog

SAMPLE = Path(__file__).resolve().parents[2] / "celerydesk" / "sample" / "celerydesk.toml"
AFTER = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)  # a Wednesday
TASKS = ["playground.tasks.notify_customers", "playground.tasks.add"]
DOW = 4


@pytest.fixture
def workspace_file(tmp_path) -> Path:
    path = tmp_path / "celerydesk.toml"
    shutil.copy(SAMPLE, path)
    return path


def open_dialog(qtbot, path, schedule=None) -> QtScheduleDialog:
    dialog = QtScheduleDialog(str(path), tasks=TASKS, schedule=schedule, after=AFTER)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    return dialog


@pytest.fixture
def dialog(qtbot, workspace_file):
    return open_dialog(qtbot, workspace_file)


def fields(dialog) -> list:
    return [edit.text() for edit in dialog.cron_editor.fields]


def type_cron(qtbot, dialog, expr: str) -> None:
    """Type into each field as a user would (textEdited, not setText)."""
    for edit, text in zip(dialog.cron_editor.fields, expr.split()):
        edit.clear()
        qtbot.keyClicks(edit, text)


def comment_lines(text: str) -> list:
    return [line for line in text.splitlines() if line.lstrip().startswith("#")]


def press_ok(qtbot, dialog) -> None:
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)


# -- presets, description, next runs --------------------------------------------------------------


def test_presets_fill_the_five_fields(dialog):
    editor = dialog.cron_editor
    editor.preset.setCurrentIndex(EVERY_MINUTE)
    assert fields(dialog) == ["*", "*", "*", "*", "*"]
    assert editor.description.text() == "Every minute"
    editor.preset_time.setTime(QTime(7, 30))
    editor.preset.setCurrentIndex(HOURLY)
    assert fields(dialog) == ["30", "*", "*", "*", "*"]
    editor.preset.setCurrentIndex(DAILY)
    assert fields(dialog) == ["30", "7", "*", "*", "*"]
    assert editor.description.text() == "At 07:30"
    editor.preset.setCurrentIndex(WEEKLY)
    editor.preset_weekday.setCurrentIndex(editor.preset_weekday.findText("Monday"))
    assert fields(dialog) == ["30", "7", "*", "*", "1"]
    assert editor.description.text() == "At 07:30, only on Monday"
    editor.preset_weekday.setCurrentIndex(editor.preset_weekday.findText("Sunday"))
    assert fields(dialog)[DOW] == "0"  # celery's Sunday
    editor.preset.setCurrentIndex(MONTHLY)
    editor.preset_day.setValue(15)
    editor.preset_time.setTime(QTime(23, 5))
    assert fields(dialog) == ["5", "23", "15", "*", "*"]
    assert editor.description.text() == "At 23:05, on day 15 of the month"
    assert editor.preset_day.isVisible() and not editor.preset_weekday.isVisible()


def test_typing_makes_the_preset_custom(qtbot, dialog):
    editor = dialog.cron_editor
    editor.preset.setCurrentIndex(DAILY)
    type_cron(qtbot, dialog, "*/15 9-17 * * mon-fri")
    assert editor.preset.currentText() == "Custom"
    assert fields(dialog) == ["*/15", "9-17", "*", "*", "mon-fri"]
    assert editor.description.text() == cron.describe("*/15 9-17 * * mon-fri")
    assert "Monday through Friday" in editor.description.text()


def test_next_runs_are_celerys_for_the_given_time_and_zone(qtbot, dialog):
    editor = dialog.cron_editor
    type_cron(qtbot, dialog, "30 7 * * 1")
    assert dialog.next_runs() == cron.next_runs("30 7 * * 1", 5, "UTC", AFTER)
    assert dialog.next_runs()[0] == datetime(2026, 11, 30, 7, 30, tzinfo=timezone.utc)
    assert "Mon 2026-11-30 07:30 UTC" in editor.runs_preview.text()
    editor.timezone.setCurrentText("Asia/Tokyo")
    runs = dialog.next_runs()
    assert runs == cron.next_runs("30 7 * * 1", 5, "Asia/Tokyo", AFTER)
    assert runs[0].utcoffset().total_seconds() == 9 * 3600 and runs[0].hour == 7
    assert len(editor.runs_preview.text().splitlines()) == 6  # "Next runs:" and five times


def test_an_existing_schedule_is_loaded_with_its_preset(qtbot, workspace_file):
    schedule = workspace_schedules(load_workspace(workspace_file))[0]
    dialog = open_dialog(qtbot, workspace_file, schedule)
    assert dialog.name.text() == "notify-every-15-minutes"
    assert fields(dialog) == ["*/15", "*", "*", "*", "*"]
    assert dialog.cron_editor.preset.currentText() == "Custom"
    assert dialog.cron_editor.description.text() == "Every 15 minutes"
    assert dialog.windowTitle() == "Edit schedule notify-every-15-minutes"


# -- errors and warnings ----------------------------------------------------------------------------


@pytest.mark.parametrize("expr, field, text", [
    ("61 * * * *", 0, "61 is out of range; minute goes from 0 to 59"),
    ("*/0 * * * *", 0, "step 0 never advances"),
    ("1,,2 * * * *", 0, "has an empty part"),
    ("* * * * mar", DOW, "is a month name; celery would silently read it as 3 (Wednesday)"),
    ("0 24 * * *", 1, "24 is out of range"),
])
def test_a_malformed_field_shows_its_error_beside_it(qtbot, dialog, expr, field, text):
    editor = dialog.cron_editor
    type_cron(qtbot, dialog, expr)
    assert text in editor.field_errors[field].text()
    assert all(not e.text() for i, e in enumerate(editor.field_errors) if i != field)
    assert editor.fields[field].styleSheet(), "the field at fault is tinted"
    assert editor.description.text() == "" and editor.runs_preview.text() == ""
    assert dialog.next_runs() == []


def test_day_names_and_ranges_are_accepted(qtbot, dialog):
    type_cron(qtbot, dialog, "0 9 * * mon-fri")
    assert not any(e.text() for e in dialog.cron_editor.field_errors)
    assert dialog.cron_editor.description.text() == "At 09:00, only on Monday through Friday"
    assert len(dialog.next_runs()) == 5


def test_an_empty_field_is_that_fields_error(qtbot, dialog):
    editor = dialog.cron_editor
    type_cron(qtbot, dialog, "0 9 * * *")
    editor.fields[2].clear()
    qtbot.keyClicks(editor.fields[2], " ")
    assert "empty" in editor.field_errors[2].text()


def test_day_of_month_and_day_of_week_together_warn(qtbot, dialog):
    editor = dialog.cron_editor
    type_cron(qtbot, dialog, "0 9 13 * 5")
    assert not any(e.text() for e in editor.field_errors)
    assert "celery runs only on days matching BOTH" in editor.warnings.text()
    assert editor.description.text() == "At 09:00, on day 13 of the month, and only if it is a Friday"
    assert all(r.day == 13 and r.isoweekday() == 5 for r in dialog.next_runs())  # Friday the 13th
    type_cron(qtbot, dialog, "0 9 13 * *")
    assert editor.warnings.text() == ""


def test_ok_with_errors_keeps_the_dialog_open_and_the_file_unchanged(qtbot, dialog, workspace_file):
    before = workspace_file.read_bytes()
    dialog.name.setText("broken")
    dialog.task.setCurrentText(TASKS[0])
    type_cron(qtbot, dialog, "* * * * mar")
    dialog.args.setPlainText("[1,")
    press_ok(qtbot, dialog)
    assert dialog.isVisible() and dialog.result() != QDialog.DialogCode.Accepted
    assert not dialog.banner.isHidden()
    assert "month name" in dialog.banner.text() and "Args: not JSON" in dialog.banner.text()
    assert "not JSON" in dialog.args_error.text()
    assert workspace_file.read_bytes() == before


def test_arguments_nested_too_deeply_are_refused_not_raised(qtbot, dialog, workspace_file):
    before = workspace_file.read_bytes()
    dialog.name.setText("deep")
    dialog.task.setCurrentText(TASKS[0])
    dialog.args.setPlainText("[" * 5000 + "]" * 5000)  # Python's reader would raise RecursionError
    press_ok(qtbot, dialog)
    assert dialog.isVisible() and dialog.result() != QDialog.DialogCode.Accepted
    assert "not accepted: nested deeper than" in dialog.args_error.text()
    assert workspace_file.read_bytes() == before


def test_a_taken_name_is_refused(qtbot, dialog, workspace_file):
    before = workspace_file.read_bytes()
    dialog.name.setText("notify-every-15-minutes")
    dialog.task.setCurrentText(TASKS[0])
    press_ok(qtbot, dialog)
    assert dialog.isVisible() and "exists already" in dialog.banner.text()
    assert workspace_file.read_bytes() == before


# -- saving ----------------------------------------------------------------------------------------


def test_ok_saves_a_crontab_schedule_and_keeps_the_comments(qtbot, dialog, workspace_file):
    editor = dialog.cron_editor
    before = workspace_file.read_text()
    dialog.name.setText("notify-monday-morning")
    dialog.task.setCurrentText("playground.tasks.notify_customers")
    editor.preset.setCurrentIndex(WEEKLY)
    editor.preset_weekday.setCurrentIndex(editor.preset_weekday.findText("Monday"))
    editor.preset_time.setTime(QTime(7, 30))
    dialog.args.setPlainText('["Hello World"]')
    dialog.queue.setText("mail")
    with qtbot.waitSignal(dialog.saved, timeout=5000) as saved:
        press_ok(qtbot, dialog)
    assert saved.args == ["notify-monday-morning"]
    assert dialog.result() == QDialog.DialogCode.Accepted
    after = workspace_file.read_text()
    assert comment_lines(after) == comment_lines(before)
    assert after.startswith(before)  # appended; nothing above it rewritten
    assert tomllib.loads(after)["schedules"][1] == {
        "name": "notify-monday-morning", "task": "playground.tasks.notify_customers", "cron": "30 7 * * 1",
        "args": ["Hello World"], "kwargs": {}, "enabled": True, "queue": "mail"}


def test_interval_page_saves_every(qtbot, dialog, workspace_file):
    dialog.name.setText("poll")
    dialog.task.setCurrentText("playground.tasks.add")
    dialog.kwargs.setPlainText('{"x": 1, "y": 2}')
    dialog.enabled.setChecked(False)
    dialog.kinds.setCurrentIndex(EVERY_PAGE)
    dialog.every_value.setValue(90)
    dialog.every_unit.setCurrentText("seconds")
    assert dialog.every_description.text() == "Every 90 seconds"
    assert dialog.next_runs() == cron.next_every_runs(90, 5, AFTER)
    dialog.every_unit.setCurrentText("minutes")
    assert dialog.every_description.text() == "Every 90 minutes"
    with qtbot.waitSignal(dialog.saved, timeout=5000):
        press_ok(qtbot, dialog)
    entry = tomllib.loads(workspace_file.read_text())["schedules"][1]
    assert entry == {"name": "poll", "task": "playground.tasks.add", "every": 5400, "args": [],
                     "kwargs": {"x": 1, "y": 2}, "enabled": False}
    assert load_workspace(workspace_file).schedules[1].every == 5400.0


def test_editing_renames_and_turns_cron_into_an_interval(qtbot, workspace_file):
    before = workspace_file.read_text()
    schedule = workspace_schedules(load_workspace(workspace_file))[0]
    dialog = open_dialog(qtbot, workspace_file, schedule)
    dialog.name.setText("notify-hourly")
    dialog.kinds.setCurrentIndex(EVERY_PAGE)
    dialog.every_value.setValue(1)
    dialog.every_unit.setCurrentText("hours")
    with qtbot.waitSignal(dialog.saved, timeout=5000):
        press_ok(qtbot, dialog)
    after = workspace_file.read_text()
    data = tomllib.loads(after)["schedules"]
    assert data == [{"name": "notify-hourly", "task": "celerydesk.sample.tasks.notify_customers",
                     "every": 3600, "args": ["Hello from beat"], "kwargs": {}, "enabled": True}]
    assert comment_lines(after) == comment_lines(before)
    assert "every = 3600" in after and 'cron = "*/15 * * * *"' not in after


def test_cancel_changes_nothing(qtbot, dialog, workspace_file):
    before = workspace_file.read_bytes()
    dialog.name.setText("never-saved")
    dialog.task.setCurrentText(TASKS[0])
    dialog.cron_editor.preset.setCurrentIndex(DAILY)
    qtbot.mouseClick(dialog.button_box.button(dialog.button_box.StandardButton.Cancel), Qt.MouseButton.LeftButton)
    assert dialog.result() == QDialog.DialogCode.Rejected and not dialog.isVisible()
    assert workspace_file.read_bytes() == before


def test_a_file_changed_meanwhile_is_not_overwritten(qtbot, dialog, workspace_file):
    changed = workspace_file.read_text() + "\n# edited in a text editor\n"
    workspace_file.write_text(changed)
    dialog.name.setText("late")
    dialog.task.setCurrentText(TASKS[0])
    press_ok(qtbot, dialog)
    assert dialog.isVisible() and "changed on disk" in dialog.banner.text()
    assert workspace_file.read_text() == changed


def test_editing_writes_only_what_changed(qtbot, workspace_file):
    import difflib

    before = workspace_file.read_text()
    schedule = workspace_schedules(load_workspace(workspace_file))[0]
    dialog = open_dialog(qtbot, workspace_file, schedule)
    type_cron(qtbot, dialog, "0 */2 * * *")
    with qtbot.waitSignal(dialog.saved, timeout=5000):
        press_ok(qtbot, dialog)
    after = workspace_file.read_text()
    changed = [line for line in difflib.ndiff(before.splitlines(), after.splitlines()) if line[:2] in ("- ", "+ ")]
    assert changed == ['- cron = "*/15 * * * *"', '+ cron = "0 */2 * * *"']


def test_a_new_schedule_starts_daily(dialog):
    assert dialog.windowTitle() == "New schedule"
    assert dialog.cron_editor.preset.currentIndex() == DAILY and fields(dialog) == ["30", "7", "*", "*", "*"]
    assert dialog.task.findText(TASKS[1]) >= 0 and dialog.task.currentText() == ""


@pytest.mark.parametrize("expr, preset", [("*/15 * * * *", "Custom"), ("5 * * * *", "Hourly at minute"),
                                          ("0 9 * * *", "Daily at"), ("0 9 * * 0", "Weekly on"),
                                          ("0 9 1 * *", "Monthly on day"), ("07 9 * * *", "Custom"),
                                          ("61 * * * *", "Custom"), ("0 9 * * 7", "Custom")])
def test_loading_detects_the_preset_and_never_rewrites_the_fields(qtbot, workspace_file, expr, preset):
    from celerydesk.core.schedules import ScheduleView

    dialog = open_dialog(qtbot, workspace_file, ScheduleView(name="x", task=TASKS[0], cron=expr))
    assert dialog.cron_editor.preset.currentText() == preset
    assert " ".join(fields(dialog)) == expr


def test_interval_preview_follows_the_timezone_choice(dialog):
    dialog.kinds.setCurrentIndex(EVERY_PAGE)
    dialog.cron_editor.timezone.setCurrentText("UTC")
    assert "UTC" in dialog.every_next.text()
    dialog.cron_editor.timezone.setCurrentText("Asia/Tokyo")
    assert "JST" in dialog.every_next.text() and "UTC" not in dialog.every_next.text()


def test_the_options_are_saved_and_loaded_again_and_a_bad_time_is_refused(qtbot, dialog, workspace_file):
    dialog.name.setText("tokyo-morning")
    dialog.task.setCurrentText("playground.tasks.add")
    dialog.cron_editor.set_expression("0 9 * * 1-5")
    dialog.cron_editor.timezone.setCurrentText("Asia/Tokyo")
    assert dialog.next_runs()[0].isoformat() == "2026-11-26T09:00:00+09:00"  # in the schedule's own zone
    dialog.priority.setValue(5)
    dialog.expires.setText("soon")
    dialog.start_at.setText("2026-12-01T08:00")
    dialog.one_off.setChecked(True)
    press_ok(qtbot, dialog)
    assert dialog.isVisible() and "expires: 'soon' is not a date and time" in html.unescape(dialog.banner.text())
    dialog.expires.setText("3600")
    with qtbot.waitSignal(dialog.saved, timeout=5000):
        press_ok(qtbot, dialog)
    saved = tomllib.loads(workspace_file.read_text())["schedules"][1]
    assert {k: saved[k] for k in ("cron", "timezone", "priority", "expires", "start_at", "one_off")} == {
        "cron": "0 9 * * 1-5", "timezone": "Asia/Tokyo", "priority": 5, "expires": 3600.0,
        "start_at": "2026-12-01T08:00", "one_off": True}
    view = [v for v in workspace_schedules(load_workspace(workspace_file)) if v.name == "tokyo-morning"][0]
    again = open_dialog(qtbot, workspace_file, view)
    assert (again.cron_editor.timezone_value(), again.priority.value(), again.expires.text(),
            again.start_at.text(), again.one_off.isChecked()) == ("Asia/Tokyo", 5, "3600", "2026-12-01T08:00", True)
    again.one_off.setChecked(False)
    again.cron_editor.set_timezone(None)  # the app's timezone: the key goes
    with qtbot.waitSignal(again.saved, timeout=5000):
        press_ok(qtbot, again)
    saved = tomllib.loads(workspace_file.read_text())["schedules"][1]
    assert "timezone" not in saved and "one_off" not in saved and saved["priority"] == 5
