"""Alert firings in the history database: written by the history's writer, read by anyone.

Only the process holding the history's writer lock stores firings (``HistoryWriter.submit_alerts``
puts them in the writer thread's next turn, in a transaction of their own). When two celerydesk
processes watch one workspace (a window while ``celerydesk up`` runs), both evaluate the rules and
both notify, but only the writer stores what it saw: the reader's firings would be the same ones
again. A reader that takes over the writing stores what fires from then on.
"""

from __future__ import annotations

import sqlite3
from typing import Iterable, Optional

from celerydesk.core.alerts.evaluator import Firing
from celerydesk.core.history.export import iso

_COLUMNS = ("at", "rule", "kind", "message", "task_id", "task", "queue", "worker")


def insert_firings(db: sqlite3.Connection, firings: Iterable[Firing]) -> int:
    """Insert in one short transaction (the writer's connection, on its thread); how many."""
    rows = [(f.at, f.rule, f.when, f.message, f.task_id, f.task, f.queue, f.worker) for f in firings]
    if not rows:
        return 0
    db.execute("BEGIN IMMEDIATE")
    try:
        db.executemany(f"INSERT INTO alerts ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})", rows)
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    return len(rows)


def read_firings(db: sqlite3.Connection, since: Optional[float] = None, limit: Optional[int] = None) -> list[dict]:
    """Firings oldest first (since ``since``, Unix seconds), as the JSON objects the CLI prints:
    ``rule``, ``when``, ``at`` (ISO 8601 UTC), ``message``, and ``task_id``/``task``, ``queue``,
    ``worker`` (null when not concerned)."""
    where, params = ("WHERE at >= ?", [since]) if since is not None else ("", [])
    order = "ORDER BY at DESC, id DESC LIMIT ?" if limit else "ORDER BY at, id"
    if limit:
        params.append(limit)
    rows = db.execute(f"SELECT {', '.join(_COLUMNS)} FROM alerts {where} {order}", params).fetchall()
    if limit:
        rows.reverse()
    return [{"rule": r[1], "when": r[2], "at": iso(r[0]), "message": r[3], "task_id": r[4], "task": r[5],
             "queue": r[6], "worker": r[7]} for r in rows]
