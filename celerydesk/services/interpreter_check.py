"""The Settings dialog's interpreter check, off the GUI thread.

``core.interpreter.check_project`` runs the project's interpreter (celery and Redis support,
then the app's import) for a second or more. ``check`` starts one and returns its number;
``finished`` brings the answer back with that number, so a page that started another check
meanwhile drops the older answer.
"""

from __future__ import annotations

import itertools
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from celerydesk.services.background import run_in_background


class InterpreterCheck(QObject):
    finished = Signal(int, object, object)  # check number, summary (str) or None, error or None

    def __init__(self, parent=None):
        super().__init__(parent)
        self._numbers = itertools.count(1)

    def check(self, python: Path, app: str, workdir: Path, env: dict) -> int:
        from celerydesk.core.interpreter import check_project

        number = next(self._numbers)
        run_in_background(lambda: check_project(python, app, workdir, env),
                          lambda summary, error: self.finished.emit(number, summary, error), self)
        return number
