"""Pruning the history: tasks older than ``keep_days``, then the oldest beyond ``max_tasks``
(the workspace's ``[history]`` table).

The writer calls :func:`prune_some` between batches of events, a bounded number of rows per
transaction, so a first prune of a large, old file never holds up the events coming in.
Deleting a task deletes its timeline and its search entry, and takes it out of the dashboard's
summary (triggers in ``schema``); samples older than ``keep_days`` go too.
"""

from __future__ import annotations

import sqlite3

from celerydesk.core.workspace import HistoryConfig

DAY_S = 86400.0


def prune_some(db: sqlite3.Connection, retention: HistoryConfig, now: float, limit: int) -> int:
    """Delete at most ``limit`` tasks due for pruning, in one transaction; return how many."""
    cutoff = now - retention.keep_days * DAY_S
    db.execute("BEGIN IMMEDIATE")
    try:
        deleted = db.execute(
            "DELETE FROM tasks WHERE seq IN (SELECT seq FROM tasks WHERE seen_at < ? ORDER BY seen_at LIMIT ?)",
            (cutoff, limit)).rowcount
        db.execute("DELETE FROM samples WHERE kind IN ('queue', 'workers') AND at < ?", (cutoff,))
        if deleted < limit:
            excess = db.execute("SELECT count(*) FROM tasks").fetchone()[0] - retention.max_tasks
            if excess > 0:
                deleted += db.execute(
                    "DELETE FROM tasks WHERE seq IN (SELECT seq FROM tasks ORDER BY seen_at LIMIT ?)",
                    (min(excess, limit - deleted),)).rowcount
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    return deleted
