"""How celerydesk runs a piece of itself as a child process, from source or frozen.

A PyInstaller build has no ``python -m``: its binary dispatches hidden sub-commands instead.
"""

from __future__ import annotations

import sys


def is_frozen() -> bool:
    return bool(getattr(sys, "frozen", False))


def self_command(module: str, subcommand: str) -> list[str]:
    """argv that runs ``module`` (source) or the binary's ``subcommand`` (frozen)."""
    if is_frozen():
        return [sys.executable, subcommand]
    return [sys.executable, "-m", module]
