"""``celerydesk tasks``: the project's registered tasks (and, with --beat, its beat schedule).

The list comes from the introspection script run in the project's interpreter (see
``core/introspection.py``), cached until a ``.py`` file of the project changes; no broker or
worker is needed. ``--json`` prints the script's objects as they are, for other programs;
without it, a table a person reads: each task's signature as Python writes it and the first
line of its docstring. Celery's own tasks (``celery.*``) are hidden unless ``--all``.
"""

from __future__ import annotations

import json
import shutil

from celerydesk.cli.main import add_workspace_option
from celerydesk.core.introspection import Introspection, introspect
from celerydesk.core.workspace import load_workspace


def add_parser(sub) -> None:
    p = sub.add_parser("tasks", help="list the project's tasks with their parameters (or its beat schedule)")
    add_workspace_option(p)
    p.add_argument("--json", action="store_true", help="print a JSON list of objects instead of a table")
    p.add_argument("--all", action="store_true", help="include celery's own tasks (celery.*)")
    p.add_argument("--beat", action="store_true", help="list the app's beat schedule as configured instead")
    p.add_argument("--refresh", action="store_true", help="load the project again even if no file changed")
    p.set_defaults(func=run)


def run(args) -> int:
    ws = load_workspace(args.workspace)
    result = introspect(ws, refresh=args.refresh)
    if args.beat:
        if args.json:
            print(json.dumps(result.beat_schedule, indent=2))
        else:
            print_beat(result)
        return 0
    tasks = [t for t in result.tasks.values() if args.all or not t.internal]
    if args.json:
        print(json.dumps([t.raw for t in tasks], indent=2))
        return 0
    print_tasks(result, tasks, hidden=len(result.tasks) - len(tasks))
    return 0


def print_tasks(result: Introspection, tasks, hidden: int) -> None:
    width = shutil.get_terminal_size((100, 20)).columns
    default_queue = result.app.get("default_queue")
    for task in tasks:
        line = f"{task.name}{task.signature() if not task.params_error else '(?)'}"
        notes = []
        if task.queue and task.queue != default_queue:
            notes.append(f"queue {task.queue}")  # only routing that differs is worth a word
        if task.params_error:
            notes.append(f"signature unreadable: {task.params_error}")
        print(line + (f"  [{'; '.join(notes)}]" if notes else ""))
        if task.doc:
            first = task.doc.strip().splitlines()[0]
            print("    " + (first if len(first) + 4 <= width else first[:max(width - 5, 20)] + "…"))
    count = f"{len(tasks)} task{'s' if len(tasks) != 1 else ''} in {result.app.get('main') or 'the app'}"
    if hidden:
        count += f" ({hidden} of celery's own hidden; --all shows them)"
    print(f"\n{count}")


def print_beat(result: Introspection) -> None:
    if not result.beat_schedule:
        print("no beat schedule in the app's configuration")
        return
    for entry in result.beat_schedule:
        schedule = entry.get("schedule") or {}
        kind = schedule.get("type")
        if kind == "crontab":
            when = f"cron {schedule['cron']}"
        elif kind == "interval":
            when = f"every {schedule['seconds']:g} s"
        elif kind == "solar":
            when = f"solar {schedule['event']} at {schedule['lat']}, {schedule['lon']}"
        else:
            when = schedule.get("repr", "?")
        call = ", ".join([json.dumps(a) for a in entry.get("args") or []] +
                         [f"{k}={json.dumps(v)}" for k, v in (entry.get("kwargs") or {}).items()])
        origin = "  (add_periodic_task)" if entry.get("source") == "add_periodic_task" else ""
        print(f"{entry['name']}: {entry.get('task')}({call})  {when}{origin}")
