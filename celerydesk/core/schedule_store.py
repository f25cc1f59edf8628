"""The periodic tasks a project keeps in django-celery-beat's database or RedBeat's Redis.

Listing and editing them runs ``celerydesk/store_script.py`` in the project's interpreter (the
project's own models and API; see that script), with the workspace's environment and broker
URL, like the introspector. This module is the Qt-free half: the command line, one request
run to its answer (``request()``, what the CLI uses), and each answer turned into a result or
a DeskError that says what to do. The window keeps the same script running as an agent
(``services/schedule_store.py``) and reads its answers with ``parse_answer()``.
"""

from __future__ import annotations

import json
import subprocess
from typing import Mapping, Optional

from celerydesk.core import resources
from celerydesk.core.commands import project_env
from celerydesk.core.errors import DeskError
from celerydesk.core.project_scheduler import DATABASE, REDBEAT, STORE_WORDS
from celerydesk.core.selfcmd import interpreter_argv
from celerydesk.core.workspace import Workspace

MARKER = "CELERYDESK-STORE "
SOURCES = (DATABASE, REDBEAT)


def script_source() -> str:
    return resources.script_source("store_script.py")


def command(ws: Workspace, source: str, *args: str) -> list:
    """argv of the store script for ``source`` (database | redbeat), then ``args``."""
    return [*interpreter_argv(ws.project.python), "-c", script_source(), ws.project.app, source, *args]


def environment(ws: Workspace) -> dict:
    """The project's environment with celerydesk's broker URL (RedBeat falls back to it)."""
    return project_env(ws, ws.broker_url())


def request(ws: Workspace, source: str, payload: Mapping, timeout: float = 120.0) -> dict:
    """Run one request to its answer; DeskError (with what to do) when it fails."""
    try:
        proc = subprocess.run(command(ws, source, json.dumps(payload)), cwd=ws.project.workdir,
                              env=environment(ws), capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise DeskError(f"{STORE_WORDS[source]} did not answer within {timeout:g} s",
                        hint="does loading the project wait on something (a database, a network connection)?") from None
    except OSError as exc:
        raise DeskError(f"the project interpreter {ws.project.python} could not be run: {exc}",
                        hint="check [project] python in the workspace file") from None
    line = next((ln for ln in reversed(proc.stdout.splitlines()) if ln.startswith(MARKER)), None)
    if line is None:
        tail = "\n".join("    " + ln for ln in (proc.stderr or "").strip().splitlines()[-10:])
        raise DeskError(f"reading {STORE_WORDS[source]} ended without an answer (exit code {proc.returncode}):\n{tail}",
                        hint=f"run `{ws.project.python} -m celery -A {ws.project.app} report` in "
                             f"{ws.project.workdir} to see why")
    return parse_answer(line, source)


def parse_answer(line: str, source: str) -> dict:
    """One answer line of the script: its JSON when it went well, else DeskError."""
    try:
        answer = json.loads(line[len(MARKER):] if line.startswith(MARKER) else line)
    except ValueError as exc:
        raise DeskError(f"{STORE_WORDS[source]}: an answer that is not JSON ({exc})") from None
    if not answer.get("ok"):
        raise failure(answer, source)
    return answer


def failure(answer: Mapping, source: str) -> DeskError:
    """The script's error in words, with the fix for the usual causes."""
    error, hint = str(answer.get("error") or "failed"), str(answer.get("hint") or "")
    where = STORE_WORDS[source]
    if "no such table" in error or ("does not exist" in error and "relation" in error):
        hint = "create django-celery-beat's tables: python manage.py migrate"
    elif answer.get("type") in ("ConnectionError", "TimeoutError") or "Connection refused" in error:
        hint = hint or "start the stack (its broker is RedBeat's Redis) or the Redis the app's redbeat_redis_url names"
    elif answer.get("type") in ("ModuleNotFoundError", "ImportError"):
        package = "django-celery-beat" if source == DATABASE else "celery-redbeat"
        hint = hint or f"is {package} installed in the project's interpreter?"
    elif answer.get("phase") == "load" and not hint:
        hint = "fix the error shown; `celery -A APP beat` fails the same way"
    return DeskError(f"{where}: {error}", hint=hint)


def list_entries(ws: Workspace, source: str, timeout: float = 120.0) -> list:
    """Every entry of the store, as the script describes it (see ``core.schedules.store_views``)."""
    return list(request(ws, source, {"op": "list"}, timeout=timeout).get("entries") or [])


def save(ws: Workspace, source: str, name: str, values: Mapping, create: bool) -> str:
    """Add (``create``) or change the entry ``name``; the name it has now."""
    answer = request(ws, source, {"op": "save", "name": name, "create": create, "values": dict(values)})
    return str(answer.get("name") or name)


def remove(ws: Workspace, source: str, name: str) -> None:
    request(ws, source, {"op": "remove", "name": name})


def enable(ws: Workspace, source: str, name: str, enabled: bool) -> None:
    request(ws, source, {"op": "enable", "name": name, "enabled": enabled})


def check_source(source: Optional[str], scheduler) -> None:
    """Refuse to write to a store the app's beat does not read (it would change nothing)."""
    if source in SOURCES and scheduler.store != source:
        raise DeskError(f"the app's beat_scheduler is {scheduler.setting}, so beat does not read "
                        f"{STORE_WORDS[source]}; writing there would change nothing beat sends",
                        hint="edit the workspace's schedules (no --source), or set the app's beat_scheduler")
