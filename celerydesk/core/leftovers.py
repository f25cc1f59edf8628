"""What a celerydesk that died left behind, found from the runtime record and cleaned.

Only a process whose pid *and* create time match the record is ours: a pid alone may have
been recycled by an unrelated program since.
"""

from __future__ import annotations

import os
import signal
import time

import psutil

from celerydesk.core.reaper import same_process
from celerydesk.core.runtime import Runtime


def clean_leftover_processes(runtime: Runtime, grace: float = 3.0) -> list[str]:
    """Stop the recorded processes that still run; return one sentence per process cleaned."""
    records = runtime.read_records().get("processes", {})
    found: list[tuple[str, psutil.Process, int]] = []
    for key, rec in records.items():
        try:
            pid = int(rec["pid"])
            if same_process(pid, float(rec["create_time"])):
                found.append((key, psutil.Process(pid), int(rec.get("pgid", pid))))
        except (psutil.Error, KeyError, ValueError, TypeError):
            continue
    for _, proc, _ in found:
        try:
            proc.send_signal(signal.SIGTERM)  # the main process first: a worker's warm shutdown
        except psutil.Error:
            pass
    deadline = time.monotonic() + grace
    for _, proc, _ in found:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except psutil.Error:
            pass
    notes = []
    for key, proc, pgid in found:
        try:
            os.killpg(pgid, signal.SIGKILL)  # what is left of its group, pool children included
        except OSError:
            pass
        notes.append(f"stopped {key} (pid {proc.pid}) left running by a celerydesk that did not stop cleanly")
    if records:
        data = runtime.read_records()
        data["processes"] = {}
        try:
            runtime.write_records(data)
        except OSError:
            pass  # the stack says so when it writes the record; a stale one only costs a check
    return notes

