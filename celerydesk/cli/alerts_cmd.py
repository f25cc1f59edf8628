"""``celerydesk alerts``: the workspace's alert rules, and the alerts that fired.

- ``alerts list [--json]``: the ``[[alerts]]`` rules of the workspace file;
- ``alerts fired [--since DURATION|ISO] [--limit N] [--json]``: the firings stored in the
  workspace's history (by whichever celerydesk watched the stack: the window, ``up``, the
  watcher), oldest first. The JSON is a list of objects with ``rule``, ``when``, ``at``
  (ISO 8601 UTC), ``message``, and ``task_id``/``task``, ``queue``, ``worker`` (null when the
  alert is not about one).
"""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import datetime

from celerydesk.cli.main import add_workspace_option
from celerydesk.core.errors import DeskError
from celerydesk.core.workspace import load_workspace


def add_parser(sub) -> None:
    p = sub.add_parser("alerts", help="the workspace's alert rules, and the alerts that fired")
    actions = p.add_subparsers(dest="action", metavar="{list,fired}", required=True)
    listing = actions.add_parser("list", help="the [[alerts]] rules of the workspace")
    add_workspace_option(listing)
    listing.add_argument("--json", action="store_true", help="print a JSON list of the rules' tables")
    fired = actions.add_parser("fired", help="the alerts that fired, oldest first, from the history")
    add_workspace_option(fired)
    fired.add_argument("--json", action="store_true", help="print a JSON list of firings")
    fired.add_argument("--since", metavar="DURATION|ISO", help="only since then: 15m, 2h, 7d, or 2026-12-06T18:00")
    fired.add_argument("--limit", type=int, metavar="N", help="only the last N")
    p.set_defaults(func=run)


def run(args) -> int:
    ws = load_workspace(args.workspace)
    if args.action == "list":
        return _list(ws, args.json)
    return _fired(ws, args)


def _list(ws, as_json: bool) -> int:
    if as_json:
        print(json.dumps([rule.table() for rule in ws.alerts], indent=2))
        return 0
    if not ws.alerts:
        print(f"no alert rules in {ws.path} (add [[alerts]] tables; see the README's Alerts section)")
        return 0
    width = max(len(rule.name) for rule in ws.alerts)
    for rule in ws.alerts:
        print(f"{rule.name:<{width}}  {rule.when:<14}  {rule.describe()}")
    return 0


def _fired(ws, args) -> int:
    from celerydesk.cli.history_cmd import parse_since
    from celerydesk.core.alerts.store import read_firings
    from celerydesk.core.history.queries import HistoryReader
    from celerydesk.core.history.schema import file_error

    if args.limit is not None and args.limit < 1:
        raise DeskError(f"--limit must be at least 1, got {args.limit}", hint="e.g. --limit 20")
    since = parse_since(args.since, time.time()) if args.since else None
    reader = HistoryReader(ws.runtime_dir)
    try:
        firings = read_firings(reader.db, since, args.limit)
    except sqlite3.Error as exc:
        raise file_error(reader.path, exc) from None
    finally:
        reader.close()
    if args.json:
        print(json.dumps(firings, indent=2))
        return 0
    if not firings:
        print("no alert fired" + (f" since {args.since}" if args.since else ""))
        return 0
    for firing in firings:
        at = datetime.fromisoformat(firing["at"]).astimezone().strftime("%Y-%m-%d %H:%M:%S")
        print(f"{at}  {firing['rule']}: {firing['message']}")
    return 0
