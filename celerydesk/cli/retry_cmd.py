"""``celerydesk retry ID``: send a task of the history again, with exactly its original arguments.

The arguments come from the first of these that has them (``core.history.arguments``): the JSON
celerydesk recorded when it sent the task, the result backend (where the app keeps arguments
there, ``result_extended``), the repr celery's events carried when it is complete and reads back
as JSON. Otherwise nothing is sent and the command exits 2 with the reason: celery cut the repr
at 1,024 characters, or the arguments are not JSON. The task goes to the queue it went to.

Prints the new task's id alone on stdout (for a script: ``new=$(celerydesk retry ID)``), and on
stderr where the arguments came from; ``--wait`` then prints its result as ``call --wait`` does.
"""

from __future__ import annotations

import sys

from celerydesk.cli.main import add_workspace_option, workspace_client
from celerydesk.core import limits
from celerydesk.core.workspace import load_workspace



def add_parser(sub) -> None:
    p = sub.add_parser("retry", help="send a task of the history again with exactly its original arguments")
    p.add_argument("id", help="the task's id, or the start of it (see `celerydesk history`)")
    add_workspace_option(p)
    p.add_argument("--wait", nargs="?", const="60", metavar="SECONDS",
                   help=f"wait for the new task's result, at most SECONDS (default 60; {limits.WAIT.text()})")
    p.set_defaults(func=run)


def run(args) -> int:
    wait = limits.number_option(args.wait, "--wait", limits.WAIT) if args.wait is not None else None
    ws = load_workspace(args.workspace)

    from celerydesk.cli.history_cmd import resolve_id
    from celerydesk.cli.task_wait import ResultWaiter
    from celerydesk.core.broker_client import SendOptions, new_task_id
    from celerydesk.core.history.arguments import SOURCES
    from celerydesk.core.history.queries import HistoryReader
    from celerydesk.core.history.retry import KeptArguments, resolve, result_backend_url

    reader = HistoryReader(ws.runtime_dir)
    try:
        task_id = resolve_id(reader, args.id)
        row, stored = reader.task(task_id), reader.exact_arguments(task_id)
    finally:
        reader.close()
    client = workspace_client(ws, args.workspace)
    client.refuse_if_read_only(f"retry {row['name']}")
    client.require_answer()
    kept = KeptArguments(result_backend_url(ws))
    try:
        exact = resolve(row, stored, kept)  # NotExact: exit 2, with the reason, nothing sent
    finally:
        kept.close()
    new_id = new_task_id()
    waiter = ResultWaiter.armed(client, new_id, client.start_hint) if wait is not None else None
    client.send(row["name"], exact.args, exact.kwargs, SendOptions(queue=row["queue"] or None), task_id=new_id,
                via="retry")
    print(new_id, flush=True)
    print(f"celerydesk: sent {row['name']}[{task_id}] again as {new_id}, with its exact arguments "
          f"({SOURCES[exact.source]})", file=sys.stderr, flush=True)
    if waiter is None:
        return 0
    return waiter.report(row["name"], wait, row["queue"])
