"""The window's figures of bench_history: the Tasks tab opening on the full store, and a live flood.

Both run the real Tasks page (``QtTaskMonitor`` on a ``DeskContext``, offscreen) on a workspace
whose runtime folder holds the bench's store, so the page's history opens the million-task file
as the window would (it becomes the writer).

- ``tab_open_ms``: from building the page to its first rows painted: the history opened, the
  count of every task and the first block read, the rows laid out. Measured ``OPENS`` times, a
  new page each time (the file is in the OS's cache after it was built, as it is for a user
  who opens the tab on a history their celerydesk keeps writing).
- the flood: a real redis-server, the sample's prefork worker (-c 2, -E) at celerydesk's nice
  (as bench_monitor), and a sender in its own session pushing ``tasks`` no-op tasks; the page
  shows the history's table (newest first, following the commits) while the GUI's event loop is
  timed with a 10 ms ticker. ``flood_recorded`` counts the flood's tasks the history holds as
  SUCCESS once the worker has finished them all (and the writer has flushed).
"""

from __future__ import annotations

import itertools
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from tests.bench.bench_monitor import SENDER, set_session_nice_patiently, stop_groups
from tests.helpers.stack import write_workspace

OPENS = 5
NOOP = "celerydesk.sample.tasks.noop"


def _app():
    from PySide6.QtWidgets import QApplication

    return QApplication.instance() or QApplication([])


def _page(path: Path):
    from celerydesk.core.workspace import load_workspace
    from celerydesk.services.context import DeskContext
    from celerydesk.services.stack import StackController
    from celerydesk.ui.task_monitor import QtTaskMonitor

    stack = StackController(load_workspace(path))
    context = DeskContext(stack, parent=stack)
    page = QtTaskMonitor(context)
    page.resize(1400, 900)
    return stack, context, page


def _close(stack, context, page) -> None:
    page.shutdown()
    context.shutdown()
    page.deleteLater()
    stack.deleteLater()


def workspace_on(folder: Path, broker_url: str) -> Path:
    """A workspace in ``folder`` (its .celerydesk/ is the bench's store) on an external broker."""
    return write_workspace(folder, mode="external", beat=False, flower=False, broker={"url": broker_url})


def measure_tab_open(path: Path) -> dict:
    app = _app()
    from PySide6.QtCore import QEventLoop

    times = []
    for _ in range(OPENS):
        began = time.perf_counter()
        stack, context, page = _page(path)
        page.show()
        painted = []
        original = page.view.paintEvent

        def paint(event, original=original):
            original(event)
            model = page.model
            if page.uses_history() and not model.loading and model.rowCount() and model.record_at(0) is not None:
                painted.append(time.perf_counter())

        page.view.paintEvent = paint
        while not painted and time.perf_counter() - began < 30:
            app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 5)
            page.view.viewport().update()
        times.append((painted[0] - began) * 1000 if painted else float("inf"))
        rows = page.model.rowCount()
        _close(stack, context, page)
        app.processEvents()
    return {"tab_open_ms": round(times[0], 1), "tab_open_median_ms": round(statistics.median(times), 1),
            "tab_open_max_ms": round(max(times), 1), "tab_open_rows": rows}


def measure_flood(folder: Path, tasks: int, nice: int, gaps_at: "list | None" = None, show=None) -> dict:
    """The flood's figures; ``gaps_at`` (for a diagnosis) gets (time.monotonic() at its end, ms) of each gap.
    ``show(context)``, if given, makes the page shown instead of the Tasks page (which is built
    all the same, hidden, as the window builds it); ``shown_page`` in the figures is its class."""
    from celerydesk.core.commands import redis_server_binary
    from celerydesk.core.history.queries import HistoryReader, TaskFilter
    from celerydesk.core.ports import free_port
    from celerydesk.core.priority import niced_argv
    from celerydesk.ui.collector import tune_collector

    app = _app()
    from PySide6.QtCore import QElapsedTimer, QTimer

    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    env = {**os.environ, "CELERY_BROKER_URL": url, "PYTHONUNBUFFERED": "1"}
    logs = folder / "flood-logs"
    logs.mkdir(exist_ok=True)
    children = []

    def spawn(argv, log, **kwargs):
        proc = subprocess.Popen(argv, env=env, stdout=open(logs / log, "w"), stderr=subprocess.STDOUT,
                                start_new_session=True, cwd=logs, **kwargs)
        children.append(proc)
        return proc

    try:
        spawn([str(redis_server_binary()), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
               "no"], "redis.log")
        path = workspace_on(folder, url)
        stack, context, page = _page(path)
        shown = page
        if show is not None:
            shown = show(context)
            shown.resize(1280, 800)
        shown.show()
        tune_collector()
        worker = spawn(niced_argv([sys.executable, "-m", "celery", "-A", "celerydesk.sample", "worker", "-E", "-c", "2",
                                   "-n", "bench@%h", "-l", "warning", "--without-mingle", "--without-gossip"], nice),
                       "worker.log")
        if nice:
            set_session_nice_patiently(worker.pid, nice)
        deadline = time.monotonic() + 60
        while not (page.monitor.store.workers and page.uses_history()) and time.monotonic() < deadline:
            app.processEvents()
            time.sleep(0.05)
        assert page.monitor.store.workers and page.uses_history(), "no worker heartbeat, or no history"
        time.sleep(1)
        ticker, clock, gaps = QTimer(interval=10), QElapsedTimer(), []
        def tick():
            gaps.append(clock.restart())
            if gaps_at is not None:
                gaps_at.append((time.monotonic(), gaps[-1]))

        ticker.timeout.connect(tick)
        started_at = time.time()
        started = time.monotonic()
        cpu0 = time.process_time()
        page.monitor.longest_flush_ms = 0.0
        sender = subprocess.Popen([sys.executable, "-c", SENDER, str(tasks)], env=env, cwd=logs,
                                  start_new_session=True)
        children.append(sender)
        ticker.start()
        clock.restart()
        check = QTimer(interval=200)
        give_up = time.monotonic() + 900
        check.timeout.connect(lambda: (page.monitor.store.counts.get("task-succeeded", 0) >= tasks
                                       or time.monotonic() > give_up) and app.quit())
        check.start()
        app.exec()
        check.stop()
        ticker.stop()
        seconds = time.monotonic() - started
        cpu = time.process_time() - cpu0
        context.history.recorder.flush(60)
        rows_shown, seen = page.model.rowCount(), page.monitor.store.counts.get("task-succeeded", 0)
        if shown is not page:
            shown.deleteLater()
        _close(stack, context, page)
        app.processEvents()
        reader = HistoryReader(folder / ".celerydesk")
        try:
            recorded = reader.count(TaskFilter(names=(NOOP,), states=("SUCCESS",), since=started_at - 5))
        finally:
            reader.close()
        return {
            "flood_tasks": tasks,
            "flood_recorded": recorded,
            "flood_seen_by_monitor": seen,
            "max_stall_ms": max(gaps),
            "stalls_over_ms": {str(ms): sum(gap > ms for gap in gaps) for ms in (20, 30, 50)},
            "longest_gaps": [[gap, round(ended / 1000, 1)]
                             for gap, ended in sorted(zip(gaps, itertools.accumulate(gaps)))[-3:][::-1]],
            "flood_desk_cpu_s": round(cpu, 2),
            "flood_rows_shown": rows_shown,
            "shown_page": type(shown).__name__,
            "flood_seconds": round(seconds, 1),
            "worker_nice": nice,
        }
    finally:
        stop_groups(children)

