"""Shared look: spacing, state colours, fonts. One place, so widgets agree (git-cola's defs.py)."""

from __future__ import annotations

from PySide6.QtGui import QColor, QFont, QFontDatabase

from celerydesk.core.states import ProcessState

MARGIN = 8
SPACING = 6
SMALL = 4

# Badge colours per state: calm for the steady states, loud for what needs attention.
STATE_COLORS = {
    ProcessState.STOPPED: QColor("#7f8c8d"),
    ProcessState.STARTING: QColor("#2e86de"),
    ProcessState.RUNNING: QColor("#27ae60"),
    ProcessState.BACKOFF: QColor("#e67e22"),
    ProcessState.STOPPING: QColor("#8e44ad"),
    ProcessState.EXITED: QColor("#c0392b"),
    ProcessState.FATAL: QColor("#e0115f"),
}

# Log levels, as celery writes them ("[... INFO/MainProcess] ...").
LEVEL_COLORS = {
    "DEBUG": QColor("#8a8a8a"),
    "INFO": None,  # the palette's text colour
    "WARNING": QColor("#d68910"),
    "ERROR": QColor("#e74c3c"),
    "CRITICAL": QColor("#ff2d55"),
}


def monospace_font() -> QFont:
    font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
    return font
