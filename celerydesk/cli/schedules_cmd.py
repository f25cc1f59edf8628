"""``celerydesk schedules ...``: list, add, edit, remove, enable, disable, export, next.

``list`` shows every schedule beat runs, with its source: the workspace's, the app's
``beat_schedule``, and the entries the project keeps in django-celery-beat's database or
RedBeat's Redis (read through the project's own models, ``core.schedule_store``), each with the
schedule in words, its next and last run, run count and whether it is enabled. When the app's
beat runs a scheduler celerydesk cannot add to, it says that the workspace's are not sent.

Changes (add, edit, remove, enable, disable) are in ``cli/schedules_edit.py``. Cron expressions
are checked field by field with celery's reading (``core.cron``) before they are saved or
previewed: a malformed one exits 2 with a message naming the field and the part. ``next``
prints the next run times one ISO 8601 datetime a line, as celery beat would run them, in a
schedule's own timezone and not before its ``start_at``.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Optional

from celerydesk.cli import schedules_edit
from celerydesk.cli.main import add_workspace_option
from celerydesk.cli.output import print_table
from celerydesk.core import cron
from celerydesk.core.errors import DeskError
from celerydesk.core.workspace import load_workspace


def add_parser(sub) -> None:
    p = sub.add_parser("schedules", help="list, edit, export and preview beat's periodic schedules")
    ss = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    ls = ss.add_parser("list", help="the workspace's and the project's schedules")
    add_workspace_option(ls)
    ls.add_argument("--json", action="store_true", help="one JSON array, for scripts")
    ls.add_argument("--no-introspect", action="store_true",
                    help="do not load the project's app; show the project schedules beat loaded last")

    schedules_edit.add_parsers(ss)

    ex = ss.add_parser("export", help="the workspace's schedules as CELERY_BEAT_SCHEDULE for settings.py")
    add_workspace_option(ex)
    ex.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of printing")
    ex.add_argument("--include-disabled", action="store_true", help="export disabled schedules too")

    nx = ss.add_parser("next", help="the next run times of a cron expression (or a schedule), one a line")
    nx.add_argument("name", nargs="?", help="a schedule instead of --cron")
    add_workspace_option(nx)
    schedules_edit.add_source_option(nx)
    nx.add_argument("--cron", metavar="EXPR", help='e.g. "30 7 * * 1"')
    nx.add_argument("-n", type=int, default=5, metavar="N", help="how many (default 5)")
    nx.add_argument("--tz", default="UTC", metavar="TZ", help="the timezone beat uses (celery's default: UTC)")
    nx.add_argument("--after", metavar="ISO-DATETIME", help="from this time instead of now (naive: in --tz)")
    p.set_defaults(func=run)


def run(args) -> int:
    if args.action in ("add", "edit", "remove", "enable", "disable"):
        return schedules_edit.run(args)
    return {"list": _list, "export": _export, "next": _next}[args.action](args)


# -- reading ---------------------------------------------------------------------------------------


def _list(args) -> int:
    views = _load_all(load_workspace(args.workspace), introspect=not args.no_introspect)
    if args.json:
        print(json.dumps([v.to_json() for v in views], indent=2, default=str))
        return 0
    if not views:
        print("no schedules; add one with: celerydesk schedules add NAME --task TASK --cron EXPR")
        return 0
    rows = [("NAME", "SOURCE", "ENABLED", "SCHEDULE", "NEXT RUN", "LAST RUN", "RUNS", "TASK")]
    for v in views:
        source = v.source + (" (replaced)" if v.overridden else "")
        try:
            upcoming = v.next_run() if not v.overridden and not v.problems else None
        except DeskError:
            upcoming = None
        rows.append((v.name, source, "yes" if v.enabled else "no", v.description(), _shown(upcoming),
                     _shown(v.last_run_at), str(v.total_run_count), v.task))
    print_table(rows)
    for v in views:
        for text in v.problems:
            print(f"warning: {v.name}: {text}" + ("" if text.startswith("not sent") else " (beat leaves it out)"),
                  file=sys.stderr)
        for text in v.notes:
            print(f"note: {v.name}: {text}", file=sys.stderr)
    return 0


def _shown(when: Optional[datetime]) -> str:
    return when.astimezone().strftime("%Y-%m-%d %H:%M:%S") if when else "-"


def _load_all(ws, introspect: bool = True) -> list:
    """Every schedule: the workspace's, the app's (introspected, else what beat loaded last) and,
    when the app's beat keeps entries in a store, the store's. What cannot be read is said."""
    from celerydesk.core.schedules import load_schedules, read_beat_state, store_views

    app_entries, scheduler, store = None, None, None
    if introspect:
        from celerydesk.core.introspection import introspect as read_project
        from celerydesk.core.project_scheduler import classify

        try:
            found = read_project(ws, timeout=60.0)
            app_entries, scheduler = found.beat_schedule, classify(found.app)
        except DeskError as exc:
            print(f"warning: the app's own schedules are those beat loaded last: {exc.message}", file=sys.stderr)
    elif read_beat_state(ws.runtime_dir).get("project_scheduler"):
        print("warning: the entries the app's scheduler keeps in its store are not listed (--no-introspect)",
              file=sys.stderr)
    if scheduler is not None and scheduler.store:
        from celerydesk.core import schedule_store

        try:
            store = store_views(schedule_store.list_entries(ws, scheduler.store), scheduler.store)
        except DeskError as exc:
            print(f"warning: {exc}" + (f"\n  → {exc.hint}" if exc.hint else ""), file=sys.stderr)
    return load_schedules(ws, app_entries, store, scheduler)


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

        ws = load_workspace(args.workspace)
        views = load_schedules(ws) if args.source == "workspace" else _load_all(ws)
        found = [v for v in views if v.name == args.name and v.source in (args.source, "app", "celery")]
        found.sort(key=lambda v: v.source != args.source)  # the one of that source first
        if not found:
            raise DeskError(f"no schedule called {args.name!r}", hint="see: celerydesk schedules list")
        runs = found[0].next_runs(args.n, zone, after)
    else:
        raise DeskError('give --cron "EXPR" or a schedule\'s name', hint='e.g. celerydesk schedules next --cron "30 7 * * 1"')
    for when in runs:
        print(when.isoformat())
    return 0
