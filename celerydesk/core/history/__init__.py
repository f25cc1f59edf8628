"""The task history: every task seen on a workspace's broker, kept in SQLite across restarts.

One file per workspace, ``.celerydesk/history.sqlite3`` (WAL), written by whichever celerydesk
process watches the stack and read by any number of others. The modules, one job each:

- ``schema``: the tables, the ordered migrations, opening a connection;
- ``merge``: folding celery's task events (in any order) into a task's row and its timeline;
- ``batch``: one batch of events (and senders' records) written in one transaction;
- ``writer``: the one writer per workspace: a lock, a thread, its failures reported once;
- ``sent``: the exact JSON arguments of tasks celerydesk sent (standard library only);
- ``queries``: filters, sorting, paging, search, a task's timeline and family (readers);
- ``retention``: pruning by age and count;
- ``dashboard``: the Dashboard's reads (per-bucket counts, runtimes, waits, samples), from the
  summary the schema's triggers keep; ``summary``: its runtime buckets; ``samples``: queue
  depths and workers online over time;
- ``export``: tasks as JSON objects, CSV rows, and ISO 8601 times.

No Qt here. The window and ``celerydesk up`` hand the writer batches of event dicts; the CLI
and the Tasks page read with :class:`~celerydesk.core.history.queries.HistoryReader`.
"""

from __future__ import annotations

from pathlib import Path

DB_NAME = "history.sqlite3"
LOCK_NAME = "history.lock"


def history_path(runtime_dir: Path) -> Path:
    """The history file of the workspace whose runtime folder (``.celerydesk/``) is given."""
    return Path(runtime_dir) / DB_NAME
