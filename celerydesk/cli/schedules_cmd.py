"""``celerydesk schedules ...``: list, add, edit, remove, enable, disable, export, next.

Edits go through ``core.workspace_edit.WorkspaceDocument``: comments and layout of
``celerydesk.toml`` stay as they were, the result is validated before anything is written, and
the file is replaced atomically; a file that does not parse is never written. A running stack
notices the change and beat applies it within seconds, without a restart.

Cron expressions are checked field by field with celery's reading (``core.cron``) before they
are saved or previewed: a malformed one exits 2 with a message naming the field and the part.
``next`` prints the next run times one ISO 8601 datetime a line, as celery beat would run them.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Optional

from celerydesk.cli.call_cmd import parse_json_arg
from celerydesk.cli.main import add_workspace_option
from celerydesk.core import cron
from celerydesk.core.errors import DeskError
from celerydesk.core.workspace import load_workspace, resolve_workspace_path


def add_parser(sub) -> None:
    p = sub.add_parser("schedules", help="list, edit, export and preview beat's periodic schedules")
    ss = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    ls = ss.add_parser("list", help="the workspace's and the project's schedules")
    add_workspace_option(ls)
    ls.add_argument("--json", action="store_true", help="one JSON array, for scripts")
    ls.add_argument("--no-introspect", action="store_true",
                    help="do not load the project's app; show the project schedules beat loaded last")

    for name, text in (("add", "add a schedule to the workspace file"), ("edit", "change a schedule")):
        e = ss.add_parser(name, help=text)
        e.add_argument("name", help="the schedule's unique name")
        add_workspace_option(e)
        e.add_argument("--task", required=name == "add", help="the registered task name")
        when = e.add_mutually_exclusive_group(required=name == "add")
        when.add_argument("--cron", metavar="EXPR", help='"minute hour day-of-month month day-of-week"')
        when.add_argument("--every", metavar="SECONDS", help="an interval: 900, 15m, 1h30m")
        e.add_argument("--args", metavar="JSON", help="positional arguments, a JSON array")
        e.add_argument("--kwargs", metavar="JSON", help="keyword arguments, a JSON object")
        e.add_argument("--queue", help="the queue to send to")
        if name == "add":
            e.add_argument("--disabled", action="store_true", help="add it disabled")
        else:
            e.add_argument("--no-queue", action="store_true", help="send to the task's default queue")
            e.add_argument("--rename", metavar="NEW", help="give the schedule a new name")

    for name, text in (("remove", "remove a schedule"), ("enable", "let beat send it"),
                       ("disable", "keep it, but beat stops sending it")):
        r = ss.add_parser(name, help=text)
        r.add_argument("name")
        add_workspace_option(r)

    ex = ss.add_parser("export", help="the workspace's schedules as CELERY_BEAT_SCHEDULE for settings.py")
    add_workspace_option(ex)
    ex.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of printing")
    ex.add_argument("--include-disabled", action="store_true", help="export disabled schedules too")

    nx = ss.add_parser("next", help="the next run times of a cron expression (or a schedule), one a line")
    nx.add_argument("name", nargs="?", help="a workspace schedule instead of --cron")
    add_workspace_option(nx)
    nx.add_argument("--cron", metavar="EXPR", help='e.g. "30 7 * * 1"')
    nx.add_argument("-n", type=int, default=5, metavar="N", help="how many (default 5)")
    nx.add_argument("--tz", default="UTC", metavar="TZ", help="the timezone beat uses (celery's default: UTC)")
    nx.add_argument("--after", metavar="ISO-DATETIME", help="from this time instead of now (naive: in --tz)")
    p.set_defaults(func=run)


def run(args) -> int:
    return {"list": _list, "add": _add, "edit": _edit, "remove": _remove, "enable": _enable,
            "disable": _disable, "export": _export, "next": _next}[args.action](args)


# -- reading ---------------------------------------------------------------------------------------


def _list(args) -> int:
    from celerydesk.core.schedules import load_schedules

    ws = load_workspace(args.workspace)
    views = load_schedules(ws, None if args.no_introspect else _project_schedules(ws))
    if args.json:
        print(json.dumps([v.to_json() for v in views], indent=2, default=str))
        return 0
    if not views:
        print(f"no schedules in {ws.path}; add one with: celerydesk schedules add NAME --task TASK --cron EXPR")
        return 0
    rows = [("NAME", "SOURCE", "ENABLED", "WHEN", "TASK", "LAST RUN", "RUNS")]
    for v in views:
        source = v.source + (" (replaced)" if v.overridden else "")
        last = v.last_run_at.astimezone().strftime("%Y-%m-%d %H:%M:%S") if v.last_run_at else "-"
        rows.append((v.name, source, "yes" if v.enabled else "no", v.when, v.task, last, str(v.total_run_count)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    for v in views:
        for text in v.problems:
            print(f"warning: {v.name}: {text} (beat leaves it out)", file=sys.stderr)
    return 0


def _project_schedules(ws) -> Optional[list]:
    """The app's beat_schedule through the introspector (cached); None (beat's last) if it fails."""
    from celerydesk.core.introspection import introspect

    try:
        return introspect(ws, timeout=60.0).beat_schedule
    except DeskError as exc:
        print(f"warning: the project's own schedules are those beat loaded last: {exc.message}", file=sys.stderr)
        return None


def _export(args) -> int:
    from celerydesk.core.schedules import export_snippet

    ws = load_workspace(args.workspace)
    text = export_snippet(ws.schedules, include_disabled=args.include_disabled, source=str(ws.path))
    if args.output:
        from pathlib import Path

        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {len([s for s in ws.schedules if s.enabled or args.include_disabled])} schedule(s) "
              f"to {args.output}")
    else:
        sys.stdout.write(text)
    return 0


def _after(text: Optional[str], tz) -> Optional[datetime]:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        raise DeskError(f"--after: {text!r} is not an ISO 8601 date and time",
                        hint="e.g. --after 2026-03-08T01:00 or --after 2026-03-08T01:00:00+01:00") from None
    return value if value.tzinfo else value.replace(tzinfo=cron.get_zone(tz))


def _next(args) -> int:
    if args.n < 1 or args.n > 10000:
        raise DeskError(f"-n: must be from 1 to 10000, got {args.n}", hint="e.g. -n 5")
    zone = cron.get_zone(args.tz)
    after = _after(args.after, zone)
    if args.cron is not None and args.name:
        raise DeskError("give a schedule's name or --cron, not both", hint='e.g. schedules next --cron "30 7 * * 1"')
    if args.cron is not None:
        for warning in cron.parse(args.cron).warnings:  # as `schedules add` says: where celery differs from cron
            print(f"warning: cron {warning}", file=sys.stderr)
        runs = cron.next_runs(args.cron, args.n, zone, after)
    elif args.name:
        from celerydesk.core.schedules import load_schedules

        found = [v for v in load_schedules(load_workspace(args.workspace)) if v.name == args.name]
        if not found:
            raise DeskError(f"no schedule called {args.name!r}", hint="see: celerydesk schedules list")
        runs = found[0].next_runs(args.n, zone, after)
    else:
        raise DeskError('give --cron "EXPR" or a schedule\'s name', hint='e.g. celerydesk schedules next --cron "30 7 * * 1"')
    for when in runs:
        print(when.isoformat())
    return 0


# -- editing ---------------------------------------------------------------------------------------


def _load_document(args):
    from celerydesk.core.workspace_edit import WorkspaceDocument

    return WorkspaceDocument.load(resolve_workspace_path(args.workspace))


def _save(doc, done: str) -> int:
    doc.save()
    print(f"{done} in {doc.path}")
    return 0


def _when_values(args) -> dict:
    """cron or every from the options, checked with celery's reading; warnings printed."""
    values = {}
    if args.cron is not None:
        expr = cron.parse(args.cron)  # CronError names the field and the part
        for w in expr.warnings:
            print(f"warning: cron {w}", file=sys.stderr)
        values["cron"] = expr.text
    elif args.every is not None:
        values["every"] = cron.parse_every(args.every)
    return values


def _common_values(args) -> dict:
    values = _when_values(args)
    if args.task is not None:
        if not args.task.strip():
            raise DeskError("--task: must not be empty", hint="give the registered task name, e.g. --task shop.tasks.send_mail")
        values["task"] = args.task
    if args.args is not None:
        values["args"] = parse_json_arg(args.args, "--args", list)
    if args.kwargs is not None:
        values["kwargs"] = parse_json_arg(args.kwargs, "--kwargs", dict)
    if args.queue is not None:
        values["queue"] = args.queue
    return values


def _edit_call(what: str, fn, *a, **kw) -> None:
    try:
        fn(*a, **kw)
    except KeyError as exc:
        raise DeskError(str(exc.args[0]) if exc.args else str(exc), hint="see: celerydesk schedules list") from None
    except TypeError as exc:
        raise DeskError(f"{what}: {exc}", hint=f"see: celerydesk schedules {what} --help") from None


def _add(args) -> int:
    values = _common_values(args)
    task = values.pop("task")
    values.setdefault("args", [])
    values.setdefault("kwargs", {})
    values["enabled"] = not args.disabled
    doc = _load_document(args)
    _edit_call("add", doc.add_schedule, args.name, task, **values)
    return _save(doc, f"added schedule {args.name!r} ({_describe(values)})")


def _edit(args) -> int:
    values = _common_values(args)
    if args.no_queue:
        if args.queue is not None:
            raise DeskError("give --queue or --no-queue, not both", hint="--no-queue sends to the task's default queue")
        values["queue"] = None
    if args.rename:
        values["name"] = args.rename
    if not values:
        raise DeskError("nothing to change", hint="give --task, --cron, --every, --args, --kwargs, --queue or --rename")
    doc = _load_document(args)
    _edit_call("edit", doc.update_schedule, args.name, **values)
    return _save(doc, f"changed schedule {args.name!r}")


def _remove(args) -> int:
    doc = _load_document(args)
    _edit_call("remove", doc.remove_schedule, args.name)
    return _save(doc, f"removed schedule {args.name!r}")


def _enable(args, enabled: bool = True) -> int:
    doc = _load_document(args)
    _edit_call("enable", doc.enable_schedule, args.name, enabled)
    return _save(doc, f"{'enabled' if enabled else 'disabled'} schedule {args.name!r}")


def _disable(args) -> int:
    return _enable(args, enabled=False)


def _describe(values: dict) -> str:
    if "cron" in values:
        return cron.describe(values["cron"])
    return cron.describe_every(values["every"])
