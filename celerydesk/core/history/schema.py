"""The history file's tables, its ordered migrations, and how a connection to it is opened.

The schema version is SQLite's ``PRAGMA user_version``. ``MIGRATIONS[n]`` takes a file from
version n to n + 1, in one transaction with the version bump, so a crash mid-migration leaves
the old version intact. Add a step at the end; never edit one that has shipped.

Tables (times are Unix seconds, UTC, as REAL):

- ``labels``: each task name, worker hostname and queue once; ``tasks`` refers to them by id.
  Names are long (``storefront.orders.tasks.send_confirmation_email``) and repeat on every
  row and in every index that holds them; an integer costs one or two bytes.
- ``tasks``: one row per task id. ``seq`` (the rowid) is the order the store first saw it;
  ``seen_at`` the earliest time any event gave for it, the order lists are shown in.
  ``args``/``kwargs``/``result`` are the reprs celery's events carry (cut at 1,024
  characters); ``args_json``/``kwargs_json`` the exact JSON, when celerydesk sent the task.
  ``state_at`` is when the current state was entered: it orders a retry against an attempt's
  late events. ``wait`` (received to started) is computed, not stored.
- ``timeline``: every state change of a task, with its time (``task`` is ``tasks.seq``).
- ``alerts``: each firing of an alert rule (``core/alerts/store.py``), written by the writer.
- ``task_search``: an FTS5 index with the trigram tokenizer over id, name, args, kwargs,
  result and exception. It is contentless (the text lives in ``tasks``) and ``detail=none``:
  it stores which rows hold each trigram, not where, which makes it a quarter of a
  ``detail=full`` index (bench_history measures both). A search asks it for the rows holding
  all the trigrams of the text, then checks the text itself on those rows (``queries.py``),
  so an index entry too many costs time, never a wrong result. The exact JSON, when known,
  is indexed in place of the cut repr. The writer adds and replaces entries itself, in the
  same statements as the rows: a trigger would flush FTS5's pending terms at every row (it
  measured 90 µs a row against 20). Deleting a row deletes its entry by trigger (pruning).

Indexes serve the Tasks page (each filter by time, newest first), the family of a task
(partial indexes: only child tasks are in them) and the dashboard (finished tasks per minute
by state, runtime per task name: covered by ``tasks_finished`` without reading rows; retries
per minute by the partial ``timeline_retried``). The dashboard reads the summary
``_v5_dashboard_summary`` and ``_v6_runtime_minutes`` keep instead (a row a minute, not a row a
task); up to an hour it reads the tasks of the runtime buckets holding p50 and p95 through
``tasks_finished`` too, for exact percentiles.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path
from typing import Callable

from celerydesk.core.errors import DeskError
from celerydesk.core.history.summary import bucket_sql

SEARCH_COLUMNS = "id, name, args, kwargs, result, exception"


def search_values(row: str) -> str:
    """The values the search index holds for a task row (``new`` or ``old`` in a trigger).
    The delete trigger must give exactly what the insert gave: one expression for both."""
    return (f"{row}.id, (SELECT text FROM labels WHERE id = {row}.name_id), "
            f"coalesce({row}.args_json, {row}.args), coalesce({row}.kwargs_json, {row}.kwargs), "
            f"{row}.result, {row}.exception")


def _run_script(db: sqlite3.Connection, script: str) -> None:
    """Run statements one by one: ``executescript`` would first commit the migration's transaction."""
    statement = ""
    for piece in script.split(";"):
        statement += piece + ";"
        if sqlite3.complete_statement(statement):
            if statement.strip(" \n;"):
                db.execute(statement)
            statement = ""


def _v1_tables(db: sqlite3.Connection) -> None:
    _run_script(db, """
        CREATE TABLE labels (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,            -- name | worker | queue
            text TEXT NOT NULL,
            UNIQUE (kind, text)
        );
        CREATE TABLE tasks (
            seq INTEGER PRIMARY KEY,
            id TEXT NOT NULL UNIQUE,
            name_id INTEGER,
            state TEXT NOT NULL,
            state_at REAL,
            queue_id INTEGER,
            routing_key_id INTEGER,
            worker_id INTEGER,
            args TEXT,
            kwargs TEXT,
            args_json TEXT,
            kwargs_json TEXT,
            sent_by TEXT,                  -- call | launch | retry | run-now | beat
            result TEXT,
            exception TEXT,
            traceback TEXT,
            retries INTEGER,
            parent_id TEXT,
            root_id TEXT,
            eta REAL,
            expires REAL,
            seen_at REAL NOT NULL,
            sent_at REAL,
            received_at REAL,
            started_at REAL,
            finished_at REAL,
            runtime REAL,
            wait REAL GENERATED ALWAYS AS (started_at - received_at) VIRTUAL
        );
        CREATE INDEX tasks_seen ON tasks (seen_at);
        CREATE INDEX tasks_state ON tasks (state, seen_at);
        CREATE INDEX tasks_name ON tasks (name_id, seen_at);
        CREATE INDEX tasks_worker ON tasks (worker_id, seen_at);
        CREATE INDEX tasks_queue ON tasks (queue_id, seen_at);
        CREATE INDEX tasks_parent ON tasks (parent_id) WHERE parent_id IS NOT NULL;
        CREATE INDEX tasks_root ON tasks (root_id) WHERE root_id <> id;
        CREATE TABLE timeline (
            task INTEGER NOT NULL,         -- tasks.seq
            at REAL NOT NULL,
            state TEXT NOT NULL,
            PRIMARY KEY (task, at, state)
        ) WITHOUT ROWID;
        CREATE TRIGGER tasks_timeline_delete AFTER DELETE ON tasks BEGIN
            DELETE FROM timeline WHERE task = old.seq;
        END;
    """)


def _v2_search(db: sqlite3.Connection) -> None:
    """The search index, filled from the rows already there."""
    _run_script(db, f"""
        CREATE VIRTUAL TABLE task_search USING fts5({SEARCH_COLUMNS},
            content='', tokenize='trigram', detail='none', columnsize=0);
        INSERT INTO task_search (rowid, {SEARCH_COLUMNS})
            SELECT seq, {search_values('tasks')} FROM tasks;
        CREATE TRIGGER tasks_search_delete AFTER DELETE ON tasks BEGIN
            INSERT INTO task_search (task_search, rowid, {SEARCH_COLUMNS})
                VALUES ('delete', old.seq, {search_values('old')});
        END;
    """)


def _v3_dashboard(db: sqlite3.Connection) -> None:
    """Range queries of the dashboard (issue 19), answered from indexes alone."""
    _run_script(db, """
        CREATE INDEX tasks_finished ON tasks (finished_at, state, name_id, runtime)
            WHERE finished_at IS NOT NULL;
        CREATE INDEX timeline_retried ON timeline (at) WHERE state = 'RETRY';
    """)


def _v4_alerts(db: sqlite3.Connection) -> None:
    """The alerts that fired (``core/alerts``), newest read first by ``at``."""
    _run_script(db, """
        CREATE TABLE alerts (
            id INTEGER PRIMARY KEY,
            at REAL NOT NULL,
            rule TEXT NOT NULL,            -- the [[alerts]] table's name
            kind TEXT NOT NULL,            -- its when: task-failed | task-slow | queue-depth | ...
            message TEXT NOT NULL,
            task_id TEXT,
            task TEXT,
            queue TEXT,
            worker TEXT
        );
        CREATE INDEX alerts_at ON alerts (at);
    """)


# What a task adds to the summary of its minute (and to the runtimes of its hour), as SQL over a
# ``tasks`` row (``new`` or ``old`` in a trigger): the triggers add and take away exactly this.
def _minute_values(row: str) -> str:
    return (f"CAST({row}.finished_at / 60 AS INTEGER), {row}.state = 'SUCCESS', {row}.state = 'FAILURE', "
            f"{row}.sent_at IS NOT NULL AND {row}.received_at IS NOT NULL, "
            f"coalesce(max(0.0, {row}.received_at - {row}.sent_at), 0.0)")


def _counted(row: str) -> str:
    return f"{row}.finished_at IS NOT NULL AND {row}.state IN ('SUCCESS', 'FAILURE')"


def _add_task(row: str) -> str:
    return f"""
        INSERT INTO task_minutes (minute, succeeded, failed, waited, wait_sum)
            SELECT {_minute_values(row)} WHERE {_counted(row)}
            ON CONFLICT (minute) DO UPDATE SET succeeded = succeeded + excluded.succeeded,
                failed = failed + excluded.failed, waited = waited + excluded.waited,
                wait_sum = wait_sum + excluded.wait_sum;
        INSERT INTO runtime_hours (hour, name_id, bucket, n)
            SELECT CAST({row}.finished_at / 3600 AS INTEGER), coalesce({row}.name_id, 0),
                {bucket_sql(f"{row}.runtime")}, 1
            WHERE {_counted(row)} AND {row}.runtime IS NOT NULL
            ON CONFLICT (hour, name_id, bucket) DO UPDATE SET n = n + 1;"""


def _take_task(row: str) -> str:
    return f"""
        UPDATE task_minutes SET succeeded = succeeded - ({row}.state = 'SUCCESS'),
                failed = failed - ({row}.state = 'FAILURE'),
                waited = waited - ({row}.sent_at IS NOT NULL AND {row}.received_at IS NOT NULL),
                wait_sum = wait_sum - coalesce(max(0.0, {row}.received_at - {row}.sent_at), 0.0)
            WHERE minute = CAST({row}.finished_at / 60 AS INTEGER) AND {_counted(row)};
        UPDATE runtime_hours SET n = n - 1
            WHERE hour = CAST({row}.finished_at / 3600 AS INTEGER) AND name_id = coalesce({row}.name_id, 0)
                AND bucket = {bucket_sql(f"{row}.runtime")} AND {_counted(row)} AND {row}.runtime IS NOT NULL;"""


def _v5_dashboard_summary(db: sqlite3.Connection) -> None:
    """The dashboard's summary, kept by triggers in the writer's own transactions, and its samples.

    ``task_minutes``: per minute (Unix seconds // 60) of ``finished_at``, the tasks that
    succeeded and failed, how many of them have both ``sent_at`` and ``received_at`` and the sum
    of ``received_at - sent_at`` (the wait in the queue); per minute of a RETRY in the timeline,
    the retries. ``runtime_hours``: per hour, task name and runtime bucket
    (``summary.runtime_bucket``: a quarter of a power of two wide), how many finished tasks ran
    that long. Both always equal an aggregate of ``tasks`` and ``timeline``: every insert,
    update and delete (pruning too) adds or takes away what the row counted for.
    ``samples``: what the writer is told or sees over time: queue depths (``queue``, the
    queue's name) and workers online (``workers``, '').
    """
    _run_script(db, f"""
        CREATE TABLE task_minutes (
            minute INTEGER PRIMARY KEY,
            succeeded INTEGER NOT NULL DEFAULT 0,
            failed INTEGER NOT NULL DEFAULT 0,
            retried INTEGER NOT NULL DEFAULT 0,
            waited INTEGER NOT NULL DEFAULT 0,
            wait_sum REAL NOT NULL DEFAULT 0
        );
        CREATE TABLE runtime_hours (
            hour INTEGER NOT NULL,
            name_id INTEGER NOT NULL,      -- 0: no name known
            bucket INTEGER NOT NULL,
            n INTEGER NOT NULL,
            PRIMARY KEY (hour, name_id, bucket)
        ) WITHOUT ROWID;
        CREATE TABLE samples (
            kind TEXT NOT NULL,            -- queue | workers
            at REAL NOT NULL,
            key TEXT NOT NULL,
            value REAL NOT NULL,
            PRIMARY KEY (kind, at, key)
        ) WITHOUT ROWID;
        INSERT INTO task_minutes (minute, succeeded, failed, waited, wait_sum)
            SELECT CAST(finished_at / 60 AS INTEGER) AS m, sum(state = 'SUCCESS'), sum(state = 'FAILURE'),
                sum(sent_at IS NOT NULL AND received_at IS NOT NULL),
                coalesce(sum(max(0.0, received_at - sent_at)), 0.0)
            FROM tasks WHERE {_counted('tasks')} GROUP BY m;
        INSERT INTO task_minutes (minute, retried)
            SELECT CAST(at / 60 AS INTEGER) AS m, count(*) FROM timeline WHERE state = 'RETRY' GROUP BY m
            ON CONFLICT (minute) DO UPDATE SET retried = retried + excluded.retried;
        INSERT INTO runtime_hours (hour, name_id, bucket, n)
            SELECT CAST(finished_at / 3600 AS INTEGER) AS h, coalesce(name_id, 0) AS name,
                {bucket_sql("runtime")} AS b, count(*)
            FROM tasks WHERE {_counted('tasks')} AND runtime IS NOT NULL GROUP BY h, name, b;
        CREATE TRIGGER tasks_summary_insert AFTER INSERT ON tasks WHEN {_counted('new')} BEGIN
            {_add_task('new')}
        END;
        CREATE TRIGGER tasks_summary_update AFTER UPDATE OF state, finished_at, name_id, runtime, sent_at,
                received_at ON tasks
            WHEN ({_counted('old')}) OR ({_counted('new')}) BEGIN
            {_take_task('old')}
            {_add_task('new')}
        END;
        CREATE TRIGGER tasks_summary_delete AFTER DELETE ON tasks WHEN {_counted('old')} BEGIN
            {_take_task('old')}
        END;
        CREATE TRIGGER timeline_retry_insert AFTER INSERT ON timeline WHEN new.state = 'RETRY' BEGIN
            INSERT INTO task_minutes (minute, retried) VALUES (CAST(new.at / 60 AS INTEGER), 1)
                ON CONFLICT (minute) DO UPDATE SET retried = retried + 1;
        END;
        CREATE TRIGGER timeline_retry_delete AFTER DELETE ON timeline WHEN old.state = 'RETRY' BEGIN
            UPDATE task_minutes SET retried = retried - 1 WHERE minute = CAST(old.at / 60 AS INTEGER);
        END;
    """)


def _v6_runtime_minutes(db: sqlite3.Connection) -> None:
    """``runtime_minutes``: ``runtime_hours`` per minute of ``finished_at`` (same buckets, same
    rule: always equal to an aggregate of ``tasks``), kept by its own triggers. The Dashboard's
    ranges up to an hour read their exact percentiles through it: the buckets say which one holds
    each percentile, and only the tasks of that bucket are then read and sorted, not the hour's.
    ``runtime_hours_by_name``: the hourly buckets by name and bucket, so a week's are summed by
    seeking each name's buckets' hours, already grouped, rather than sorting a week of rows.
    """
    counted, bucket = _counted("new"), bucket_sql("new.runtime")
    old_counted, old_bucket = _counted("old"), bucket_sql("old.runtime")
    add = f"""INSERT INTO runtime_minutes (minute, name_id, bucket, n)
            SELECT CAST(new.finished_at / 60 AS INTEGER), coalesce(new.name_id, 0), {bucket}, 1
            WHERE {counted} AND new.runtime IS NOT NULL
            ON CONFLICT (minute, name_id, bucket) DO UPDATE SET n = n + 1;"""
    take = f"""UPDATE runtime_minutes SET n = n - 1
            WHERE minute = CAST(old.finished_at / 60 AS INTEGER) AND name_id = coalesce(old.name_id, 0)
                AND bucket = {old_bucket} AND {old_counted} AND old.runtime IS NOT NULL;"""
    _run_script(db, f"""
        CREATE TABLE runtime_minutes (
            minute INTEGER NOT NULL,
            name_id INTEGER NOT NULL,      -- 0: no name known
            bucket INTEGER NOT NULL,
            n INTEGER NOT NULL,
            PRIMARY KEY (minute, name_id, bucket)
        ) WITHOUT ROWID;
        CREATE INDEX runtime_hours_by_name ON runtime_hours (name_id, bucket, hour, n);
        INSERT INTO runtime_minutes (minute, name_id, bucket, n)
            SELECT CAST(finished_at / 60 AS INTEGER) AS m, coalesce(name_id, 0) AS name,
                {bucket_sql("runtime")} AS b, count(*)
            FROM tasks WHERE {_counted('tasks')} AND runtime IS NOT NULL GROUP BY m, name, b;
        CREATE TRIGGER tasks_runtime_minutes_insert AFTER INSERT ON tasks
            WHEN {counted} AND new.runtime IS NOT NULL BEGIN
            {add}
        END;
        CREATE TRIGGER tasks_runtime_minutes_update AFTER UPDATE OF state, finished_at, name_id, runtime ON tasks
            WHEN ({old_counted} AND old.runtime IS NOT NULL) OR ({counted} AND new.runtime IS NOT NULL) BEGIN
            {take}
            {add}
        END;
        CREATE TRIGGER tasks_runtime_minutes_delete AFTER DELETE ON tasks
            WHEN {old_counted} AND old.runtime IS NOT NULL BEGIN
            {take}
        END;
    """)


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_v1_tables, _v2_search, _v3_dashboard, _v4_alerts,
                                                          _v5_dashboard_summary, _v6_runtime_minutes]
SCHEMA_VERSION = len(MIGRATIONS)


class HistoryFileError(DeskError):
    """The history file cannot be opened, read or brought to this celerydesk's schema."""


def connect(path: Path, *, write: bool) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), WAL, checked for sanity.

    A reader never creates the file; ``write`` also sets WAL (a property of the file) and
    leaves ``synchronous = NORMAL``: in WAL mode a commit then survives the process being
    killed, and only a power cut can lose the last commits, never corrupt the file.
    """
    path = Path(path)
    try:
        if write:
            db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise sqlite3.OperationalError(f"cannot switch to WAL (the journal mode stays {mode})")
            db.execute("PRAGMA synchronous = NORMAL")
            # Checkpoint every ~40 MB of WAL rather than 4 MB: a page the batches keep changing
            # (the upper levels of each index) is copied back once instead of ten times.
            db.execute("PRAGMA wal_autocheckpoint = 10000")
            db.execute("PRAGMA journal_size_limit = 67108864")  # and the WAL shrinks back after
        else:
            # In a read-only folder (a copied history on a read-only mount) SQLite cannot make
            # the WAL index beside the file; nobody can write there, so it is immutable.
            immutable = "&immutable=1" if path.exists() and not os.access(path.parent, os.W_OK) else ""
            db = sqlite3.connect(f"{path.as_uri()}?mode=ro{immutable}", uri=True, isolation_level=None,
                                 check_same_thread=False)
            db.execute("SELECT count(*) FROM sqlite_schema").fetchone()  # reads the header now
        db.execute("PRAGMA busy_timeout = 5000")
        db.execute("PRAGMA cache_size = -16000")  # 16 MB: the upper index levels stay in memory
        db.execute("PRAGMA temp_store = MEMORY")
        return db
    except sqlite3.DatabaseError as exc:
        raise file_error(path, exc) from None


def file_error(path: Path, exc: BaseException) -> HistoryFileError:
    """A DeskError saying what is wrong with the file and what to do."""
    text = str(exc)
    lowered = text.lower()
    code = exc.errno if isinstance(exc, OSError) else None
    if isinstance(exc, sqlite3.DatabaseError) and ("not a database" in lowered or "malformed" in lowered):
        return HistoryFileError(f"the task history {path} is damaged ({text})",
                                hint=f"move it aside (celerydesk starts a new one): mv {path} {path}.damaged")
    if "no such tokenizer" in lowered or "no such module: fts5" in lowered:
        return HistoryFileError(f"this Python's SQLite ({sqlite3.sqlite_version}) cannot index the task history "
                                f"for search ({text}): it needs SQLite 3.34 or newer, with FTS5",
                                hint="run celerydesk with a Python built against a newer SQLite, or use its binary")
    if code in (errno.ENOSPC, errno.EDQUOT) or "disk is full" in lowered:
        return HistoryFileError(f"the disk holding the task history {path} is full ({text})",
                                hint="free some space; celerydesk goes on without recording history meanwhile")
    if code in (errno.EROFS, errno.EACCES, errno.EPERM) or any(
            word in lowered for word in ("readonly", "read-only", "unable to open", "permission denied")):
        return HistoryFileError(f"the task history {path} cannot be written ({text})",
                                hint=f"make {path.parent} writable; celerydesk goes on without recording history")
    return HistoryFileError(f"the task history {path} cannot be used: {text}",
                            hint=f"check {path.parent} (permissions, free space)")


def newer_schema_error(path: Path, found: int) -> HistoryFileError:
    return HistoryFileError(f"the task history {path} was written by a newer celerydesk "
                            f"(schema {found}; this one knows up to {SCHEMA_VERSION})",
                            hint="upgrade celerydesk, or move the file aside to start a new history")


def schema_version(db: sqlite3.Connection) -> int:
    return db.execute("PRAGMA user_version").fetchone()[0]


def migrate(db: sqlite3.Connection, path: Path) -> int:
    """Bring the file to ``SCHEMA_VERSION``, a step per transaction; return the version it had."""
    found = schema_version(db)
    if found > SCHEMA_VERSION:
        raise newer_schema_error(path, found)
    for version in range(found, SCHEMA_VERSION):
        try:
            db.execute("BEGIN IMMEDIATE")
            MIGRATIONS[version](db)
            db.execute(f"PRAGMA user_version = {version + 1}")
            db.execute("COMMIT")
        except BaseException as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise file_error(path, exc) from None
            raise
    return found
