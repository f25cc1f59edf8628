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
per minute by the partial ``timeline_retried``).
"""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path
from typing import Callable

from celerydesk.core.errors import DeskError

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


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_v1_tables, _v2_search, _v3_dashboard, _v4_alerts]
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
