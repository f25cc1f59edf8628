"""The schedule editor: one schedule, crontab or interval, where it lives.

A schedule of the workspace file (``[[schedules]]`` of ``celerydesk.toml``), or an entry the
project keeps in django-celery-beat's database or RedBeat's Redis (then written through the
project's own models by the store agent, ``services/schedule_store.py``, handed in as
``store_request``). A new schedule goes to the file unless the user picks the project's store
("Keep in"). The Crontab page is ``ui.cron_editor.QtCronEditor`` (presets, the five fields,
celery's description, next runs and warnings, the schedule's timezone). The interval page is
N seconds/minutes/hours/days; its preview of the next runs uses the crontab page's timezone.
Options: queue, priority, expires (seconds or a time), start at, one-off, where the store can
hold them (RedBeat keeps no timezone, start time or one-off flag: those are disabled, saying why).

A schedule celerydesk cannot rewrite (django-celery-beat's solar and clocked schedules,
RedBeat's rrule) opens read-only, with a banner saying why and where to change it.

Arguments are JSON editors with inline validation. OK checks everything, then saves: to the
file through a WorkspaceDocument loaded when the dialog opened (validated, atomic, comments
kept; a file changed meanwhile is refused, not overwritten), or to the store, waiting for its
answer; on any problem the dialog stays open with a banner. Cancel writes nothing.
"""

from __future__ import annotations

import html
import json
from datetime import datetime
from typing import Callable, Iterable, Optional

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFormLayout, QHBoxLayout, QLabel,
                               QLineEdit, QPlainTextEdit, QSpinBox, QTabWidget, QVBoxLayout, QWidget)

from celerydesk.core import cron, limits, schedule_options
from celerydesk.core.errors import DeskError, WorkspaceError
from celerydesk.core.workspace_edit import WorkspaceDocument
from celerydesk.ui import defs
from celerydesk.ui.cron_editor import DAILY, QtCronEditor, styled_label

UNITS = (("seconds", 1), ("minutes", 60), ("hours", 3600), ("days", 86400))
CRON_PAGE, EVERY_PAGE = 0, 1
STORE_NAMES = {"workspace": "the workspace file", "database": "django-celery-beat's database",
               "redbeat": "RedBeat's Redis"}
REDBEAT_LACKS = "RedBeat entries have no timezone, start time or one-off flag"
_OPTIONAL = ("queue", "timezone", "expires", "one_off", "start_at", "priority")
DEFAULTS = {"args": [], "kwargs": {}, "enabled": True, "queue": None, "cron": None, "every": None,
            "timezone": None, "expires": None, "one_off": False, "start_at": None, "priority": None}
_BANNER_STYLE = ("QLabel { background: #fdecea; color: #611a15; border: 1px solid #e6a5a0;"
                 " border-radius: 4px; padding: 6px; }")
_NOTE_STYLE = ("QLabel { background: #fff4e5; color: #663c00; border: 1px solid #f0c36d;"
               " border-radius: 4px; padding: 6px; }")


def _view_value(view, key: str):
    """What a listed schedule (a ScheduleView) holds for one of the editor's keys."""
    return getattr(view, key, DEFAULTS.get(key))


class QtScheduleDialog(QDialog):
    """Add (``schedule=None``, or a schedule not in the file: a duplicate, a project copy) or edit
    (a workspace schedule whose name is in the file). ``saved(name)`` once written."""

    saved = Signal(str)

    def __init__(self, ws_path, tasks: Optional[Iterable] = None, schedule=None, parent: Optional[QWidget] = None,
                 after: Optional[datetime] = None, *, store_request: Optional[Callable] = None,
                 stores: Iterable[str] = (), app_zone: str = "UTC"):
        super().__init__(parent)
        # Loaded now: what is on disk now is what a save may replace (a later change is a conflict).
        self._document = WorkspaceDocument.load(ws_path)
        self._after = after  # the interval preview's "now" (the crontab page's too): tests inject it, else the clock
        self._store_request = store_request  # the store agent's request(payload, reply)
        self._schedule = schedule
        in_file = {s.get("name") for s in self._document.schedules()}
        source = getattr(schedule, "source", "workspace")
        if schedule is not None and source in ("database", "redbeat"):
            self._editing = schedule.name  # an entry of the project's store
            self._target = source
        else:
            editing = schedule is not None and source == "workspace" and schedule.name in in_file
            self._editing = schedule.name if editing else None
            self._target = "workspace"
        self._tasks = {}  # name -> TaskInfo (or None when only the name is known)
        for task in tasks or []:
            name = getattr(task, "name", task)
            self._tasks[str(name)] = task if hasattr(task, "signature") else None
        where = "" if self._target == "workspace" else f" in {STORE_NAMES[self._target]}"
        self.setWindowTitle(f"Edit schedule {self._editing}{where}" if self._editing else "New schedule")

        self.banner = styled_label(_BANNER_STYLE)
        self.banner.setObjectName("scheduleBanner")
        self.banner.hide()
        self.name = QLineEdit()
        self.name.setPlaceholderText("a unique name, e.g. notify-monday-morning")
        self.task = QComboBox()
        self.task.setEditable(True)  # a task not introspected (yet) can still be typed
        self.task.addItems(sorted(self._tasks))
        self.task.setCurrentText("")
        self.task_hint = styled_label()
        self.task_hint.setEnabled(False)  # muted
        self.cron_editor = QtCronEditor(after, app_zone=app_zone)
        self.kinds = QTabWidget()
        self.kinds.addTab(self.cron_editor, "Crontab")
        self.kinds.addTab(self._build_every_page(), "Interval")
        self.args = QPlainTextEdit("[]")
        self.kwargs = QPlainTextEdit("{}")
        for editor in (self.args, self.kwargs):
            editor.setFont(defs.monospace_font())
            editor.setFixedHeight(52)
        self.args_error, self.kwargs_error = styled_label(defs.text_style(defs.ERROR_TEXT)), styled_label(defs.text_style(defs.ERROR_TEXT))
        self.queue = QLineEdit()
        self.queue.setPlaceholderText("the task's default queue")
        self.priority = QSpinBox()
        self.priority.setRange(-1, int(limits.PRIORITY.high))
        self.priority.setSpecialValueText("the task's default")
        self.priority.setValue(-1)
        self.expires = QLineEdit()
        self.expires.setPlaceholderText(f"seconds (each message's), or a time: no run after it, e.g. "
                                        f"{schedule_options.TIME_EXAMPLE}")
        self.start_at = QLineEdit()
        self.start_at.setPlaceholderText(f"now; or a time, e.g. {schedule_options.TIME_EXAMPLE}")
        self.one_off = QCheckBox("One-off (sent once, then not again until edited or re-enabled)")
        self.enabled = QCheckBox("Enabled (beat sends it)")
        self.enabled.setChecked(True)
        self.keep_in = QComboBox()  # where a new schedule goes: the file, or the project's store
        for key in dict.fromkeys(("workspace", *stores, self._target)):
            self.keep_in.addItem(STORE_NAMES[key], key)
        self.keep_in.currentIndexChanged.connect(self._on_target_changed)

        self._form = form = QFormLayout()
        form.setSpacing(defs.SPACING)
        form.addRow("Name", self.name)
        form.addRow("Task", self.task)
        form.addRow("", self.task_hint)
        form.addRow("Args (JSON array)", self._stack(self.args, self.args_error))
        form.addRow("Kwargs (JSON object)", self._stack(self.kwargs, self.kwargs_error))
        form.addRow("Queue", self.queue)
        form.addRow("Priority", self.priority)
        form.addRow("Expires", self.expires)
        form.addRow("Start at", self.start_at)
        form.addRow("", self.one_off)
        form.addRow("", self.enabled)
        form.insertRow(0, "Keep in", self.keep_in)
        # Editing a store's entry, it says where the entry lives; it moves nowhere.
        form.setRowVisible(self.keep_in, self.keep_in.count() > 1 or self._target != "workspace")
        self.keep_in.setEnabled(self._editing is None)
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
            index = self.keep_in.findData(source if source in ("database", "redbeat") else "workspace")
            self.keep_in.setCurrentIndex(max(index, 0))
        else:  # a new schedule starts as a common one rather than every minute
            self.cron_editor.preset.setCurrentIndex(DAILY)
        self._on_task_changed(self.task.currentText())
        self._update_every()
        self._on_target_changed()
        refusal = schedule.edit_refusal() if schedule is not None and hasattr(schedule, "edit_refusal") else ""
        if refusal and self._editing:
            self._make_read_only(refusal)
        self.resize(660, 820)

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

    def _build_every_page(self) -> QWidget:
        page = QWidget()
        self.every_value = QSpinBox()
        self.every_value.setRange(1, 1_000_000)
        self.every_value.setValue(15)
        self.every_unit = QComboBox()
        for name, seconds in UNITS:
            self.every_unit.addItem(name, seconds)
        self.every_unit.setCurrentIndex(1)
        self.every_description = styled_label()
        self.every_next = styled_label(wrap=False)
        self.every_next.setFont(defs.monospace_font())
        row = QHBoxLayout()
        row.addWidget(QLabel("Every"))
        row.addWidget(self.every_value)
        row.addWidget(self.every_unit)
        row.addStretch(1)
        column = QVBoxLayout(page)
        column.addLayout(row)
        column.addWidget(self.every_description)
        note = styled_label()
        note.setText("Beat sends it this long after its last run; the first run comes one interval "
                     "after beat starts. The runs below count from now.")
        column.addWidget(note)
        column.addWidget(self.every_next)
        column.addStretch(1)
        self.every_value.valueChanged.connect(self._update_every)
        self.every_unit.currentIndexChanged.connect(self._update_every)
        # The interval preview is in the crontab page's timezone: it follows that choice too.
        self.cron_editor.timezone.currentTextChanged.connect(self._update_every)
        return page

    def _make_read_only(self, why: str) -> None:
        """A schedule celerydesk cannot rewrite: shown, with why and where to change it."""
        self.banner.setText(html.escape(why))
        self.banner.setStyleSheet(_NOTE_STYLE)
        self.banner.show()
        for widget in (self.name, self.task, self.kinds, self.args, self.kwargs, self.queue, self.priority,
                       self.expires, self.start_at, self.one_off, self.enabled, self.keep_in):
            widget.setEnabled(False)
        if getattr(self._schedule, "kind", "") == "other":  # neither page can show it: in words instead
            upcoming = self._schedule.next_run()
            self.other_schedule = styled_label()
            self.other_schedule.setText(f"<b>{html.escape(self._schedule.schedule or '')}</b>" + (
                f"<br>Next run: {upcoming.strftime('%a %Y-%m-%d %H:%M:%S %Z')}" if upcoming else ""))
            layout = self.layout()
            layout.insertWidget(layout.indexOf(self.kinds), self.other_schedule, 1)
            self.kinds.hide()
        self.ok_button.hide()
        self.button_box.button(QDialogButtonBox.StandardButton.Cancel).setText("Close")
        self.read_only = True

    def target(self) -> str:
        """Where the schedule is saved: workspace, database or redbeat."""
        return self._target if self._editing else (self.keep_in.currentData() or "workspace")

    def _on_target_changed(self) -> None:
        redbeat = self.target() == "redbeat"
        for widget in (self.cron_editor.timezone, self.start_at, self.one_off):
            widget.setEnabled(not redbeat)
            widget.setToolTip(REDBEAT_LACKS if redbeat else "")
        if redbeat:
            self.cron_editor.set_timezone(None)

    def _load(self, s) -> None:
        self.name.setText(s.name)
        self.task.setCurrentText(s.task)
        self.args.setPlainText(json.dumps(list(s.args)))
        self.kwargs.setPlainText(json.dumps(dict(s.kwargs)))
        self.queue.setText(s.queue or "")
        self.enabled.setChecked(bool(s.enabled))
        self.priority.setValue(s.priority if getattr(s, "priority", None) is not None else -1)
        expires = getattr(s, "expires", None)
        self.expires.setText("" if expires is None else f"{expires:g}" if isinstance(expires, (int, float))
                             else str(expires))
        self.start_at.setText(getattr(s, "start_at", None) or "")
        self.one_off.setChecked(bool(getattr(s, "one_off", False)))
        self.cron_editor.set_timezone(getattr(s, "timezone", None))
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
            self.cron_editor.set_expression(s.cron)

    # -- live feedback ----------------------------------------------------------------------------

    def next_runs(self, n: int = 5) -> list:
        """What the preview shows: the next runs of the current page's schedule, in the chosen zone."""
        if self.kinds.currentIndex() == EVERY_PAGE:
            return cron.next_every_runs(self.every_seconds(), n, self._after, self.cron_editor.zone())
        return self.cron_editor.next_runs(n)

    def every_seconds(self) -> float:
        return float(self.every_value.value() * self.every_unit.currentData())

    def _update_every(self) -> None:
        seconds = self.every_seconds()
        self.every_description.setText(cron.describe_every(seconds))
        runs = cron.next_every_runs(seconds, 5, self._after, self.cron_editor.zone())
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
            value = limits.load_json(editor.toPlainText() or ("[]" if kind is list else "{}"))
        except json.JSONDecodeError as exc:
            error.setText(f"not JSON: {exc}")
            return None
        except ValueError as exc:  # NaN or Infinity, or nested too deeply
            error.setText(f"not accepted: {exc}")
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
            problems += [f"cron {p}" for p in self.cron_editor.check_cron().errors]
        for editor, error, kind, what in ((self.args, self.args_error, list, "array"),
                                          (self.kwargs, self.kwargs_error, dict, "object")):
            if self._json(editor, error, kind, what) is None:
                problems.append(f"{'Args' if kind is list else 'Kwargs'}: {error.text()}")
        for read in (self._expires, self._start_at):
            try:
                read()
            except DeskError as exc:  # its message names the field
                problems.append(exc.message + (f" ({exc.hint})" if exc.hint else ""))
        if self.target() == "redbeat" and isinstance(self._expires(safe=True), str):
            problems.append("Expires: a RedBeat entry takes seconds (each message's expiry), not a time")
        return problems

    def _expires(self, safe: bool = False):
        text = self.expires.text().strip()
        try:
            return schedule_options.parse_expires(text) if text else None
        except DeskError:
            if safe:
                return None
            raise

    def _start_at(self):
        text = self.start_at.text().strip()
        return schedule_options.parse_time(text, "start at") if text else None

    def values(self) -> dict:
        """What the form says, as WorkspaceDocument keys (call after form_problems() is empty)."""
        values = {"task": self.task.currentText().strip(), "args": limits.load_json(self.args.toPlainText() or "[]"),
                  "kwargs": limits.load_json(self.kwargs.toPlainText() or "{}"), "enabled": self.enabled.isChecked(),
                  "queue": self.queue.text().strip() or None, "timezone": None,
                  "priority": self.priority.value() if self.priority.value() >= 0 else None,
                  "expires": self._expires(), "start_at": self._start_at(), "one_off": self.one_off.isChecked()}
        if self.kinds.currentIndex() == CRON_PAGE:
            values["cron"] = self.cron_editor.check_cron().expr.text
            values["timezone"] = self.cron_editor.timezone_value()
        else:
            seconds = self.every_seconds()
            values["every"] = int(seconds) if seconds.is_integer() else seconds
        return values

    def accept(self) -> None:
        if getattr(self, "read_only", False):
            return
        problems = self.form_problems()
        if problems:
            self._show_problems(problems)
            return
        name, values = self.name.text().strip(), self.values()
        if self.target() != "workspace":
            self._save_to_store(name, values)
            return
        edited = self._document.copy()  # a refused OK leaves the loaded document as it was
        try:
            if self._editing:
                # Only what changed is written: keys the file leaves to their defaults stay unwritten.
                old = next(s for s in edited.schedules() if s.get("name") == self._editing)
                values = {k: v for k, v in values.items() if v != old.get(k, DEFAULTS.get(k))}
                # An option set back to its default leaves the file (one_off = false is not written).
                values = {k: None if k in _OPTIONAL and v == DEFAULTS[k] else v for k, v in values.items()}
                if name != self._editing:
                    values["name"] = name
                edited.update_schedule(self._editing, **values)
            else:
                values = {k: v for k, v in values.items() if v is not None and v != DEFAULTS.get(k, object())
                          or k in ("args", "kwargs", "enabled")}
                edited.add_schedule(name, values.pop("task"), **values)
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

    def _save_to_store(self, name: str, values: dict) -> None:
        """Through the project's models (the store agent); the dialog closes once it has answered."""
        target = self.target()
        if target == "redbeat":
            for key in ("timezone", "start_at"):
                values.pop(key)
            if not values["one_off"]:
                values.pop("one_off")
        if self._store_request is None:
            self._show_problems([f"{STORE_NAMES[target]} cannot be reached from here"])
            return
        if self._editing:  # only what changed, as for the file
            old = self._schedule
            values = {k: v for k, v in values.items() if v != _view_value(old, k)}
            if name != self._editing:
                values["rename"] = name
        payload = {"op": "save", "name": self._editing or name, "create": not self._editing, "values": values}
        self.ok_button.setEnabled(False)
        self.banner.hide()

        def done(answer, error) -> None:
            self.ok_button.setEnabled(True)
            if error is not None:
                self._show_problems([error.message], error.hint)
                return
            self.saved.emit(answer.get("name") or name)
            QDialog.accept(self)

        self._store_request(payload, done)

    def _show_problems(self, problems: list, hint: str = "") -> None:
        self.banner.setStyleSheet(_BANNER_STYLE)
        items = "".join(f"<li>{html.escape(str(p))}</li>" for p in problems)
        hint_html = f"<p>→ {html.escape(hint)}</p>" if hint else ""
        self.banner.setText(f"<b>Not saved.</b><ul style='margin: 2px 0 0 -20px;'>{items}</ul>{hint_html}")
        self.banner.show()

    @property
    def ok_button(self):
        return self.button_box.button(QDialogButtonBox.StandardButton.Ok)
