"""The schedules a workspace's beat runs, in one list, each with where it lives (its source).

- ``workspace``: the workspace file's ``[[schedules]]``, what celerydesk edits in the file;
- ``app`` (and ``celery``, celery's own default entries): the app's ``beat_schedule``, from the
  introspector's ``beat_schedule`` list or, without it, the live scheduler's state file (what
  beat really loaded);
- ``database`` and ``redbeat``: the entries the project keeps in django-celery-beat's tables or
  RedBeat's Redis, as ``core/schedule_store.py`` lists them, when the app's beat runs that
  scheduler (``core/project_scheduler.py``).

A workspace schedule with the name of an app one replaces it in beat, as the scheduler does; the
app's is then marked ``overridden``. Beside a project scheduler that keeps a store, the app's
``beat_schedule`` is written into that store when beat starts: an app entry already there is
shown once, as the store's. Last run time and run count come from the scheduler's state file
(``.celerydesk/beat-state.json``) or, for stored entries, from the store itself.

``export_snippet()`` turns the workspace's schedules into a ``CELERY_BEAT_SCHEDULE = {...}``
block for a project's settings.py, with ``crontab(...)`` calls.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable, Optional

from celerydesk.core import cron
from celerydesk.core.schedule_mirror import state_path
from celerydesk.core.workspace import ScheduleConfig, Workspace

WORKSPACE, APP, CELERY, DATABASE, REDBEAT = "workspace", "app", "celery", "database", "redbeat"
WRITABLE = (WORKSPACE, DATABASE, REDBEAT)  # the sources celerydesk writes to
_STORE_NAMES = {DATABASE: "the database", REDBEAT: "Redis"}


@dataclass
class ScheduleView:
    """One schedule as the list, the editor and ``schedules list --json`` show it."""

    name: str
    task: str
    source: str = WORKSPACE  # workspace | app | celery | database | redbeat
    enabled: bool = True
    cron: Optional[str] = None
    every: Optional[float] = None
    schedule: Optional[str] = None  # a schedule celerydesk cannot edit (solar, clocked, custom): in words
    schedule_kind: Optional[str] = None  # what that one is: solar, clocked, rrule...
    args: list = field(default_factory=list)
    kwargs: dict = field(default_factory=dict)
    queue: Optional[str] = None
    timezone: Optional[str] = None  # a crontab's own zone (else the app's)
    expires: Optional[Any] = None  # seconds (each message's) or an ISO time (no run after it)
    one_off: bool = False
    start_at: Optional[str] = None  # ISO time
    priority: Optional[int] = None
    last_run_at: Optional[datetime] = None
    total_run_count: int = 0
    next_run_at: Optional[datetime] = None  # a store's own answer (its scheduler's arithmetic)
    overridden: bool = False  # an app schedule that a workspace one of the same name replaces
    origin: Optional[str] = None  # an app schedule's: "config" (settings) or "add_periodic_task" (code)
    from_settings: bool = False  # a stored entry the app's beat_schedule writes back at every beat start
    done: bool = False  # a one-off that has run
    problems: list = field(default_factory=list)  # why beat does not run it (an invalid cron, not sent)
    warnings: list = field(default_factory=list)  # where celery's reading differs from cron's
    notes: list = field(default_factory=list)  # what else the user should know about it

    @property
    def kind(self) -> str:
        return "cron" if self.cron is not None else "every" if self.every is not None else "other"

    @property
    def writable(self) -> bool:
        """celerydesk can enable, disable or delete it where it lives."""
        return self.source in WRITABLE

    @property
    def editable(self) -> bool:
        """celerydesk can also change its schedule (a crontab or an interval)."""
        return self.writable and self.kind != "other"

    def edit_refusal(self) -> str:
        """Why the editor shows this one read-only ("" when it can be edited)."""
        if self.editable:
            return ""
        if not self.writable:
            return (f"This schedule comes from the app's {'code' if self.origin == 'add_periodic_task' else 'settings'}"
                    "; celerydesk cannot change it there. Copy it into the workspace to override it.")
        what = self.schedule_kind or "custom"
        where = "the Django admin" if self.source == DATABASE else "the application"
        return (f"celerydesk edits crontab and interval schedules; this is a {what} schedule ({self.schedule}). "
                f"Change it in {where}; here you can enable, disable or delete it.")

    @property
    def when(self) -> str:
        """The schedule as written: ``30 7 * * 1``, ``every 900 s``, or in words."""
        if self.cron is not None:
            return self.cron + (f" ({self.timezone})" if self.timezone else "")
        if self.every is not None:
            return f"every {self.every:g} s"
        return self.schedule or "?"

    def description(self) -> str:
        """Plain words: "At 07:30, only on Monday", "Every 15 minutes", with the extras."""
        if self.cron is not None:
            checked = cron.check(self.cron)
            if not checked.ok:
                return f"invalid: {checked.errors[0]}"
            text = cron.describe(checked.expr) + (f" ({self.timezone})" if self.timezone else "")
        elif self.every is not None:
            text = cron.describe_every(self.every)
        else:
            text = self.schedule or ""
        extras = []
        if self.start_at:
            extras.append(f"from {self.start_at}")
        if isinstance(self.expires, str):
            extras.append(f"until {self.expires}")
        if self.one_off:
            extras.append("once" + (", done" if self.done else ""))
        return text + (f" ({'; '.join(extras)})" if extras else "")

    def next_runs(self, n: int = 5, tz=None, after: Optional[datetime] = None) -> list:
        """The next runs as beat computes them, shown in ``tz`` (the app's zone by default UTC):
        a crontab in its own timezone, not before ``start_at``, none after ``expires`` as a time,
        one for a one-off; an interval counts from the last run, if known."""
        zone = cron.get_zone(tz)
        own_zone = cron.get_zone(self.timezone) if self.timezone else zone
        now = datetime.now(timezone.utc) if after is None else after if after.tzinfo else after.replace(tzinfo=zone)
        if self.done or not self.enabled:
            return []
        start = _time(self.start_at, own_zone)
        until = _time(self.expires, own_zone) if isinstance(self.expires, str) else None
        count = 1 if self.one_off else n
        if self.kind == "other":
            runs = [self.next_run_at] if self.next_run_at is not None else []
        elif self.cron is not None:
            runs = cron.next_runs(self.cron, count, own_zone, max(now, start) if start is not None else now)
        elif start is not None and start > now and (self.last_run_at is None or self.last_run_at < start):
            runs = [start] + cron.next_every_runs(self.every, count - 1, start, zone)
        else:
            runs = cron.next_every_runs(self.every, count, after or self.last_run_at, zone)
        runs = [r for r in runs if until is None or r < until][:count]
        return [r.astimezone(zone) for r in runs]

    def next_run(self, tz=None) -> Optional[datetime]:
        """The next run: a store's own answer (its scheduler's arithmetic), else next_runs(1)."""
        if self.source in (DATABASE, REDBEAT):
            return self.next_run_at.astimezone(cron.get_zone(tz)) if self.next_run_at and self.enabled else None
        runs = self.next_runs(1, tz)
        return runs[0] if runs else None

    def to_json(self) -> dict:
        data = asdict(self)
        for key in ("last_run_at", "next_run_at"):
            data[key] = getattr(self, key).isoformat() if getattr(self, key) else None
        data["description"] = self.description()
        return data


def from_config(schedule: ScheduleConfig) -> ScheduleView:
    view = ScheduleView(name=schedule.name, task=schedule.task, source=WORKSPACE, enabled=schedule.enabled,
                        cron=schedule.cron, every=schedule.every, args=list(schedule.args),
                        kwargs=dict(schedule.kwargs), queue=schedule.queue, timezone=schedule.timezone,
                        expires=schedule.expires, one_off=schedule.one_off, start_at=schedule.start_at,
                        priority=schedule.priority)
    if schedule.cron is not None:
        checked = cron.check(schedule.cron)
        view.problems = [f"cron {p}" for p in checked.errors]
        view.warnings = [f"cron {w}" for w in checked.warnings]
    return view


def workspace_schedules(ws: Workspace) -> list:
    return [from_config(s) for s in ws.schedules]


def project_schedules(entries: Iterable[dict]) -> list:
    """The app's schedules from plain dicts, as the introspector gives them (``schedule`` a dict:
    ``{"type": "crontab", "cron": ...}``, ``{"type": "interval", "seconds": ...}``, or another
    type with a ``repr``; ``source`` "config" or "add_periodic_task", kept as ``origin``) or as
    beat's state file lists them (``cron`` / ``every`` / ``schedule`` text, ``source`` "app"
    (``project`` in older files) or "celery", ``last_run_at``, ``total_run_count``). Also:
    ``args``, ``kwargs``, ``options`` or ``queue``, ``enabled``."""
    views = []
    for d in entries:
        options = d.get("options") if isinstance(d.get("options"), dict) else {}
        cron_text, every, other = d.get("cron"), d.get("every"), d.get("schedule")
        kind = None
        if isinstance(other, dict):  # the introspector's description of the schedule object
            kind = other.get("type")
            cron_text = other.get("cron") if kind == "crontab" else cron_text
            every = other.get("seconds") if kind == "interval" else every
            other = None if kind in ("crontab", "interval") else (
                other.get("repr") or " ".join(f"{k}={v}" for k, v in other.items()))
        source = d.get("source")
        view = ScheduleView(
            name=str(d.get("name", "")), task=str(d.get("task") or ""),
            source=CELERY if source == CELERY else APP,
            origin=source if source not in (APP, "project", CELERY, WORKSPACE) else None,
            enabled=bool(d.get("enabled", True)), cron=cron_text,
            every=float(every) if every is not None else None, schedule=other, schedule_kind=kind,
            args=list(d.get("args") or []) if isinstance(d.get("args", []), (list, tuple)) else [d["args"]],
            kwargs=dict(d.get("kwargs") or {}) if isinstance(d.get("kwargs", {}), dict) else {},
            queue=d.get("queue") or options.get("queue"),
            last_run_at=_time(d.get("last_run_at")), total_run_count=int(d.get("total_run_count") or 0))
        if d.get("error"):
            view.problems = [f"the app's entry could not be read: {d['error']}"]
        if view.cron is not None:
            view.warnings = [f"cron {w}" for w in cron.check(view.cron).warnings]
        views.append(view)
    return views


def store_views(entries: Iterable[dict], source: str) -> list:
    """Entries of django-celery-beat's database or RedBeat's Redis, as ``store_script.py`` lists them."""
    views = []
    for d in entries:
        view = ScheduleView(
            name=str(d.get("name", "")), task=str(d.get("task") or ""), source=source,
            enabled=bool(d.get("enabled", True)), cron=d.get("cron"),
            every=float(d["every"]) if d.get("every") is not None else None,
            schedule=d.get("schedule"), schedule_kind=d.get("kind"), args=list(d.get("args") or []),
            kwargs=dict(d.get("kwargs") or {}), queue=d.get("queue"), timezone=d.get("timezone"),
            expires=d.get("expires"), one_off=bool(d.get("one_off")), start_at=d.get("start_at"),
            priority=d.get("priority"), last_run_at=_time(d.get("last_run_at")),
            total_run_count=int(d.get("total_run_count") or 0), next_run_at=_time(d.get("next_run_at")),
            from_settings=bool(d.get("from_settings")))
        if d.get("error"):
            view.problems = [d["error"]]
        if view.cron is not None:
            view.warnings = [f"cron {w}" for w in cron.check(view.cron).warnings]
        if view.from_settings:
            view.notes.append(f"the app's beat_schedule (settings) has an entry of this name: beat writes it "
                              f"into {_STORE_NAMES[source]} at every start, so an edit made here lasts until "
                              "beat restarts; change it in the settings to keep it")
        if d.get("notes"):
            view.notes.append(str(d["notes"]))
        views.append(view)
    return views


def read_beat_state(runtime_dir) -> dict:
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
            if isinstance(entry, dict) and entry.get("source", APP) != WORKSPACE]


def merged(workspace: list, app: list, state: Optional[dict] = None, store: Optional[list] = None,
           scheduler=None) -> list:
    """Workspace schedules first, then the app's, then the store's; run times and counts from
    ``state``. ``scheduler`` (core.project_scheduler) says what beat does with each."""
    store = list(store or [])
    names = {v.name for v in workspace}
    stored = {v.name for v in store}
    if stored:  # the project's scheduler wrote these app entries into its store: shown once, there
        app = [v for v in app if v.name not in stored]
    for view in app:
        view.overridden = view.name in names
        if scheduler is not None and scheduler.store and view.source == APP:
            view.notes.append(f"beat writes it into {_STORE_NAMES[scheduler.store]} when it starts")
    runs = (state or {}).get("entries", {})
    for view in workspace + app:
        run = runs.get(view.name)
        # A workspace schedule shadows an app one of the same name: take the matching record.
        if isinstance(run, dict) and (run.get("source") == WORKSPACE) == (view.source == WORKSPACE):
            view.last_run_at = _time(run.get("last_run_at")) or view.last_run_at
            view.total_run_count = int(run.get("total_run_count") or view.total_run_count)
            view.done = bool(run.get("done")) and view.one_off
    for view in workspace:
        if scheduler is not None and not scheduler.sends_workspace_schedules:
            view.problems.append(f"not sent: {scheduler.not_sent_reason()}")
        elif view.name in stored:
            view.warnings.append(f"{_STORE_NAMES[store[0].source]} has an entry of the same name; beat sends both")
    return workspace + app + store


def load_schedules(ws: Workspace, project: Optional[Iterable[dict]] = None, store: Optional[list] = None,
                   scheduler=None) -> list:
    """Every schedule of a workspace. ``project``: the introspector's ``beat_schedule``; without
    it, what beat loaded at its last start (its state file). ``store``: views of the entries the
    project's scheduler keeps (``store_views``)."""
    state = read_beat_state(ws.runtime_dir)
    entries = list(project) if project is not None else project_entries_from_state(state)
    return merged(workspace_schedules(ws), project_schedules(entries), state, store, scheduler)


def _time(value: Any, zone=timezone.utc) -> Optional[datetime]:
    """An aware time from a datetime or ISO text; one without an offset is read in ``zone``."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=zone)
    if not value or not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith("Z") else value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)


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
        options = {key: value for key, value in (("queue", s.queue), ("priority", getattr(s, "priority", None)))
                   if value is not None}
        expires = getattr(s, "expires", None)
        if isinstance(expires, (int, float)):
            options["expires"] = expires
        if options:
            lines.append(f"        \"options\": {_py(options)},")
        # What beat's own scheduler has no key for is said, not dropped silently.
        lost = [f"{key} = {getattr(s, key)!r}" for key in ("timezone", "start_at", "one_off")
                if getattr(s, key, None)] + ([f"expires = {expires!r}"] if isinstance(expires, str) else [])
        if lost:
            lines.append(f"        # not exported (celery's beat_schedule has no such key): {', '.join(lost)}")
        lines.append("    },")
    lines.append("}")
    if skipped:
        lines.append("# Disabled in celerydesk, so left out: " + ", ".join(skipped))
    return "\n".join(lines) + "\n"
