"""``celerydesk schedules add|edit|remove|enable|disable``: change a schedule where it lives.

Without ``--source`` (or with ``--source workspace``) the workspace file is edited through
``core.workspace_edit.WorkspaceDocument``: comments and layout stay, the result is validated
before anything is written, the file is replaced atomically, and a running stack's beat applies
it within seconds. With ``--source database`` or ``--source redbeat`` the entry is written
through the project's own models or API (django-celery-beat's ``PeriodicTask``, RedBeat's
``RedBeatSchedulerEntry``; ``core.schedule_store``), and the project's scheduler, wrapped by the
running beat, picks it up at its next look (within a second or two). Writing to a store that
the app's beat does not read is refused, since it would change nothing.

Every value is checked before anything is written: cron expressions with celery's reading
(``core.cron``), times, timezones, priorities (``core.schedule_options``), JSON arguments.
"""

from __future__ import annotations

import argparse
import sys

from celerydesk.cli.call_cmd import parse_json_arg
from celerydesk.cli.main import add_workspace_option
from celerydesk.core import cron, schedule_options
from celerydesk.core.errors import DeskError
from celerydesk.core.workspace import load_workspace, resolve_workspace_path

SOURCES = ("workspace", "database", "redbeat")
# An empty value removes the option (e.g. --timezone '' reads the crontab in the app's zone again).
_CLEARABLE = ("timezone", "expires", "start_at", "priority")


def add_source_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", choices=SOURCES, default="workspace",
                        help="where the schedule lives: the workspace file (default), django-celery-beat's "
                             "database or RedBeat's Redis")


def add_parsers(ss) -> None:
    for name, text in (("add", "add a schedule (to the workspace file, or --source database|redbeat)"),
                       ("edit", "change a schedule")):
        e = ss.add_parser(name, help=text)
        e.add_argument("name", help="the schedule's unique name")
        add_workspace_option(e)
        add_source_option(e)
        e.add_argument("--task", required=name == "add", help="the registered task name")
        when = e.add_mutually_exclusive_group(required=name == "add")
        when.add_argument("--cron", metavar="EXPR", help='"minute hour day-of-month month day-of-week"')
        when.add_argument("--every", metavar="SECONDS", help="an interval: 900, 15m, 1h30m")
        e.add_argument("--args", metavar="JSON", help="positional arguments, a JSON array")
        e.add_argument("--kwargs", metavar="JSON", help="keyword arguments, a JSON object")
        e.add_argument("--queue", help="the queue to send to")
        e.add_argument("--timezone", metavar="TZ", help="read the crontab in this zone, not the app's ('' removes it)")
        e.add_argument("--expires", metavar="SECONDS|TIME",
                       help="seconds: each message expires that long after it is sent; an ISO time: nothing "
                            "is sent after it ('' removes it)")
        e.add_argument("--start-at", metavar="TIME", help="an ISO time: nothing is sent before it ('' removes it)")
        e.add_argument("--one-off", action=argparse.BooleanOptionalAction, default=None,
                       help="send it once only (--no-one-off: every time it is due)")
        e.add_argument("--priority", metavar="0-255", help="the messages' priority ('' removes it)")
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
        add_source_option(r)


def run(args) -> int:
    return {"add": _add, "edit": _edit, "remove": _remove, "enable": _enable,
            "disable": lambda a: _enable(a, enabled=False)}[args.action](args)


# -- reading the options ------------------------------------------------------------------------------


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


def _option_values(args) -> dict:
    values = {}
    readers = {"timezone": schedule_options.parse_timezone, "expires": schedule_options.parse_expires,
               "start_at": lambda text: schedule_options.parse_time(text, "--start-at"),
               "priority": schedule_options.parse_priority}
    for key in _CLEARABLE:
        text = getattr(args, key)
        if text is not None:
            values[key] = readers[key](text) if text.strip() else None
    if args.one_off is not None:
        values["one_off"] = args.one_off
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
    values.update(_option_values(args))
    return values


def _describe(values: dict) -> str:
    if "cron" in values:
        return cron.describe(values["cron"]) + (f" ({values['timezone']})" if values.get("timezone") else "")
    return cron.describe_every(values["every"])


# -- the workspace file -------------------------------------------------------------------------------


def _load_document(args):
    from celerydesk.core.workspace_edit import WorkspaceDocument

    return WorkspaceDocument.load(resolve_workspace_path(args.workspace))


def _save(doc, done: str) -> int:
    doc.save()
    print(f"{done} in {doc.path}")
    return 0


def _edit_call(what: str, fn, *a, **kw) -> None:
    try:
        fn(*a, **kw)
    except KeyError as exc:
        raise DeskError(str(exc.args[0]) if exc.args else str(exc), hint="see: celerydesk schedules list") from None
    except TypeError as exc:
        raise DeskError(f"{what}: {exc}", hint=f"see: celerydesk schedules {what} --help") from None


# -- a project's store ----------------------------------------------------------------------------------


def _store(args, write):
    """Run ``write(ws, source)`` against the store ``--source`` names, after checking that the
    app's beat reads it."""
    from celerydesk.core import project_scheduler, schedule_store

    ws = load_workspace(args.workspace)
    if ws.environment.read_only:  # the store is the stack's own (its database, its Redis): a change to it
        from celerydesk.cli.main import cli_unlock_hint
        from celerydesk.core.environment import ReadOnlyEnvironment

        raise ReadOnlyEnvironment(ws.environment_name, f"change schedules in {_where(args)}", cli_unlock_hint(ws))
    schedule_store.check_source(args.source, project_scheduler.for_workspace(ws))
    return write(ws, args.source)


def _where(args) -> str:
    return {"database": "django-celery-beat's database", "redbeat": "RedBeat's Redis"}[args.source]


# -- the commands ----------------------------------------------------------------------------------------


def _add(args) -> int:
    values = _common_values(args)
    values.setdefault("args", [])
    values.setdefault("kwargs", {})
    values["enabled"] = not args.disabled
    if args.source != "workspace":
        from celerydesk.core import schedule_store

        _store(args, lambda ws, source: schedule_store.save(ws, source, args.name, values, create=True))
        print(f"added {args.source} entry {args.name!r} ({_describe(values)}) to {_where(args)}")
        return 0
    task = values.pop("task")
    values = {k: v for k, v in values.items() if v is not None}
    doc = _load_document(args)
    _edit_call("add", doc.add_schedule, args.name, task, **values)
    return _save(doc, f"added schedule {args.name!r} ({_describe(values)})")


def _edit(args) -> int:
    values = _common_values(args)
    if args.no_queue:
        if args.queue is not None:
            raise DeskError("give --queue or --no-queue, not both", hint="--no-queue sends to the task's default queue")
        values["queue"] = None
    if not values and not args.rename:
        raise DeskError("nothing to change", hint="give --task, --cron, --every, --args, --kwargs, --queue, "
                                                   "--timezone, --expires, --start-at, --one-off, --priority or --rename")
    if args.source != "workspace":
        from celerydesk.core import schedule_store

        if args.rename:
            values["rename"] = args.rename
        name = _store(args, lambda ws, source: schedule_store.save(ws, source, args.name, values, create=False))
        print(f"changed {args.source} entry {name!r} in {_where(args)}; beat applies it at its next look")
        return 0
    if args.rename:
        values["name"] = args.rename
    doc = _load_document(args)
    _edit_call("edit", doc.update_schedule, args.name, **values)
    return _save(doc, f"changed schedule {args.name!r}")


def _remove(args) -> int:
    if args.source != "workspace":
        from celerydesk.core import schedule_store

        _store(args, lambda ws, source: schedule_store.remove(ws, source, args.name))
        print(f"removed {args.source} entry {args.name!r} from {_where(args)}")
        return 0
    doc = _load_document(args)
    _edit_call("remove", doc.remove_schedule, args.name)
    return _save(doc, f"removed schedule {args.name!r}")


def _enable(args, enabled: bool = True) -> int:
    word = "enabled" if enabled else "disabled"
    if args.source != "workspace":
        from celerydesk.core import schedule_store

        _store(args, lambda ws, source: schedule_store.enable(ws, source, args.name, enabled))
        print(f"{word} {args.source} entry {args.name!r} in {_where(args)}")
        return 0
    doc = _load_document(args)
    _edit_call("enable", doc.enable_schedule, args.name, enabled)
    return _save(doc, f"{word} schedule {args.name!r}")
