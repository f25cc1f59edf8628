"""What celerydesk hands the live beat scheduler: the JSON mirror of the workspace's schedules.

Beat runs in the project's interpreter, which may be Python 3.9/3.10 without ``tomllib`` and
never has celerydesk, so it does not read ``celerydesk.toml``: celerydesk writes the workspace's
``[[schedules]]`` to ``.celerydesk/schedules.json`` (atomically, and only when they changed),
and the scheduler (``celerydesk/beat_scheduler.py``, copied alone into ``.celerydesk/beat/``,
the one folder put on beat's PYTHONPATH) re-reads it when its mtime changes.

A workspace file that does not load (corrupt TOML, invalid values) never touches the mirror:
beat keeps the schedules it has, the problem is returned for the user to read, and the
workspace file itself is never written here. A schedule whose cron expression celery would
refuse or misread is left out of the mirror and reported, so the others still run.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date, time
from pathlib import Path
from typing import Optional

from celerydesk.core.errors import WorkspaceError
from celerydesk.core.runtime import atomic_write
from celerydesk.core.workspace import ScheduleConfig, Workspace, load_workspace

MIRROR_NAME = "schedules.json"
STATE_NAME = "beat-state.json"
MODULE_DIR_NAME = "beat"
MODULE_NAME = "celerydesk_beat_scheduler"
SENT_MODULE_NAME = "celerydesk_history_sent"  # core/history/sent.py, which the scheduler imports
SCHEDULER_REF = f"{MODULE_NAME}:LiveScheduler"
MIRROR_VERSION = 1
# Keys the scheduler understands beyond the contract's; written when set.
OPTIONAL_KEYS = ("timezone", "expires", "one_off", "start_at", "priority")


def mirror_path(runtime_dir: Path) -> Path:
    return Path(runtime_dir) / MIRROR_NAME


def state_path(runtime_dir: Path) -> Path:
    return Path(runtime_dir) / STATE_NAME


def module_dir(runtime_dir: Path) -> Path:
    """The folder on beat's PYTHONPATH: it holds the scheduler module and nothing else."""
    return Path(runtime_dir) / MODULE_DIR_NAME


def workspace_id(workspace_path: Path) -> str:
    """A stable id of the workspace file, for beat's lock key in the broker."""
    return hashlib.sha256(str(Path(workspace_path).resolve()).encode()).hexdigest()[:16]


def scheduler_source() -> str:
    """The scheduler module's source, from the installed package (a data file when frozen)."""
    from celerydesk.core.resources import script_source  # here: the stack imports this module at start-up

    return script_source("beat_scheduler.py")


def install_scheduler_module(runtime_dir: Path) -> Path:
    """Copy the scheduler, and the history's sent records it writes with, into
    ``.celerydesk/beat/`` (each only when it differs); return the folder."""
    from celerydesk.core.resources import script_source

    folder = module_dir(runtime_dir)
    folder.mkdir(parents=True, exist_ok=True)
    for name, source in ((MODULE_NAME, scheduler_source()), (SENT_MODULE_NAME, script_source("core/history/sent.py"))):
        target = folder / f"{name}.py"
        try:
            same = target.read_text(encoding="utf-8") == source
        except OSError:
            same = False
        if not same:
            atomic_write(target, source)
    return folder


@dataclass
class MirrorResult:
    path: Path
    written: bool = False  # the mirror changed on disk (beat will reload)
    error: Optional[str] = None  # the workspace did not load: the previous mirror was kept
    problems: list = field(default_factory=list)  # schedules left out, each with why
    warnings: list = field(default_factory=list)  # where celery's reading differs from cron's

    @property
    def ok(self) -> bool:
        return self.error is None


def mirror_entry(schedule: ScheduleConfig) -> tuple:
    """(the JSON the scheduler reads for one schedule, or None; problems; warnings)."""
    where = f'[[schedules]] "{schedule.name}"'
    entry = {"name": schedule.name, "task": schedule.task, "enabled": bool(schedule.enabled),
             "args": list(schedule.args), "kwargs": dict(schedule.kwargs)}
    warnings: list = []
    if schedule.cron is not None:
        from celerydesk.core import cron  # on first use: the stack imports this module at start-up

        checked = cron.check(schedule.cron)
        if not checked.ok:
            return None, [f"{where} cron: {p}" for p in checked.errors], []
        entry["cron"] = checked.expr.text
        warnings = [f"{where} cron: {w}" for w in checked.warnings]
    else:
        entry["every"] = float(schedule.every)
    if schedule.queue:
        entry["queue"] = schedule.queue
    for key in OPTIONAL_KEYS:
        value = getattr(schedule, key)
        if value is not None and value is not False:
            entry[key] = value
    return entry, [], warnings


def build_mirror(ws: Workspace) -> tuple:
    """(mirror dict, problems, warnings) for a loaded workspace."""
    entries, problems, warnings = [], [], []
    for schedule in ws.schedules:
        entry, bad, notes = mirror_entry(schedule)
        problems += bad
        warnings += notes
        if entry is not None:
            entries.append(entry)
    return {"version": MIRROR_VERSION, "workspace": str(ws.path), "schedules": entries}, problems, warnings


def _json_default(value):
    if isinstance(value, (date, time)):  # TOML dates and times: the task gets ISO text, as JSON would
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} cannot be sent to a task as JSON")


def write_mirror(ws: Workspace, runtime_dir: Optional[Path] = None) -> MirrorResult:
    path = mirror_path(runtime_dir or ws.runtime_dir)
    data, problems, warnings = build_mirror(ws)
    text = json.dumps(data, indent=1, sort_keys=True, default=_json_default) + "\n"
    result = MirrorResult(path, problems=problems, warnings=warnings)
    try:
        current = path.read_text(encoding="utf-8")
    except OSError:
        current = None
    if current != text:  # an unchanged mirror is not rewritten, so beat does not reload for nothing
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, text)
        result.written = True
    return result


def sync_mirror(workspace_path: Path, runtime_dir: Path) -> MirrorResult:
    """Load the workspace file and mirror its schedules; on failure keep the mirror, say why."""
    try:
        ws = load_workspace(workspace_path)
    except WorkspaceError as exc:
        return MirrorResult(mirror_path(runtime_dir), error=str(exc))
    return write_mirror(ws, runtime_dir)
