"""Shared look: spacing, state colours, fonts. One place, so widgets agree (git-cola's defs.py).

The colours are chosen on a light background. Text drawn in one of them goes through
``readable(color, background)``, which keeps it when it stands out from the palette's
background and otherwise lightens it (on a dark palette) or darkens it (on a light one) just
enough: a dark desktop theme gets legible log lines, tags and links without a second set of colours.
"""

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


# WCAG's minimum contrast for large text and for the parts of a control one must see: what a
# coloured log line or tag keeps against its background. Most colours above meet it on a light
# background as they are; the dark-on-dark ones (a navy tag, a purple line) do not on a dark one.
MIN_CONTRAST = 3.0
_readable: dict[tuple[int, int, float], QColor] = {}


def luminance(color: QColor) -> float:
    """Relative luminance (WCAG 2): 0 for black, 1 for white."""
    def channel(value: float) -> float:
        return value / 12.92 if value <= 0.03928 else ((value + 0.055) / 1.055) ** 2.4

    return 0.2126 * channel(color.redF()) + 0.7152 * channel(color.greenF()) + 0.0722 * channel(color.blueF())


def contrast(a: QColor, b: QColor) -> float:
    """WCAG contrast ratio, 1 (none) to 21 (black on white)."""
    la, lb = luminance(a), luminance(b)
    return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)


def is_dark(background: QColor) -> bool:
    return luminance(background) < 0.18  # below mid-grey's (#767676 is 0.18)


def readable(color: QColor, background: QColor, minimum: float = MIN_CONTRAST) -> QColor:
    """``color``, or the nearest colour of its hue that stands out from ``background`` by ``minimum``."""
    key = (color.rgba(), background.rgba(), minimum)
    found = _readable.get(key)
    if found is None:
        found = QColor(color)
        hue, saturation, lightness, alpha = found.getHslF()
        step = 0.04 if is_dark(background) else -0.04
        while contrast(found, background) < minimum and (lightness < 1.0 if step > 0 else lightness > 0.0):
            lightness = min(1.0, max(0.0, lightness + step))
            found = QColor.fromHslF(max(hue, 0.0), saturation, lightness, alpha)
        _readable[key] = found
    return found


# Messages in a colour (a field's error, a warning, a check that passed) are read, not glanced
# at: WCAG's contrast for body text.
MESSAGE_CONTRAST = 4.5
ERROR_TEXT, WARNING_TEXT, OK_TEXT = QColor("#c0392b"), QColor("#9a6700"), QColor("#1e8449")


def text_style(color: QColor) -> str:
    """A label's style sheet for a message in ``color``, made readable on the application's palette."""
    from PySide6.QtGui import QGuiApplication

    background = QGuiApplication.palette().window().color()
    return f"color: {readable(color, background, MESSAGE_CONTRAST).name()};"


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
