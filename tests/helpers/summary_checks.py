"""The dashboard's summary computed the slow way, straight from ``tasks`` and ``timeline``:
what ``task_minutes``, ``runtime_hours`` and ``runtime_minutes`` must always equal (zero rows left behind by a
task that moved or was pruned count as absent)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from celerydesk.core.history.summary import runtime_bucket


def direct_summary(path: Path) -> tuple[dict, dict, dict]:
    db = sqlite3.connect(path)
    try:
        minutes: dict = {}
        hours: dict = {}
        by_minute: dict = {}
        for finished_at, state, name_id, runtime, sent_at, received_at in db.execute(
                "SELECT finished_at, state, name_id, runtime, sent_at, received_at FROM tasks"):
            if finished_at is None or state not in ("SUCCESS", "FAILURE"):
                continue
            row = minutes.setdefault(int(finished_at // 60), [0, 0, 0, 0, 0.0])
            row[0 if state == "SUCCESS" else 1] += 1
            if sent_at is not None and received_at is not None:
                row[3] += 1
                row[4] += max(0.0, received_at - sent_at)
            if runtime is not None:
                key = (int(finished_at // 3600), name_id or 0, runtime_bucket(runtime))
                hours[key] = hours.get(key, 0) + 1
                key = (int(finished_at // 60), name_id or 0, runtime_bucket(runtime))
                by_minute[key] = by_minute.get(key, 0) + 1
        for (at,) in db.execute("SELECT at FROM timeline WHERE state = 'RETRY'"):
            minutes.setdefault(int(at // 60), [0, 0, 0, 0, 0.0])[2] += 1
        return _rounded(minutes), hours, by_minute
    finally:
        db.close()


def stored_summary(path: Path) -> tuple[dict, dict, dict]:
    db = sqlite3.connect(path)
    try:
        minutes = {m: [s, f, r, w, ws] for m, s, f, r, w, ws in db.execute(
            "SELECT minute, succeeded, failed, retried, waited, wait_sum FROM task_minutes")
            if (s, f, r, w) != (0, 0, 0, 0)}
        hours = {(h, n, b): c for h, n, b, c in db.execute("SELECT hour, name_id, bucket, n FROM runtime_hours")
                 if c}
        by_minute = {(m, n, b): c for m, n, b, c in db.execute(
            "SELECT minute, name_id, bucket, n FROM runtime_minutes") if c}
        return _rounded(minutes), hours, by_minute
    finally:
        db.close()


def _rounded(minutes: dict) -> dict:
    return {m: (*row[:4], round(row[4], 6)) for m, row in minutes.items()}
