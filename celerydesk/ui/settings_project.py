"""The Project page of the settings dialog: folder, Celery app, interpreter, and its check.

It also holds the services' CPU priority (``[project] nice``, core/priority.py).

Workers, beat and the introspector run in the *project's* interpreter, so the page can check
it before anything starts: ``core.interpreter.check_project`` (celery with its broker's client, then
celery's own ``find_app`` on the app, in the project folder with the workspace's environment).
It runs an interpreter for a second or more, so the page asks the window's
``InterpreterCheck`` service, and the answer, versions or the error with its fix, replaces the
status line.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable, Optional

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit,
                               QPushButton, QSpinBox, QVBoxLayout, QWidget)

from celerydesk.core.errors import DeskError
from celerydesk.core.priority import DEFAULT_NICE, MAX_NICE
from celerydesk.core.selfcmd import child_environ
from celerydesk.core.workspace import _resolve_python, detect_python
from celerydesk.core.workspace_edit import WorkspaceDocument
from celerydesk.services.interpreter_check import InterpreterCheck
from celerydesk.ui import defs
from celerydesk.ui.settings_pages import hint_label



def _browse_row(edit: QLineEdit, *buttons: QPushButton) -> QHBoxLayout:
    row = QHBoxLayout()
    row.setSpacing(defs.SMALL)
    row.addWidget(edit, 1)
    for button in buttons:
        row.addWidget(button)
    return row


class QtProjectPage(QWidget):
    """``[project]`` app, workdir and python; ``env`` is its own page, read here for the check."""

    def __init__(self, workspace_file: Path, env: Callable[[], dict], checker: InterpreterCheck,
                 broker_url: Optional[Callable[[], str]] = None, parent=None):
        super().__init__(parent)
        self._root = Path(workspace_file).parent
        self._env = env  # the Env page's current rows: the check uses what the user is editing
        # The Broker page's URL, as the worker would get it: the check asks for its transport's client.
        self._broker_url = broker_url
        self._checker = checker
        checker.finished.connect(self._on_checked)
        self.workdir = QLineEdit()
        self.workdir.setPlaceholderText(". (this file's folder)")
        self.app = QLineEdit()
        self.app.setPlaceholderText("the value of celery -A, e.g. storefront")
        self.python = QLineEdit()
        self.choose_button, self.browse_button = QPushButton("Choose…"), QPushButton("Browse…")
        self.nice = QSpinBox()
        self.nice.setRange(0, MAX_NICE)
        self.nice.setPrefix("nice ")
        self.nice.setToolTip("The nice value of workers, beat and Flower (0 to 19; higher runs later). "
                             "Saved, it applies from the next start of the stack.")
        self.check_button = QPushButton("Check")
        self.check_button.setToolTip("Run the interpreter: can it import celery with Redis support, and the app?")
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.choose_button.clicked.connect(self._choose_folder)
        self.browse_button.clicked.connect(self._browse_python)
        self.check_button.clicked.connect(self.check)
        self.workdir.textChanged.connect(self._update_placeholder)
        # The status sits in the interpreter's field: a wrapped label in a row of its own gets
        # a form row's height for its narrowest width, a gap above the text.
        interpreter = QVBoxLayout()
        interpreter.setSpacing(defs.SMALL)
        interpreter.addLayout(_browse_row(self.python, self.browse_button, self.check_button))
        interpreter.addWidget(self.status)
        form = QFormLayout()
        form.addRow("Project folder:", _browse_row(self.workdir, self.choose_button))
        form.addRow("Celery app:", self.app)
        form.addRow("Interpreter:", interpreter)
        form.addRow("CPU priority:", self._priority_field())
        layout = QVBoxLayout(self)
        layout.addWidget(hint_label("Workers and beat run in the project's own interpreter: it needs "
                                    "celery[redis] and your project's packages. Paths are relative to "
                                    "the workspace file's folder."))
        layout.addLayout(form)
        layout.addStretch(1)
        self._initial: dict = {}
        self._check_number = 0  # the latest check; an older one's answer is dropped
        self._set_status("Not checked yet.", "")

    def _priority_field(self) -> QVBoxLayout:
        """The nice value at its natural width, its meaning below it (in the field, as the status)."""
        row = QHBoxLayout()
        row.addWidget(self.nice)
        row.addStretch(1)
        field = QVBoxLayout()
        field.setSpacing(defs.SMALL)
        field.addLayout(row)
        field.addWidget(hint_label(f"Workers, beat and Flower run below this window's priority (nice "
                                   f"{DEFAULT_NICE} by default), so it stays responsive while they keep "
                                   "every core busy; an idle machine still gives them all they ask for. "
                                   "0 runs them as a terminal would."))
        return field

    # -- values --------------------------------------------------------------------------------------

    def load(self, doc: WorkspaceDocument) -> None:
        self._initial = {key: doc.get(("project", key)) for key in ("app", "workdir", "python", "nice")}
        nice = self._initial["nice"]
        valid = isinstance(nice, int) and not isinstance(nice, bool) and 0 <= nice <= MAX_NICE
        self.nice.setValue(nice if valid else DEFAULT_NICE)
        self.app.setText(str(self._initial["app"] or ""))
        self.workdir.setText(str(self._initial["workdir"] or ""))
        self.python.setText(str(self._initial["python"] or ""))
        self._update_placeholder()

    def values(self) -> dict:
        return {"app": self.app.text().strip() or None, "workdir": self.workdir.text().strip() or None,
                "python": self.python.text().strip() or None,
                # The default is left unwritten: the file keeps only what the user chose.
                "nice": None if self.nice.value() == DEFAULT_NICE and self._initial["nice"] is None
                else self.nice.value()}

    def form_problems(self) -> list[str]:
        return []

    def apply(self, doc: WorkspaceDocument) -> None:
        for key, value in self.values().items():
            # `nice = true` equals 1 but is refused by the loader: a bool is rewritten too.
            if value != self._initial[key] or type(value) is not type(self._initial[key]):
                doc.set(("project", key), value)

    def widget_for(self, problem: str) -> Optional[QWidget]:
        for key in ("app", "workdir", "python", "nice"):
            if problem.startswith(f"[project] {key}"):
                return getattr(self, key)
        return None

    def workdir_path(self) -> Path:
        return (self._root / (self.workdir.text().strip() or ".")).resolve()

    def python_path(self) -> Optional[Path]:
        """The interpreter the loader would pick for what the fields say now (None: not found)."""
        text = self.python.text().strip()
        if not text:
            return detect_python(self.workdir_path()) or Path(sys.executable)
        return _resolve_python(text, self.workdir_path())

    def _update_placeholder(self) -> None:
        found = detect_python(self.workdir_path())
        self.python.setPlaceholderText(f"detected: {found}" if found else
                                       "none detected: celerydesk's own interpreter")

    # -- choosers --------------------------------------------------------------------------------------

    def _relative(self, path: Path, base: Path) -> str:
        """Inside ``base``, relative (the file can be committed and cloned elsewhere); else absolute."""
        try:
            return str(Path(path).resolve().relative_to(base.resolve())) or "."
        except ValueError:
            return str(path)

    def _choose_folder(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, "Project folder", str(self.workdir_path()))
        if chosen:
            self.workdir.setText(self._relative(Path(chosen), self._root))

    def _browse_python(self) -> None:
        start = self.python_path() or self.workdir_path()
        chosen, _ = QFileDialog.getOpenFileName(self, "The project's interpreter", str(start))
        if chosen:
            # Relative values are read from the project folder (python = ".venv/bin/python").
            relative = self._relative(Path(chosen), self.workdir_path())
            self.python.setText(relative if relative != chosen and "/" in relative else chosen)

    # -- the check ------------------------------------------------------------------------------------

    def check(self) -> None:
        """Check the interpreter and the app off the GUI thread; the answer lands in ``status``."""
        python = self.python_path()
        if python is None:
            self._set_status(f"✗ {self.python.text().strip()!r} was not found (looked in {self.workdir_path()} "
                             "and on PATH)\n→ point it at your project's interpreter, e.g. .venv/bin/python",
                             defs.text_style(defs.ERROR_TEXT))
            return
        env = child_environ()
        env.update(self._env())
        if self._broker_url is not None and self._broker_url():
            env["CELERY_BROKER_URL"] = self._broker_url()
        env.pop("PYTHONHOME", None)  # as for the workers: the project interpreter's own home
        self.check_button.setEnabled(False)
        self._set_status(f"Checking {python} …", "")
        self._check_number = self._checker.check(python, self.app.text().strip(), self.workdir_path(), env)

    def _on_checked(self, number: int, summary: Optional[str], error: Optional[BaseException]) -> None:
        if number != self._check_number:
            return
        self.check_button.setEnabled(True)
        if error is None:
            self._set_status(f"✓ {summary}", defs.text_style(defs.OK_TEXT))
        elif isinstance(error, DeskError):
            self._set_status(f"✗ {error.message}" + (f"\n→ {error.hint}" if error.hint else ""), defs.text_style(defs.ERROR_TEXT))
        else:
            self._set_status(f"✗ the check failed: {type(error).__name__}: {error}", defs.text_style(defs.ERROR_TEXT))

    def _set_status(self, text: str, style: str) -> None:
        self.status.setText(text)
        self.status.setStyleSheet(style)

    @property
    def checking(self) -> bool:
        return not self.check_button.isEnabled()
