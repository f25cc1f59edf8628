"""``celerydesk workers``: every worker on the workspace's broker, and changing one while it runs.

- ``workers [--json]``: each worker that answers, local (started by this workspace's running
  stack) or remote, with its pool, size, tasks processed, active, reserved and scheduled, load
  and uptime; a local one's memory and CPU measured here, a remote one's peak memory as it
  reports it (``core.worker_list`` says where each figure comes from). No worker answering is
  not an error: the table says so (on stderr), ``--json`` prints ``[]``, and the exit code is 0.
- ``workers scale NAME N``, ``autoscale NAME MAX MIN``, ``rate-limit NAME TASK RATE``,
  ``time-limit NAME TASK [--soft S] [--hard H]``, ``consume NAME QUEUE``, ``cancel NAME QUEUE``,
  ``shutdown NAME``: one control command to that worker (``core.worker_actions``), and what it
  replied. ``--save`` (scale, autoscale, consume, cancel) also writes the change to the worker's
  ``[[workers]]`` entry, for a worker this stack started; that is checked before anything is sent.
  Shutting down a remote worker needs ``--yes``.

NAME is the worker's node name (``main@host``), or the part before the @ when it is unique.
"""

from __future__ import annotations

import argparse
import json
import sys

from celerydesk.cli.main import add_workspace_option, workspace_client
from celerydesk.cli.output import print_table
from celerydesk.core.errors import DeskError
from celerydesk.core.runtime import Runtime
from celerydesk.core.workspace import load_workspace

SAVES = ("scale", "autoscale", "consume", "cancel")


def add_parser(sub) -> None:
    p = sub.add_parser("workers", help="the workers on the broker, and changing one: pool size, limits, queues")
    add_workspace_option(p)
    p.add_argument("--json", action="store_true", help="a JSON list of workers (name, where, pool, concurrency, ...)")
    actions = p.add_subparsers(dest="action", metavar="[scale | autoscale | rate-limit | time-limit | consume | "
                                                      "cancel | shutdown]")
    scale = _action(actions, "scale", "grow or shrink the pool of NAME to N processes")
    scale.add_argument("size", metavar="N", type=_whole, help="the pool's size")
    auto = _action(actions, "autoscale", "set the autoscale range of NAME (started with --autoscale)")
    auto.add_argument("max", metavar="MAX", type=_whole)
    auto.add_argument("min", metavar="MIN", type=_whole)
    rate = _action(actions, "rate-limit", "limit how often NAME starts TASK")
    rate.add_argument("task", metavar="TASK", help="the task's name")
    rate.add_argument("rate", metavar="RATE", help="tasks per second, minute or hour: 10/m, 2/h, 0.5/s; 0 lifts it")
    times = _action(actions, "time-limit", "set TASK's soft and hard time limits on NAME")
    times.add_argument("task", metavar="TASK", help="the task's name")
    times.add_argument("--soft", type=float, metavar="S", help="seconds, then SoftTimeLimitExceeded in the task")
    times.add_argument("--hard", type=float, metavar="H", help="seconds, then the pool process is killed")
    for name, text in (("consume", "have NAME consume from QUEUE too"), ("cancel", "have NAME stop consuming from QUEUE")):
        action = _action(actions, name, text)
        action.add_argument("queue", metavar="QUEUE")
    down = _action(actions, "shutdown", "shut NAME down (warm: its running tasks finish first)")
    down.add_argument("--yes", action="store_true", help="needed for a worker this stack did not start")
    for name in SAVES:
        actions.choices[name].add_argument(
            "--save", action="store_true", help="also write it to the worker's [[workers]] entry (a worker of this stack)")
    p.set_defaults(func=run)


def _action(actions, name: str, text: str) -> argparse.ArgumentParser:
    p = actions.add_parser(name, help=text)
    add_workspace_option(p, default=argparse.SUPPRESS)
    p.add_argument("name", metavar="NAME", help="the worker: main@host, or main when unique")
    return p


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def run(args) -> int:
    ws = load_workspace(args.workspace)
    client = workspace_client(ws, args.workspace)
    try:
        client.require_answer()
        records = Runtime(ws.runtime_dir).read_records()
        if args.action is None:
            return _list(client, records, args.json)
        return _change(ws, client, records, args)
    finally:
        client.close()


def _list(client, records, as_json: bool) -> int:
    from celerydesk.core.worker_list import list_workers

    workers = list_workers(client, records)
    if as_json:
        print(json.dumps([w.as_json() for w in workers], indent=2))
    if not workers:
        print(f"celerydesk: no worker answered on {client.shown_url}", file=sys.stderr)
        return 0
    if not as_json:
        _print_table(workers)
    return 0


def _print_table(workers) -> None:
    from celerydesk.core.worker_list import LOCAL
    from celerydesk.core.worker_resources import format_bytes, format_percent

    rows = [("NAME", "WHERE", "POOL", "SIZE", "PROCESSED", "ACTIVE", "RESERVED", "SCHEDULED", "LOAD", "UPTIME",
             "MEMORY", "CPU")]
    for w in workers:
        size = "-" if w.concurrency is None else str(w.concurrency)
        if w.autoscale:
            size += f" ({w.autoscale[1]}-{w.autoscale[0]})"
        if w.where == LOCAL:
            memory = format_bytes(w.usage.rss_bytes) if w.usage else "-"
            cpu = format_percent(w.usage.cpu_percent) if w.usage and w.usage.cpu_percent is not None else "-"
        else:
            peak = w.remote.max_rss_bytes if w.remote else None
            memory, cpu = (f"peak {format_bytes(peak)}" if peak is not None else "-"), "-"
        rows.append((w.name, w.where, w.pool or "-", size, _n(w.processed), _n(w.active), _n(w.reserved),
                     _n(w.scheduled), " ".join(f"{x:.2f}" for x in w.load) if w.load else "-", _uptime(w.uptime),
                     memory, cpu))
    print_table(rows, right=(3, 4, 5, 6, 7, 9, 10, 11))
    if any(w.where != LOCAL for w in workers):
        print("(remote workers: MEMORY is the peak RSS of the main process, as inspect stats reports it)")


def _change(ws, client, records, args) -> int:
    from celerydesk.core import worker_actions as act
    from celerydesk.core.worker_list import LOCAL, answering, find_worker

    if args.action == "rate-limit":
        act.check_rate(args.rate)  # before asking the workers anything
    worker = find_worker(answering(client, records), args.name)
    name = worker.name
    saving = getattr(args, "save", False)
    entry = _entry_to_save(ws, worker, args) if saving else None
    if args.action == "scale":
        said, change = act.scale(client, name, args.size), {"concurrency": args.size}
    elif args.action == "autoscale":
        said, change = act.autoscale(client, name, args.max, args.min), {"autoscale": (args.max, args.min)}
    elif args.action == "rate-limit":
        said, change = act.rate_limit(client, name, args.task, args.rate), {}
    elif args.action == "time-limit":
        said, change = act.time_limit(client, name, args.task, args.soft, args.hard), {}
    elif args.action == "consume":
        said = act.consume(client, name, args.queue)
        change = {"queues": list(dict.fromkeys([*entry.queues, args.queue]))} if entry else {}
    elif args.action == "cancel":
        said = act.cancel(client, name, args.queue)
        change = {"queues": [q for q in entry.queues if q != args.queue]} if entry else {}
    else:  # shutdown
        if worker.where != LOCAL and not args.yes:
            raise DeskError(f"not shut down: {name} is a worker this stack did not start",
                            hint=f"add --yes to shut it down anyway: celerydesk workers shutdown {name} --yes")
        said, change = act.shutdown(client, name), {}
    print(said)
    if entry is not None:
        saved = act.save_to_workspace(ws.path, entry.name, **change)
        print(f"saved to {ws.path} [[workers]] {entry.name!r}: {'; '.join(saved)}" if saved
              else f"{ws.path} already says so")
    return 0


def _entry_to_save(ws, worker, args):
    """The ``[[workers]]`` entry a ``--save`` writes to; refused before anything is sent when
    there is none, or when the change would not be a valid entry."""
    from celerydesk.core.worker_list import LOCAL

    if worker.where != LOCAL:
        raise DeskError(f"--save: {worker.name} is not a worker this workspace's running stack started; "
                        "nothing was sent", hint="leave out --save to change the running worker only")
    try:
        entry = ws.worker(worker.workspace_worker)
    except KeyError:
        raise DeskError(f"--save: the workspace file has no [[workers]] entry {worker.workspace_worker!r} any more; "
                        "nothing was sent", hint="restart the stack to run what the file says") from None
    if args.action == "cancel" and [args.queue] == entry.queues:
        raise DeskError(f"--save: {args.queue} is the only queue of [[workers]] {entry.name!r}, which must name one; "
                        "nothing was sent", hint="consume from another queue first, or leave out --save")
    if args.action == "autoscale" and entry.pool != "prefork":
        raise DeskError(f'--save: only the prefork pool can autoscale, and [[workers]] {entry.name!r} has pool = '
                        f'"{entry.pool}"; nothing was sent')
    return entry


def _n(value) -> str:
    return "-" if value is None else str(value)


def _uptime(seconds) -> str:
    if seconds is None:
        return "-"
    hours, rest = divmod(int(seconds), 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"
