"""``celerydesk _python``: the interpreter command line, for a frozen build.

A PyInstaller binary has no ``python`` beside it, yet the sample project's worker and beat,
Flower, the interpreter check and the introspection script are all started as
``python -m MODULE ...``, ``python -c CODE ...`` or ``python SCRIPT ...``. A frozen build runs
``celerydesk _python`` with the same arguments instead (see ``selfcmd.interpreter_argv``); this
module gives them the meaning CPython gives them, on the modules bundled in the binary.

The frozen interpreter ignores the environment (PYTHONPATH, PYTHONUNBUFFERED), so both are
applied here by hand: celerydesk puts beat's scheduler module on PYTHONPATH, and reads its
children's logs line by line as they are written.
"""

from __future__ import annotations

import os
import runpy
import sys

USAGE = "usage: celerydesk _python (-m MODULE | -c CODE | SCRIPT) [ARG ...]"


def _prepend_pythonpath(first: str) -> None:
    extra = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    sys.path[:0] = [first, *extra]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[2:] if argv is None else argv  # sys.argv: [binary, "_python", ...]
    for stream in (sys.stdout, sys.stderr):
        if stream is not None and hasattr(stream, "reconfigure"):
            stream.reconfigure(line_buffering=True)
    if not args:
        print(USAGE, file=sys.stderr)
        return 2
    if args[0] == "-m" and len(args) > 1:
        # As `python -m`: the current folder first on sys.path (`celery -A app` relies on it).
        _prepend_pythonpath(os.getcwd())
        sys.argv = [args[1], *args[2:]]
        runpy.run_module(args[1], run_name="__main__", alter_sys=True)
    elif args[0] == "-c" and len(args) > 1:
        _prepend_pythonpath(os.getcwd())
        sys.argv = ["-c", *args[2:]]
        exec(compile(args[1], "<string>", "exec"), {"__name__": "__main__"})
    elif not args[0].startswith("-"):
        _prepend_pythonpath(os.path.dirname(os.path.abspath(args[0])))
        sys.argv = list(args)
        runpy.run_path(args[0], run_name="__main__")
    else:
        print(USAGE, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
