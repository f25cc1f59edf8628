"""Bench: the task history store at a million tasks: search, ingest, size on disk, paging.

A store of ROWS synthetic tasks of realistic shape (tests/helpers/history_events.py: the
events a real worker and sender emit, ~4 per task, spread over ten days) is built through
the real writer (HistoryWriter, its thread, one transaction per batch). Then:

- ``ingest_events_per_s``: a further burst of INGEST_TASKS tasks' events handed to the writer
  at once, from submit to the last commit (this thread only waits meanwhile), on the full store;
- ``search_p95_ms``: the first page (50 rows, newest first) of a search for a substring of a
  stored task's arguments, result, exception or id (QUERIES of them, the same for both);
  ``like_scan_p95_ms``: the same query as a ``LIKE '%…%'`` scan of the same columns, each
  query timed right after its indexed twin (interleaved); ``results_agree`` checks both found
  the same tasks whenever they found fewer than a page;
- ``bytes_per_task``: the file (and its WAL, checkpointed) over the rows, indexes included;
  ``bytes_by_table`` breaks it down (SQLite's dbstat);
- the Tasks page's reads: ``count_ms`` (every row), ``first_page_ms``, ``deep_page_p95_ms``
  (a page at a random offset), ``filtered_page_p95_ms`` (failures of one task in the last
  day, newest first), ``search_count_p95_ms`` (a search's count, capped at 10,000);
- the dashboard's reads to come (issue 19): finished tasks per minute by state, and the
  runtimes by task name, over 24 h and 7 days (``dashboard_*_ms``).

``--fts-options`` also builds the other FTS5 layouts over the same rows and reports each
one's bytes per task and search p95 (``fts_options``): detail=full (phrase queries),
detail=column, and detail=none without id and name.

The window's figures (``history_window.py``), on the same store: ``tab_open_ms`` (the Tasks tab
opening on it, its first rows painted), and a live flood of ``--flood`` real tasks (a prefork
worker, -c 2, as bench_monitor) while the page shows the history: ``flood_tasks`` against
``flood_recorded``, and the GUI's longest stall, ``max_stall_ms`` (with ``stalls_over_ms`` and the
``longest_gaps``). ``--no-window`` leaves them out.
Run: .venv/bin/python tests/bench/bench_history.py [ROWS] [--fts-options] [--keep DIR] [--flood N] [--no-window]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from celerydesk.core.history import history_path  # noqa: E402
from celerydesk.core.history.queries import HistoryReader, TaskFilter, trigram_query  # noqa: E402
from celerydesk.core.history.schema import search_values  # noqa: E402
from celerydesk.core.history.writer import HistoryWriter  # noqa: E402
from tests.helpers.history_events import event_stream  # noqa: E402

DAY = 86400.0
INGEST_TASKS = 30_000
QUERIES = 60
PAGE = 50
_LIKE_FIELDS = ("t.id", "coalesce(t.args_json, t.args)", "coalesce(t.kwargs_json, t.kwargs)", "t.result",
                "t.exception")


def p95(samples: list[float]) -> float:
    return round(statistics.quantiles(samples, n=20)[-1], 2) if len(samples) > 1 else round(samples[0], 2)


def fill(writer: HistoryWriter, rows: int, start: float, span: float) -> int:
    events = 0
    for chunk in event_stream(rows, start, per_second=rows / span, seed=1):
        writer.submit(chunk)
        events += len(chunk)
        while writer.pending > 200_000:
            time.sleep(0.01)
    writer.flush(3600)
    return events


def measure_ingest(writer: HistoryWriter, start: float) -> float:
    burst = [e for chunk in event_stream(INGEST_TASKS, start, seed=2) for e in chunk]
    began = time.perf_counter()
    writer.submit(burst)
    writer.flush(600)
    return len(burst) / (time.perf_counter() - began)


def sample_queries(db: sqlite3.Connection, rows: int, r: random.Random) -> list[str]:
    """Substrings of stored tasks' fields, as someone pastes or types them."""
    queries = []
    while len(queries) < QUERIES:
        seq = r.randrange(1, rows + 1)
        found = db.execute("SELECT id, args, kwargs, result, exception FROM tasks WHERE seq = ?", (seq,)).fetchone()
        if not found:
            continue
        task_id, args, kwargs, result, exception = found
        field = r.choices([args, result, kwargs, exception, task_id], weights=[50, 30, 5, 10, 5])[0]
        if not field or len(field) < 8:
            continue
        length = r.randrange(6, min(20, len(field)) + 1)
        at = r.randrange(0, len(field) - length + 1)
        queries.append(field[at:at + length])
    return queries


def like_scan(reader: HistoryReader, text: str) -> list[str]:
    pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    name_ids = [i for i, (kind, name) in reader._labels.items() if kind == "name" and text.lower() in name.lower()]
    names = f"t.name_id IN ({', '.join(map(str, name_ids))}) OR " if name_ids else ""
    where = names + " OR ".join(f"{c} LIKE ? ESCAPE '\\'" for c in _LIKE_FIELDS)
    sql = f"SELECT t.id FROM tasks t WHERE {where} ORDER BY t.seen_at DESC LIMIT {PAGE}"
    return [r[0] for r in reader.db.execute(sql, [pattern] * len(_LIKE_FIELDS))]


def timed(fn, *args, **kwargs):
    began = time.perf_counter()
    value = fn(*args, **kwargs)
    return (time.perf_counter() - began) * 1000, value


def measure_search(reader: HistoryReader, queries: list[str]) -> dict:
    indexed, scanned, counts, agree = [], [], [], True
    reader._load_labels()
    for text in queries:
        ms, rows = timed(reader.page, TaskFilter(search=text), limit=PAGE)
        indexed.append(ms)
        ms, like_ids = timed(like_scan, reader, text)
        scanned.append(ms)
        if len(rows) < PAGE and sorted(r["id"] for r in rows) != sorted(like_ids):
            agree = False
        ms, _ = timed(reader.count, TaskFilter(search=text), cap=10_000)
        counts.append(ms)
    return {"search_p95_ms": p95(indexed), "search_p50_ms": round(statistics.median(indexed), 2),
            "like_scan_p95_ms": p95(scanned), "like_scan_p50_ms": round(statistics.median(scanned), 2),
            "like_over_search_p95": round(p95(scanned) / p95(indexed), 1), "results_agree": agree,
            "search_count_p95_ms": p95(counts)}


def measure_pages(reader: HistoryReader, rows: int, now: float, r: random.Random) -> dict:
    count_ms, total = timed(reader.count)
    first_ms, _ = timed(reader.page, limit=PAGE)
    deep = [timed(reader.page, offset=r.randrange(0, rows), limit=PAGE)[0] for _ in range(20)]
    names = reader.labels("name")
    filtered = [timed(reader.page, TaskFilter(states=("FAILURE",), names=(r.choice(names),), since=now - DAY),
                      limit=PAGE)[0] for _ in range(20)]
    return {"count_ms": round(count_ms, 2), "first_page_ms": round(first_ms, 2), "deep_page_p95_ms": p95(deep),
            "filtered_page_p95_ms": p95(filtered), "counted": total}


def measure_dashboard(reader: HistoryReader, now: float) -> dict:
    """What issue 19's charts will ask, answered from the covering index ``tasks_finished``:
    finished tasks per minute by state, and every runtime by task name, over 24 h and 7 days."""
    out = {}
    for label, span in (("24h", DAY), ("7d", 7 * DAY)):
        ms, _ = timed(lambda: reader.db.execute(
            "SELECT CAST(finished_at / 60 AS INTEGER) AS minute, state, count(*) FROM tasks "
            "WHERE finished_at >= ? GROUP BY minute, state", (now - span,)).fetchall())
        out[f"dashboard_per_minute_{label}_ms"] = round(ms, 1)
        ms, _ = timed(lambda: reader.db.execute(
            "SELECT name_id, state, runtime FROM tasks WHERE finished_at >= ?", (now - span,)).fetchall())
        out[f"dashboard_runtimes_{label}_ms"] = round(ms, 1)
    return out


def table_bytes(path: Path, rows: int) -> dict:
    db = sqlite3.connect(path)
    try:
        found = db.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC").fetchall()
    finally:
        db.close()
    return {name: round(size / rows, 1) for name, size in found if size / rows >= 0.5}


FTS_VARIANTS = {
    "detail=full": ("id, name, args, kwargs, result, exception", "full"),
    "detail=column": ("id, name, args, kwargs, result, exception", "column"),
    "detail=none, without id and name": ("args, kwargs, result, exception", "none"),
}


def measure_fts_options(path: Path, rows: int, queries: list[str]) -> dict:
    """Each other layout, built over the same rows in the same file, then dropped."""
    db = sqlite3.connect(path, isolation_level=None)
    out = {}
    values = _split_values(search_values("t"))
    for label, (columns, detail) in FTS_VARIANTS.items():
        db.execute("DROP TABLE IF EXISTS bench_fts")
        db.execute(f"CREATE VIRTUAL TABLE bench_fts USING fts5({columns}, content='', tokenize='trigram', "
                   f"detail={detail}, columnsize=0)")
        picked = ", ".join(values[c.strip()] for c in columns.split(","))
        began = time.perf_counter()
        db.execute(f"INSERT INTO bench_fts (rowid, {columns}) SELECT t.seq, {picked} FROM tasks t")
        build_s = time.perf_counter() - began
        size = db.execute("SELECT sum(pgsize) FROM dbstat WHERE name LIKE 'bench_fts%'").fetchone()[0]
        times = []
        for text in queries:
            if detail == "full":  # positions are stored: a phrase query is the exact substring
                sql = (f"SELECT t.id FROM bench_fts s JOIN tasks t ON t.seq = s.rowid WHERE bench_fts MATCH ? "
                       f"ORDER BY s.rowid DESC LIMIT {PAGE}")
                params = ['"' + text.replace('"', '""') + '"']
            else:
                checks = " OR ".join(f"instr(lower({values[c.strip()]}), ?) > 0" for c in columns.split(","))
                sql = (f"SELECT t.id FROM bench_fts s JOIN tasks t ON t.seq = s.rowid WHERE bench_fts MATCH ? "
                       f"AND ({checks}) ORDER BY s.rowid DESC LIMIT {PAGE}")
                params = [trigram_query(text)] + [text.lower()] * len(columns.split(","))
            times.append(timed(lambda: db.execute(sql, params).fetchall())[0])
        out[label] = {"bytes_per_task": round(size / rows, 1), "search_p95_ms": p95(times),
                      "build_s": round(build_s, 1)}
        db.execute("DROP TABLE bench_fts")
    db.close()
    return out


def _split_values(expressions: str) -> dict:
    """search_values' expressions by column (commas inside parentheses are not separators)."""
    parts, depth, current = [], 0, ""
    for ch in expressions:
        if ch == "," and depth == 0:
            parts.append(current.strip())
            current = ""
            continue
        depth += ch == "("
        depth -= ch == ")"
        current += ch
    parts.append(current.strip())
    return dict(zip(("id", "name", "args", "kwargs", "result", "exception"), parts))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("rows", nargs="?", type=int, default=1_000_000)
    parser.add_argument("--fts-options", action="store_true", help="also measure the other FTS5 layouts")
    parser.add_argument("--keep", metavar="DIR", help="build the store in DIR and keep it")
    parser.add_argument("--flood", type=int, default=20_000, metavar="N", help="tasks of the live flood")
    parser.add_argument("--nice", type=int, default=5, metavar="0-19", help="the flood worker's nice value")
    parser.add_argument("--no-window", action="store_true", help="skip the window's figures")
    args = parser.parse_args()
    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-history-"))
    runtime = folder / ".celerydesk"
    shutil.rmtree(runtime, ignore_errors=True)
    now = time.time()
    r = random.Random(7)
    began = time.perf_counter()
    try:
        writer = HistoryWriter(runtime, max_batch=20_000, interval=0.05)
        writer.start()
        events = fill(writer, args.rows, now - 10 * DAY, 10 * DAY - 3600)
        fill_s = time.perf_counter() - began
        ingest = measure_ingest(writer, now - 1800)
        writer.close(600)
        rows = args.rows + INGEST_TASKS
        path = history_path(runtime)
        db = sqlite3.connect(path)
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.close()
        size = sum(p.stat().st_size for p in runtime.glob("history.sqlite3*"))
        reader = HistoryReader(runtime)
        queries = sample_queries(reader.db, rows, r)
        figures = {"rows": rows, "events": events, "fill_s": round(fill_s, 1),
                   "ingest_events_per_s": round(ingest), "bytes_per_task": round(size / rows, 1),
                   **measure_search(reader, queries), **measure_pages(reader, rows, now, r),
                   **measure_dashboard(reader, now)}
        reader.close()
        figures["bytes_by_table"] = table_bytes(path, rows)
        if args.fts_options:
            figures["fts_options"] = measure_fts_options(path, rows, queries[:30])
        if not args.no_window:
            import os

            os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
            from celerydesk.core.ports import free_port
            from tests.bench.history_window import measure_flood, measure_tab_open, workspace_on

            # Nothing listens on that broker: the tab opens on the history, whatever the stack does.
            figures.update(measure_tab_open(workspace_on(folder, f"redis://127.0.0.1:{free_port()}/0")))
            figures.update(measure_flood(folder, args.flood, args.nice))
        figures["seconds"] = round(time.perf_counter() - began, 1)
        print(json.dumps(figures))
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
