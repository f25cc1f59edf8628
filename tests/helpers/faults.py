"""For the fault-injection suite: what `up` started, what is left of it, and a client to send with."""

from __future__ import annotations

import os
import re
import time
from typing import Callable, Iterable

PID_RE = re.compile(r"RUNNING \(pid (\d+)\)")


def started_pids(lines: Iterable[str]) -> set[int]:
    """Every main process `up` reported RUNNING (each also leads its own process group)."""
    return {int(m.group(1)) for line in lines for m in PID_RE.finditer(line)}


def left_running(pids: set[int]) -> list[str]:
    """Live processes among ``pids`` or in their process groups (pool children included)."""
    import psutil

    left = []
    for proc in psutil.process_iter(["pid", "status", "cmdline"]):
        try:
            group = os.getpgid(proc.pid)
        except OSError:
            continue
        if (proc.pid in pids or group in pids) and proc.info["status"] != psutil.STATUS_ZOMBIE:
            left.append(f"{proc.pid} (group {group}): {' '.join(proc.info['cmdline'] or [])[:120]}")
    return left


def wait_until(condition: Callable[[], object], timeout: float, what: str, every: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g} s: {what}")
        time.sleep(every)


def client(url: str):
    from celery import Celery

    return Celery("celerydesk-faults", broker=url, backend=url, set_as_current=False)


def unfinished(app, ids: list[str]) -> dict[str, str]:
    """Task ids whose result is not SUCCESS yet, with their state (a broker down reads as its error)."""
    out = {}
    for task_id in ids:
        try:
            state = app.AsyncResult(task_id).state
        except Exception as exc:  # the backend (the same Redis) is restarting
            state = type(exc).__name__
        if state != "SUCCESS":
            out[task_id] = state
    return out
