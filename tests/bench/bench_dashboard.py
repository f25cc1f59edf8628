"""Bench: the Dashboard over a history of a million tasks, and while a live flood comes in.

A store of ROWS tasks spread over the last 7 days (tests/helpers/history_events.py, through the
real writer, so the summary is kept as it is in use) is opened by the real page
(``QtDashboardPage`` on a ``DeskContext``, offscreen, 1280×800). Then:

- ``redraw_p95_ms``: from asking for a range to its charts drawn (the read on the history's
  reads thread, the drawing on the GUI thread), over the four ranges in turn, ``REDRAWS`` times
  each; ``read_p95_by_range_ms``: from asking to the read handed to the GUI thread,
  ``draw_p95_by_range_ms``: from there to the five charts given their values and painted. The
  baseline, ``direct_7d_p95_ms``: the per-minute counts of 7 days by state read straight from
  the tasks (the ``tasks_finished`` index, what the summary replaces), timed right after each
  7-day redraw (interleaved).
- the flood (``tests/bench/history_window.py``): a real redis-server, the sample's prefork worker
  (-c 2, -E), ``--flood`` no-op tasks sent; the GUI's event loop timed with a 10 ms ticker:
  ``max_stall_ms`` with the Dashboard shown (the Tasks page built, hidden, as in the window), and
  the baseline ``baseline_max_stall_ms``: the same flood with the Tasks page shown, as
  bench_history measures it, in the same run (first, on the same store).

Run: .venv/bin/python tests/bench/bench_dashboard.py [ROWS] [--keep DIR] [--flood N] [--nice N]
(``--keep DIR`` reuses a store built there before.)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from celerydesk.core.history import history_path  # noqa: E402
from celerydesk.core.history.dashboard import RANGES  # noqa: E402
from celerydesk.core.history.writer import HistoryWriter  # noqa: E402
from tests.bench.bench_history import fill, p95  # noqa: E402

DAY = 86400.0
REDRAWS = 10


def build_store(runtime: Path, rows: int) -> float:
    """The store, unless one of at least ``rows`` tasks is there; the seconds it took."""
    import sqlite3

    path = history_path(runtime)
    if path.exists():
        db = sqlite3.connect(path)
        try:
            if db.execute("SELECT count(*) FROM tasks").fetchone()[0] >= rows:
                return 0.0
        except sqlite3.Error:
            pass
        finally:
            db.close()
        shutil.rmtree(runtime)
    began = time.perf_counter()
    writer = HistoryWriter(runtime, max_batch=20_000, interval=0.05)
    writer.start()
    now = time.time()
    fill(writer, rows, now - 7 * DAY + 60, 7 * DAY - 120)
    writer.close(600)
    return time.perf_counter() - began


def measure_redraws(folder: Path) -> dict:
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from celerydesk.core.history.queries import HistoryReader
    from celerydesk.ui.dashboard_page import QtDashboardPage
    from tests.bench.history_window import _close, _page, workspace_on
    from celerydesk.core.ports import free_port

    app = QApplication.instance() or QApplication([])
    stack, context, tasks_page = _page(workspace_on(folder, f"redis://127.0.0.1:{free_port()}/0"))
    page = QtDashboardPage(context)
    page.resize(1280, 800)
    page.show()
    drawn, delivered = [], []
    original = page._on_board

    def on_board(board, error):  # the read handed to the GUI thread: the read's part ends here
        delivered.append(time.perf_counter())
        original(board, error)

    page._on_board = on_board
    page.redrawn.connect(lambda: drawn.append(time.perf_counter()))  # before loop.quit: counted first

    loop = QEventLoop()
    page.redrawn.connect(loop.quit)

    def wait_drawn(count: int) -> None:
        # In an event loop, as the window waits (idle, the GIL let go): a loop of processEvents
        # would keep the GIL from the reads thread and time that instead.
        give_up = QTimer(singleShot=True, interval=60_000)
        give_up.timeout.connect(loop.quit)
        give_up.start()
        while len(drawn) < count and give_up.isActive():
            loop.exec()
        assert len(drawn) >= count, "the Dashboard did not draw"

    wait_drawn(1)  # the first read, on opening
    page._tick.stop()  # only the redraws asked for below
    reader = HistoryReader(folder / ".celerydesk")
    redraws, direct, per_range = [], [], {label: [] for label in RANGES}
    reads, draws = {label: [] for label in RANGES}, {label: [] for label in RANGES}
    try:
        for _ in range(REDRAWS):
            for label in RANGES:
                count = len(drawn)
                began = time.perf_counter()
                page.show_range(label)
                wait_drawn(count + 1)
                while not page.settled or delivered[-1] < began:  # a live update's redraw came first
                    wait_drawn(len(drawn) + 1)
                ms = (drawn[-1] - began) * 1000
                redraws.append(ms)
                per_range[label].append(ms)
                reads[label].append((delivered[-1] - began) * 1000)
                draws[label].append((drawn[-1] - delivered[-1]) * 1000)
                if label == "7 d":
                    began = time.perf_counter()
                    reader.db.execute(
                        "SELECT CAST(finished_at / 60 AS INTEGER) AS minute, state, count(*) FROM tasks "
                        "WHERE finished_at >= ? GROUP BY minute, state", (time.time() - 7 * DAY,)).fetchall()
                    direct.append((time.perf_counter() - began) * 1000)
        rows = reader.db.execute("SELECT count(*) FROM tasks").fetchone()[0]
        shown = sum(page.board.throughput.succeeded) + sum(page.board.throughput.failed)
    finally:
        reader.close()
        page.deleteLater()
        _close(stack, context, tasks_page)
        app.processEvents()
    return {"rows": rows, "redraw_p95_ms": p95(redraws), "redraw_median_ms": round(statistics.median(redraws), 1),
            "redraw_p95_by_range_ms": {label: p95(ms) for label, ms in per_range.items()},
            "read_p95_by_range_ms": {label: p95(ms) for label, ms in reads.items()},
            "draw_p95_by_range_ms": {label: p95(ms) for label, ms in draws.items()},
            "direct_7d_p95_ms": p95(direct), "finished_shown_7d": shown}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("rows", nargs="?", type=int, default=1_000_000)
    parser.add_argument("--keep", metavar="DIR", help="build the store in DIR (or reuse the one there)")
    parser.add_argument("--flood", type=int, default=20_000, metavar="N", help="tasks of the live flood")
    parser.add_argument("--nice", type=int, default=5, metavar="0-19", help="the flood worker's nice value")
    args = parser.parse_args()
    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-dashboard-"))
    folder.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    try:
        figures = {"fill_s": round(build_store(folder / ".celerydesk", args.rows), 1)}
        figures.update(measure_redraws(folder))
        from tests.bench.history_window import measure_flood

        baseline = measure_flood(folder, args.flood, args.nice)
        figures.update({f"baseline_{k}": v for k, v in baseline.items()
                        if k in ("max_stall_ms", "stalls_over_ms", "flood_seconds", "shown_page")})

        def dashboard(context):
            from celerydesk.ui.dashboard_page import QtDashboardPage

            return QtDashboardPage(context)

        figures.update(measure_flood(folder, args.flood, args.nice, show=dashboard))
        figures["seconds"] = round(time.perf_counter() - began, 1)
        print(json.dumps(figures))
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
