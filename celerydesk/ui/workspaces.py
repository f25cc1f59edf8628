"""Opening workspaces: the recent list, the Open dialog, and a new workspace from a project folder.

The recent list lives in QSettings (most recent first, at most ten, files that no longer exist
dropped when read). It is stored as one JSON string, because QSettings' INI back-end gives a
one-element list back as a plain string. The settings object is a parameter, so tests (and a
portable build) can point it at a file of their own.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable, Optional

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QDialog, QFileDialog, QInputDialog, QMessageBox, QWidget

from celerydesk.core.errors import DeskError, WorkspaceError
from celerydesk.core.workspace import FILE_NAME
from celerydesk.core.workspace_edit import (BrokenWorkspaceFile, WorkspaceDocument, create_workspace,
                                            guess_app, move_broken_aside)

MAX_RECENT = 10
RECENT_KEY = "workspaces/recent"


# -- the recent list ------------------------------------------------------------------------------


def _normal(path: os.PathLike | str) -> Path:
    path = Path(path).expanduser().absolute()
    return path / FILE_NAME if path.is_dir() else path


def _read(settings: QSettings) -> list[str]:
    try:
        value = json.loads(settings.value(RECENT_KEY, "[]") or "[]")
    except (TypeError, ValueError):
        return []
    return [p for p in value if isinstance(p, str)] if isinstance(value, list) else []


def _write(settings: QSettings, paths: list[str]) -> None:
    settings.setValue(RECENT_KEY, json.dumps(paths))
    settings.sync()


def recent_workspaces(settings: Optional[QSettings] = None) -> list[Path]:
    """The recent workspace files, most recent first; ones that no longer exist are dropped."""
    settings = settings if settings is not None else QSettings()
    stored = _read(settings)
    existing = [p for p in stored if Path(p).is_file()]
    if existing != stored:
        _write(settings, existing)
    return [Path(p) for p in existing]


def add_recent(path: os.PathLike | str, settings: Optional[QSettings] = None) -> list[Path]:
    """Put ``path`` (a workspace file, or its folder) first; keep at most MAX_RECENT."""
    settings = settings if settings is not None else QSettings()
    path = str(_normal(path))
    paths = [path] + [p for p in _read(settings) if p != path and Path(p).is_file()]
    _write(settings, paths[:MAX_RECENT])
    return [Path(p) for p in paths[:MAX_RECENT]]


def remove_recent(path: os.PathLike | str, settings: Optional[QSettings] = None) -> None:
    settings = settings if settings is not None else QSettings()
    _write(settings, [p for p in _read(settings) if p != str(_normal(path))])


# -- Open -------------------------------------------------------------------------------------------


def workspace_in(selected: os.PathLike | str) -> Optional[Path]:
    """The workspace file a selection means: the file itself, or the one in a chosen folder."""
    path = Path(selected)
    if path.is_dir():
        path = path / FILE_NAME
    return path.absolute() if path.is_file() else None


class QtWorkspaceFileDialog(QFileDialog):
    """A file dialog that takes a ``celerydesk.toml``, or a project folder holding one: Open on
    such a folder opens its workspace instead of entering the folder."""

    def __init__(self, parent: Optional[QWidget] = None, start_dir: Optional[str] = None):
        super().__init__(parent, "Open workspace — a celerydesk.toml, or a project folder that has one",
                         start_dir or str(Path.home()))
        # The native dialogs cannot accept a file and a folder in one dialog; Qt's own can.
        self.setOption(QFileDialog.Option.DontUseNativeDialog, True)
        self.setFileMode(QFileDialog.FileMode.ExistingFile)
        self.setNameFilters([f"celerydesk workspace ({FILE_NAME})", "TOML files (*.toml)", "All files (*)"])
        self.chosen: Optional[Path] = None

    def accept(self) -> None:
        for selected in self.selectedFiles():
            found = workspace_in(selected)
            if found is not None:
                self.chosen = found
                QDialog.accept(self)  # QFileDialog.accept would enter the folder instead
                return
        super().accept()


def choose_workspace(parent: Optional[QWidget] = None, start_dir: Optional[str] = None) -> Optional[Path]:
    """Ask for a workspace to open; None if cancelled."""
    dialog = QtWorkspaceFileDialog(parent, start_dir)
    if dialog.exec() != QDialog.DialogCode.Accepted:
        return None
    if dialog.chosen is not None:
        return dialog.chosen
    files = dialog.selectedFiles()
    return workspace_in(files[0]) if files else None


# -- New --------------------------------------------------------------------------------------------


def new_workspace(parent: Optional[QWidget] = None, folder: Optional[os.PathLike | str] = None, *,
                  ask_app: Optional[Callable[[str], Optional[str]]] = None,
                  inform: Optional[Callable[[str, str], None]] = None) -> Optional[Path]:
    """Make a workspace for a project folder and return its file (None if cancelled).

    Asks for the folder unless given, then for the Celery app with a guess from the folder
    (``ask_app(guess)``), and writes the file naming the folder's .venv if it has one. A folder
    that already has a workspace opens it; one whose file does not parse has it moved aside
    (``celerydesk.toml.broken-<time>``) and the user told where. ``inform(title, text)``
    reports; both default to message boxes.
    """
    if folder is None:
        chosen = QFileDialog.getExistingDirectory(parent, "New workspace: choose the project folder", str(Path.home()))
        if not chosen:
            return None
        folder = chosen
    folder = Path(folder).absolute()
    inform = inform or (lambda title, text: QMessageBox.information(parent, title, text))
    ask_app = ask_app or (lambda guess: _ask_app(parent, folder, guess))
    path = folder / FILE_NAME
    broken = False
    if path.exists():
        try:
            WorkspaceDocument.load(path)
        except BrokenWorkspaceFile:
            broken = True
        except WorkspaceError:
            pass  # valid TOML that cannot be edited here: still a workspace to open
        if not broken:
            inform("Workspace exists", f"{folder} already has a {FILE_NAME}; opening it.")
            return path
    app = (ask_app(guess_app(folder)) or "").strip()
    if not app:
        return None
    try:
        if broken:
            backup = move_broken_aside(path)
            inform("Workspace file kept aside", f"{path} did not parse, so it was kept as {backup} "
                                                f"and a new {FILE_NAME} was written.")
        return create_workspace(folder, app)
    except (DeskError, OSError, ValueError) as exc:
        inform("Cannot create the workspace", str(exc))
        return None


def _ask_app(parent: Optional[QWidget], folder: Path, guess: str) -> Optional[str]:
    text, ok = QInputDialog.getText(parent, "New workspace",
                                    f"The Celery app in {folder.name} (the value of `celery -A`):", text=guess)
    return text if ok else None
