"""``celerydesk queues``: the workspace's queues, and the messages waiting in them.

- ``queues [--json]``: every queue of the workspace's workers, of the app (``task_queues`` and
  its tasks' routes), of the running workers, of the task history, and every queue the broker
  holds (``core.queue_list`` says where each comes from), with its waiting messages and, where
  the broker reports them, its consumers.
- ``queues peek QUEUE [-n N] [--json]``: the next N messages a worker would get: id, task,
  argument reprs, eta, priority, retries. On Redis nothing is consumed; on RabbitMQ they are
  taken and given back (``core.amqp_queues`` says what that does to their order).
- ``queues delete QUEUE ID``, ``queues move QUEUE ID --to Q2``: one task's waiting message.
- ``queues purge QUEUE [--yes]``: every waiting message of a queue (asks first, unless --yes).

The changing actions (delete, move, purge) each go through one function here, and then through
the one method of the broker client that does it.
"""

from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ThreadPoolExecutor

from celerydesk.cli.main import add_workspace_option, workspace_client
from celerydesk.cli.output import print_table
from celerydesk.core import limits
from celerydesk.core.errors import DeskError
from celerydesk.core.workspace import load_workspace

DEFAULT_PEEK = 10


def add_parser(sub) -> None:
    p = sub.add_parser("queues", help="the queues and their waiting messages: list, peek, delete, move, purge")
    add_workspace_option(p)
    p.add_argument("--json", action="store_true", help="a JSON list of {name, messages, consumers, workers, sources}")
    actions = p.add_subparsers(dest="action", metavar="[peek | delete | move | purge]")
    peek = actions.add_parser("peek", help="the next messages a worker would get from QUEUE")
    peek.add_argument("queue", metavar="QUEUE")
    peek.add_argument("-n", default=str(DEFAULT_PEEK), metavar="N",
                      help=f"how many ({limits.PEEK.text()}; default {DEFAULT_PEEK})")
    _options(peek, json_help="a JSON list of messages")
    delete = actions.add_parser("delete", help="delete the waiting message of one task")
    delete.add_argument("queue", metavar="QUEUE")
    delete.add_argument("id", metavar="ID", help="the task's id")
    _options(delete)
    move = actions.add_parser("move", help="move the waiting message of one task to another queue")
    move.add_argument("queue", metavar="QUEUE")
    move.add_argument("id", metavar="ID", help="the task's id")
    move.add_argument("--to", required=True, metavar="Q2", help="the queue to move it to (at its end)")
    _options(move)
    purge = actions.add_parser("purge", help="delete every waiting message of QUEUE")
    purge.add_argument("queue", metavar="QUEUE")
    purge.add_argument("--yes", action="store_true", help="do not ask first")
    _options(purge)
    p.set_defaults(func=run)


def _options(p: argparse.ArgumentParser, json_help: str = "") -> None:
    """-w (and --json) on a sub-command too; not given there, what came before it counts."""
    add_workspace_option(p, default=argparse.SUPPRESS)
    if json_help:
        p.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help=json_help)


CHANGING = {"delete": "delete messages from", "move": "move messages from", "purge": "purge"}


def run(args) -> int:
    ws = load_workspace(args.workspace)
    client = workspace_client(ws, args.workspace)
    try:
        if args.action in CHANGING:  # refused before even asking how many wait
            client.refuse_if_read_only(f"{CHANGING[args.action]} {args.queue}")
        client.require_answer()
        action = {None: _list, "peek": _peek, "delete": _delete, "move": _move, "purge": _purge}[args.action]
        return action(ws, client, args)
    finally:
        client.close()


# -- looking ---------------------------------------------------------------------------------------


def _list(ws, client, args) -> int:
    from celerydesk.core import queue_list

    with ThreadPoolExecutor(3) as pool:
        project = pool.submit(_app_queues, ws)
        history = pool.submit(_history_queues, ws)
        active = pool.submit(_active_queues, client, len(ws.workers))
        listed, note = client.broker_queues()
        named = {queue_list.WORKSPACE: queue_list.workspace_queues(ws)}
        for source, future in ((queue_list.APP, project), (queue_list.HISTORY, history)):
            names, problem = future.result()
            named[source] = names
            if problem:
                print(f"celerydesk: {problem}", file=sys.stderr)
        consumers = queue_list.consumers_by_queue(active.result())
    wanted = {name for names in named.values() for name in names} | set(consumers)
    stats = client.queue_stats(sorted(wanted - set(listed)))
    rows = queue_list.build_rows(named, stats, listed, consumers)
    if note:
        print(f"celerydesk: {note}", file=sys.stderr)
    if args.json:
        print(json.dumps([row.as_json() for row in rows], indent=2))
        return 0
    table = [("QUEUE", "WAITING", "CONSUMERS", "WORKERS", "FROM")]
    for row in rows:
        table.append((row.name, str(row.messages), "-" if row.consumers is None else str(row.consumers),
                      ", ".join(row.workers) or "-", ", ".join(row.sources)))
    print_table(table, right=(1, 2))
    return 0


def _app_queues(ws):
    from celerydesk.core.introspection import introspect
    from celerydesk.core.queue_list import app_queues

    try:
        return app_queues(introspect(ws)), None
    except DeskError as exc:
        return set(), f"the app's own queues are not listed (it could not be loaded: {exc.message.splitlines()[0]})"


def _history_queues(ws):
    from celerydesk.core.history.queries import HistoryReader

    from celerydesk.core.history import history_path

    if not history_path(ws.runtime_dir).exists():
        return set(), None
    try:
        reader = HistoryReader(ws.runtime_dir)
    except DeskError as exc:
        return set(), f"the task history's queues are not listed ({exc.message})"
    try:
        return set(reader.labels("queue")), None
    finally:
        reader.close()


def _active_queues(client, expected: int) -> dict:
    try:
        return client.inspect("active_queues", timeout=1.0, limit=expected or None)
    except DeskError:  # no answer is no consumers known
        return {}


def _peek(ws, client, args) -> int:
    limit = int(limits.number_option(args.n, "-n", limits.PEEK))
    messages = client.peek(args.queue, limit)
    if messages and not client.is_redis:
        print("celerydesk: RabbitMQ: these were taken and given back, in their order; they are now marked "
              "redelivered", file=sys.stderr)
    if getattr(args, "json", False):
        print(json.dumps([m.as_json() for m in messages], indent=2))
        return 0
    if not messages:
        print(f"no message is waiting in {args.queue!r}")
        return 0
    table = [("#", "ID", "TASK", "ARGS", "KWARGS", "ETA", "PRIORITY", "RETRIES")]
    for m in messages:
        table.append((str(m.position), m.id or "-", m.task or "-", _cut(m.args), _cut(m.kwargs), m.eta or "-",
                      "-" if m.priority is None else str(m.priority), "-" if m.retries is None else str(m.retries)))
    print_table(table, right=(0, 6, 7))
    return 0


# -- changing: each action in one function ---------------------------------------------------------


def _delete(ws, client, args) -> int:
    message = client.delete_message(args.queue, args.id)
    print(f"deleted {message.task}[{message.id}] from {args.queue}")
    return 0


def _move(ws, client, args) -> int:
    message = client.move_message(args.queue, args.id, args.to)
    print(f"moved {message.task}[{message.id}] from {args.queue} to the end of {args.to}")
    return 0


def _purge(ws, client, args) -> int:
    if not args.yes:
        waiting = client.depths([args.queue]).get(args.queue, 0)
        if not sys.stdin.isatty():
            raise DeskError(f"not purged: {waiting} message(s) wait in {args.queue!r}, and purging cannot be undone",
                            hint=f"add --yes to purge without asking: celerydesk queues purge {args.queue} --yes")
        answer = input(f"Delete the {waiting} waiting message(s) of {args.queue!r}? They cannot be brought back. "
                       "[y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("not purged")
            return 1
    count = client.purge(args.queue)
    print(f"purged {count} message(s) from {args.queue}")
    return 0


# -- output ----------------------------------------------------------------------------------------


def _cut(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"
