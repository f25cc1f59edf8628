"""``celerydesk revoke ID [--terminate]``: revoke a task (workers drop it), or kill it running.

The id may be the start of one in the workspace's history; a full id is revoked whether or not
the history knows it (a task sent by another program, not seen yet). Revoking is a broadcast to
the workers: one that is not running when it goes out does not hear of it, unless the workers
keep their revoked ids (celery's ``--statedb``).
"""

from __future__ import annotations

import re

from celerydesk.cli.main import add_workspace_option, workspace_client
from celerydesk.core.errors import DeskError
from celerydesk.core.workspace import load_workspace

_FULL_ID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def add_parser(sub) -> None:
    p = sub.add_parser("revoke", help="revoke a task: workers drop it; --terminate also kills it running")
    p.add_argument("id", help="the task's id, or the start of one in the history")
    add_workspace_option(p)
    p.add_argument("--terminate", action="store_true", help="kill the task if it is running (SIGTERM to its process)")
    p.set_defaults(func=run)


def full_id(ws, wanted: str) -> str:
    """``wanted`` itself when it is a whole task id; else the one history id it starts."""
    wanted = wanted.strip()
    if _FULL_ID.match(wanted):
        return wanted
    from celerydesk.cli.history_cmd import resolve_id
    from celerydesk.core.history.queries import HistoryReader

    try:
        reader = HistoryReader(ws.runtime_dir)
    except DeskError as exc:
        raise DeskError(f"{wanted!r} is not a whole task id, and the history cannot be read to complete it "
                        f"({exc.message})", hint="give the whole id") from None
    try:
        return resolve_id(reader, wanted)
    finally:
        reader.close()


def run(args) -> int:
    ws = load_workspace(args.workspace)
    with workspace_client(ws, args.workspace) as client:
        client.refuse_if_read_only("terminate tasks" if args.terminate else "revoke tasks")
        task_id = full_id(ws, args.id)
        client.require_answer()
        client.revoke(task_id, terminate=args.terminate)
    print(f"{'terminated' if args.terminate else 'revoked'} {task_id}")
    return 0
