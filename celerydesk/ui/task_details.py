"""The Tasks page's detail pane: the selected task's fields, arguments, result or traceback, its
timeline (each state with its time) and its family (parent, children and root: a chain, a group
or a chord as a tree), with Revoke, Terminate, Retry and Retry with edited arguments (the page
acts on them).

It shows a history row (``show_history``: the row, its timeline and its family, read by the
page off the GUI thread) or, when the history cannot be used, a record of the monitor's
in-memory store (``show_record``: no timeline, no family).
"""

from __future__ import annotations

from datetime import datetime
from typing import Optional

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QSplitter, QTreeWidget,
                               QTreeWidgetItem, QVBoxLayout, QWidget)

from celerydesk.ui import defs

RECORD_FIELDS = ("id", "name", "state", "worker", "queue", "args", "kwargs", "retries", "runtime", "result",
                 "exception")
HISTORY_FIELDS = ("id", "name", "state", "worker", "queue", "sent_by", "retries", "parent_id", "root_id", "eta",
                  "expires", "runtime", "wait")
_TIMES = frozenset({"eta", "expires"})


def detail_text(record) -> str:
    """A record of the monitor's in-memory store."""
    lines = [f"{k}: {getattr(record, k)}" for k in RECORD_FIELDS if getattr(record, k) not in (None, "")]
    if record.progress_meta:
        lines.append(f"progress: {record.progress_meta}")
    if record.traceback:
        lines += ["", record.traceback]
    return "\n".join(lines)


def history_text(row: dict, timeline: list, live=None) -> str:
    """A history row with its timeline (and the live store's progress, while it runs)."""
    lines = []
    for key in HISTORY_FIELDS:
        value = row.get(key)
        if value in (None, ""):
            continue
        if key in _TIMES:
            value = _local(value)
        elif key in ("runtime", "wait"):
            value = f"{value:.3f} s"
        lines.append(f"{key}: {value}")
    lines += _argument_lines(row)
    lines += [f"{key}: {row[key]}" for key in ("result", "exception") if row.get(key) not in (None, "")]
    if live is not None and live.progress_meta:
        lines.append(f"progress: {live.progress_meta}")
    if timeline:
        first = timeline[0][0]
        lines += ["", "timeline:"] + [f"  {_local(at)}  {state:<9} +{(at - first) * 1000:.1f} ms"
                                       for at, state in timeline]
    if row.get("traceback"):
        lines += ["", row["traceback"]]
    return "\n".join(lines)


def _argument_lines(row: dict) -> list[str]:
    if row.get("args_json") is not None:
        return [f"args: {row['args_json']}  (exact, as sent)", f"kwargs: {row['kwargs_json']}"]
    return [f"args: {row.get('args')}  (celery's repr)" if row.get("args") is not None else "args: (not seen)",
            f"kwargs: {row.get('kwargs')}"]


def _local(seconds: float) -> str:
    moment = datetime.fromtimestamp(seconds)
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


class QtTaskDetails(QWidget):
    revokeClicked = Signal(bool)  # terminate
    retryClicked = Signal()  # the exact arguments, or a refusal saying why
    retryEditedClicked = Signal()  # arguments edited by the user
    familyTaskClicked = Signal(str)  # a task of the family tree was clicked

    def __init__(self, parent=None):
        super().__init__(parent)
        self.text = QPlainTextEdit(self, readOnly=True)
        self.text.setFont(defs.monospace_font())
        self.family = QTreeWidget(self)
        self.family.setHeaderLabels(["Family", "State", "Id"])
        self.family.itemClicked.connect(self._on_family_clicked)
        self.family_label = QLabel(self)
        self.revoke_button, self.terminate_button = QPushButton("Revoke", self), QPushButton("Terminate", self)
        self.retry_button = QPushButton("Retry", self)
        self.retry_button.setToolTip("Send the task again with exactly its original arguments, or say why they "
                                     "cannot be known")
        self.edit_button = QPushButton("Retry with edited arguments…", self)
        self.revoke_button.clicked.connect(lambda: self.revokeClicked.emit(False))
        self.terminate_button.clicked.connect(lambda: self.revokeClicked.emit(True))
        self.retry_button.clicked.connect(self.retryClicked)
        self.edit_button.clicked.connect(self.retryEditedClicked)
        actions = QHBoxLayout()
        for button in (self.revoke_button, self.terminate_button, self.retry_button, self.edit_button):
            actions.addWidget(button)
        actions.addStretch(1)
        family_box = QWidget(self)
        family_layout = QVBoxLayout(family_box)
        family_layout.setContentsMargins(0, 0, 0, 0)
        family_layout.addWidget(self.family_label)
        family_layout.addWidget(self.family, 1)
        split = QSplitter(Qt.Orientation.Horizontal, self)
        split.addWidget(self.text)
        split.addWidget(family_box)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(actions)
        layout.addWidget(split, 1)
        self.show_record(None)

    def show_record(self, record: Optional[object]) -> None:
        self.text.setPlainText("" if record is None else detail_text(record))
        self._show_family(None, "")

    def show_history(self, row: Optional[dict], timeline: list, family: Optional[dict], live=None) -> None:
        self.text.setPlainText("" if row is None else history_text(row, timeline, live))
        self._show_family(family, row["id"] if row else "")

    def family_ids(self) -> list[str]:
        """The ids in the tree, depth first (for tests and the window)."""
        out: list[str] = []

        def walk(item: QTreeWidgetItem) -> None:
            out.append(item.data(0, Qt.ItemDataRole.UserRole))
            for i in range(item.childCount()):
                walk(item.child(i))

        for i in range(self.family.topLevelItemCount()):
            walk(self.family.topLevelItem(i))
        return out

    def _show_family(self, family: Optional[dict], selected: str) -> None:
        self.family.clear()
        if not family or family["size"] <= 1:
            self.family_label.setText("No parent or children" if family else "")
            self.family.setVisible(False)
            return
        self.family.setVisible(True)
        self.family_label.setText(f"{family['size']} task(s) under root {family['root'][:8]}"
                                  + ("" if family["complete"] else " (the first ones)"))

        def add(node: dict, parent) -> None:
            name = (node["name"] or "?").rsplit(".", 1)[-1]
            item = QTreeWidgetItem(parent, [name, node["state"] or "?", node["id"][:8]])
            item.setData(0, Qt.ItemDataRole.UserRole, node["id"])
            item.setToolTip(2, node["id"])
            if node["id"] == selected:
                font = item.font(0)
                font.setBold(True)
                for column in range(3):
                    item.setFont(column, font)
                self.family.setCurrentItem(item)
            for child in node["children"]:
                add(child, item)

        add(family["tree"], self.family)
        self.family.expandAll()
        for column in range(3):
            self.family.resizeColumnToContents(column)

    def _on_family_clicked(self, item: QTreeWidgetItem, _column: int) -> None:
        task_id = item.data(0, Qt.ItemDataRole.UserRole)
        if task_id:
            self.familyTaskClicked.emit(task_id)

