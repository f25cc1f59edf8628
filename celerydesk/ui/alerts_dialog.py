"""The alerts editor: the workspace's ``[[alerts]]`` rules, added, edited and removed in one dialog.

The rules are listed on the left; the selected one's form is on the right: its name, what it
watches (``when``), and only the keys that kind takes (the task, queue or worker; above; for;
window), with each number's range from ``core/limits.py``. A line under the form says the rule
in words. Save writes every change at once through a WorkspaceDocument loaded when the dialog
opened (validated by the loader's own rules, written atomically, comments and unknown keys
kept; a file changed on disk meanwhile is refused, not overwritten); on a problem the dialog
stays open with a banner naming the table and the key. Cancel writes nothing.
"""

from __future__ import annotations

import html
from typing import Optional

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFormLayout, QHBoxLayout,
                               QLineEdit, QListWidget, QPushButton, QVBoxLayout, QWidget)

from celerydesk.core import limits
from celerydesk.core.alerts.rules import (FAILURE_RATE, KINDS, NUMBER_BOUNDS, NUMBERS, QUEUE_DEPTH, TASK_FAILED,
                                          TARGETS, WORKER_OFFLINE, above_bounds, check_table)
from celerydesk.core.errors import WorkspaceError
from celerydesk.core.workspace_edit import WorkspaceDocument
from celerydesk.ui import defs
from celerydesk.ui.cron_editor import styled_label

KIND_LABELS = {
    TASK_FAILED: "a task fails (task-failed)",
    "task-slow": "a task runs too long (task-slow)",
    QUEUE_DEPTH: "a queue backs up (queue-depth)",
    WORKER_OFFLINE: "a worker goes offline (worker-offline)",
    FAILURE_RATE: "too many tasks fail (failure-rate)",
}
TARGET_HINTS = {"task": "a task name or glob, e.g. *.process_video or process_video",
                "queue": "a queue name, e.g. celery", "worker": "a worker hostname glob, e.g. main@*"}
_BANNER_STYLE = ("QLabel { background: #fdecea; color: #611a15; border: 1px solid #e6a5a0;"
                 " border-radius: 4px; padding: 6px; }")


def _new_rule(taken: set) -> dict:
    name, n = "new-alert", 2
    while name in taken:
        name, n = f"new-alert-{n}", n + 1
    return {"name": name, "when": TASK_FAILED, "task": "*"}


class QtAlertsDialog(QDialog):
    saved = Signal(object)  # the Workspace as saved

    def __init__(self, ws_path, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.setWindowTitle("Alerts")
        self._document = WorkspaceDocument.load(ws_path)  # what is on disk now is what Save may replace
        # The rules being edited, each with the name it has in the file (None: added here).
        self._rules: list[dict] = [dict(t) for t in self._document.alerts()]
        self._origins: list[Optional[str]] = [t.get("name") for t in self._rules]
        self._current = -1
        self._loading = False

        self.banner = styled_label(_BANNER_STYLE)
        self.banner.setObjectName("alertsBanner")
        self.banner.hide()
        self.list = QListWidget()
        self.list.currentRowChanged.connect(self._on_row)
        self.add_button = QPushButton("Add")
        self.add_button.clicked.connect(self.add_rule)
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self.remove_rule)
        self.name = QLineEdit()
        self.name.setPlaceholderText("a unique name, e.g. video-failed")
        self.when = QComboBox()
        for kind in KINDS:
            self.when.addItem(KIND_LABELS[kind], kind)
        self.target = QLineEdit()
        self.above = QDoubleSpinBox()
        self.for_s = self._seconds(NUMBER_BOUNDS["for"])
        self.window = self._seconds(NUMBER_BOUNDS["window"])
        self.description = styled_label()
        self.description.setEnabled(False)  # muted
        self.form = QFormLayout()
        self.form.setSpacing(defs.SPACING)
        self.form.addRow("Name", self.name)
        self.form.addRow("When", self.when)
        self.form.addRow("Task", self.target)
        self.form.addRow("Above", self.above)
        self.form.addRow("For", self.for_s)
        self.form.addRow("Window", self.window)
        self.form.addRow("", self.description)
        for widget in (self.name, self.target):
            widget.textEdited.connect(self._on_edit)
        for spin in (self.above, self.for_s, self.window):
            spin.valueChanged.connect(self._on_edit)
        self.when.currentIndexChanged.connect(self._on_kind)

        left = QVBoxLayout()
        left.addWidget(self.list, 1)
        buttons_row = QHBoxLayout()
        buttons_row.addWidget(self.add_button)
        buttons_row.addWidget(self.remove_button)
        left.addLayout(buttons_row)
        self.form_box = QWidget()
        self.form_box.setLayout(self.form)
        body = QHBoxLayout()
        body.addLayout(left, 1)
        body.addWidget(self.form_box, 2)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.save)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.banner)
        layout.addLayout(body, 1)
        layout.addWidget(self.buttons)
        for rule in self._rules:
            self.list.addItem(rule.get("name", ""))
        if self._rules:
            self.list.setCurrentRow(0)
        self._show_form()
        self.resize(720, 380)

    @staticmethod
    def _seconds(bounds: limits.Bounds) -> QDoubleSpinBox:
        spin = QDoubleSpinBox()
        spin.setRange(bounds.low, bounds.high)
        spin.setDecimals(1)
        spin.setSuffix(" s")
        return spin

    # -- the list ---------------------------------------------------------------------------------

    def rules(self) -> list[dict]:
        """The rules as they stand in the dialog (tables, as they would be written)."""
        return [dict(rule) for rule in self._rules]

    def add_rule(self) -> None:
        self._rules.append(_new_rule({r.get("name") for r in self._rules}))
        self._origins.append(None)
        self.list.addItem(self._rules[-1]["name"])
        self.list.setCurrentRow(len(self._rules) - 1)
        self.name.setFocus()
        self.name.selectAll()

    def remove_rule(self) -> None:
        row = self.list.currentRow()
        if row < 0:
            return
        self._current = -1  # nothing to keep from the form of a rule going away
        del self._rules[row], self._origins[row]
        self.list.takeItem(row)
        self._on_row(self.list.currentRow())

    def select(self, name: str) -> None:
        self.list.setCurrentRow(next(i for i, r in enumerate(self._rules) if r.get("name") == name))

    def _on_row(self, row: int) -> None:
        self._current = row
        self._show_form()

    # -- the form ---------------------------------------------------------------------------------

    def _show_form(self) -> None:
        rule = self._rules[self._current] if 0 <= self._current < len(self._rules) else None
        self.form_box.setEnabled(rule is not None)
        self.remove_button.setEnabled(rule is not None)
        if rule is None:
            self.description.setText("")
            return
        self._loading = True
        try:
            self.name.setText(str(rule.get("name", "")))
            index = self.when.findData(rule.get("when"))
            self.when.setCurrentIndex(max(index, 0))
            self._arrange(self.when.currentData())
            self.target.setText(str(next((rule[k] for k in TARGETS if k in rule), "")))
            self.above.setValue(float(rule.get("above", self.above.minimum()) or 0))
            self.for_s.setValue(float(rule.get("for", 0) or 0))
            self.window.setValue(float(rule.get("window", 300) or 300))
        finally:
            self._loading = False
        self._describe()

    def _arrange(self, kind: str) -> None:
        """Show the rows the kind takes; name the target row and the above's unit."""
        needed = KINDS[kind]
        target = next(k for k in TARGETS if k in needed)
        self.form.labelForField(self.target).setText(target.capitalize())
        self.target.setPlaceholderText(TARGET_HINTS[target])
        for key, widget in (("above", self.above), ("for", self.for_s), ("window", self.window)):
            self.form.setRowVisible(widget, key in needed)
        if "above" in needed:
            bounds = above_bounds(kind)
            self.above.setDecimals(2 if kind == FAILURE_RATE else 1 if kind == "task-slow" else 0)
            self.above.setRange(bounds.low, bounds.high)
            self.above.setSuffix({FAILURE_RATE: " (fraction of tasks)", QUEUE_DEPTH: " messages"}.get(kind, " s"))

    def _on_kind(self) -> None:
        if self._loading:
            return
        self._arrange(self.when.currentData())
        self._on_edit()

    def _on_edit(self, *_) -> None:
        """Keep the selected rule's table in step with its form."""
        if self._loading or not 0 <= self._current < len(self._rules):
            return
        kind = self.when.currentData()
        table = {"name": self.name.text().strip(), "when": kind}
        for key in KINDS[kind]:
            if key in TARGETS:
                table[key] = self.target.text().strip()
            else:
                table[key] = {"above": self.above, "for": self.for_s, "window": self.window}[key].value()
        self._rules[self._current] = table
        self.list.item(self._current).setText(table["name"])
        self._describe()

    def _describe(self) -> None:
        if not 0 <= self._current < len(self._rules):
            return
        rule, problems = check_table(self._rules[self._current])
        self.description.setText(f"Fires when {rule.describe()}." if rule is not None and not problems
                                 else "; ".join(p.split(": ", 1)[-1] for p in problems))

    # -- saving -----------------------------------------------------------------------------------

    def save(self) -> bool:
        """Write every change in one atomic save; False (the dialog stays open) on a problem."""
        document = self._document.copy()
        try:
            kept = {origin for origin in self._origins if origin is not None}
            for table in self._document.alerts():
                if table.get("name") not in kept:
                    document.remove_alert(table["name"])
            for origin, table in zip(self._origins, self._rules):
                # Only the keys the dialog edits: a key it does not know stays in the file as it is.
                values = {k: v for k, v in table.items() if k in TARGETS + NUMBERS}
                if origin is None:
                    document.add_alert(table["name"], table["when"], **values)
                else:
                    unused = {k: None for k in TARGETS + NUMBERS if k not in values}
                    document.update_alert(origin, name=table["name"], when=table["when"], **values, **unused)
            workspace = document.save()
        except WorkspaceError as exc:
            self._show_problem("<br>".join(html.escape(p) for p in exc.problems) or html.escape(str(exc)),
                               exc.hint)
            return False
        except (KeyError, TypeError) as exc:
            self._show_problem(html.escape(str(exc).strip("'\"")), "give each alert a unique name")
            return False
        self._document = document
        self._origins = [table["name"] for table in self._rules]
        self.banner.hide()
        self.saved.emit(workspace)
        self.accept()
        return True

    def _show_problem(self, text: str, hint: Optional[str]) -> None:
        self.banner.setText(f"<b>Not saved.</b><br>{text}" + (f"<br>→ {html.escape(hint)}" if hint else ""))
        self.banner.show()
