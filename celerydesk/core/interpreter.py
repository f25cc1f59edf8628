"""Checks that the project's interpreter can run a Celery worker on its broker, before anything starts.

The check runs a few lines in that interpreter (celerydesk is not installed there) and turns
what fails into a sentence with the command that fixes it. It costs a celery import (a few
hundred ms), so a passing result is remembered, keyed on the interpreter, the modification
times of its site-packages (installing or removing a package there invalidates it) and the
broker's transport: Redis needs celery[redis]; RabbitMQ (AMQP) needs only celery, which brings
py-amqp. The transport is read from the ``CELERY_BROKER_URL`` the worker will get.
``check_project`` adds the app's own import, as ``celery -A APP`` would do it (the Settings
dialog's Check button).
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from celerydesk.core.errors import DeskError
from celerydesk.core.selfcmd import interpreter_argv

_CHECK = r"""
import json, sys
out = {"python": sys.version.split()[0]}
try:
    import celery
    out["celery"] = celery.__version__
except Exception as exc:
    out["celery_error"] = "%s: %s" % (type(exc).__name__, exc)
else:
    try:
        if sys.argv[1] == "amqp":
            import kombu.transport.pyamqp
            import amqp
            out["client"] = "amqp " + amqp.__version__
        else:
            import kombu.transport.redis  # kombu 5.7 needs `packaging` here; celery[redis] brings it
            import redis
            out["client"] = "redis " + redis.__version__
    except Exception as exc:
        out["client_error"] = "%s: %s" % (type(exc).__name__, exc)
print("CELERYDESK-CHECK " + json.dumps(out))
"""


@dataclass(frozen=True)
class InterpreterInfo:
    python: str
    celery: str
    client: str  # the broker's client library and its version: "redis 5.0.1", "amqp 5.4.2"


def _transport(env: dict) -> str:
    """``amqp`` when the worker's broker URL is RabbitMQ's, else ``redis`` (celerydesk's default)."""
    url = env.get("CELERY_BROKER_URL", "")
    return "amqp" if url.split("://", 1)[0].lower() in ("amqp", "amqps", "pyamqp") else "redis"


def _fingerprint(python: Path) -> list:
    real = os.path.realpath(python)
    prefix = Path(real).parent.parent
    venv_prefix = Path(python).absolute().parent.parent
    parts: list = [str(python), real]
    for base in sorted({prefix, venv_prefix}):  # sorted: set order changes between runs
        for site in sorted(glob.glob(str(base / "lib" / "python3*" / "site-packages"))):
            try:
                parts.append([site, os.stat(site).st_mtime_ns])
            except OSError:
                pass
    try:
        parts.append(os.stat(real).st_mtime_ns)
    except OSError:
        pass
    return parts


def check_interpreter(python: Path, cwd: Path, env: dict, cache_file: Optional[Path] = None,
                      timeout: float = 60.0) -> InterpreterInfo:
    transport = _transport(env)
    pip = f"{python} -m pip install " + ("celery" if transport == "amqp" else "'celery[redis]'")
    if not Path(python).exists():
        raise DeskError(f"the project interpreter {python} does not exist",
                        hint="set [project] python to your project's interpreter, e.g. \".venv/bin/python\"")
    key = _fingerprint(python) + [transport]
    if cache_file is not None:
        try:
            cached = json.loads(cache_file.read_text())
            if cached.get("key") == key:
                return InterpreterInfo(**cached["info"])
        except (OSError, ValueError, TypeError, KeyError):
            pass
    try:
        proc = subprocess.run([*interpreter_argv(python), "-c", _CHECK, transport], cwd=cwd, env=env,
                              capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DeskError(f"the project interpreter {python} could not be run: {exc}",
                        hint="check [project] python in the workspace file") from None
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("CELERYDESK-CHECK ")), None)
    if line is None:
        tail = (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-3:]
        said = f"it printed: {' / '.join(tail)}" if tail else "it printed nothing"
        raise DeskError(f"the project interpreter {python} failed to run a check: it exited with code "
                        f"{proc.returncode} and {said}",
                        hint="is it a Python interpreter? run it by hand to see why; check [project] python "
                        "and [project] env")
    out = json.loads(line.split(" ", 1)[1])
    if "celery_error" in out:
        raise DeskError(f"the project interpreter {python} cannot import celery ({out['celery_error']})",
                        hint=f"install it there: {pip}")
    if "client_error" in out and transport == "amqp":
        raise DeskError(f"celery {out['celery']} in {python} cannot use RabbitMQ ({out['client_error']})",
                        hint=f"reinstall celery, which brings the AMQP client (amqp): {pip}")
    if "client_error" in out:
        raise DeskError(
            f"celery {out['celery']} in {python} cannot use Redis ({out['client_error']})",
            hint=f"install the Redis extra, which brings redis and packaging (kombu 5.7 needs it): {pip}",
        )
    info = InterpreterInfo(python=out["python"], celery=out["celery"], client=out["client"])
    if cache_file is not None:
        try:
            cache_file.write_text(json.dumps({"key": key, "info": info.__dict__}))
        except OSError:
            pass
    return info


# celery's own lookup of `-A APP`, so the check fails exactly where the worker would.
_FIND_APP = "import sys\nfrom celery.app.utils import find_app\nfind_app(sys.argv[1])\n"


def check_project(python: Path, app: str, workdir: Path, env: dict, timeout: float = 60.0) -> str:
    """A one-line summary if ``python`` can run a worker for ``app``; else DeskError with the fix."""
    info = check_interpreter(python, workdir, env, timeout=timeout)
    summary = f"Python {info.python}, celery {info.celery}, {info.client}"
    if not app:
        return summary
    try:
        proc = subprocess.run([str(python), "-c", _FIND_APP, app], cwd=workdir, env=env,
                              capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DeskError(f"importing the app {app!r} with {python} failed: {exc}") from None
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        last = lines[-1] if lines else f"exit code {proc.returncode}"
        top = app.split(".")[0].split(":")[0]
        if f"No module named '{top}'" in last:
            hint = (f"check the app (the value of `celery -A`) and the project folder: "
                    f"{top!r} is imported from {workdir}")
        else:
            hint = f"run `{python} -c \"import {app.split(':')[0]}\"` in {workdir} to see the whole traceback"
        raise DeskError(f"{summary}, but the app {app!r} cannot be imported: {last}", hint=hint)
    return f"{summary}; the app {app!r} imports"
