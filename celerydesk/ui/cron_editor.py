"""The crontab editor: the five fields of celery's ``crontab()`` with presets and live feedback.

The schedule editor (``ui.schedule_dialog``) shows it as its Crontab page. Presets fill the
five fields ("daily at 07:30", "weekly on Monday at"), and typing in a field turns the preset
into Custom. While the user types it shows what ``core.cron`` says with celery's reading: a
plain-words description, the next five runs computed with celery's own arithmetic in the
schedule's timezone (the app's, celery's ``timezone`` setting, unless the schedule has its own),
each field's error under that field, and warnings where celery differs from cron.
"""

from __future__ import annotations

import zoneinfo
from datetime import datetime
from typing import Optional

from PySide6.QtCore import QTime
from PySide6.QtWidgets import (QComboBox, QGridLayout, QHBoxLayout, QLabel, QLineEdit, QSpinBox, QTimeEdit, QVBoxLayout,
                               QWidget)

from celerydesk.core import cron
from celerydesk.core.errors import DeskError
from celerydesk.ui import defs

PRESETS = ("Custom", "Every minute", "Hourly at minute", "Daily at", "Weekly on", "Monthly on day")
CUSTOM, EVERY_MINUTE, HOURLY, DAILY, WEEKLY, MONTHLY = range(len(PRESETS))
# Monday first, as people read a week; the value is celery's number (0 is Sunday).
WEEKDAYS = [(cron.DAYS[(i + 1) % 7].title(), (i + 1) % 7) for i in range(7)]
# Shared with the schedule dialog, so its errors look like the fields' errors here.


def styled_label(style: str = "", wrap: bool = True) -> QLabel:
    """An empty label for text set later: an error, a warning, a description, a preview."""
    label = QLabel()
    label.setWordWrap(wrap)
    label.setStyleSheet(style)
    return label


def timezones() -> list:
    """UTC first (celery's default), then every zoneinfo name."""
    return ["UTC"] + sorted(z for z in zoneinfo.available_timezones() if z != "UTC")


def preset_fields(preset: int, time: QTime, weekday: int, day: int) -> Optional[tuple]:
    """The five fields a preset stands for; None for Custom."""
    m, h = str(time.minute()), str(time.hour())
    return {EVERY_MINUTE: ("*", "*", "*", "*", "*"), HOURLY: (m, "*", "*", "*", "*"),
            DAILY: (m, h, "*", "*", "*"), WEEKLY: (m, h, "*", "*", str(weekday)),
            MONTHLY: (m, h, str(day), "*", "*")}.get(preset)


def detect_preset(fields: tuple) -> tuple:
    """(preset, time, weekday, day) that produce ``fields`` exactly, else Custom (so that loading
    a schedule never rewrites what it says: "07" or an out-of-range "61" stay Custom)."""
    def number(i: int, low: int, high: int) -> bool:  # written as a preset writes it, and in range
        text = fields[i]
        return text.isdigit() and str(int(text)) == text and low <= int(text) <= high

    stars = [f == "*" for f in fields]
    minute, hour = number(0, 0, 59), number(1, 0, 23)
    time = QTime(int(fields[1]) if hour else 7, int(fields[0]) if minute else 30)
    if all(stars):
        return EVERY_MINUTE, time, 1, 1
    if minute and all(stars[1:]):
        return HOURLY, time, 1, 1
    if minute and hour and stars[3]:
        if all(stars[2:]):
            return DAILY, time, 1, 1
        if stars[2] and number(4, 0, 6):
            return WEEKLY, time, int(fields[4]), 1
        if number(2, 1, 31) and stars[4]:
            return MONTHLY, time, 1, int(fields[2])
    return CUSTOM, time, 1, 1


class QtCronEditor(QWidget):
    """A crontab expression being edited; starts as Custom ``* * * * *``.

    ``after`` is the previews' "now": injected by tests, else the clock.
    """

    def __init__(self, after: Optional[datetime] = None, parent: Optional[QWidget] = None, app_zone: str = "UTC"):
        super().__init__(parent)
        self._after = after
        self.app_zone = app_zone or "UTC"
        self.preset = QComboBox()
        self.preset.addItems(PRESETS)
        self.preset_time = QTimeEdit(QTime(7, 30))
        self.preset_time.setDisplayFormat("HH:mm")
        self.preset_weekday = QComboBox()
        for name, number in WEEKDAYS:
            self.preset_weekday.addItem(name, number)
        self.preset_day = QSpinBox()
        self.preset_day.setRange(1, 31)
        self.preset_at = QLabel("at")
        presets = QHBoxLayout()
        for widget in (self.preset, self.preset_weekday, self.preset_day, self.preset_at, self.preset_time):
            presets.addWidget(widget)
        presets.addStretch(1)

        grid = QGridLayout()
        grid.setHorizontalSpacing(defs.SPACING)
        self.fields, self.field_errors = [], []
        for column, fld in enumerate(cron.FIELDS):
            edit = QLineEdit("*")
            edit.setFont(defs.monospace_font())
            edit.setToolTip(f"{fld.name}: {fld.low}-{fld.high}, *, lists (1,15), ranges (1-5), steps (*/15)")
            error = styled_label(defs.text_style(defs.ERROR_TEXT))
            grid.addWidget(QLabel(fld.name), 0, column)
            grid.addWidget(edit, 1, column)
            grid.addWidget(error, 2, column)
            grid.setColumnStretch(column, 1)
            self.fields.append(edit)
            self.field_errors.append(error)
            edit.textEdited.connect(self._on_field_edited)
        self.timezone = QComboBox()
        self.timezone.addItem(f"the app's timezone ({self.app_zone})", None)
        for name in timezones():
            self.timezone.addItem(name, name)
        self.timezone.setToolTip("the zone beat reads the crontab in: the app's (celery's timezone setting), "
                                 "or one of its own")
        self.expression_error = styled_label(defs.text_style(defs.ERROR_TEXT))  # problems of the expression as a whole
        self.description = styled_label()
        font = self.description.font()
        font.setBold(True)
        self.description.setFont(font)
        self.warnings = styled_label(defs.text_style(defs.WARNING_TEXT))
        self.runs_preview = styled_label(wrap=False)
        self.runs_preview.setFont(defs.monospace_font())
        zone_row = QHBoxLayout()
        zone_row.addWidget(QLabel("Timezone"))
        zone_row.addWidget(self.timezone, 1)

        column = QVBoxLayout(self)
        column.setSpacing(defs.SPACING)
        column.addLayout(presets)
        column.addLayout(grid)
        column.addWidget(self.expression_error)
        column.addWidget(self.description)
        column.addWidget(self.warnings)
        column.addLayout(zone_row)
        column.addWidget(self.runs_preview)
        column.addStretch(1)
        self.preset.currentIndexChanged.connect(self._on_preset_changed)
        self.preset_time.timeChanged.connect(self._apply_preset)
        self.preset_weekday.currentIndexChanged.connect(self._apply_preset)
        self.preset_day.valueChanged.connect(self._apply_preset)
        self.timezone.currentTextChanged.connect(self._refresh_feedback)
        self._show_preset_controls()
        self._refresh_feedback()

    # -- the public API ---------------------------------------------------------------------------

    def set_expression(self, text: str) -> None:
        """Show ``text`` as it is written (missing fields are ``*``), with the preset it matches."""
        parts = text.split()
        for edit, part in zip(self.fields, parts + ["*"] * (5 - len(parts))):
            edit.setText(part)
        preset, time, weekday, day = detect_preset(tuple(e.text() for e in self.fields))
        for widget in (self.preset, self.preset_time, self.preset_weekday, self.preset_day):
            widget.blockSignals(True)  # the fields are already what these say
        self.preset.setCurrentIndex(preset)
        self.preset_time.setTime(time)
        self.preset_weekday.setCurrentIndex(self.preset_weekday.findData(weekday))
        self.preset_day.setValue(day)
        for widget in (self.preset, self.preset_time, self.preset_weekday, self.preset_day):
            widget.blockSignals(False)
        self._show_preset_controls()
        self._refresh_feedback()

    def cron_text(self) -> str:
        return " ".join(e.text().strip() for e in self.fields)

    def check_cron(self) -> cron.CronCheck:
        """celery's reading of the five fields; a blank or spaced field is that field's error."""
        problems = []
        for edit, fld in zip(self.fields, cron.FIELDS):
            text = edit.text().strip()
            if not text:
                problems.append(cron.CronProblem(fld.name, "", "empty; write * for every value"))
            elif len(text.split()) > 1:
                problems.append(cron.CronProblem(fld.name, text, "has a space; separate values with commas"))
        return cron.CronCheck(None, problems) if problems else cron.check(self.cron_text())

    def zone(self):
        """The schedule's timezone, the previews' (the schedule dialog's interval preview uses it too)."""
        return cron.get_zone(self.timezone_value() or self.app_zone)

    def timezone_value(self) -> Optional[str]:
        """The schedule's own timezone; None for the app's."""
        return self.timezone.currentData()

    def set_timezone(self, name: Optional[str]) -> None:
        index = self.timezone.findData(name) if name else 0
        self.timezone.setCurrentIndex(max(index, 0))

    def next_runs(self, n: int = 5) -> list:
        """The expression's next ``n`` runs in the chosen zone; none while it has errors."""
        checked = self.check_cron()
        return cron.next_runs(checked.expr, n, self.zone(), self._after) if checked.ok else []

    # -- presets ------------------------------------------------------------------------------------

    def _preset_fields(self) -> Optional[tuple]:
        return preset_fields(self.preset.currentIndex(), self.preset_time.time(),
                             self.preset_weekday.currentData(), self.preset_day.value())

    def _show_preset_controls(self) -> None:
        """Only the controls the chosen preset reads (none for Custom)."""
        preset = self.preset.currentIndex()
        self.preset_time.setVisible(preset in (HOURLY, DAILY, WEEKLY, MONTHLY))
        self.preset_time.setDisplayFormat("mm" if preset == HOURLY else "HH:mm")
        self.preset_at.setVisible(preset in (WEEKLY, MONTHLY))
        self.preset_weekday.setVisible(preset == WEEKLY)
        self.preset_day.setVisible(preset == MONTHLY)

    def _on_preset_changed(self) -> None:
        self._show_preset_controls()
        self._apply_preset()

    def _apply_preset(self) -> None:
        fields = self._preset_fields()
        if fields is None:
            return
        for edit, text in zip(self.fields, fields):
            edit.setText(text)
        self._refresh_feedback()

    def _on_field_edited(self) -> None:
        # Typing makes it a custom expression unless it still is exactly the preset's.
        if self._preset_fields() != tuple(e.text().strip() for e in self.fields):
            self.preset.blockSignals(True)
            self.preset.setCurrentIndex(CUSTOM)
            self.preset.blockSignals(False)
            for widget in (self.preset_time, self.preset_at, self.preset_weekday, self.preset_day):
                widget.setVisible(False)
        self._refresh_feedback()

    # -- live feedback ----------------------------------------------------------------------------

    def _refresh_feedback(self) -> None:
        """Errors under their fields (the field tinted), then description, warnings and next runs."""
        checked = self.check_cron()
        for error in self.field_errors:
            error.clear()
        field_names = [f.name for f in cron.FIELDS]
        whole = []
        for problem in checked.errors:
            if problem.field in field_names:
                label = self.field_errors[field_names.index(problem.field)]
                text = f"{problem.part!r}: {problem.message}" if problem.part else problem.message
                label.setText((label.text() + "\n" if label.text() else "") + text)
            else:
                whole.append(str(problem))
        for edit, error in zip(self.fields, self.field_errors):
            edit.setStyleSheet("background: #f8d0cd; color: #611a15;" if error.text() else "")  # light on any palette
        self.expression_error.setText("\n".join(whole))
        self.warnings.setText("\n".join(f"⚠ {w}" for w in checked.warnings))
        self.description.setText(cron.describe(checked.expr) if checked.ok else "")
        self.runs_preview.setText(self._runs_text(checked))

    def _runs_text(self, checked: cron.CronCheck) -> str:
        if not checked.ok:
            return ""
        try:
            runs = cron.next_runs(checked.expr, 5, self.zone(), self._after)
        except DeskError as exc:
            return str(exc)
        return "Next runs:\n" + "\n".join(r.strftime("  %a %Y-%m-%d %H:%M %Z") for r in runs)
