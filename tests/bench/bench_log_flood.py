"""Benchmark: a million worker-style log lines into the log pane, against a per-line text view.

A real child process writes LINES celery-worker-style lines (task ids, ANSI colours, tracebacks)
as fast as it can. It runs as the ``worker-main`` service of a real StackController (its
ManagedProcess, log file and ``linesReceived`` relay), with only the argv of the worker spec
replaced by the flood script, so every line takes the production path into a shown
QtLogsWidget (offscreen, 1200x700) with its event loop running. Figures, all from this run:

- ``app_lines_per_s``: lines parsed and appended to the worker pane's model, over wall time;
- ``naive_lines_per_s``: the same script (NAIVE_LINES lines) through the same path into a
  shown QPlainTextEdit, one ``appendPlainText`` per line;
- ``raw_lines_per_s``: the same script writing to /dev/null;
- ``pipeline_lines_per_s``: the same path with an empty slot and no view: ManagedProcess's own
  ceiling, which bounds the app figure;
- ``max_stall_ms``: the longest gap between ticks of a 5 ms timer during the app flood (from
  its first lines), ``max_stall_cpu_ms`` the CPU this process used in that gap (far less than
  the gap: it was waiting for a CPU, on a busy machine), and ``full_gc_runs``/``max_full_gc_ms``:
  Python's full collections in that time, the usual cause of the longest busy gaps;
- ``rss_growth_mb``: the most the resident memory grew during the app flood.

    .venv/bin/python tests/bench/bench_log_flood.py
    (BENCH_LINES, BENCH_NAIVE_LINES, BENCH_UNBUFFERED=1, BENCH_GC_FREEZE=1: see below)
"""

from __future__ import annotations

import dataclasses
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import psutil  # noqa: E402
from PySide6.QtCore import QElapsedTimer, QEventLoop, Qt, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication, QPlainTextEdit  # noqa: E402

from celerydesk.core.workspace import load_workspace  # noqa: E402
from celerydesk.services.stack import StackController  # noqa: E402
from celerydesk.ui.log_view import QtLogsWidget  # noqa: E402
from tests.helpers.stack import write_workspace  # noqa: E402

LINES = int(os.environ.get("BENCH_LINES", "1000000"))
NAIVE_LINES = int(os.environ.get("BENCH_NAIVE_LINES", "100000"))
KEY = "worker-main"
# Block-buffered, "as fast as it can"; BENCH_UNBUFFERED=1 makes every line its own write, as a
# celery worker's logging does (celerydesk starts workers with PYTHONUNBUFFERED=1).
CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
if os.environ.get("BENCH_UNBUFFERED"):
    CHILD_ENV["PYTHONUNBUFFERED"] = "1"
# BENCH_GC_FREEZE=1: gc.freeze() before the flood, as the app could at start-up (a full
# collection in a PySide process takes ~30 ms: it is most of the longest stalls).
GC_FREEZE = bool(os.environ.get("BENCH_GC_FREEZE"))

# Prints exactly N lines. The first is the worker's "ready." line (its readiness pattern);
# 1 in 20 is a coloured warning, 1 in 20 a coloured error followed by a two-line traceback.
FLOOD = r'''
import sys, uuid
n = int(sys.argv[1])
w = sys.stdout.write
ids = [str(uuid.uuid4()) for _ in range(256)]
w("[2026-11-25 12:00:00,000: INFO/MainProcess] main@bench ready.\n")
for i in range(1, n):
    tid = ids[i & 255]
    r = i % 20
    ts = f"2026-11-25 12:{(i // 60000) % 60:02d}:{(i // 1000) % 60:02d},{i % 1000:03d}"
    if r < 8:
        w(f"[{ts}: INFO/MainProcess] Task playground.tasks.notify_customers[{tid}] received\n")
    elif r < 16:
        w(f"[{ts}: INFO/ForkPoolWorker-{r % 2 + 1}] Task playground.tasks.notify_customers[{tid}] succeeded in 0.00{r}s: None\n")
    elif r == 16:
        w(f"\x1b[33m[{ts}: WARNING/ForkPoolWorker-1] playground.tasks.process_video[{tid}]: slow frame {i}\x1b[0m\n")
    elif r == 17:
        w(f"\x1b[1;31m[{ts}: ERROR/ForkPoolWorker-2] Task playground.tasks.process_video[{tid}] raised unexpected: ValueError('bad frame {i}')\x1b[0m\n")
    elif r == 18:
        w("Traceback (most recent call last):\n")
    else:
        w(f'  File "/app/playground/tasks.py", line {i % 90}, in process_video\n')
'''


def flood_stack(folder: Path, lines: int) -> StackController:
    """A real stack whose worker-main service runs the flood script instead of celery."""
    ws = load_workspace(write_workspace(folder, beat=False, flower=False))
    stack = StackController(ws)
    proc = stack.services[KEY]
    proc.spec = dataclasses.replace(proc.spec, argv=[sys.executable, "-c", FLOOD, str(lines)],
                                    cwd=folder, env=CHILD_ENV)
    return stack


def run_until(done, timeout_s: float = 600.0) -> None:
    """Run the event loop until ``done()``, looked at every 10 ms (a negligible timer)."""
    loop = QEventLoop()
    deadline = time.monotonic() + timeout_s

    def check() -> None:
        if done() or time.monotonic() > deadline:
            loop.quit()

    poll = QTimer(interval=10)
    poll.timeout.connect(check)
    poll.start()
    loop.exec()
    poll.stop()
    if not done():
        raise RuntimeError("the flood did not finish")


def bench_app(app: QApplication, folder: Path) -> dict:
    stack = flood_stack(folder, LINES)
    logs = QtLogsWidget(stack)
    logs.resize(1200, 700)
    logs.show()
    logs.show_service(KEY)
    model = logs.feed.model(KEY)
    app.processEvents()
    target = model.appended_total + 1 + LINES  # celerydesk's "starting" line, then every flood line
    me = psutil.Process()
    rss0 = peak = me.memory_info().rss
    ticks = {"max_gap_ms": 0.0, "gap_cpu_ms": 0.0, "n": 0, "cpu": 0.0}
    clock = QElapsedTimer()
    timer = QTimer(interval=5, timerType=Qt.TimerType.PreciseTimer)

    def tick() -> None:
        nonlocal peak
        gap = clock.nsecsElapsed() / 1e6
        clock.restart()
        cpu_now = time.process_time()
        if gap > ticks["max_gap_ms"]:
            ticks["max_gap_ms"] = gap
            ticks["gap_cpu_ms"] = (cpu_now - ticks["cpu"]) * 1000
        ticks["cpu"] = cpu_now
        ticks["n"] += 1
        if ticks["n"] % 20 == 0:
            peak = max(peak, me.memory_info().rss)

    def flood_began(_lines: int) -> None:
        # Stalls count from the first lines on: spawning the child is not the pane's doing.
        logs.feed.flushed.disconnect(flood_began)
        clock.start()
        ticks["cpu"] = time.process_time()
        timer.start()

    gc_pauses: list[float] = []
    gc_began = [0.0]

    def on_gc(phase: str, info: dict) -> None:
        if info["generation"] == 2:
            if phase == "start":
                gc_began[0] = time.perf_counter()
            else:
                gc_pauses.append(time.perf_counter() - gc_began[0])

    timer.timeout.connect(tick)
    logs.feed.flushed.connect(flood_began)
    if GC_FREEZE:
        gc.freeze()  # what an app can do once started: full collections skip what existed then
    gc.callbacks.append(on_gc)
    cpu0, start = time.process_time(), time.perf_counter()
    stack.services[KEY].start()
    run_until(lambda: model.appended_total >= target)
    took = time.perf_counter() - start
    cpu = time.process_time() - cpu0
    timer.stop()
    gc.callbacks.remove(on_gc)
    gc.unfreeze()
    peak = max(peak, me.memory_info().rss)
    figures = {
        "app_lines_per_s": round(LINES / took),
        "app_s": round(took, 2),
        "app_cpu_s": round(cpu, 2),
        "max_stall_ms": round(ticks["max_gap_ms"], 1),
        "max_stall_cpu_ms": round(ticks["gap_cpu_ms"], 1),
        "full_gc_runs": len(gc_pauses),
        "max_full_gc_ms": round(max(gc_pauses, default=0.0) * 1000, 1),
        "rss_growth_mb": round((peak - rss0) / 2**20, 1),
        "rows_in_pane": model.rowCount(),
        "capacity": model.capacity,
    }
    stop(app, stack)
    logs.close()
    return figures


def bench_naive(app: QApplication, folder: Path) -> float:
    stack = flood_stack(folder, NAIVE_LINES)
    edit = QPlainTextEdit()
    edit.setReadOnly(True)
    edit.resize(1200, 700)
    edit.show()
    count = [0]

    def append(key: str, entries: list) -> None:
        for text, _channel in entries:
            edit.appendPlainText(text)
        count[0] += len(entries)

    stack.linesReceived.connect(append)
    start = time.perf_counter()
    stack.services[KEY].start()
    run_until(lambda: count[0] >= NAIVE_LINES + 1)
    took = time.perf_counter() - start
    stop(app, stack)
    edit.close()
    return NAIVE_LINES / took


def bench_pipeline(app: QApplication, folder: Path) -> dict:
    """ManagedProcess and the controller's relay alone: the ceiling any view can reach."""
    stack = flood_stack(folder, LINES)
    seen = {"lines": 0, "chunks": 0}

    def count(key: str, entries: list) -> None:
        seen["lines"] += len(entries)
        seen["chunks"] += 1

    stack.linesReceived.connect(count)
    start = time.perf_counter()
    stack.services[KEY].start()
    run_until(lambda: seen["lines"] >= LINES + 1)
    took = time.perf_counter() - start
    stop(app, stack)
    return {"pipeline_lines_per_s": round(LINES / took), "lines_per_chunk": round(seen["lines"] / seen["chunks"], 1)}


def stop(app: QApplication, stack: StackController) -> None:
    proc = stack.services[KEY]
    run_until(lambda: proc.pid is None, timeout_s=60)  # the flood exits by itself


def bench_raw(folder: Path) -> float:
    start = time.perf_counter()
    with open(os.devnull, "w") as devnull:
        subprocess.run([sys.executable, "-c", FLOOD, str(LINES)], stdout=devnull, check=True, cwd=folder,
                       env=CHILD_ENV)
    return LINES / (time.perf_counter() - start)


def main() -> None:
    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        figures = bench_app(app, tmp / "app")
        naive = bench_naive(app, tmp / "naive")
        pipeline = bench_pipeline(app, tmp / "pipeline")
        raw = bench_raw(tmp)
    app_rate = figures["app_lines_per_s"]
    print(json.dumps({
        "bench": "log_flood",
        "lines": LINES,
        "naive_lines": NAIVE_LINES,
        **figures,
        "naive_lines_per_s": round(naive),
        "raw_lines_per_s": round(raw),
        **pipeline,
        "app_vs_naive": round(app_rate / naive, 1),
        "app_vs_raw": round(app_rate / raw, 3),
        "goals_met": {
            "app_ge_15x_naive": app_rate >= 15 * naive,
            "app_ge_0.25x_raw": app_rate >= 0.25 * raw,
            "stall_le_50ms": figures["max_stall_ms"] <= 50,
            "rss_growth_le_150mb": figures["rss_growth_mb"] <= 150,
        },
        "child_unbuffered": "PYTHONUNBUFFERED" in CHILD_ENV,
        "gc_frozen": GC_FREEZE,
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }))


if __name__ == "__main__":
    main()
