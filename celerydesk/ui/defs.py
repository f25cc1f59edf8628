"""Shared look: spacing, state colours, fonts. One place, so widgets agree (git-cola's defs.py)."""

from __future__ import annotations

import zlib

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


# -- the log pane (ui/log_view.py, ui/log_model.py) ------------------------------------------------

LOG_CAPACITY = 50_000  # lines kept per pane; the full history is in the log files
LOG_FLUSH_MS = 16  # new lines reach the models at most once per frame ...
LOG_FLOOD_LINES = 500  # ... but when a frame brought this many ...
LOG_FLOOD_FLUSH_MS = 50  # ... the next comes later: 20 repaints a second during a flood
LOG_MAX_PAINTED_CHARS = 2000  # a longer line is cut when painted (and in full when copied)

TASK_ID_COLOR = QColor("#2e86de")  # task ids are links: click one to filter on it
SYSTEM_LINE_COLOR = QColor("#8e44ad")  # celerydesk's own lines about a service
# The service tag of each line in the combined pane (no orange or red: those mean a level).
SERVICE_TAG_COLORS = {"broker": QColor("#34495e"), "beat": QColor("#8e44ad"), "flower": QColor("#16a085")}
WORKER_TAG_COLORS = [QColor(c) for c in ("#2e86de", "#27ae60", "#7f6a4d", "#5d6d7e")]


def service_tag_color(key: str) -> QColor:
    """The same colour for a service in every run: fixed for the three, from the name for workers."""
    color = SERVICE_TAG_COLORS.get(key)
    return color if color is not None else WORKER_TAG_COLORS[zlib.crc32(key.encode()) % len(WORKER_TAG_COLORS)]


# The 16 basic ANSI colours (xterm's), readable on light and dark backgrounds alike.
ANSI_COLORS = [QColor(c) for c in (
    "#000000", "#cd3131", "#0dbc79", "#b59a00", "#2472c8", "#bc3fbc", "#11a8cd", "#a0a0a0",
    "#666666", "#f14c4c", "#23d18b", "#d7ba00", "#3b8eea", "#d670d6", "#29b8db", "#e5e5e5",
)]


def ansi_color(color) -> QColor:
    """A QColor for an SGR colour: a 0-255 palette index, or an (r, g, b) tuple."""
    if isinstance(color, tuple):
        return QColor(*color)
    if color < 16:
        return ANSI_COLORS[color]
    if color < 232:  # the 6x6x6 cube
        color -= 16
        steps = (0, 95, 135, 175, 215, 255)
        return QColor(steps[color // 36], steps[(color // 6) % 6], steps[color % 6])
    gray = 8 + (color - 232) * 10
    return QColor(gray, gray, gray)
