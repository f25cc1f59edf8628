"""The workspace settings dialog: edits ``celerydesk.toml`` through a WorkspaceDocument.

OK applies what the user changed to a copy of the document, validates it with the loader's
rules and saves it atomically, keeping the file's comments and unknown keys. Any problem
(the form's own, the validation's, a file changed on disk meanwhile) is listed in a banner
at the top, the fields it names are outlined with the problem as their tooltip, the first
one's tab is shown, and the dialog stays open with every edit in place. Cancel writes nothing.
"""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Optional, Union

import shiboken6
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QTabWidget, QVBoxLayout, QWidget

from celerydesk.core.errors import WorkspaceError
from celerydesk.core.workspace_edit import WorkspaceConflict, WorkspaceDocument
from celerydesk.services.interpreter_check import InterpreterCheck
from celerydesk.ui import defs
from celerydesk.ui.settings_pages import QtBrokerPage, QtEnvPage, QtServicesPage
from celerydesk.ui.settings_project import QtProjectPage
from celerydesk.ui.settings_workers import QtWorkersPage

_BANNER_STYLE = ("QLabel#settingsBanner { background: #fdecea; color: #611a15; border: 1px solid #e6a5a0;"
                 " border-radius: 4px; padding: 6px; }")
# A field at fault gets a tinted background through its palette: a style-sheet border would
# switch spin boxes and combos to style-sheet drawing, which loses their native arrows.
_PROBLEM_TINT = QColor("#f8d0cd")


class QtSettingsDialog(QDialog):
    """Settings of one workspace. ``saved(path)`` is emitted once the file has been written."""

    saved = Signal(str)

    def __init__(self, document: Union[WorkspaceDocument, str, os.PathLike], checker: InterpreterCheck,
                 parent: Optional[QWidget] = None):
        """``checker`` runs the Project page's interpreter check (the window's context has one)."""
        super().__init__(parent)
        # A path is loaded here: WorkspaceError (BrokenWorkspaceFile included) reaches the caller.
        self._document = document if isinstance(document, WorkspaceDocument) else WorkspaceDocument.load(document)
        self._force = False  # set after a conflict was shown: the next OK overwrites
        self.backup: Optional[Path] = None
        self._marked: dict[QWidget, QPalette] = {}  # fields outlined as wrong, with their own palettes
        self.setWindowTitle(f"Settings — {self._document.path.parent.name or self._document.path}")
        
        self.banner = QLabel()
        self.banner.setObjectName("settingsBanner")
        self.banner.setStyleSheet(_BANNER_STYLE)
        self.banner.setWordWrap(True)
        self.banner.setTextFormat(Qt.TextFormat.RichText)
        self.banner.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.banner.hide()

        self.env_page = QtEnvPage()
        self.broker_page = QtBrokerPage()
        self.project_page = QtProjectPage(self._document.path, self.env_page.env, checker, self.broker_page.broker_url)
        self.workers_page = QtWorkersPage()
        self.services_page = QtServicesPage()
        self.pages = [self.project_page, self.env_page, self.broker_page, self.workers_page, self.services_page]
        self.tabs = QTabWidget()
        for page, title in zip(self.pages, ("Project", "Environment", "Broker", "Workers", "Beat && Flower")):
            page.layout().setContentsMargins(defs.MARGIN * 2, defs.MARGIN * 2, defs.MARGIN * 2, defs.MARGIN)
            self.tabs.addTab(page, title)

        self.file_label = QLabel(f"Workspace file: {self._document.path}")
        self.file_label.setEnabled(False)  # muted
        self.file_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.button_box = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.button_box.accepted.connect(self.accept)
        self.button_box.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(defs.MARGIN * 2, defs.MARGIN * 2, defs.MARGIN * 2, defs.MARGIN * 2)
        layout.setSpacing(defs.SPACING)
        layout.addWidget(self.banner)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.file_label)
        layout.addWidget(self.button_box)
        for page in self.pages:
            page.load(self._document)
        self.resize(680, 480)

    @property
    def document(self) -> WorkspaceDocument:
        """The document as last saved (or as given, before any save)."""
        return self._document

    @property
    def ok_button(self):
        return self.button_box.button(QDialogButtonBox.StandardButton.Ok)

    # -- OK ----------------------------------------------------------------------------------------

    def accept(self) -> None:
        self._clear_problems()
        problems = [p for page in self.pages for p in page.form_problems()]
        if problems:
            self.show_problems(problems)
            return
        edited = self._document.copy()  # a failed OK leaves the document as it was: OK can be pressed again
        try:
            for page in self.pages:
                page.apply(edited)
            changed = edited.modified or self._force
            if changed:
                edited.save(force=self._force)
        except WorkspaceConflict as exc:
            self._force = True
            self.ok_button.setText("Overwrite")
            self.show_problems(exc.problems, exc.hint + " (press Overwrite to save yours anyway, "
                                                        "or Cancel and reopen Settings to see theirs)")
            return
        except WorkspaceError as exc:
            self.show_problems(exc.problems, exc.hint)
            return
        except (OSError, KeyError, TypeError) as exc:  # a disk error, or a value the file cannot hold
            self.show_problems([f"{self._document.path}: not saved: {exc}"], "")
            return
        self._document = edited
        self.backup = edited.backup  # an overwritten file that did not parse is kept there
        if changed:
            self.saved.emit(str(edited.path))
        super().accept()

    # -- problems ----------------------------------------------------------------------------------

    def show_problems(self, problems: list[str], hint: str = "") -> None:
        """List ``problems`` in the banner and tint the fields they name (the problem is their
        tooltip); the first one's tab is shown."""
        first_tab = None
        for problem in problems:
            for index, page in enumerate(self.pages):
                widget = page.widget_for(problem)
                if widget is not None:
                    self._mark(widget, problem)
                    first_tab = index if first_tab is None else first_tab
                    break
        if first_tab is not None:
            self.tabs.setCurrentIndex(first_tab)
            hint = "correct the fields tinted red, then OK again"  # the file's keys are behind those fields
        items = "".join(f"<li>{html.escape(p)}</li>" for p in problems)
        hint_html = f"<p>→ {html.escape(hint)}</p>" if hint else ""
        self.banner.setText(f"<b>Not saved.</b><ul style='margin: 2px 0 0 -20px;'>{items}</ul>{hint_html}")
        self.banner.show()

    def problem_widgets(self) -> list[QWidget]:
        """The fields currently tinted as wrong."""
        return list(self._marked)

    def _mark(self, widget: QWidget, problem: str) -> None:
        if widget not in self._marked:
            self._marked[widget] = QPalette(widget.palette())
        palette = QPalette(widget.palette())
        for role in (QPalette.ColorRole.Base, QPalette.ColorRole.Button):
            palette.setColor(role, _PROBLEM_TINT)
        widget.setPalette(palette)
        widget.setAutoFillBackground(True)
        widget.setToolTip(problem)

    def _clear_problems(self) -> None:
        self.banner.hide()
        for widget, palette in self._marked.items():
            if shiboken6.isValid(widget):  # a removed table row deletes its cells
                widget.setPalette(palette)
                widget.setToolTip("")
        self._marked.clear()
