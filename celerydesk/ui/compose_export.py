"""Workspace ▸ Export docker-compose.yml…: ask where, write the file, say what to do next.

The file itself comes from ``core.compose``; this module only asks for the path (a save dialog
opening on ``docker-compose.yml`` in the project folder, which asks before replacing a file) and
reports the outcome in a message box, or through ``inform`` when a caller (a test) passes one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Optional

from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from celerydesk.core import compose
from celerydesk.core.errors import DeskError
from celerydesk.core.workspace import load_workspace

TITLE = "Export docker-compose.yml"


def export_compose(parent: Optional[QWidget], workspace_path: os.PathLike | str, *,
                   path: Optional[os.PathLike | str] = None,
                   inform: Optional[Callable[[str, str, bool], None]] = None) -> Optional[Path]:
    """Write the workspace's compose file and return its path; None if cancelled or failed.

    Without ``path`` a save dialog asks for it. ``inform(title, text, ok)`` reports the outcome;
    it defaults to an information or a warning box. The saved workspace file is read, so the
    export has exactly the settings a ``celerydesk export compose`` would use.
    """
    inform = inform or (lambda title, text, ok: (QMessageBox.information if ok else QMessageBox.warning)(
        parent, title, text))
    try:
        ws = load_workspace(workspace_path)
    except DeskError as exc:
        inform(TITLE, f"The workspace cannot be read, so nothing was exported.\n\n{exc}", False)
        return None
    if path is None:
        chosen, _ = QFileDialog.getSaveFileName(parent, TITLE, str(compose.default_path(ws)),
                                                "Compose files (*.yml *.yaml);;All files (*)")
        if not chosen:
            return None
        path = chosen
    try:
        # The save dialog has already asked before replacing a file.
        written = compose.write_compose(ws, Path(path), overwrite=True)
    except DeskError as exc:
        inform(TITLE, f"Nothing was exported.\n\n{exc}", False)
        return None
    inform(TITLE, _next_steps(ws, written), True)
    return written


def _next_steps(ws, written: Path) -> str:
    lines = [f"Wrote {written}", f"Services: {', '.join(compose.service_names(ws))}.", "", "Next:",
             "• add a Dockerfile for the project (the comment at the top of the file shows one)"]
    if ws.flower.enabled:
        lines.append(f"• Flower's login is the desktop's, in {compose.flower_env_path(ws)} "
                     "(never committed: celerydesk's runtime folder ignores itself)")
    lines.append(f"• run `docker compose up -d` in {written.parent}")
    shadow = compose.shadowing_file(written)
    if shadow is not None:
        lines += ["", f"Note: {shadow.name} is in the same folder and `docker compose` reads it first; "
                      f"use `docker compose -f {written.name} up -d`."]
    return "\n".join(lines)
