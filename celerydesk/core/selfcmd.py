"""How celerydesk runs a piece of itself as a child process, from source or frozen.

A PyInstaller build has no ``python -m``: its binary dispatches hidden sub-commands instead.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def is_frozen() -> bool:
    return bool(getattr(sys, "frozen", False))


def self_command(module: str, subcommand: str) -> list[str]:
    """argv that runs ``module`` (source) or the binary's ``subcommand`` (frozen)."""
    if is_frozen():
        return [sys.executable, subcommand]
    return [sys.executable, "-m", module]


def cli_argv(*args: str) -> list[str]:
    """argv that runs the ``celerydesk`` command line with ``args``, from source or frozen."""
    if is_frozen():
        return [sys.executable, *args]
    return [sys.executable, "-m", "celerydesk", *args]


def interpreter_argv(python: "str | os.PathLike[str]") -> list[str]:
    """argv prefix that runs ``python`` with interpreter arguments (``-m``, ``-c``, a script).

    A frozen build is its own project interpreter for the sample (it bundles celery): there,
    ``python`` is the binary itself, which takes them through its ``_python`` sub-command.
    """
    if is_frozen() and _same_file(python, sys.executable):
        return [sys.executable, "_python"]
    return [str(python)]


def own_interpreter_argv() -> list[str]:
    """argv prefix that runs celerydesk's own interpreter (Flower runs from celerydesk's side)."""
    return interpreter_argv(sys.executable)


def _same_file(a: "str | os.PathLike[str]", b: "str | os.PathLike[str]") -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return Path(a).absolute() == Path(b).absolute()


def child_environ() -> dict[str, str]:
    """The environment a child of celerydesk starts from: ours, minus what freezing added.

    A PyInstaller binary puts its bundled libraries first on LD_LIBRARY_PATH (keeping the
    user's value in LD_LIBRARY_PATH_ORIG); a system redis-server or the project's own Python
    must not load them. A frozen child of ours sets the variable again when it starts.
    """
    env = dict(os.environ)
    if is_frozen():
        for name in ("LD_LIBRARY_PATH", "DYLD_LIBRARY_PATH"):
            original = env.pop(f"{name}_ORIG", None)
            if original is not None:
                env[name] = original
            else:
                env.pop(name, None)
    return env
