"""The schedules a workspace's beat runs, in one list: the workspace's own and the project's.

The workspace's ``[[schedules]]`` are what celerydesk edits; the project's come from its
Celery app's ``beat_schedule`` (the introspector's ``beat_schedule`` list, or, without it, the
live scheduler's state file, which lists what beat really loaded). A workspace
schedule with the name of a project one replaces it in beat, as the scheduler does; the
project's is then marked ``overridden``. Last run time and run count come from the scheduler's
state file (``.celerydesk/beat-state.json``).

``export_snippet()`` turns the workspace's schedules into a ``CELERY_BEAT_SCHEDULE = {...}``
block for a project's settings.py, with ``crontab(...)`` calls.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Optional

from celerydesk.core import cron
from celerydesk.core.schedule_mirror import state_path
from celerydesk.core.workspace import ScheduleConfig, Workspace

WORKSPACE, PROJECT = "workspace", "project"


@dataclass
class ScheduleView:
    """One schedule as the list, the editor and ``schedules list --json`` show it."""

    name: str
    task: str
    source: str = WORKSPACE  # workspace | project | celery (celery's own default entries)
    enabled: bool = True
    cron: Optional[str] = None
    every: Optional[float] = None
    schedule: Optional[str] = None  # a schedule celerydesk cannot read (solar, custom): its repr
    args: list = field(default_factory=list)
    kwargs: dict = field(default_factory=dict)
    queue: Optional[str] = None
    last_run_at: Optional[datetime] = None
    total_run_count: int = 0
    overridden: bool = False  # a project schedule that a workspace one of the same name replaces
    origin: Optional[str] = None  # a project schedule's: "config" (settings) or "add_periodic_task" (code)
    problems: list = field(default_factory=list)  # why beat does not run it (an invalid cron)
    warnings: list = field(default_factory=list)  # where celery's reading differs from cron's

    @property
    def kind(self) -> str:
        return "cron" if self.cron is not None else "every" if self.every is not None else "other"

    @property
    def editable(self) -> bool:
        return self.source == WORKSPACE

    @property
    def when(self) -> str:
        """The schedule as written: ``30 7 * * 1``, ``every 900 s``, or the repr."""
        if self.cron is not None:
            return self.cron
        if self.every is not None:
            return f"every {self.every:g} s"
        return self.schedule or "?"

    def description(self) -> str:
        """Plain words: "At 07:30, only on Monday", "Every 15 minutes"."""
        if self.cron is not None:
            checked = cron.check(self.cron)
            return cron.describe(checked.expr) if checked.ok else f"invalid: {checked.errors[0]}"
        if self.every is not None:
            return cron.describe_every(self.every)
        return self.schedule or ""

    def next_runs(self, n: int = 5, tz=None, after: Optional[datetime] = None) -> list:
        """The next runs as beat computes them (an interval counts from the last run, if known)."""
        if self.cron is not None:
            return cron.next_runs(self.cron, n, tz, after)
        if self.every is not None:
            return cron.next_every_runs(self.every, n, after or self.last_run_at, tz)
        return []

    def to_json(self) -> dict:
        data = asdict(self)
        data["last_run_at"] = self.last_run_at.isoformat() if self.last_run_at else None
        data["description"] = self.description()
        return data


def from_config(schedule: ScheduleConfig) -> ScheduleView:
    view = ScheduleView(name=schedule.name, task=schedule.task, source=WORKSPACE, enabled=schedule.enabled,
                        cron=schedule.cron, every=schedule.every, args=list(schedule.args),
                        kwargs=dict(schedule.kwargs), queue=schedule.queue)
    if schedule.cron is not None:
        checked = cron.check(schedule.cron)
        view.problems = [f"cron {p}" for p in checked.errors]
        view.warnings = [f"cron {w}" for w in checked.warnings]
    return view


def workspace_schedules(ws: Workspace) -> list:
    return [from_config(s) for s in ws.schedules]


def project_schedules(entries: Iterable[dict]) -> list:
    """Project schedules from plain dicts, as the introspector gives them (``schedule`` a dict:
    ``{"type": "crontab", "cron": ...}``, ``{"type": "interval", "seconds": ...}``, or another
    type with a ``repr``; ``source`` "config" or "add_periodic_task", kept as ``origin``) or as
    beat's state file lists them (``cron`` / ``every`` / ``schedule`` text, ``source`` "project"
    or "celery", ``last_run_at``, ``total_run_count``). Also: ``args``, ``kwargs``, ``options``
    or ``queue``, ``enabled``."""
    views = []
    for d in entries:
        options = d.get("options") if isinstance(d.get("options"), dict) else {}
        cron_text, every, other = d.get("cron"), d.get("every"), d.get("schedule")
        if isinstance(other, dict):  # the introspector's description of the schedule object
            kind = other.get("type")
            cron_text = other.get("cron") if kind == "crontab" else cron_text
            every = other.get("seconds") if kind == "interval" else every
            other = None if kind in ("crontab", "interval") else (
                other.get("repr") or " ".join(f"{k}={v}" for k, v in other.items()))
        source = d.get("source")
        view = ScheduleView(
            name=str(d.get("name", "")), task=str(d.get("task") or ""),
            source=source if source in (PROJECT, "celery") else PROJECT,
            origin=source if source not in (PROJECT, "celery", WORKSPACE) else None,
            enabled=bool(d.get("enabled", True)), cron=cron_text,
            every=float(every) if every is not None else None, schedule=other,
            args=list(d.get("args") or []) if isinstance(d.get("args", []), (list, tuple)) else [d["args"]],
            kwargs=dict(d.get("kwargs") or {}) if isinstance(d.get("kwargs", {}), dict) else {},
            queue=d.get("queue") or options.get("queue"),
            last_run_at=_time(d.get("last_run_at")), total_run_count=int(d.get("total_run_count") or 0))
        if d.get("error"):
            view.problems = [f"the project's entry could not be read: {d['error']}"]
        if view.cron is not None:
            view.warnings = [f"cron {w}" for w in cron.check(view.cron).warnings]
        views.append(view)
    return views


def read_beat_state(runtime_dir: Path) -> dict:
    """The live scheduler's state file: ``{"entries": {name: {...}}, "pid", "updated_at"}``."""
    try:
        data = json.loads(state_path(runtime_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"entries": {}}
    if not isinstance(data, dict) or not isinstance(data.get("entries"), dict):
        return {"entries": {}}
    return data


def project_entries_from_state(state: dict) -> list:
    """What beat loaded besides the workspace's schedules, as dicts for project_schedules()."""
    return [dict(entry, name=name) for name, entry in state.get("entries", {}).items()
            if isinstance(entry, dict) and entry.get("source", PROJECT) != WORKSPACE]


def merged(workspace: list, project: list, state: Optional[dict] = None) -> list:
    """Workspace schedules first, then the project's; run times and counts from ``state``."""
    names = {v.name for v in workspace}
    for view in project:
        view.overridden = view.name in names
    runs = (state or {}).get("entries", {})
    for view in workspace + project:
        run = runs.get(view.name)
        # A workspace schedule shadows a project one of the same name: take the matching record.
        if isinstance(run, dict) and (run.get("source") == WORKSPACE) == (view.source == WORKSPACE):
            view.last_run_at = _time(run.get("last_run_at")) or view.last_run_at
            view.total_run_count = int(run.get("total_run_count") or view.total_run_count)
    return workspace + project


def load_schedules(ws: Workspace, project: Optional[Iterable[dict]] = None) -> list:
    """Every schedule of a workspace. ``project``: the introspector's ``beat_schedule``; without
    it, what beat loaded at its last start (its state file)."""
    state = read_beat_state(ws.runtime_dir)
    entries = list(project) if project is not None else project_entries_from_state(state)
    return merged(workspace_schedules(ws), project_schedules(entries), state)


def _time(value: Any) -> Optional[datetime]:
    if isinstance(value, datetime):
        return value
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


# -- export -------------------------------------------------------------------------------------

_CRONTAB_ARGS = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")


def _py(value: Any) -> str:
    """A Python literal on one line, double-quoted like the rest of a settings file."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (bool, int, float)) or value is None:
        return repr(value)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_py(str(k))}: {_py(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        items = [_py(v) for v in value]
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
    if hasattr(value, "isoformat"):  # TOML dates and times reach the task as ISO text
        return json.dumps(value.isoformat())
    return repr(value)


def _crontab_call(expr: str) -> str:
    fields = expr.split()
    args = [f"{name}={_py(text)}" for name, text in zip(_CRONTAB_ARGS, fields) if text != "*"]
    return f"crontab({', '.join(args)})"


def export_snippet(schedules: Iterable, include_disabled: bool = False, source: str = "") -> str:
    """``CELERY_BEAT_SCHEDULE = {...}`` for settings.py from workspace schedules (ScheduleConfig
    or ScheduleView); disabled ones are left out (named in a comment) unless asked for."""
    lines = ["# Periodic tasks exported by celerydesk" + (f" from {source}" if source else "") + ".",
             "# Django: paste into settings.py (namespace CELERY); elsewhere: app.conf.beat_schedule = ...",
             "# celery reads crontab with its own rules: day_of_month and day_of_week must BOTH match.",
             "from celery.schedules import crontab", "", "CELERY_BEAT_SCHEDULE = {"]
    skipped = []
    for s in schedules:
        if getattr(s, "source", WORKSPACE) != WORKSPACE:
            continue
        if not s.enabled and not include_disabled:
            skipped.append(s.name)
            continue
        if s.cron is not None:
            cron.parse(s.cron)  # an expression celery would misread is refused here, not exported
            when = _crontab_call(s.cron)
        else:
            when = repr(float(s.every))
        lines.append(f"    {_py(s.name)}: {{")
        lines.append(f"        \"task\": {_py(s.task)},")
        lines.append(f"        \"schedule\": {when},")
        lines.append(f"        \"args\": {_py(list(s.args))},")
        lines.append(f"        \"kwargs\": {_py(dict(s.kwargs))},")
        if s.queue:
            lines.append(f"        \"options\": {{\"queue\": {_py(s.queue)}}},")
        lines.append("    },")
    lines.append("}")
    if skipped:
        lines.append("# Disabled in celerydesk, so left out: " + ", ".join(skipped))
    return "\n".join(lines) + "\n"
