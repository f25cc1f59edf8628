"""``celerydesk history``: the workspace's task history, read from its store (no broker needed).

- ``history [filters] [--limit N] [--json]``: tasks newest first, as a table or JSON objects;
- ``history show ID [--json]``: one task (a unique prefix of its id will do) with its
  timeline and its family (parent, children, and the tree under its root);
- ``history export -o FILE [--format csv|json] [filters]``: every matching task, streamed.

Filters: ``--state`` (repeatable), ``--task`` (a name, or its last dotted parts), ``--worker``
(a hostname, or the name before ``@``), ``--queue``, ``--search`` (text anywhere in the id,
name, arguments, result or exception), ``--since`` (a duration back from now, ``15m``,
``2h30m``, ``7d``, or an ISO 8601 time; without an offset it is local time). The JSON shape is
``core/history/export.py``'s; times are ISO 8601 UTC.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Optional

from celerydesk.cli.main import add_workspace_option
from celerydesk.core.errors import DeskError
from celerydesk.core.history.export import task_object, timeline_objects, write_csv, write_json
from celerydesk.core.history.queries import HistoryReader, TaskFilter
from celerydesk.core.task_store import STATES
from celerydesk.core.workspace import load_workspace

_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
DEFAULT_LIMIT = 50


def add_parser(sub) -> None:
    p = sub.add_parser("history", help="the tasks seen on the stack, kept across restarts: list, search, show, export")
    _add_filters(p, suppress=False)
    p.add_argument("--json", action="store_true", help="print a JSON list of task objects instead of a table")
    p.add_argument("--limit", type=int, default=DEFAULT_LIMIT, metavar="N",
                   help=f"at most N tasks, newest first (default {DEFAULT_LIMIT})")
    actions = p.add_subparsers(dest="action", metavar="[show ID | export -o FILE]")
    show = actions.add_parser("show", help="one task with its timeline and family")
    show.add_argument("id", help="the task's id, or the start of it")
    add_workspace_option(show, default=argparse.SUPPRESS)
    show.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print one JSON object")
    export = actions.add_parser("export", help="write the matching tasks to a file (CSV or JSON)")
    export.add_argument("-o", "--output", required=True, metavar="FILE", help="the file to write; - for stdout")
    export.add_argument("--format", choices=("csv", "json"), help="default: from FILE's extension, else json")
    export.add_argument("--limit", type=int, metavar="N", help="at most N tasks (default: all)")
    _add_filters(export, suppress=True)
    p.set_defaults(func=run)


def _add_filters(p: argparse.ArgumentParser, suppress: bool) -> None:
    """The filter options; on a sub-command they default to 'not given' (SUPPRESS), so that
    options given before it (``history -w W export ...``) are kept."""
    extra = {"default": argparse.SUPPRESS} if suppress else {}
    add_workspace_option(p, **extra)
    p.add_argument("--state", action="append", metavar="S", help=f"only this state (repeatable): {', '.join(STATES)}",
                   **extra)
    p.add_argument("--task", action="append", metavar="NAME", help="only this task (a name, or its last part)", **extra)
    p.add_argument("--worker", action="append", metavar="W", help="only this worker (hostname, or its name before @)",
                   **extra)
    p.add_argument("--queue", action="append", metavar="Q", help="only tasks sent to this queue", **extra)
    p.add_argument("--search", metavar="TEXT", help="text anywhere in the id, name, arguments, result or exception",
                   **extra)
    p.add_argument("--since", metavar="DURATION|ISO", help="only tasks since then: 15m, 2h, 7d, or 2026-12-06T18:00",
                   **extra)


def parse_since(text: str, now: float) -> float:
    """A moment: a duration back from ``now`` (``90s``, ``15m``, ``1h30m``, ``7d``, ``2w``) or
    an ISO 8601 time (local time when it has no offset)."""
    value = text.strip().lower()
    if value and _DURATION.sub("", value) == "":
        return now - sum(float(n) * _UNIT_S[unit] for n, unit in _DURATION.findall(value))
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise DeskError(f"--since {text!r} is neither a duration nor an ISO 8601 time",
                        hint="give a duration back from now (90s, 15m, 2h30m, 7d) "
                        "or a time like 2026-12-06T18:00") from None
    return moment.timestamp()  # a naive datetime is read as local time


def task_filter(args, now: float) -> TaskFilter:
    states = tuple(s.upper() for s in getattr(args, "state", None) or ())
    unknown = [s for s in states if s not in STATES and s != "PENDING"]
    if unknown:
        raise DeskError(f"--state {unknown[0]} is not a task state", hint=f"choose from {', '.join(STATES)}")
    since = getattr(args, "since", None)

    def given(option: str) -> tuple:
        return tuple(getattr(args, option, None) or ())

    return TaskFilter(states=states, names=given("task"), workers=given("worker"), queues=given("queue"),
                      since=parse_since(since, now) if since else None, search=getattr(args, "search", None) or "")


def run(args) -> int:
    limit = getattr(args, "limit", None)
    if limit is not None and limit < 1:
        raise DeskError(f"--limit must be at least 1, got {limit}", hint="e.g. --limit 100")
    f = task_filter(args, time.time()) if args.action != "show" else TaskFilter()
    ws = load_workspace(getattr(args, "workspace", None))
    reader = HistoryReader(ws.runtime_dir)
    try:
        if args.action == "show":
            return show(reader, args.id, args.json)
        if args.action == "export":
            return export(reader, f, args.output, args.format, limit)
        return list_tasks(reader, f, limit, args.json)
    except BrokenPipeError:  # `celerydesk history | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    finally:
        reader.close()


def list_tasks(reader: HistoryReader, f: TaskFilter, limit: int, as_json: bool) -> int:
    rows = reader.page(f, limit=limit)
    if as_json:
        print(json.dumps([task_object(r) for r in rows], indent=2, ensure_ascii=False))
        return 0
    if not rows:
        print("no task in the history matches" if f != TaskFilter() else "the history holds no task yet",
              file=sys.stderr)
        return 0
    width = shutil.get_terminal_size((120, 20)).columns
    for row in rows:
        when = _local(row["sent_at"] or row["seen_at"])
        runtime = f"{row['runtime']:.3f}s" if row["runtime"] is not None else "-"
        head = (f"{when}  {row['state']:<8}  {(row['name'] or '?').rsplit('.', 1)[-1]:<24.24}  {row['id'][:8]}  "
                f"{runtime:>8}  {row['worker'] or '-':<16.16}  ")
        call = _call_text(row)
        room = max(width - len(head), 10)
        print(head + (call if len(call) <= room else call[:room - 1] + "…"))
    total = reader.count(f, cap=1_000_000)
    shown = f"{len(rows)} of {total:,}{'+' if total == 1_000_000 else ''} task(s), newest first"
    print(f"\n{shown}; `celerydesk history show ID` for one (times are local)")
    return 0


def show(reader: HistoryReader, wanted: str, as_json: bool) -> int:
    task_id = resolve_id(reader, wanted)
    row = reader.task(task_id)
    timeline = reader.timeline(task_id)
    family = reader.family(task_id)
    if as_json:
        print(json.dumps({"task": task_object(row), "timeline": timeline_objects(timeline), "family": family},
                         indent=2, ensure_ascii=False))
        return 0
    print(f"{row['name'] or '(name unknown)'}[{row['id']}]  {row['state']}")
    for label, value in (("worker", row["worker"]), ("queue", row["queue"]), ("sent by", row["sent_by"]),
                         ("retries", row["retries"]), ("eta", _local(row["eta"], ms=True) if row["eta"] else None),
                         ("expires", _local(row["expires"], ms=True) if row["expires"] else None),
                         ("runtime", f"{row['runtime']:.6f} s" if row["runtime"] is not None else None),
                         ("wait", f"{row['wait']:.6f} s (received to started)" if row["wait"] is not None else None)):
        if value is not None:
            print(f"  {label:<9} {value}")
    if row["args_json"] is not None:
        print(f"  {'args':<9} {row['args_json']}  (exact JSON, as celerydesk sent it)")
        print(f"  {'kwargs':<9} {row['kwargs_json']}")
    else:
        print(f"  {'args':<9} {row['args']}")
        print(f"  {'kwargs':<9} {row['kwargs']}")
    for label in ("result", "exception"):
        if row[label] is not None:
            print(f"  {label:<9} {row[label]}")
    if row["traceback"]:
        print("  traceback:\n    " + row["traceback"].rstrip().replace("\n", "\n    "))
    print("timeline (local time):")
    first = timeline[0][0] if timeline else None
    for at, state in timeline:
        print(f"  {_local(at, ms=True)}  {state:<9} +{(at - first) * 1000:.1f} ms")
    if family and family["size"] > 1:
        print(f"family: {family['size']} task(s) under root {family['root']}" +
              ("" if family["complete"] else " (cut)"))
        _print_tree(family["tree"], task_id, "  ", "")
    return 0


def export(reader: HistoryReader, f: TaskFilter, output: str, fmt: Optional[str], limit: Optional[int]) -> int:
    fmt = fmt or ("csv" if output.lower().endswith(".csv") else "json")
    writer = write_csv if fmt == "csv" else write_json
    rows = reader.iter_rows(f, limit=limit)
    if output == "-":
        writer(rows, sys.stdout)
        return 0
    target = Path(output).expanduser()
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as out:
            count = writer(rows, out)
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise DeskError(f"cannot write {target}: {exc.strerror or exc}",
                        hint="choose a folder you can write to, with free space") from None
    print(f"wrote {count:,} task(s) to {target} ({fmt})", file=sys.stderr)
    return 0


def resolve_id(reader: HistoryReader, wanted: str) -> str:
    """The full id of the one task whose id is, or starts with, ``wanted``; a DeskError if none or many."""
    found = reader.find_ids(wanted.strip())
    if not found:
        raise DeskError(f"no task {wanted!r} in the history",
                        hint="`celerydesk history` lists the tasks; give the id or the start of it")
    if len(found) > 1:
        raise DeskError(f"{wanted!r} starts more than one task id ({', '.join(found)}, ...)",
                        hint="give more of the id")
    return found[0]


def _print_tree(node: dict, selected: str, indent: str, branch: str) -> None:
    mark = "   ← this task" if node["id"] == selected else ""
    print(f"{indent}{branch}{node['id'][:8]}  {(node['name'] or '?').rsplit('.', 1)[-1]}  {node['state'] or '?'}{mark}")
    child_indent = indent + ("" if not branch else ("   " if branch.startswith("└") else "│  "))
    for i, child in enumerate(node["children"]):
        _print_tree(child, selected, child_indent, "└─ " if i == len(node["children"]) - 1 else "├─ ")


def _call_text(row: dict) -> str:
    args = row["args_json"] if row["args_json"] is not None else row["args"]
    kwargs = row["kwargs_json"] if row["kwargs_json"] is not None else row["kwargs"]
    text = f"{args or ''} {kwargs or ''}".strip()
    outcome = row["exception"] or row["result"]
    return f"{text} → {outcome}" if outcome else text


def _local(seconds: Optional[float], ms: bool = False) -> str:
    if seconds is None:
        return "-"
    moment = datetime.fromtimestamp(seconds)
    return moment.strftime("%Y-%m-%d %H:%M:%S") + (f".{moment.microsecond // 1000:03d}" if ms else "")



