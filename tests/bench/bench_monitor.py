"""Bench: celerydesk's live monitor against Flower on the same burst of no-op tasks.

A real redis-server, a real prefork worker (-c 2, -E) and a Flower process are started; this
process runs the EventMonitor with its table model and view live (offscreen) while a separate
sender process pushes TASKS ``noop`` tasks with one shared producer. Sending happens in another
process so that this process's CPU time is the monitor's alone (consumer thread + GUI thread).

The worker runs at the CPU priority celerydesk gives the workers it starts (core/priority.py:
nice 5 by default, process and session; ``--nice 0`` for a worker started from a terminal).
Flower, the sender and Redis run at normal priority: a Flower of the user's own, their web app
and the broker.

Prints one JSON line: tasks, desk_succeeded, flower_succeeded (Flower's /metrics),
desk_cpu_s (this process while watching), desk_thread_cpu_s (the consumer thread's share),
flower_cpu_s (psutil on Flower's pid), max_stall_ms (the longest gap between 10 ms ticks of the
GUI event loop), stalls_over_ms (how many gaps were longer than 20, 30 and 50 ms: a maximum is
one sample, and on a noisy machine two runs compare better by their tails), longest_gaps (the
three longest, each with when it ended, in seconds into the run), longest_flush_ms
(the slowest batch the monitor applied, store and model: what of a stall is the monitor's own
work rather than the machine's scheduling), and seconds.
Run: .venv/bin/python tests/bench/bench_monitor.py [TASKS] [--nice N]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import psutil  # noqa: E402
from PySide6.QtCore import QElapsedTimer, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from celerydesk.core.commands import redis_server_binary  # noqa: E402
from celerydesk.core.ports import free_ports  # noqa: E402
from celerydesk.core.priority import DEFAULT_NICE, niced_argv, set_session_nice  # noqa: E402
from celerydesk.services.event_monitor import EventMonitor  # noqa: E402
from celerydesk.ui.collector import tune_collector  # noqa: E402
from celerydesk.ui.task_table import QtTaskTableView, TaskTableModel  # noqa: E402

NOOP = "celerydesk.sample.tasks.noop"
SENDER = """
import sys
from celerydesk.sample.celery_app import app
n = int(sys.argv[1])
with app.producer_or_acquire() as producer:
    for _ in range(n):
        app.send_task(%r, producer=producer)
""" % NOOP


def wait_until(predicate, timeout: float, step: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


def flower_succeeded(port: int) -> int:
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    except OSError:
        return -1
    total = 0.0
    for line in text.splitlines():
        if line.startswith("flower_events_total{") and 'type="task-succeeded"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return int(total)


def set_session_nice_patiently(pid: int, nice: int) -> None:
    """As ManagedProcess does: the kernel allows one change per 100 ms without CAP_SYS_ADMIN."""
    for _ in range(20):
        try:
            set_session_nice(pid, nice)
            return
        except BlockingIOError:
            time.sleep(0.11)
    raise RuntimeError(f"could not set the session nice of {pid}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("tasks", type=int, nargs="?", default=20_000)
    parser.add_argument("--nice", type=int, default=DEFAULT_NICE, choices=range(0, 20), metavar="0-19",
                        help="the worker's nice value (default: celerydesk's)")
    args = parser.parse_args()
    tasks = args.tasks
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-monitor-{os.getpid()}"
    tmp.mkdir(parents=True, exist_ok=True)
    redis_port, flower_port = free_ports(2)
    url = f"redis://127.0.0.1:{redis_port}/0"
    env = {**os.environ, "CELERY_BROKER_URL": url, "PYTHONUNBUFFERED": "1"}
    children = []

    def spawn(argv, log):
        proc = subprocess.Popen(argv, env=env, stdout=open(tmp / log, "w"), stderr=subprocess.STDOUT,
                                start_new_session=True, cwd=tmp)
        children.append(proc)
        return proc

    try:
        spawn([str(redis_server_binary()), "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no"], "redis.log")
        import redis

        assert wait_until(lambda: _ping(redis, url), 10)
        worker = spawn(niced_argv([sys.executable, "-m", "celery", "-A", "celerydesk.sample", "worker", "-E", "-c", "2",
                                   "-n", "bench@%h", "-l", "warning", "--without-mingle", "--without-gossip"],
                                  args.nice), "worker.log")
        if args.nice:
            set_session_nice_patiently(worker.pid, args.nice)
        flower = spawn([sys.executable, "-m", "celery", "--broker", url, "flower", "--address=127.0.0.1",
                        f"--port={flower_port}"], "flower.log")
        assert wait_until(lambda: flower_succeeded(flower_port) >= 0, 30), "flower did not answer"

        app = QApplication.instance() or QApplication([])
        monitor = EventMonitor(url, capacity=10_000)
        model = TaskTableModel(monitor)
        view = QtTaskTableView(model)  # QtTaskMonitor's table
        view.resize(1000, 600)
        view.show()
        tune_collector()  # as run_gui does once the window is built
        monitor.start()
        assert monitor.wait_connected(10), "monitor did not connect"
        # Wait for the worker's first heartbeat: it is up and the events reach both watchers.
        deadline = time.monotonic() + 60
        while not monitor.store.workers and time.monotonic() < deadline:
            app.processEvents()
            time.sleep(0.05)
        assert monitor.store.workers, "no worker heartbeat"
        time.sleep(2)  # Flower sees the same heartbeats; let it settle before measuring

        ticker, clock = QTimer(interval=10), QElapsedTimer()
        clock.start()
        gaps = []  # ms between ticks

        def tick():
            gaps.append(clock.restart())

        ticker.timeout.connect(tick)
        flower_ps = psutil.Process(flower.pid)
        flower_cpu0 = sum(flower_ps.cpu_times()[:2])
        desk_cpu0 = time.process_time()
        thread_cpu0 = monitor.consumer_cpu_s()
        started = time.monotonic()
        monitor.longest_flush_ms = 0.0
        # The sender is a program of its own (in use: the web app, a shell), in its own session
        # like the worker and Flower. With the kernel's autogroups (on by default) CPU is shared
        # between sessions first: in ours it would be taken from the desk's share, not theirs.
        sender = subprocess.Popen([sys.executable, "-c", SENDER, str(tasks)], env=env, cwd=tmp,
                                  start_new_session=True)
        children.append(sender)  # out of our session: stopped with the others if the bench fails
        ticker.start()
        clock.restart()
        # The GUI runs its own event loop, as in the window; a check every 200 ms ends it.
        check = QTimer(interval=200)
        give_up = time.monotonic() + 600
        check.timeout.connect(lambda: (monitor.store.counts.get("task-succeeded", 0) >= tasks
                                       or time.monotonic() > give_up) and app.quit())
        check.start()
        app.exec()
        check.stop()
        ticker.stop()
        seconds = time.monotonic() - started
        desk_cpu = time.process_time() - desk_cpu0
        thread_cpu = monitor.consumer_cpu_s() - thread_cpu0
        # Flower may lag behind: its CPU is read once it has counted them all (or gave up).
        wait_until(lambda: flower_succeeded(flower_port) >= tasks, 120, step=1.0)
        flower_cpu = sum(flower_ps.cpu_times()[:2]) - flower_cpu0
        sender.wait(60)
        monitor.stop()
        print(json.dumps({
            "tasks": tasks,
            "worker_nice": args.nice,
            "desk_succeeded": monitor.store.counts.get("task-succeeded", 0),
            "flower_succeeded": flower_succeeded(flower_port),
            "desk_cpu_s": round(desk_cpu, 2),
            "desk_thread_cpu_s": round(thread_cpu, 2),
            "flower_cpu_s": round(flower_cpu, 2),
            "cpu_ratio": round(desk_cpu / flower_cpu, 3) if flower_cpu else None,
            "max_stall_ms": max(gaps),
            "stalls_over_ms": {str(ms): sum(gap > ms for gap in gaps) for ms in (20, 30, 50)},
            # [ms, s into the run when it ended]: early gaps are the sender's start-up, say
            "longest_gaps": [[gap, round(ended / 1000, 1)]
                             for gap, ended in sorted(zip(gaps, itertools.accumulate(gaps)))[-3:][::-1]],
            "longest_flush_ms": round(monitor.longest_flush_ms, 1),  # how much of a stall is our own work
            "rows_kept": len(monitor.store.tasks),
            "seconds": round(seconds, 1),
        }))
    finally:
        stop_groups(children)


def stop_groups(children: list) -> None:
    """Stop each child's process group (each runs in a session of its own), the last started first."""
    for proc in reversed(children):
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _ping(redis, url) -> bool:
    try:
        return redis.Redis.from_url(url).ping()
    except redis.ConnectionError:
        return False


if __name__ == "__main__":
    main()
