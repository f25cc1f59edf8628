"""Which environment a workspace is (dev, staging, production), and the read-only refusal.

A workspace's ``[environment]`` table names it (shown in the window's title, status bar and
tray), gives it a colour (a band across the window, so production never looks like dev) and
says whether it is ``read_only``: true by default for a watch-only workspace (an external
broker, no workers, beat and Flower off: a stack celerydesk did not start), false otherwise.

While read-only, the broker client (``core.broker_client``, the one door every send, revoke,
purge and worker control goes through) refuses every action that changes the remote stack with
:class:`ReadOnlyEnvironment`, before anything is sent. The window can unlock for its own
session after the user types the environment's name; the file is not changed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from celerydesk.core.errors import DeskError

# Names a user is likely to write, as the hex the band is painted with.
NAMED_COLORS = {
    "red": "#c0392b", "orange": "#d35400", "yellow": "#f1c40f", "green": "#27ae60", "teal": "#16a085",
    "blue": "#2980b9", "purple": "#8e44ad", "pink": "#e84393", "gray": "#7f8c8d", "grey": "#7f8c8d",
}
_HEX = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
MAX_NAME = 40


@dataclass(frozen=True)
class EnvironmentConfig:
    """``name``: None means the workspace's folder name (``Workspace.environment_name``).
    ``color``: ``#rrggbb``, or None for no band."""

    name: Optional[str] = None
    color: Optional[str] = None
    read_only: bool = False


def color_problem(value: str) -> Optional[str]:
    """Why ``value`` is not a colour the band can take, or None."""
    if _HEX.match(value) or value.lower() in NAMED_COLORS:
        return None
    return (f"{value!r} is not a colour; give #rrggbb (e.g. \"#c0392b\"), #rgb, "
            f"or one of {', '.join(sorted(set(NAMED_COLORS) - {'grey'}))}")


def normal_color(value: str) -> str:
    """A valid colour (``color_problem`` is None) as ``#rrggbb``."""
    value = NAMED_COLORS.get(value.lower(), value)
    if len(value) == 4:
        value = "#" + "".join(c * 2 for c in value[1:])
    return value.lower()


def name_problem(value: str) -> Optional[str]:
    if not value.strip():
        return "must not be empty (it is what you type to unlock a read-only window)"
    if len(value) > MAX_NAME:
        return f"is {len(value)} characters long; keep it to {MAX_NAME}"
    if any(ord(c) < 32 for c in value):
        return "must be on one line, without control characters"
    return None


class ReadOnlyEnvironment(DeskError):
    """An action that would change a read-only environment's stack; nothing was sent."""

    exit_code = 2

    def __init__(self, environment: str, action: str, unlock_hint: str = ""):
        self.environment = environment
        self.action = action
        super().__init__(
            f"{environment!r} is read-only: celerydesk does not {action} there (nothing was sent)",
            hint=unlock_hint or f"to allow it, set read_only = false in [environment] of the workspace file, "
                                f"or unlock the window (Environment ▸ Unlock…, typing {environment!r})")
