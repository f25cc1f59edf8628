"""The history file's schema: migrations from an old version, and files that cannot be used.

A file is made at version 1 with rows of that version's shape; opening it (by the writer, or
by a reader when no writer holds it) brings it to the current version, and the old rows are
searchable and pass the index checks. A failing step leaves the file at the last good one;
a newer file, a damaged one, and a newer writer holding an old file are refused with a
DeskError saying what to do.
"""

from __future__ import annotations

import os
import sqlite3

import pytest

from celerydesk.core.history import LOCK_NAME, history_path, schema
from celerydesk.core.history.queries import HistoryReader, TaskFilter
from celerydesk.core.history.schema import SCHEMA_VERSION, HistoryFileError
from celerydesk.core.history.writer import HistoryWriter
from celerydesk.core.runtime import hold_lock
from tests.helpers.history_checks import integrity, search_index_problems

T = 1_796_000_000.0


def version_1_file(runtime) -> None:
    """A file as the first version wrote it: tables only, two tasks with their timeline."""
    runtime.mkdir(parents=True)
    db = sqlite3.connect(history_path(runtime), isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("BEGIN")
    schema.MIGRATIONS[0](db)
    db.execute("PRAGMA user_version = 1")
    db.execute("INSERT INTO labels (id, kind, text) VALUES (1, 'name', 'shop.tasks.charge'), (2, 'worker', 'w@h')")
    for seq, task_id, args, state in ((1, "old-1", "('invoice-2024-001',)", "SUCCESS"),
                                      (2, "old-2", "('invoice-2024-002',)", "FAILURE")):
        db.execute("INSERT INTO tasks (seq, id, name_id, state, worker_id, args, kwargs, seen_at, finished_at, "
                   "runtime) VALUES (?, ?, 1, ?, 2, ?, '{}', ?, ?, 1.5)", (seq, task_id, state, args, T + seq, T + seq + 2))
        db.execute("INSERT INTO timeline VALUES (?, ?, 'RECEIVED'), (?, ?, ?)", (seq, T + seq, seq, T + seq + 2, state))
    db.execute("COMMIT")
    db.close()


def test_the_writer_brings_an_old_file_to_the_current_version(tmp_path):
    runtime = tmp_path / ".celerydesk"
    version_1_file(runtime)
    writer = HistoryWriter(runtime, interval=0.02)
    writer.start()
    writer.submit([{"type": "task-received", "uuid": "new-1", "timestamp": T + 10, "name": "shop.tasks.charge",
                    "args": "('invoice-2024-003',)", "hostname": "w@h"}])
    assert writer.flush(10)
    writer.close()
    reader = HistoryReader(runtime)
    assert schema.schema_version(reader.db) == SCHEMA_VERSION
    assert [r["id"] for r in reader.page(TaskFilter(search="invoice-2024"))] == ["new-1", "old-2", "old-1"]
    assert reader.task("old-2")["name"] == "shop.tasks.charge" and [s for _, s in reader.timeline("old-2")] == \
        ["RECEIVED", "FAILURE"]
    # the dashboard's questions (issue 19) are answered from an index alone
    for question in ("SELECT CAST(finished_at / 60 AS INTEGER) AS minute, state, count(*) FROM tasks "
                     "WHERE finished_at >= ? GROUP BY minute, state",
                     "SELECT name_id, state, runtime FROM tasks WHERE finished_at >= ?"):
        plan = reader.db.execute(f"EXPLAIN QUERY PLAN {question}", (T,)).fetchall()
        assert "COVERING INDEX tasks_finished" in str(plan), plan
    assert search_index_problems(reader.path) == [] and integrity(reader.path) == "ok"


def test_a_reader_upgrades_an_old_file_when_no_writer_holds_it(tmp_path):
    runtime = tmp_path / ".celerydesk"
    version_1_file(runtime)
    fd, _ = hold_lock(runtime / LOCK_NAME)  # an older celerydesk writing it
    with pytest.raises(HistoryFileError) as refused:
        HistoryReader(runtime)
    assert "older celerydesk" in str(refused.value) and "stop that one" in refused.value.hint
    os.close(fd)
    reader = HistoryReader(runtime)
    assert reader.count(TaskFilter(search="2024-001")) == 1


def test_a_failing_step_leaves_the_file_at_the_last_good_version(tmp_path, monkeypatch):
    runtime = tmp_path / ".celerydesk"
    version_1_file(runtime)

    def broken(db):
        db.execute("CREATE TABLE half_done (x)")
        db.execute("THIS IS NOT SQL")

    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, broken])
    monkeypatch.setattr(schema, "SCHEMA_VERSION", len(schema.MIGRATIONS))
    with pytest.raises(HistoryFileError):
        HistoryWriter(runtime).start()
    db = sqlite3.connect(history_path(runtime))
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION  # the good steps stay
    assert db.execute("SELECT count(*) FROM sqlite_schema WHERE name = 'half_done'").fetchone()[0] == 0
    db.close()
    fd, _ = hold_lock(runtime / LOCK_NAME)  # the refused writer let go of the lock
    assert fd is not None
    os.close(fd)

def test_a_file_from_a_newer_celerydesk_is_refused(tmp_path):
    runtime = tmp_path / ".celerydesk"
    version_1_file(runtime)
    db = sqlite3.connect(history_path(runtime))
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    for open_it in (lambda: HistoryWriter(runtime).start(), lambda: HistoryReader(runtime)):
        with pytest.raises(HistoryFileError) as refused:
            open_it()
        assert "newer celerydesk" in str(refused.value) and "upgrade celerydesk" in refused.value.hint


def test_a_damaged_file_is_refused_with_what_to_do(tmp_path):
    runtime = tmp_path / ".celerydesk"
    runtime.mkdir()
    history_path(runtime).write_bytes(b"this is not an SQLite file at all, it was overwritten" * 100)
    for open_it in (lambda: HistoryWriter(runtime).start(), lambda: HistoryReader(runtime)):
        with pytest.raises(HistoryFileError) as refused:
            open_it()
        assert "is damaged" in str(refused.value) and refused.value.hint.startswith("move it aside")


def test_no_file_yet_and_a_folder_that_cannot_be(tmp_path):
    with pytest.raises(HistoryFileError) as missing:
        HistoryReader(tmp_path / ".celerydesk")
    assert "no task history yet" in str(missing.value) and "celerydesk up" in missing.value.hint
    (tmp_path / "file").write_text("")
    with pytest.raises(HistoryFileError) as blocked:
        HistoryWriter(tmp_path / "file" / ".celerydesk").start()
    assert "check" in blocked.value.hint or "writable" in blocked.value.hint


@pytest.mark.parametrize("error, says, hint", [
    (sqlite3.DatabaseError("file is not a database"), "is damaged", "move it aside"),
    (sqlite3.OperationalError("database or disk is full"), "is full", "free some space"),
    (OSError(28, "No space left on device"), "is full", "free some space"),
    (sqlite3.OperationalError("attempt to write a readonly database"), "cannot be written", "writable"),
    (OSError(30, "Read-only file system"), "cannot be written", "writable"),
    (sqlite3.OperationalError("no such tokenizer: trigram"), "needs SQLite 3.34", "newer SQLite"),
    (sqlite3.OperationalError("disk I/O error"), "cannot be used", "check"),
])
def test_each_failure_says_what_is_wrong_and_what_to_do(tmp_path, error, says, hint):
    problem = schema.file_error(tmp_path / "history.sqlite3", error)
    assert says in problem.message and hint in problem.hint
