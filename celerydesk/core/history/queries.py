"""Reading the history: filters, sorting, paging, counts, search, a task's timeline and family.

Any number of readers may read while the writer writes (WAL): a reader sees the last commit
made before its query began. :class:`HistoryReader` never changes the file, except to bring
an older file to this celerydesk's schema when no writer holds it.

A lazy table asks for ``count(filter)`` and then for the rows it shows, with ``page(filter,
order, offset=...)`` (any row, for a jump of the scroll bar) or ``page(filter, order,
after=key)`` (the next rows after the last one it has: cheap however deep). Every order ends
with ``seq`` so that paging is stable. Newest first is the default; a filter by state, task,
worker or queue walks that column's index newest first, without sorting.

Search finds a text anywhere in a task's id, name, arguments, kwargs, result or exception,
ignoring ASCII case: the trigram index gives the rows holding all the text's trigrams, and
each is checked for the text itself. Text shorter than three characters has no trigram:
it is looked for by reading the rows newest first (still quick for a first page, since such
text is common). Results come newest first by when the store first saw each task.
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

from celerydesk.core.history import LOCK_NAME, history_path, sent
from celerydesk.core.history.schema import (
    SCHEMA_VERSION, HistoryFileError, connect, file_error, migrate, newer_schema_error, schema_version,
)
from celerydesk.core.runtime import hold_lock

_ROW = ("t.seq, t.id, t.name_id, t.state, t.state_at, t.queue_id, t.routing_key_id, t.worker_id, t.args, "
        "t.kwargs, t.args_json, t.kwargs_json, t.sent_by, t.result, t.exception, t.traceback, t.retries, "
        "t.parent_id, t.root_id, t.eta, t.expires, t.seen_at, t.sent_at, t.received_at, t.started_at, "
        "t.finished_at, t.runtime, t.wait")
_ROW_KEYS = tuple(c.strip()[2:] for c in _ROW.split(","))
_LABEL_COLUMNS = {"name_id": "name", "queue_id": "queue", "routing_key_id": "routing_key", "worker_id": "worker"}
# Sortable columns: their SQL (label texts sort by text) and their key in a row.
ORDERS = {
    "seen": ("t.seen_at", "seen_at"), "sent": ("t.sent_at", "sent_at"), "received": ("t.received_at", "received_at"),
    "started": ("t.started_at", "started_at"), "finished": ("t.finished_at", "finished_at"),
    "runtime": ("t.runtime", "runtime"), "wait": ("t.wait", "wait"), "retries": ("t.retries", "retries"),
    "state": ("t.state", "state"), "id": ("t.id", "id"),
    "name": ("(SELECT text FROM labels WHERE id = t.name_id)", "name"),
    "worker": ("(SELECT text FROM labels WHERE id = t.worker_id)", "worker"),
    "queue": ("(SELECT text FROM labels WHERE id = t.queue_id)", "queue"),
}
MIN_TRIGRAM_TEXT = 3
MAX_TRIGRAMS = 32  # a long pasted text needs only a sample of its trigrams to find candidates
FAMILY_LIMIT = 5000


@dataclass(frozen=True)
class TaskFilter:
    """What the Tasks page and ``celerydesk history`` filter on; empty means everything.

    ``names`` match a task name exactly or by its last dotted parts (``notify_customers``);
    ``workers`` a hostname exactly or by the part before ``@`` (``main``). Times are Unix
    seconds on ``seen_at``, ``since`` inclusive and ``until`` exclusive. ``above_seq`` keeps the
    tasks the store saw after the one of that ``seq`` (what came since a table last counted)."""
    states: tuple = ()
    names: tuple = ()
    workers: tuple = ()
    queues: tuple = ()
    since: Optional[float] = None
    until: Optional[float] = None
    search: str = ""
    above_seq: Optional[int] = None
    when: str = "seen"


TIME_COLUMNS = {"seen": "t.seen_at", "finished": "t.finished_at"}


@dataclass(frozen=True)
class Order:
    column: str = "seen"
    descending: bool = True


NEWEST_FIRST = Order()


class HistoryReader:
    def __init__(self, runtime_dir: Path):
        """Open the workspace's history for reading; a DeskError says why it cannot be."""
        self.runtime_dir = Path(runtime_dir)
        self.path = history_path(self.runtime_dir)
        if not self.path.exists():
            raise HistoryFileError(f"no task history yet in {self.runtime_dir}",
                                   hint="celerydesk records tasks while it watches the stack: "
                                   "start it with `celerydesk up` or in the window")
        self.db = self._open()
        self._labels: dict[int, tuple[str, str]] = {}  # id -> (kind, text)

    def _open(self) -> sqlite3.Connection:
        try:
            db = connect(self.path, write=False)
            version = schema_version(db)
            if version < SCHEMA_VERSION:
                db.close()
                self._upgrade()
                db = connect(self.path, write=False)
            elif version > SCHEMA_VERSION:
                db.close()
                raise newer_schema_error(self.path, version)
            return db
        except sqlite3.Error as exc:
            raise file_error(self.path, exc) from None

    def _upgrade(self) -> None:
        """A file of an older schema, brought up to date when no writer holds it."""
        try:
            fd, holder = hold_lock(self.runtime_dir / LOCK_NAME)
        except OSError as exc:
            raise file_error(self.path, exc) from None
        if fd is None:
            raise HistoryFileError(f"the task history {self.path} is written by an older celerydesk (pid {holder})",
                                   hint="stop that one (it keeps the old format), then read again")
        try:
            db = connect(self.path, write=True)
            try:
                migrate(db, self.path)
            finally:
                db.close()
        finally:
            os.close(fd)

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def snapshot(self):
        """Reads within one view of the file: a count and the pages shown with it agree."""
        self.db.execute("BEGIN")
        try:
            yield self
        finally:
            self.db.execute("COMMIT")

    def last_seq(self) -> int:
        """The ``seq`` of the task the store saw last (0 when it holds none)."""
        return self.db.execute("SELECT coalesce(max(seq), 0) FROM tasks").fetchone()[0]

    def data_version(self) -> int:
        """A number that moves whenever another connection (a writer) commits to the file."""
        return self.db.execute("PRAGMA data_version").fetchone()[0]

    # -- labels ----------------------------------------------------------------------------------

    def _label(self, label_id: Optional[int]) -> Optional[str]:
        if label_id is None:
            return None
        if label_id not in self._labels:
            self._load_labels()
        found = self._labels.get(label_id)
        return found[1] if found else None

    def _load_labels(self) -> None:
        self._labels = {i: (k, t) for i, k, t in self.db.execute("SELECT id, kind, text FROM labels")}

    def labels(self, kind: str) -> list[str]:
        """Every task name (``name``), worker (``worker``) or queue (``queue``) ever stored."""
        self._load_labels()
        return sorted(t for k, t in self._labels.values() if k == kind)

    def _label_ids(self, kind: str, wanted: tuple, match) -> list[int]:
        self._load_labels()
        return [i for i, (k, text) in self._labels.items() if k == kind and any(match(text, w) for w in wanted)]

    # -- rows ------------------------------------------------------------------------------------

    def _row(self, values) -> dict:
        row = dict(zip(_ROW_KEYS, values))
        for column, key in _LABEL_COLUMNS.items():
            row[key] = self._label(row.pop(column))
        return row

    def _where(self, f: TaskFilter) -> tuple[list[str], list]:
        clauses, params = [], []
        if f.states:
            clauses.append(f"t.state IN ({', '.join('?' * len(f.states))})")
            params += [s.upper() for s in f.states]
        for kind, column, wanted, match in (("name", "name_id", f.names, name_matches),
                                            ("worker", "worker_id", f.workers, worker_matches),
                                            ("queue", "queue_id", f.queues, str.__eq__)):
            if wanted:
                ids = self._label_ids(kind, tuple(wanted), match)
                clauses.append(f"t.{column} IN ({', '.join(map(str, ids))})" if ids else "0")
        if f.when == "retried" and (f.since is not None or f.until is not None):
            clauses.append("t.seq IN (SELECT task FROM timeline WHERE state = 'RETRY' AND at >= ? AND at < ?)")
            params += [f.since if f.since is not None else float("-inf"),
                       f.until if f.until is not None else float("inf")]
        elif f.when != "retried":
            if f.when not in TIME_COLUMNS:
                raise ValueError(f"cannot filter on the time {f.when!r}; choose seen, finished or retried")
            column = TIME_COLUMNS[f.when]
            if f.since is not None:
                clauses.append(f"{column} >= ?")
                params.append(f.since)
            if f.until is not None:
                clauses.append(f"{column} < ?")
                params.append(f.until)
        if f.above_seq is not None:
            clauses.append("t.seq > ?")
            params.append(f.above_seq)
        if f.search:
            clause, search_params = self._text_match(f.search)
            clauses.append(clause)
            params += search_params
        return clauses, params

    def _text_match(self, text: str) -> tuple[str, list]:
        """The exact check of a search text on a row (the index only narrows the candidates)."""
        needle = text.lower()
        name_ids = self._label_ids("name", (needle,), lambda name, n: n in name.lower())
        names = f"t.name_id IN ({', '.join(map(str, name_ids))}) OR " if name_ids else ""
        fields = ("t.id", "coalesce(t.args_json, t.args)", "coalesce(t.kwargs_json, t.kwargs)", "t.result",
                  "t.exception")
        return f"({names}{' OR '.join(f'instr(lower({c}), ?) > 0' for c in fields)})", [needle] * len(fields)

    def _query(self, f: TaskFilter, order: Optional[Order], select: str, after=None) -> tuple[str, list]:
        """SQL and parameters of the rows matching ``f``, in ``order``, after the key ``after``.
        Without an order (a count of what came after a seq), the rowid's range is read, not an
        index walked in order."""
        if order is not None and order.column not in ORDERS:
            raise ValueError(f"cannot sort by {order.column!r}; choose one of {', '.join(ORDERS)}")
        clauses, params = self._where(f)
        source = "tasks t"
        if len(f.search) >= MIN_TRIGRAM_TEXT:
            source = "task_search s JOIN tasks t ON t.seq = s.rowid"
            clauses.insert(0, "task_search MATCH ?")
            params.insert(0, trigram_query(f.search))
        if order is None:
            return f"SELECT {select} FROM {source}{_where_sql(clauses)}", params
        direction = "DESC" if order.descending else "ASC"
        if len(f.search) >= MIN_TRIGRAM_TEXT and order == NEWEST_FIRST:
            sort_key, order_by = "s.rowid", f"s.rowid {direction}"  # the index gives them in this order
        else:
            sort_key = ORDERS[order.column][0]
            order_by = f"{sort_key} {direction}, t.seq {direction}"
        if after is not None:
            clause, after_params = _after(sort_key, order, after, "s.rowid" if sort_key == "s.rowid" else "t.seq")
            clauses.append(clause)
            params += after_params
        return f"SELECT {select} FROM {source}{_where_sql(clauses)} ORDER BY {order_by}", params

    def page(self, f: TaskFilter = TaskFilter(), order: Order = NEWEST_FIRST, *, offset: int = 0,
             limit: int = 100, after: Optional[tuple] = None) -> list[dict]:
        """Rows as dicts (label texts, times as Unix seconds). ``after`` is a row's :func:`key`."""
        sql, params = self._query(f, order, _ROW, after)
        rows = self.db.execute(f"{sql} LIMIT ? OFFSET ?", [*params, limit, 0 if after else offset])
        return [self._row(values) for values in rows]

    @staticmethod
    def key(row: dict, order: Order = NEWEST_FIRST, f: TaskFilter = TaskFilter()) -> tuple:
        """The paging key of ``row`` in ``order`` (what ``page(after=...)`` takes)."""
        if len(f.search) >= MIN_TRIGRAM_TEXT and order == NEWEST_FIRST:
            return (row["seq"],)
        return row[ORDERS[order.column][1]], row["seq"]

    def iter_rows(self, f: TaskFilter = TaskFilter(), order: Order = NEWEST_FIRST, limit: Optional[int] = None,
                  chunk: int = 1000) -> Iterator[dict]:
        """Every matching row (an export), read a chunk at a time after the last one's key."""
        after, left = None, limit
        while left is None or left > 0:
            rows = self.page(f, order, limit=chunk if left is None else min(chunk, left), after=after)
            yield from rows
            if len(rows) < chunk:
                return
            after = self.key(rows[-1], order, f)
            left = None if left is None else left - len(rows)

    def count(self, f: TaskFilter = TaskFilter(), cap: Optional[int] = None) -> int:
        """How many rows match; with ``cap``, counting stops there (a search as you type)."""
        sql, params = self._query(f, None if f.above_seq is not None else NEWEST_FIRST, "1")
        if cap is not None:
            sql, params = f"{sql} LIMIT ?", [*params, cap]
        return self.db.execute(f"SELECT count(*) FROM ({sql})", params).fetchone()[0]

    # -- one task --------------------------------------------------------------------------------

    def find_ids(self, prefix: str, limit: int = 2) -> list[str]:
        """Task ids equal to, or starting with, ``prefix`` (a short id typed by hand)."""
        exact = self.db.execute("SELECT id FROM tasks WHERE id = ?", (prefix,)).fetchone()
        if exact:
            return [exact[0]]
        rows = self.db.execute("SELECT id FROM tasks WHERE id >= ? AND id < ? ORDER BY id LIMIT ?",
                               (prefix, prefix + "\U0010ffff", limit))
        return [r[0] for r in rows]

    def task(self, task_id: str) -> Optional[dict]:
        values = self.db.execute(f"SELECT {_ROW} FROM tasks t WHERE t.id = ?", (task_id,)).fetchone()
        return self._row(values) if values else None

    def timeline(self, task_id: str) -> list[tuple[float, str]]:
        """Each state change of the task with its time, oldest first; SENT always first.

        Celery emits task-sent after it has published the message, so a worker on the same
        broker can stamp task-received a fraction of a millisecond earlier: the clocks are right,
        the order of the story is not."""
        return self.db.execute("SELECT l.at, l.state FROM timeline l JOIN tasks t ON t.seq = l.task "
                               "WHERE t.id = ? ORDER BY l.state != 'SENT', l.at", (task_id,)).fetchall()

    def children(self, task_id: str) -> list[dict]:
        rows = self.db.execute(f"SELECT {_ROW} FROM tasks t WHERE t.parent_id = ? ORDER BY t.seen_at, t.seq",
                               (task_id,))
        return [self._row(values) for values in rows]

    def family(self, task_id: str) -> Optional[dict]:
        """The task's root and every task under it, as a tree by parent: a chain, group or chord.

        ``{"root", "parent", "children", "tree", "size", "complete"}``; ``tree`` is nested
        ``{"id", "name", "state", "children"}`` from the root (a member whose parent is not
        stored hangs under the root). Families larger than FAMILY_LIMIT are cut
        (``complete`` False)."""
        task = self.task(task_id)
        if task is None:
            return None
        root_id = task["root_id"] or task_id
        members = {r["id"]: r for r in (self._row(v) for v in self.db.execute(
            f"SELECT {_ROW} FROM tasks t WHERE t.root_id = ? AND t.root_id <> t.id ORDER BY t.seen_at, t.seq LIMIT ?",
            (root_id, FAMILY_LIMIT)))}
        root = members.get(root_id) or self.task(root_id)
        if root is not None:
            members[root_id] = root
        members.setdefault(task_id, task)
        nodes = {i: {"id": i, "name": r["name"], "state": r["state"], "children": []} for i, r in members.items()}
        top = nodes.get(root_id) or {"id": root_id, "name": None, "state": None, "children": []}
        for member_id, row in members.items():
            if member_id == root_id:
                continue
            parent = nodes.get(row["parent_id"]) if row["parent_id"] != member_id else None
            (parent or top)["children"].append(nodes[member_id])
        return {"root": root_id, "parent": task["parent_id"],
                "children": [r["id"] for r in self.children(task_id)],
                "tree": top, "size": len(members), "complete": len(members) <= FAMILY_LIMIT}

    def exact_arguments(self, task_id: str) -> Optional[tuple[list, dict]]:
        """The JSON arguments celerydesk recorded when it sent the task: from the store, or
        still waiting in the senders' spool. None when celerydesk did not send it."""
        import json

        row = self.db.execute("SELECT args_json, kwargs_json FROM tasks WHERE id = ?", (task_id,)).fetchone()
        if row and row[0] is not None and row[1] is not None:
            return json.loads(row[0]), json.loads(row[1])
        record = sent.find_pending(sent.spool_dir(self.runtime_dir), task_id)
        if record and "args" in record and "kwargs" in record:
            return list(record["args"]), dict(record["kwargs"])
        return None


def trigram_query(text: str) -> str:
    """An FTS5 query for the rows holding every trigram of ``text`` (each quoted, so any
    character is literal). A long text is sampled: the exact check follows anyway."""
    grams = list(dict.fromkeys(text[i:i + 3] for i in range(0, len(text) - 2)))
    if len(grams) > MAX_TRIGRAMS:
        step = len(grams) / MAX_TRIGRAMS
        grams = [grams[int(i * step)] for i in range(MAX_TRIGRAMS - 1)] + [grams[-1]]
    return " AND ".join('"' + g.replace('"', '""') + '"' for g in grams)


def _after(sort_key: str, order: Order, key: tuple, seq_column: str) -> tuple[str, list]:
    """Rows strictly after ``key`` in the order: ``(value, seq)``, or ``(rowid,)`` for a search.
    SQLite sorts NULL first ascending and last descending; the clause follows that."""
    if len(key) == 1:
        return (f"{seq_column} < ?" if order.descending else f"{seq_column} > ?"), [key[0]]
    value, seq = key
    if order.descending:
        if value is None:
            return f"({sort_key} IS NULL AND t.seq < ?)", [seq]
        return f"(({sort_key}, t.seq) < (?, ?) OR {sort_key} IS NULL)", [value, seq]
    if value is None:
        return f"(({sort_key} IS NULL AND t.seq > ?) OR {sort_key} IS NOT NULL)", [seq]
    return f"({sort_key}, t.seq) > (?, ?)", [value, seq]


def _where_sql(clauses: list[str]) -> str:
    return f" WHERE {' AND '.join(clauses)}" if clauses else ""


def name_matches(name: str, wanted: str) -> bool:
    """A task name is the one wanted, or ends with it after a dot (``process_video``)."""
    return name == wanted or name.endswith("." + wanted)


def worker_matches(hostname: str, wanted: str) -> bool:
    """A worker's hostname is the one wanted, or its name before ``@`` is (``main``)."""
    return hostname == wanted or hostname.split("@", 1)[0] == wanted

