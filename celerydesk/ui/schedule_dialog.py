"""The schedule editor: one ``[[schedules]]`` entry of ``celerydesk.toml``, crontab or interval.

The crontab page has the five fields celery's ``crontab()`` takes, presets that fill them
("daily at 07:30", "weekly on Monday at"), and, while the user types, what ``core.cron`` says
with celery's reading: a plain-words description, the next five runs computed with celery's
own ``crontab.remaining_delta`` in the chosen timezone (a preview only: the workspace file has
no timezone key, beat uses the app's), each field's error under that field, and warnings where
celery differs from cron. The interval page is N seconds/minutes/hours/days.

Arguments are JSON editors with inline validation (the launch forms' widget was not committed
when this was written). OK checks everything, then saves through a WorkspaceDocument loaded
when the dialog opened (validated, atomic, comments kept; a file changed meanwhile is refused,
not overwritten); on any problem the dialog stays open with a banner. Cancel writes nothing.
"""

from __future__ import annotations

import html
import json
import zoneinfo
from datetime import datetime
from typing import Iterable, Optional

from PySide6.QtCore import QTime, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFormLayout, QGridLayout,
                               QHBoxLayout, QLabel, QLineEdit, QPlainTextEdit, QSpinBox, QTabWidget, QTimeEdit,
                               QVBoxLayout, QWidget)

from celerydesk.core import cron
from celerydesk.core.errors import DeskError, WorkspaceError
from celerydesk.core.workspace_edit import WorkspaceDocument
from celerydesk.ui import defs

PRESETS = ("Custom", "Every minute", "Hourly at minute", "Daily at", "Weekly on", "Monthly on day")
CUSTOM, EVERY_MINUTE, HOURLY, DAILY, WEEKLY, MONTHLY = range(len(PRESETS))
# Monday first, as people read a week; the value is celery's number (0 is Sunday).
WEEKDAYS = [(cron.DAYS[(i + 1) % 7].title(), (i + 1) % 7) for i in range(7)]
UNITS = (("seconds", 1), ("minutes", 60), ("hours", 3600), ("days", 86400))
CRON_PAGE, EVERY_PAGE = 0, 1
_ERROR_STYLE = "color: #c0392b;"
_WARNING_STYLE = "color: #9a6700;"
_BANNER_STYLE = ("QLabel { background: #fdecea; color: #611a15; border: 1px solid #e6a5a0;"
                 " border-radius: 4px; padding: 6px; }")


def _label(style: str = "", wrap: bool = True) -> QLabel:
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


class QtScheduleDialog(QDialog):
    """Add (``schedule=None``, or a schedule not in the file: a duplicate, a project copy) or edit
    (a workspace schedule whose name is in the file). ``saved(name)`` once written."""

    saved = Signal(str)

    def __init__(self, ws_path, tasks: Optional[Iterable] = None, schedule=None, parent: Optional[QWidget] = None,
                 after: Optional[datetime] = None):
        super().__init__(parent)
        # Loaded now: what is on disk now is what a save may replace (a later change is a conflict).
        self._document = WorkspaceDocument.load(ws_path)
        self._after = after  # the previews' "now": injected by tests, else the clock
        in_file = {s.get("name") for s in self._document.schedules()}
        source = getattr(schedule, "source", "workspace")
        editing = schedule is not None and source == "workspace" and schedule.name in in_file
        self._editing = schedule.name if editing else None
        self._tasks = {}  # name -> TaskInfo (or None when only the name is known)
        for task in tasks or []:
            name = getattr(task, "name", task)
            self._tasks[str(name)] = task if hasattr(task, "signature") else None
        self.setWindowTitle(f"Edit schedule {self._editing}" if self._editing else "New schedule")

        self.banner = _label(_BANNER_STYLE)
        self.banner.setObjectName("scheduleBanner")
        self.banner.hide()
        self.name = QLineEdit()
        self.name.setPlaceholderText("a unique name, e.g. notify-monday-morning")
        self.task = QComboBox()
        self.task.setEditable(True)  # a task not introspected (yet) can still be typed
        self.task.addItems(sorted(self._tasks))
        self.task.setCurrentText("")
        self.task_hint = _label()
        self.task_hint.setEnabled(False)  # muted
        self.kinds = QTabWidget()
        self.kinds.addTab(self._build_cron_page(), "Crontab")
        self.kinds.addTab(self._build_every_page(), "Interval")
        self.args = QPlainTextEdit("[]")
        self.kwargs = QPlainTextEdit("{}")
        for editor in (self.args, self.kwargs):
            editor.setFont(defs.monospace_font())
            editor.setFixedHeight(52)
        self.args_error, self.kwargs_error = _label(_ERROR_STYLE), _label(_ERROR_STYLE)
        self.queue = QLineEdit()
        self.queue.setPlaceholderText("the task's default queue")
        self.enabled = QCheckBox("Enabled (beat sends it)")
        self.enabled.setChecked(True)

        self._form = form = QFormLayout()
        form.setSpacing(defs.SPACING)
        form.addRow("Name", self.name)
        form.addRow("Task", self.task)
        form.addRow("", self.task_hint)
        form.addRow("Args (JSON array)", self._stack(self.args, self.args_error))
        form.addRow("Kwargs (JSON object)", self._stack(self.kwargs, self.kwargs_error))
        form.addRow("Queue", self.queue)
        form.addRow("", self.enabled)
        self.button_box = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.button_box.accepted.connect(self.accept)
        self.button_box.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(defs.MARGIN * 2, defs.MARGIN * 2, defs.MARGIN * 2, defs.MARGIN * 2)
        layout.setSpacing(defs.SPACING)
        layout.addWidget(self.banner)
        layout.addLayout(form)
        layout.addWidget(self.kinds, 1)
        layout.addWidget(self.button_box)

        self.task.currentTextChanged.connect(self._on_task_changed)
        self.args.textChanged.connect(self._check_json)
        self.kwargs.textChanged.connect(self._check_json)
        if schedule is not None:
            self._load(schedule)
        else:  # a new schedule starts as a common one rather than every minute
            self.preset.setCurrentIndex(DAILY)
        self._on_task_changed(self.task.currentText())
        self._on_preset_changed()
        self._update_cron()
        self._update_every()
        self.resize(640, 720)

    # -- building ---------------------------------------------------------------------------------

    @staticmethod
    def _stack(*widgets: QWidget) -> QWidget:
        box = QWidget()
        column = QVBoxLayout(box)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(defs.SMALL)
        for widget in widgets:
            column.addWidget(widget)
        return box

    def _build_cron_page(self) -> QWidget:
        page = QWidget()
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
            error = _label(_ERROR_STYLE)
            grid.addWidget(QLabel(fld.name), 0, column)
            grid.addWidget(edit, 1, column)
            grid.addWidget(error, 2, column)
            grid.setColumnStretch(column, 1)
            self.fields.append(edit)
            self.field_errors.append(error)
            edit.textEdited.connect(self._on_field_edited)
        self.timezone = QComboBox()
        self.timezone.addItems(timezones())
        self.timezone.setToolTip("for the preview only: beat uses the project's timezone setting (default UTC)")
        self.cron_error = _label(_ERROR_STYLE)  # problems of the expression as a whole
        self.cron_description = _label()
        font = self.cron_description.font()
        font.setBold(True)
        self.cron_description.setFont(font)
        self.cron_warnings = _label(_WARNING_STYLE)
        self.cron_next = _label(wrap=False)
        self.cron_next.setFont(defs.monospace_font())
        zone_row = QHBoxLayout()
        zone_row.addWidget(QLabel("Next runs in timezone"))
        zone_row.addWidget(self.timezone, 1)

        column = QVBoxLayout(page)
        column.setSpacing(defs.SPACING)
        column.addLayout(presets)
        column.addLayout(grid)
        column.addWidget(self.cron_error)
        column.addWidget(self.cron_description)
        column.addWidget(self.cron_warnings)
        column.addLayout(zone_row)
        column.addWidget(self.cron_next)
        column.addStretch(1)
        self.preset.currentIndexChanged.connect(self._on_preset_changed)
        self.preset_time.timeChanged.connect(self._apply_preset)
        self.preset_weekday.currentIndexChanged.connect(self._apply_preset)
        self.preset_day.valueChanged.connect(self._apply_preset)
        self.timezone.currentTextChanged.connect(self._update_cron)
        return page

    def _build_every_page(self) -> QWidget:
        page = QWidget()
        self.every_value = QSpinBox()
        self.every_value.setRange(1, 1_000_000)
        self.every_value.setValue(15)
        self.every_unit = QComboBox()
        for name, seconds in UNITS:
            self.every_unit.addItem(name, seconds)
        self.every_unit.setCurrentIndex(1)
        self.every_description = _label()
        self.every_next = _label(wrap=False)
        self.every_next.setFont(defs.monospace_font())
        row = QHBoxLayout()
        row.addWidget(QLabel("Every"))
        row.addWidget(self.every_value)
        row.addWidget(self.every_unit)
        row.addStretch(1)
        column = QVBoxLayout(page)
        column.addLayout(row)
        column.addWidget(self.every_description)
        note = _label()
        note.setText("Beat sends it this long after its last run; the first run comes one interval "
                     "after beat starts. The runs below count from now.")
        column.addWidget(note)
        column.addWidget(self.every_next)
        column.addStretch(1)
        self.every_value.valueChanged.connect(self._update_every)
        self.every_unit.currentIndexChanged.connect(self._update_every)
        return page

    def _load(self, s) -> None:
        self.name.setText(s.name)
        self.task.setCurrentText(s.task)
        self.args.setPlainText(json.dumps(list(s.args)))
        self.kwargs.setPlainText(json.dumps(dict(s.kwargs)))
        self.queue.setText(s.queue or "")
        self.enabled.setChecked(bool(s.enabled))
        if getattr(s, "every", None) is not None:
            self.kinds.setCurrentIndex(EVERY_PAGE)
            seconds = float(s.every)
            # The largest unit that divides it (the spin box counts whole units: 2.5 s shows as 2 s).
            for index in reversed(range(len(UNITS))):
                if seconds >= UNITS[index][1] and seconds % UNITS[index][1] == 0:
                    break
            self.every_value.setValue(max(1, round(seconds / UNITS[index][1])))
            self.every_unit.setCurrentIndex(index)
        elif getattr(s, "cron", None):
            parts = s.cron.split()
            for edit, text in zip(self.fields, parts + ["*"] * (5 - len(parts))):
                edit.setText(text)
            preset, time, weekday, day = detect_preset(tuple(e.text() for e in self.fields))
            self._set_preset_widgets(preset, time, weekday, day)

    def _set_preset_widgets(self, preset: int, time: QTime, weekday: int, day: int) -> None:
        for widget in (self.preset, self.preset_time, self.preset_weekday, self.preset_day):
            widget.blockSignals(True)  # the fields are already what these say
        self.preset.setCurrentIndex(preset)
        self.preset_time.setTime(time)
        self.preset_weekday.setCurrentIndex(self.preset_weekday.findData(weekday))
        self.preset_day.setValue(day)
        for widget in (self.preset, self.preset_time, self.preset_weekday, self.preset_day):
            widget.blockSignals(False)

    # -- live feedback ----------------------------------------------------------------------------

    def _on_preset_changed(self) -> None:
        preset = self.preset.currentIndex()
        self.preset_time.setVisible(preset in (HOURLY, DAILY, WEEKLY, MONTHLY))
        self.preset_time.setDisplayFormat("mm" if preset == HOURLY else "HH:mm")
        self.preset_at.setVisible(preset in (WEEKLY, MONTHLY))
        self.preset_weekday.setVisible(preset == WEEKLY)
        self.preset_day.setVisible(preset == MONTHLY)
        self._apply_preset()

    def _apply_preset(self) -> None:
        fields = preset_fields(self.preset.currentIndex(), self.preset_time.time(),
                               self.preset_weekday.currentData(), self.preset_day.value())
        if fields is None:
            return
        for edit, text in zip(self.fields, fields):
            edit.setText(text)
        self._update_cron()

    def _on_field_edited(self) -> None:
        # Typing makes it a custom expression unless it still is exactly the preset's.
        fields = preset_fields(self.preset.currentIndex(), self.preset_time.time(),
                               self.preset_weekday.currentData(), self.preset_day.value())
        if fields != tuple(e.text().strip() for e in self.fields):
            self.preset.blockSignals(True)
            self.preset.setCurrentIndex(CUSTOM)
            self.preset.blockSignals(False)
            for widget in (self.preset_time, self.preset_at, self.preset_weekday, self.preset_day):
                widget.setVisible(False)
        self._update_cron()

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
        return cron.get_zone(self.timezone.currentText())

    def next_runs(self, n: int = 5) -> list:
        """What the preview shows: the next runs of the current page's schedule, in the chosen zone."""
        if self.kinds.currentIndex() == EVERY_PAGE:
            return cron.next_every_runs(self.every_seconds(), n, self._after, self.zone())
        checked = self.check_cron()
        return cron.next_runs(checked.expr, n, self.zone(), self._after) if checked.ok else []

    def _update_cron(self) -> None:
        checked = self.check_cron()
        for error in self.field_errors:
            error.clear()
        whole = []
        for problem in checked.errors:
            names = [f.name for f in cron.FIELDS]
            if problem.field in names:
                label = self.field_errors[names.index(problem.field)]
                text = f"{problem.part!r}: {problem.message}" if problem.part else problem.message
                label.setText((label.text() + "\n" if label.text() else "") + text)
            else:
                whole.append(str(problem))
        for edit, error in zip(self.fields, self.field_errors):
            edit.setStyleSheet("background: #f8d0cd;" if error.text() else "")
        self.cron_error.setText("\n".join(whole))
        self.cron_warnings.setText("\n".join(f"⚠ {w}" for w in checked.warnings))
        self.cron_description.setText(cron.describe(checked.expr) if checked.ok else "")
        self.cron_next.setText(self._cron_runs_text(checked))

    def _cron_runs_text(self, checked) -> str:
        if not checked.ok:
            return ""
        try:
            runs = cron.next_runs(checked.expr, 5, self.zone(), self._after)
        except DeskError as exc:
            return str(exc)
        return "Next runs:\n" + "\n".join(r.strftime("  %a %Y-%m-%d %H:%M %Z") for r in runs)

    def every_seconds(self) -> float:
        return float(self.every_value.value() * self.every_unit.currentData())

    def _update_every(self) -> None:
        seconds = self.every_seconds()
        self.every_description.setText(cron.describe_every(seconds))
        runs = cron.next_every_runs(seconds, 5, self._after, self.zone())
        self.every_next.setText("Next runs:\n" + "\n".join(r.strftime("  %a %Y-%m-%d %H:%M:%S %Z") for r in runs))

    def _on_task_changed(self, name: str) -> None:
        info = self._tasks.get(name)
        if info is not None:
            doc = (info.doc or "").strip().splitlines()
            self.task_hint.setText(f"{name}{info.signature()}" + (f" — {doc[0]}" if doc else ""))
        else:
            self.task_hint.setText("not among the project's tasks (yet)" if name and self._tasks else "")
        self._form.setRowVisible(self.task_hint, bool(self.task_hint.text()))  # no empty gap

    def _json(self, editor: QPlainTextEdit, error: QLabel, kind: type, what: str):
        """The editor's value, or None with the reason shown under it."""
        try:
            value = json.loads(editor.toPlainText() or ("[]" if kind is list else "{}"))
        except ValueError as exc:
            error.setText(f"not JSON: {exc}")
            return None
        if not isinstance(value, kind):
            example = '["Hello"]' if kind is list else '{"x": 1}'
            error.setText(f"must be a JSON {what}, e.g. {example}")
            return None
        error.clear()
        return value

    def _check_json(self) -> None:
        self._json(self.args, self.args_error, list, "array")
        self._json(self.kwargs, self.kwargs_error, dict, "object")

    # -- OK ----------------------------------------------------------------------------------------

    def form_problems(self) -> list:
        problems = []
        if not self.name.text().strip():
            problems.append("Name: give the schedule a unique name")
        if not self.task.currentText().strip():
            problems.append("Task: pick the task beat sends")
        if self.kinds.currentIndex() == CRON_PAGE:
            problems += [f"cron {p}" for p in self.check_cron().errors]
        for editor, error, kind, what in ((self.args, self.args_error, list, "array"),
                                          (self.kwargs, self.kwargs_error, dict, "object")):
            if self._json(editor, error, kind, what) is None:
                problems.append(f"{'Args' if kind is list else 'Kwargs'}: {error.text()}")
        return problems

    def values(self) -> dict:
        """What the form says, as WorkspaceDocument keys (call after form_problems() is empty)."""
        values = {"task": self.task.currentText().strip(), "args": json.loads(self.args.toPlainText() or "[]"),
                  "kwargs": json.loads(self.kwargs.toPlainText() or "{}"), "enabled": self.enabled.isChecked(),
                  "queue": self.queue.text().strip() or None}
        if self.kinds.currentIndex() == CRON_PAGE:
            values["cron"] = self.check_cron().expr.text
        else:
            seconds = self.every_seconds()
            values["every"] = int(seconds) if seconds.is_integer() else seconds
        return values

    def accept(self) -> None:
        problems = self.form_problems()
        if problems:
            self._show_problems(problems)
            return
        name, values = self.name.text().strip(), self.values()
        edited = self._document.copy()  # a refused OK leaves the loaded document as it was
        try:
            if self._editing:
                # Only what changed is written: keys the file leaves to their defaults stay unwritten.
                old = next(s for s in edited.schedules() if s.get("name") == self._editing)
                defaults = {"args": [], "kwargs": {}, "enabled": True, "queue": None, "cron": None, "every": None}
                values = {k: v for k, v in values.items() if v != old.get(k, defaults.get(k))}
                if name != self._editing:
                    values["name"] = name
                edited.update_schedule(self._editing, **values)
            else:
                edited.add_schedule(name, values.pop("task"), **{k: v for k, v in values.items() if v is not None})
            edited.save()
        except WorkspaceError as exc:  # invalid, or changed on disk (WorkspaceConflict)
            self._show_problems(exc.problems, exc.hint)
            return
        except (KeyError, TypeError, OSError) as exc:  # a name taken, a value TOML cannot hold, a disk error
            self._show_problems([str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)])
            return
        self._document = edited
        self.saved.emit(name)
        super().accept()

    def _show_problems(self, problems: list, hint: str = "") -> None:
        items = "".join(f"<li>{html.escape(str(p))}</li>" for p in problems)
        hint_html = f"<p>→ {html.escape(hint)}</p>" if hint else ""
        self.banner.setText(f"<b>Not saved.</b><ul style='margin: 2px 0 0 -20px;'>{items}</ul>{hint_html}")
        self.banner.show()

    @property
    def ok_button(self):
        return self.button_box.button(QDialogButtonBox.StandardButton.Ok)

