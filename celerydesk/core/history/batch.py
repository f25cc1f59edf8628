"""One batch into the history: events and senders' records merged with the stored rows, one transaction.

:class:`BatchStore` is the writer thread's view of the file: the label ids it knows, the next
``seq``. ``commit(events, records)`` groups the task events by task, loads the rows already
stored for them, folds the events in by time (``merge.py``), and writes in one transaction:
new rows, the columns that changed in the others (grouped by which changed, so each group is
one ``executemany``), the timeline, and the search index entries that changed. A failure
rolls everything back, here as in the file, and raises.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from operator import itemgetter
from typing import Optional

from celerydesk.core.history.merge import (
    COLUMNS, apply_event, apply_sent_record, event_time, new_row, task_state,
)
from celerydesk.core.history.schema import SEARCH_COLUMNS
from celerydesk.core.task_store import STATE_RANK

LABELS = {"name": "name_id", "worker": "worker_id", "queue": "queue_id", "routing_key": "routing_key_id"}
_LABEL_KIND = {"name": "name", "worker": "worker", "queue": "queue", "routing_key": "queue"}
_LABEL_INDEXES = frozenset(i for i, c in enumerate(COLUMNS) if c in LABELS)
# The stored columns, in the order the merge's rows hold them (label texts become ids).
STORED = tuple(LABELS.get(c, c) for c in COLUMNS)
_SELECT = f"SELECT seq, {', '.join(STORED)} FROM tasks WHERE id IN "
_INSERT = f"INSERT INTO tasks (seq, {', '.join(STORED)}) VALUES ({', '.join('?' * (len(STORED) + 1))})"
_SEARCH_INSERT = f"INSERT INTO task_search (rowid, {SEARCH_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
_SEARCH_DELETE = (f"INSERT INTO task_search (task_search, rowid, {SEARCH_COLUMNS}) "
                  "VALUES ('delete', ?, ?, ?, ?, ?, ?, ?)")
_TIMELINE = "INSERT OR IGNORE INTO timeline (task, at, state) VALUES (?, ?, ?)"
LOOKUP_CHUNK = 500  # ids per SELECT ... IN (...): under SQLite's limit on bound parameters
# The merge is Python and holds the GIL (~25 µs a task); a window sharing the process must not
# wait on a whole batch of it (event_monitor.py explains the stalls). SQLite lets the GIL go.
GIL_SHARE_TASKS = 40


@dataclass
class Batch:
    """Task events grouped by task id (in the order they came), and records by task id."""
    events: dict
    records: dict
    kept: int  # task events in it (the rest were worker heartbeats, custom events, malformed)

    def task_ids(self) -> list[str]:
        return [*self.events, *(t for t in self.records if t not in self.events)]


def group(events: list, records: list, now: float) -> Batch:
    by_task: dict[str, list] = {}
    kept = 0
    for event in events:
        state = task_state(event) if isinstance(event, dict) else None
        task_id = event.get("uuid") if state else None
        if not task_id or not isinstance(task_id, str):
            continue
        by_task.setdefault(task_id, []).append((event_time(event, now), STATE_RANK[state], state, event))
        kept += 1
    by_record: dict[str, list] = {}
    for record in records:
        by_record.setdefault(record["id"], []).append(record)
    return Batch(by_task, by_record, kept)


def search_entry(seq: int, row: dict) -> tuple:
    """The search index's values for a row: what ``schema.search_values`` computes in SQL
    (the delete trigger must remove exactly what was added)."""
    return (seq, row["id"], row["name"], row["args_json"] if row["args_json"] is not None else row["args"],
            row["kwargs_json"] if row["kwargs_json"] is not None else row["kwargs"], row["result"], row["exception"])


class BatchStore:
    def __init__(self, db: sqlite3.Connection):
        self.db = db
        self._labels: dict[tuple[str, str], int] = {}
        self._label_texts: dict[int, str] = {}
        for label_id, kind, text in db.execute("SELECT id, kind, text FROM labels"):
            self._labels[(kind, text)] = label_id
            self._label_texts[label_id] = text
        self._next_seq = db.execute("SELECT coalesce(max(seq), 0) + 1 FROM tasks").fetchone()[0]
        self._new_labels: list = []

    def commit(self, batch: Batch, now: float) -> None:
        """Write the batch in one transaction; on any failure, roll back and raise."""
        db = self.db
        next_seq, self._new_labels = self._next_seq, []
        try:
            db.execute("BEGIN IMMEDIATE")
            stored = self._load_rows(batch.task_ids())
            inserts, updates, timeline, unindex, index = [], {}, [], [], []
            for n, task_id in enumerate(batch.task_ids()):  # new tasks get their seq in the order events came
                if n % GIL_SHARE_TASKS == 0:
                    time.sleep(0)  # a waiting GUI thread gets the GIL now, not after the 5 ms switch interval
                events = batch.events.get(task_id, ())
                found = stored.get(task_id)
                if found is None:
                    seq, before = self._next_seq, None
                    self._next_seq += 1
                    row = new_row(task_id, min((at for at, *_ in events), default=now))
                else:
                    seq, before = found
                    row = dict(before)
                for at, _, state, event in sorted(events, key=itemgetter(0, 1)):
                    apply_event(row, event, state, at)
                    timeline.append((seq, at, state))
                for record in batch.records.get(task_id, ()):
                    apply_sent_record(row, record)
                values = self._stored_values(row)
                searched = search_entry(seq, row)
                if before is None:
                    inserts.append((seq, *values))
                    index.append(searched)
                    continue
                old = self._stored_values(before)
                changed = tuple(i for i, (a, b) in enumerate(zip(old, values)) if a != b)
                if changed:
                    updates.setdefault(changed, []).append([values[i] for i in changed] + [seq])
                was = search_entry(seq, before)
                if was != searched:
                    unindex.append(was)
                    index.append(searched)
            db.executemany(_INSERT, inserts)
            for changed, params in updates.items():
                db.executemany(f"UPDATE tasks SET {', '.join(f'{STORED[i]} = ?' for i in changed)} WHERE seq = ?",
                               params)
            db.executemany(_SEARCH_DELETE, unindex)
            db.executemany(_SEARCH_INSERT, index)
            db.executemany(_TIMELINE, timeline)
            db.execute("COMMIT")
        except BaseException:
            self._rollback(next_seq)
            raise

    def _stored_values(self, row: dict) -> list:
        return [self._label_id(c, row[c]) if i in _LABEL_INDEXES else row[c] for i, c in enumerate(COLUMNS)]

    def _load_rows(self, task_ids: list) -> dict[str, tuple[int, dict]]:
        """``{id: (seq, row)}`` of the tasks already stored, with label texts in the row."""
        found = {}
        texts = self._label_texts
        for start in range(0, len(task_ids), LOOKUP_CHUNK):
            chunk = task_ids[start:start + LOOKUP_CHUNK]
            for seq, *values in self.db.execute(_SELECT + f"({', '.join('?' * len(chunk))})", chunk):
                row = {c: (texts.get(v) if i in _LABEL_INDEXES else v) for i, (c, v) in enumerate(zip(COLUMNS, values))}
                found[row["id"]] = (seq, row)
        return found

    def _label_id(self, column: str, text: Optional[str]) -> Optional[int]:
        if text is None:
            return None
        key = (_LABEL_KIND[column], text)
        label_id = self._labels.get(key)
        if label_id is None:
            label_id = self.db.execute("INSERT INTO labels (kind, text) VALUES (?, ?)", key).lastrowid
            self._labels[key] = label_id
            self._label_texts[label_id] = text
            self._new_labels.append(key)
        return label_id

    def _rollback(self, next_seq: int) -> None:
        """Undo a failed batch here as the database did: its rows and labels were never written."""
        try:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # SQLite rolls back by itself after an I/O error; the next BEGIN starts clean
        self._next_seq = next_seq
        for key in self._new_labels:
            self._label_texts.pop(self._labels.pop(key), None)
        self._new_labels = []
