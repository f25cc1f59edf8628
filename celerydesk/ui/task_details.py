"""The Tasks page's detail pane: the selected task's fields, traceback and progress, with the
Revoke, Terminate and Retry buttons (the page acts on them)."""

from __future__ import annotations

from typing import Optional

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget

from celerydesk.ui import defs

FIELDS = ("id", "name", "state", "worker", "queue", "args", "kwargs", "retries", "runtime", "result", "exception")


def detail_text(record) -> str:
    lines = [f"{k}: {getattr(record, k)}" for k in FIELDS if getattr(record, k) not in (None, "")]
    if record.progress_meta:
        lines.append(f"progress: {record.progress_meta}")
    if record.traceback:
        lines += ["", record.traceback]
    return "\n".join(lines)


class QtTaskDetails(QWidget):
    revokeClicked = Signal(bool)  # terminate
    retryClicked = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.text = QPlainTextEdit(self, readOnly=True)
        self.text.setFont(defs.monospace_font())
        self.revoke_button, self.terminate_button, self.retry_button = (
            QPushButton("Revoke", self), QPushButton("Terminate", self), QPushButton("Retry…", self))
        self.revoke_button.clicked.connect(lambda: self.revokeClicked.emit(False))
        self.terminate_button.clicked.connect(lambda: self.revokeClicked.emit(True))
        self.retry_button.clicked.connect(self.retryClicked)
        actions = QHBoxLayout()
        for button in (self.revoke_button, self.terminate_button, self.retry_button):
            actions.addWidget(button)
        actions.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(actions)
        layout.addWidget(self.text)

    def show_record(self, record: Optional[object]) -> None:
        self.text.setPlainText("" if record is None else detail_text(record))
