"""Retry with edited arguments: a task's arguments shown as JSON, to change and send.

The plain Retry sends the exact original arguments or refuses (``core.history.arguments``).
This dialog is the other way: what it sends is what the user leaves in it, so it says where the
arguments it starts from came from, and warns when they may differ from what the task ran with
(read back from celery's repr, which is cut at 1,024 characters and only shows literals).
"""

from __future__ import annotations

import ast
import json
from typing import Optional

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLabel, QLineEdit

from celerydesk.core.limits import load_json

EXACT_NOTE = "These are the task's exact original arguments. What you send is what you leave here."
REPR_WARNING = ("Warning: these arguments are read back from celery's repr of them, not known exactly: {reason}. "
                "Check them: what you send is what you leave here, not what the task first ran with.")


def parse_repr(text: Optional[str], default):
    """A best guess at arguments from their repr, to start editing from (never sent as is):
    what reads back as a literal, else the default."""
    try:
        value = ast.literal_eval(text) if text else default
    except (ValueError, SyntaxError, RecursionError, MemoryError):  # not a literal, or too deep to read
        return default
    return value


class RetryDialog(QDialog):
    """Arguments as JSON, to send again edited; ``note`` says where they came from."""

    def __init__(self, name: str, args, kwargs, note: str = EXACT_NOTE, parent=None):
        super().__init__(parent)
        self.setWindowTitle(f"Retry {name} with edited arguments")
        self.note = QLabel(note, self)
        self.note.setWordWrap(True)
        if note != EXACT_NOTE:
            self.note.setStyleSheet("QLabel { background: #fdebd0; padding: 6px; }")
        self.args_edit = QLineEdit(json.dumps(list(args), ensure_ascii=False, default=repr), self)
        self.kwargs_edit = QLineEdit(json.dumps(dict(kwargs), ensure_ascii=False, default=repr), self)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Send")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow(self.note)
        form.addRow("args (JSON list)", self.args_edit)
        form.addRow("kwargs (JSON object)", self.kwargs_edit)
        form.addRow(buttons)
        self.resize(640, self.sizeHint().height())

    def values(self) -> tuple[list, dict]:
        """ValueError (with what is wrong) when either is not JSON, or nested too deeply."""
        args, kwargs = load_json(self.args_edit.text() or "[]"), load_json(self.kwargs_edit.text() or "{}")
        if not isinstance(args, list) or not isinstance(kwargs, dict):
            raise ValueError("args must be a JSON list and kwargs a JSON object")
        return args, kwargs
