"""Retrying a task from the monitor: its original arguments read back, shown as JSON to edit."""

from __future__ import annotations

import ast
import json
from typing import Optional

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLineEdit

from celerydesk.core.limits import load_json


def parse_repr(text: Optional[str], default):
    """Events carry ``repr()`` of the arguments: read back what is a literal, else the default."""
    try:
        value = ast.literal_eval(text) if text else default
    except (ValueError, SyntaxError, RecursionError, MemoryError):  # not a literal, or too deep to read
        return default
    return value


class RetryDialog(QDialog):
    """The original arguments, as JSON, to send again as they are or edited."""

    def __init__(self, name: str, args, kwargs, parent=None):
        super().__init__(parent)
        self.setWindowTitle(f"Retry {name}")
        self.args_edit = QLineEdit(json.dumps(list(args)), self)
        self.kwargs_edit = QLineEdit(json.dumps(dict(kwargs)), self)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form = QFormLayout(self)
        form.addRow("args (JSON list)", self.args_edit)
        form.addRow("kwargs (JSON object)", self.kwargs_edit)
        form.addRow(buttons)

    def values(self) -> tuple[list, dict]:
        """ValueError (with what is wrong) when either is not JSON, or nested too deeply."""
        return load_json(self.args_edit.text() or "[]"), load_json(self.kwargs_edit.text() or "{}")
