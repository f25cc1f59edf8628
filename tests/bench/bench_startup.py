"""Benchmark: process start to the main window's first paint, against a bare PySide6 window.

Each side is a fresh interpreter (the parent passes its own clock reading as the start); the
child prints the wall time at which its window received its first paint event. celerydesk
opens the sample workspace, stack not started. Both run on the offscreen platform (or the
X server in $DISPLAY with BENCH_PLATFORM=xcb). Prints one JSON line; medians of RUNS runs.

    .venv/bin/python tests/bench/bench_startup.py
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

RUNS = int(os.environ.get("BENCH_RUNS", "5"))

CHILD = r"""
import os, sys, time
start = float(os.environ["BENCH_START"])
from PySide6.QtCore import QEvent, QObject, QTimer

class FirstPaint(QObject):
    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.Paint:
            print("PAINT", time.time() - start, flush=True)
            os._exit(0)
        return False

if sys.argv[1] == "desk":
    from celerydesk.ui.app import DeskApplication, create_application
    from celerydesk.core.paths import sample_workspace_path
    from celerydesk.core.workspace import load_workspace
    app = create_application()
    desk = DeskApplication(app)
    window = desk.open(load_workspace(sample_workspace_path()))
else:
    from PySide6.QtWidgets import QApplication, QMainWindow
    app = QApplication([])
    window = QMainWindow()
    window.resize(1200, 800)
    window.show()
watcher = FirstPaint()
window.installEventFilter(watcher)
window.update()
QTimer.singleShot(30000, lambda: os._exit(3))
app.exec()
"""


def first_paint(kind: str, data_dir: str) -> float:
    env = {**os.environ, "BENCH_START": repr(time.time()), "CELERYDESK_DATA_DIR": data_dir,
           "XDG_CONFIG_HOME": data_dir, "QT_QPA_PLATFORM": os.environ.get("BENCH_PLATFORM", "offscreen"),
           "QTWEBENGINE_CHROMIUM_FLAGS": "--no-sandbox"}
    out = subprocess.run([sys.executable, "-c", CHILD, kind], env=env, capture_output=True, text=True, timeout=60)
    for line in out.stdout.splitlines():
        if line.startswith("PAINT "):
            return float(line.split()[1])
    raise RuntimeError(f"{kind}: no paint (exit {out.returncode}): {out.stderr[-2000:]}")


def main() -> None:
    desk, bare = [], []
    with tempfile.TemporaryDirectory() as data_dir:
        first_paint("desk", data_dir)  # warm the disk cache and write the sample workspace once
        for _ in range(RUNS):
            bare.append(first_paint("bare", data_dir))
            desk.append(first_paint("desk", data_dir))
    desk_s, bare_s = statistics.median(desk), statistics.median(bare)
    print(json.dumps({
        "bench": "startup",
        "runs": RUNS,
        "desk_first_paint_s": round(desk_s, 3),
        "bare_qt_first_paint_s": round(bare_s, 3),
        "ratio": round(desk_s / bare_s, 3),
        "goal": "desk_first_paint_s <= 2 * bare_qt_first_paint_s",
        "met": desk_s <= 2 * bare_s,
        "desk_runs": [round(x, 3) for x in desk],
        "bare_runs": [round(x, 3) for x in bare],
    }))


if __name__ == "__main__":
    main()
