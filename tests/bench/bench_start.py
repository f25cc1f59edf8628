"""Benchmark: `celerydesk up` to "stack ready", against the same four programs started by hand.

The baseline is what a developer does with four terminals: redis-server, wait for PING; the
worker, wait for "ready."; beat, wait for "beat: Starting..."; Flower, wait for /healthcheck.
Both sides run the very same command lines (built by celerydesk.core.commands), so the only
difference measured is celerydesk's ordering (workers, beat and Flower in parallel) and its
own overhead. Prints one JSON line: medians of RUNS pairs of runs, and the median of the pairs'
ratios. Each pair runs back to back, in alternating order; this machine's speed drifts by 2x
over minutes (other tenants), so a pair sees one speed and its ratio is the steadier figure:
the goal is checked on it.

    .venv/bin/python tests/bench/bench_start.py
"""

from __future__ import annotations

import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from celerydesk.core import commands, schedule_mirror  # noqa: E402
from celerydesk.core.broker_errors import answers  # noqa: E402
from celerydesk.core.runtime import Runtime  # noqa: E402
from celerydesk.core.workspace import load_workspace  # noqa: E402
from celerydesk.services.probes import http_ok  # noqa: E402
from tests.helpers.stack import UpProcess, write_workspace  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "3"))


def desk_once(folder: Path) -> float:
    start = time.monotonic()
    up = UpProcess(write_workspace(folder))
    try:
        up.wait_for("stack ready", timeout=120)
        took = time.monotonic() - start
        up.signal(signal.SIGTERM)
        up.finish(timeout=60)
        return took
    finally:
        up.kill()


def _wait_line(proc: subprocess.Popen, pattern: str, timeout: float = 120) -> None:
    regex = re.compile(pattern)
    deadline = time.monotonic() + timeout
    for line in proc.stdout:
        if regex.search(line):
            return
        if time.monotonic() > deadline:
            break
    raise RuntimeError(f"{pattern!r} not seen")


def _wait(check, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError("timed out")
        time.sleep(0.02)


def sequential_once(folder: Path) -> float:
    ws = load_workspace(write_workspace(folder))
    runtime = Runtime(ws.runtime_dir).ensure()
    url = ws.broker_url()
    # What a developer's own beat would need anyway: its scheduler and schedules on disk.
    schedule_mirror.install_scheduler_module(runtime.dir)
    schedule_mirror.sync_mirror(ws.path, runtime.dir)
    specs = [commands.local_broker_spec(ws, runtime.redis_dir),
             commands.worker_spec(ws, ws.workers[0], url),
             commands.beat_spec(ws, url, runtime.dir),
             commands.flower_spec(ws, url, runtime.flower_credentials(), runtime.dir)]
    procs = []
    start = time.monotonic()
    try:
        for spec in specs:
            proc = subprocess.Popen(spec.argv, cwd=spec.cwd, env=spec.env, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True, start_new_session=True)
            procs.append(proc)
            if spec.readiness.kind == "redis":
                _wait(lambda: answers(url) is None)
            elif spec.readiness.kind == "http":
                _wait(lambda: http_ok(spec.readiness.url))
            else:
                _wait_line(proc, spec.readiness.pattern)
        return time.monotonic() - start
    finally:
        for proc in reversed(procs):
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def main() -> None:
    desk, sequential = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(RUNS):
            if i % 2 == 0:
                sequential.append(sequential_once(Path(tmp) / f"seq{i}"))
                desk.append(desk_once(Path(tmp) / f"desk{i}"))
            else:
                desk.append(desk_once(Path(tmp) / f"desk{i}"))
                sequential.append(sequential_once(Path(tmp) / f"seq{i}"))
    desk_s, sequential_s = statistics.median(desk), statistics.median(sequential)
    paired = statistics.median(d / s for d, s in zip(desk, sequential))
    print(json.dumps({
        "bench": "start",
        "runs": RUNS,
        "desk_s": round(desk_s, 3),
        "sequential_s": round(sequential_s, 3),
        "ratio": round(desk_s / sequential_s, 3),
        "paired_ratio": round(paired, 3),
        "goal": "desk_s <= 0.8 * sequential_s (median of paired ratios)",
        "met": paired <= 0.8,
        "desk_runs": [round(x, 3) for x in desk],
        "sequential_runs": [round(x, 3) for x in sequential],
    }))


if __name__ == "__main__":
    main()
