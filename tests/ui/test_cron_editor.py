"""The crontab editor widget on its own (celerydesk/ui/cron_editor.py), offscreen with pytest-qt.

The schedule dialog's tests drive it through the dialog; these pin down what the widget
promises without one: its starting state, ``set_expression`` (missing fields are ``*``, the
preset is detected and only its controls shown), and that every preset survives the round trip
through ``preset_fields`` and ``detect_preset``.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from PySide6.QtCore import QTime

from celerydesk.core import cron
from celerydesk.ui.cron_editor import (CUSTOM, DAILY, EVERY_MINUTE, HOURLY, MONTHLY, PRESETS, WEEKDAYS, WEEKLY,
                                       QtCronEditor, detect_preset, preset_fields, timezones)

AFTER = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def editor(qtbot) -> QtCronEditor:
    widget = QtCronEditor(AFTER)
    qtbot.addWidget(widget)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def shown_controls(editor) -> set:
    controls = {"time": editor.preset_time, "at": editor.preset_at, "weekday": editor.preset_weekday,
                "day": editor.preset_day}
    return {name for name, widget in controls.items() if widget.isVisible()}


def test_starts_as_custom_every_minute_with_its_feedback(editor):
    assert editor.preset.currentIndex() == CUSTOM and shown_controls(editor) == set()
    assert editor.cron_text() == "* * * * *"
    assert editor.description.text() == "Every minute"
    assert editor.next_runs(2) == cron.next_runs("* * * * *", 2, "UTC", AFTER)
    assert editor.runs_preview.text().startswith("Next runs:")


def test_set_expression_pads_detects_the_preset_and_shows_its_controls(editor):
    editor.set_expression("0 9 * *")
    assert [e.text() for e in editor.fields] == ["0", "9", "*", "*", "*"]
    assert editor.preset.currentIndex() == DAILY and editor.preset_time.time() == QTime(9, 0)
    assert shown_controls(editor) == {"time"}
    assert editor.description.text() == "At 09:00"
    editor.set_expression("5 23 * * 0")
    assert editor.preset.currentIndex() == WEEKLY and editor.preset_weekday.currentText() == "Sunday"
    assert shown_controls(editor) == {"time", "at", "weekday"}
    editor.set_expression("*/5 * * * *")
    assert editor.preset.currentIndex() == CUSTOM and shown_controls(editor) == set()
    assert editor.cron_text() == "*/5 * * * *"


def test_check_cron_reports_a_blank_or_spaced_field_as_that_fields_error(editor):
    editor.fields[1].setText(" ")
    editor.fields[3].setText("1 2")
    problems = {p.field: p.message for p in editor.check_cron().errors}
    assert problems == {cron.FIELDS[1].name: "empty; write * for every value",
                        cron.FIELDS[3].name: "has a space; separate values with commas"}
    assert editor.next_runs() == []


@pytest.mark.parametrize("preset", [EVERY_MINUTE, HOURLY, DAILY, WEEKLY, MONTHLY])
def test_every_preset_is_detected_from_the_fields_it_writes(preset):
    time, weekday, day = QTime(23, 5), 0, 31
    fields = preset_fields(preset, time, weekday, day)
    detected, detected_time, detected_weekday, detected_day = detect_preset(fields)
    assert detected == preset
    assert preset_fields(detected, detected_time, detected_weekday, detected_day) == fields


def test_custom_has_no_fields_and_the_lists_read_as_people_do():
    assert preset_fields(CUSTOM, QTime(7, 30), 1, 1) is None
    assert PRESETS[CUSTOM] == "Custom"
    assert WEEKDAYS[0] == ("Monday", 1) and WEEKDAYS[-1] == ("Sunday", 0)
    zones = timezones()
    assert zones[0] == "UTC" and zones.count("UTC") == 1 and "Asia/Tokyo" in zones
