"""Benchmark: the launcher's "send N copies" against a bare ``apply_async`` loop, same broker.

The baseline is what a developer writes by hand: one Celery client, one shared producer, a
loop of ``apply_async``. The launcher sends the same number of messages off the GUI thread
while a 5 ms QTimer on the Qt thread records the longest gap between its ticks (a stalled
event loop is a frozen window). A real local redis-server on a free port; no worker (the
messages only need to reach the queue). Runs alternate, medians reported; one JSON line.

    .venv/bin/python tests/bench/bench_enqueue.py        # BENCH_TASKS=10000 BENCH_RUNS=5
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QCoreApplication, QElapsedTimer, QEventLoop, QTimer  # noqa: E402

from tests.helpers.redis_server import start_redis_server  # noqa: E402

TASKS = max(10_000, int(os.environ.get("BENCH_TASKS", "10000")))
RUNS = int(os.environ.get("BENCH_RUNS", "5"))
TICK_MS = 5
NAME = "bench.noop"


def loop_once(url: str) -> float:
    """Tasks per second of a hand-written loop with a shared producer (the baseline)."""
    from celery import Celery

    app = Celery("bench-loop", broker=url, set_as_current=False)
    app.conf.update(task_serializer="json", accept_content=["json"])

    @app.task(name=NAME)
    def noop():
        return None

    start = time.perf_counter()
    with app.producer_or_acquire() as producer:
        for _ in range(TASKS):
            noop.apply_async(producer=producer)
    return TASKS / (time.perf_counter() - start)


class GapMeter:
    """A QTimer every TICK_MS on the Qt thread; ``worst`` is the longest gap between two ticks."""

    def __init__(self):
        self.clock = QElapsedTimer()
        self.timer = QTimer(interval=TICK_MS)
        self.timer.timeout.connect(self._tick)
        self.last = self.worst = 0

    def start(self) -> None:
        self.clock.start()
        self.last = self.worst = 0
        self.timer.start()

    def stop(self) -> float:
        self._tick()
        self.timer.stop()
        return float(self.worst)

    def _tick(self) -> None:
        now = self.clock.elapsed()
        self.worst = max(self.worst, now - self.last)
        self.last = now


def idle_gap(seconds: float = 1.0) -> float:
    """The longest gap with nothing to do: what the shared machine alone costs the event loop."""
    meter, loop = GapMeter(), QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    meter.start()
    loop.exec()
    return meter.stop()


def desk_once(url: str) -> tuple[float, float]:
    """(tasks per second, longest event-loop gap in ms) of the launcher's N copies."""
    from celerydesk.core.broker_client import BrokerClient, SendOptions
    from celerydesk.services.broker import BrokerService
    from celerydesk.services.launcher import Launcher

    launcher = Launcher(BrokerService(BrokerClient(url)))
    loop, meter = QEventLoop(), GapMeter()
    done: list = []
    launcher.finished.connect(done.append)
    launcher.finished.connect(loop.quit)
    meter.start()
    start = time.perf_counter()
    launcher.send(NAME, [], {}, SendOptions(copies=TASKS))
    loop.exec()
    took = time.perf_counter() - start  # from the click to the result on the Qt thread
    stall = meter.stop()
    launch = done[0]
    assert launch.ok and len(launch.ids) == TASKS, launch.error
    launcher.deleteLater()
    return TASKS / took, stall


def main() -> None:
    import redis

    app = QCoreApplication.instance() or QCoreApplication(sys.argv)  # noqa: F841 (kept alive)
    with tempfile.TemporaryDirectory() as folder:
        proc, url = start_redis_server(folder)
        client = redis.Redis.from_url(url)
        try:
            desk, loop, stalls, idle = [], [], [], []
            for run in range(RUNS):
                # Alternating, and which goes first alternates too: the machine is shared, and
                # a noisy neighbour (or a warm Redis) must not favour one side.
                for side in (("loop", "desk") if run % 2 == 0 else ("desk", "loop")):
                    client.flushdb()
                    if side == "loop":
                        loop.append(loop_once(url))
                    else:
                        idle.append(idle_gap())
                        rate, stall = desk_once(url)
                        desk.append(rate)
                        stalls.append(stall)
                    assert client.llen("celery") == TASKS
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(10)
    desk_rate, loop_rate, max_stall = statistics.median(desk), statistics.median(loop), max(stalls)
    print(json.dumps({
        "bench": "enqueue",
        "tasks": TASKS,
        "runs": RUNS,
        "desk_per_s": round(desk_rate),
        "apply_async_loop_per_s": round(loop_rate),
        "desk_over_loop": round(desk_rate / loop_rate, 3),
        "max_stall_ms": max_stall,
        "stalls_ms": stalls,
        # the same timer with nothing to do, just before each desk run: the machine's own noise
        "idle_max_gap_ms": max(idle),
        "tick_ms": TICK_MS,
        "goals_met": {
            "tasks_at_least_10000": TASKS >= 10_000,
            "desk_at_least_0.9_loop": desk_rate >= 0.9 * loop_rate,
            "stall_at_most_50_ms": max_stall <= 50,
        },
    }))


if __name__ == "__main__":
    main()
