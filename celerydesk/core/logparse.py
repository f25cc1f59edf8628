"""Reading the lines services write: their level, the task ids in them, their ANSI colours.

No Qt: the log pane (``celerydesk.ui.log_model``) and anything headless use it alike.

What is recognised:

- celery's ``[2026-11-25 12:00:00,123: INFO/MainProcess] ...`` (any process name after the
  slash: ``WARNING/ForkPoolWorker-1``, ``INFO/Beat``);
- redis-server's ``812:M 25 Nov 2026 12:00:00.123 * Ready ...`` markers: ``.`` debug,
  ``-`` verbose (shown as debug), ``*`` notice (info), ``#`` warning;
- tornado/Flower's ``[I 251125 12:00:00 command:168] ...`` (D, I, W, E, C);
- Python's own: logging's bare ``WARNING:name:...``, ``warnings``' ``file.py:12: SomeWarning: ...``,
  and ``Traceback (most recent call last):`` as an error.

A line with none of these (a traceback's frames, a banner, a task's print) is a continuation:
it takes the level of the line before it in the same stream, which is what a reader assumes.

Cost matters more than completeness: :class:`LineParser` runs on every line of a flood, so it
does one anchored ``re.match`` per line and nothing else. Task ids and ANSI spans are only
needed for the rows on screen, so they are computed on demand (:func:`task_id_spans`,
:func:`ansi_spans`), never for every line.
"""

from __future__ import annotations

import re
from typing import NamedTuple, Optional, Union

DEBUG, INFO, WARNING, ERROR, CRITICAL = 10, 20, 30, 40, 50  # the logging module's numbers
LEVEL_NAMES = {DEBUG: "DEBUG", INFO: "INFO", WARNING: "WARNING", ERROR: "ERROR", CRITICAL: "CRITICAL"}
LEVELS = {name: number for number, name in LEVEL_NAMES.items()}

# Every escape sequence a terminal would swallow: CSI (colours, cursor moves, erase), OSC
# (titles, hyperlinks; ended by BEL or ST), and the rest (ESC, intermediates, a final byte:
# "ESC ( B" selects a character set, "ESC 7" saves the cursor).
_ESCAPE = re.compile(r"\x1b\[([0-?]*)[ -/]*([@-~])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[ -/]*[0-~]")

_LEVEL_WORD = r"DEBUG|INFO|WARNING|ERROR|CRITICAL"
# One anchored alternation; the group that matched says which format, its text says the level.
_HEADER = re.compile(
    r"\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}: (" + _LEVEL_WORD + r")/"  # celery
    r"|\d+:[A-Z] \d\d? \w{3} \d{4} \d\d:\d\d:\d\d\.\d{3} ([.*#-]) "  # redis-server
    r"|\[([DIWEC]) \d{6} \d\d:\d\d:\d\d "  # tornado / Flower
    r"|(" + _LEVEL_WORD + r"):"  # logging.basicConfig
    r"|(Traceback) \(most recent call last\)"  # an uncaught exception
    r"|[^\s:]+\.py:\d+: \w*(Warning): "  # warnings.warn's "path.py:12: DeprecationWarning: ..."
)
_TOKEN_LEVEL = {
    **LEVELS,
    ".": DEBUG, "-": DEBUG, "*": INFO, "#": WARNING,
    "D": DEBUG, "I": INFO, "W": WARNING, "E": ERROR, "C": CRITICAL,
    "Traceback": ERROR, "Warning": WARNING,
}

# Celery's ids are uuid4s, found anywhere in a line; a custom id is found where celery's task
# log format puts it: "Task name[id] received" and "] name[id]: message".
_TASK_ID = re.compile(
    r"(?:Task [\w.:]+|\] [\w.]+)\[([^\]\s]{1,200})\]"
    r"|\b([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\b"
)

# celerydesk's own "[celerydesk] ..." lines about a service: these deserve attention.
_SYSTEM_TROUBLE = re.compile(r"cannot start|killed|still running|exited with code (?!0\b)")


def header_level(plain: str) -> Optional[int]:
    """The level a line declares, or None for a continuation line."""
    m = _HEADER.match(plain)
    return None if m is None else _TOKEN_LEVEL[m[m.lastindex]]


def system_level(text: str) -> int:
    """The level of one of celerydesk's own lines about a service."""
    return WARNING if _SYSTEM_TROUBLE.search(text) else INFO


# What a program that failed to start says last about why: an exception line ("ModuleNotFoundError:
# No module named 'shopp'"), celery's own sentences ("Unable to load celery application."), a
# CRITICAL/ERROR record. Not celerydesk's own lines, which say only that it exited.
_CAUSE = re.compile(r"^\w+(\.\w+)*(Error|Exception|Exit):|^Error:|Unable to |\b(ERROR|CRITICAL)\b|# (Fatal|Error)|FATAL")


def likely_cause(lines) -> Optional[str]:
    """The last line of ``lines`` that reads like the reason a program failed, with the one
    or two lines that continue it ("Unable to load celery application." / "The module shopp
    was not found."), ANSI stripped, on one line; None if nothing reads like a reason."""
    plain = [strip_ansi(line).strip() for line in lines]
    plain = [line for line in plain if line and not line.startswith("[celerydesk]")]
    for index in range(len(plain) - 1, -1, -1):
        if _CAUSE.search(plain[index]):
            following = [line for line in plain[index + 1:index + 3] if not _CAUSE.search(line)]
            cause = " ".join([plain[index], *following])
            return cause if len(cause) <= 300 else cause[:297] + "..."
    return None


def strip_ansi(text: str) -> str:
    """The text a terminal would show: escape sequences removed, and after a carriage return
    only what overwrote the line (progress bars)."""
    if "\x1b" in text:
        text = _ESCAPE.sub("", text)
    if "\r" in text:
        text = text.rstrip("\r").rpartition("\r")[2]
    return text


class LineParser:
    """Plain text and level for the lines of one stream (one service's stdout, say).

    Stateful on purpose: a continuation line inherits the level of the line before it, so one
    parser must see one stream's lines in order. ``parse`` takes a batch because the flood
    arrives in batches and a batch can skip all per-line cleaning when it has no escapes.
    """

    __slots__ = ("level",)

    def __init__(self, level: int = INFO):
        self.level = level  # the level a continuation line gets

    def parse(self, lines: list[str]) -> tuple[list[str], list[int]]:
        joined = "".join(lines)  # one C-level scan decides whether any line needs cleaning
        if "\x1b" in joined or "\r" in joined:
            plains = [strip_ansi(line) if ("\x1b" in line or "\r" in line) else line for line in lines]
        else:
            plains = lines
        match, token_level = _HEADER.match, _TOKEN_LEVEL
        level = self.level
        levels = []
        add = levels.append
        for m in map(match, plains):
            if m is not None:
                level = token_level[m[m.lastindex]]
            add(level)
        self.level = level
        return plains, levels


# -- task ids ------------------------------------------------------------------------------------

def task_id_spans(plain: str) -> list[tuple[int, int]]:
    """(start, end) of every task id in a line's plain text, left to right."""
    spans = []
    for m in _TASK_ID.finditer(plain):
        group = 1 if m.start(1) >= 0 else 2
        spans.append((m.start(group), m.end(group)))
    return spans


def task_ids(plain: str) -> list[str]:
    return [plain[start:end] for start, end in task_id_spans(plain)]


# -- ANSI colours --------------------------------------------------------------------------------

Color = Union[None, int, tuple[int, int, int]]  # default, a 256-colour palette index, or RGB


class Style(NamedTuple):
    """What SGR sequences set. Colours are left abstract: the view maps them to its palette."""

    fg: Color = None
    bg: Color = None
    bold: bool = False
    dim: bool = False
    italic: bool = False
    underline: bool = False
    inverse: bool = False


PLAIN = Style()


def _extended_color(params: list[str], i: int) -> tuple[Color, int]:
    """Parse ``5;n`` or ``2;r;g;b`` after a 38/48; returns the colour and the next index."""
    try:
        if params[i] == "5":
            return int(params[i + 1]) & 255, i + 2
        if params[i] == "2":
            r, g, b = (int(params[i + k]) & 255 for k in (1, 2, 3))
            return (r, g, b), i + 4
    except (IndexError, ValueError):
        pass
    return None, len(params)  # malformed: ignore the rest of the sequence, as terminals do


def apply_sgr(style: Style, params: str) -> Style:
    """The style after one ``ESC [ params m`` sequence."""
    if params in ("", "0"):
        return PLAIN
    # "38:2::r:g:b" (ITU form, empty colour space) is read as "38;2;r;g;b".
    parts = params.replace("::", ":").replace(":", ";").split(";")
    fg, bg, bold, dim, italic, underline, inverse = style
    i = 0
    while i < len(parts):
        try:
            code = int(parts[i] or 0)
        except ValueError:
            i += 1
            continue
        i += 1
        if code == 0:
            fg, bg, bold, dim, italic, underline, inverse = PLAIN
        elif code == 1:
            bold = True
        elif code == 2:
            dim = True
        elif code == 3:
            italic = True
        elif code == 4:
            underline = True
        elif code == 7:
            inverse = True
        elif code == 22:
            bold = dim = False
        elif code == 23:
            italic = False
        elif code == 24:
            underline = False
        elif code == 27:
            inverse = False
        elif 30 <= code <= 37:
            fg = code - 30
        elif 90 <= code <= 97:
            fg = code - 90 + 8
        elif code == 39:
            fg = None
        elif 40 <= code <= 47:
            bg = code - 40
        elif 100 <= code <= 107:
            bg = code - 100 + 8
        elif code == 49:
            bg = None
        elif code in (38, 48):
            color, i = _extended_color(parts, i)
            if code == 38:
                fg = color
            else:
                bg = color
    return Style(fg, bg, bold, dim, italic, underline, inverse)


def ansi_spans(text: str, style: Style = PLAIN) -> list[tuple[str, Style]]:
    """A line as ``(text, style)`` runs; escapes other than SGR are dropped.

    Each line starts from ``style`` (plain by default): lines are rendered on their own, which
    is right for celery and loggers that reset at the end of a line.
    """
    if "\r" in text:
        text = text.rstrip("\r").rpartition("\r")[2]
    if "\x1b" not in text:
        return [(text, style)] if text else []
    spans: list[tuple[str, Style]] = []
    pos = 0
    for m in _ESCAPE.finditer(text):
        if m.start() > pos:
            spans.append((text[pos:m.start()], style))
        pos = m.end()
        if m[2] == "m" and m.group(0).startswith("\x1b["):
            style = apply_sgr(style, m[1])
    if pos < len(text):
        spans.append((text[pos:], style))
    return spans
