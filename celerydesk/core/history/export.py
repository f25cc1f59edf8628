"""Tasks of the history as JSON objects and CSV rows, with times in ISO 8601 UTC.

One shape for ``celerydesk history --json``, ``history show --json`` and ``history export``
(and for any program reading them): ``args``/``kwargs``/``result`` are the reprs celery's
events carried (cut at 1,024 characters); ``args_json``/``kwargs_json`` the exact arguments,
as JSON values, when celerydesk sent the task (else null). Times are ISO 8601 in UTC, or null;
``runtime`` and ``wait`` (received to started) are seconds.
"""

from __future__ import annotations

import csv
import json
from datetime import datetime, timezone
from typing import IO, Iterable, Optional

FIELDS = ("id", "name", "state", "args", "kwargs", "args_json", "kwargs_json", "sent_by", "result", "exception",
          "traceback", "worker", "queue", "routing_key", "retries", "parent_id", "root_id", "eta", "expires",
          "sent_at", "received_at", "started_at", "finished_at", "runtime", "wait")
TIMES = frozenset({"eta", "expires", "sent_at", "received_at", "started_at", "finished_at", "seen_at", "at"})


def iso(seconds: Optional[float]) -> Optional[str]:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="microseconds")


def task_object(row: dict) -> dict:
    """A stored row (``HistoryReader`` dict) as the JSON object the CLI prints."""
    out = {}
    for key in FIELDS:
        value = row.get(key)
        if key in TIMES:
            value = iso(value)
        elif key in ("args_json", "kwargs_json") and value is not None:
            value = json.loads(value)
        out[key] = value
    return out


def timeline_objects(timeline: Iterable[tuple[float, str]]) -> list[dict]:
    return [{"state": state, "at": iso(at)} for at, state in timeline]


def write_json(rows: Iterable[dict], out: IO[str]) -> int:
    """A JSON array of task objects, written as it is read (a million tasks never sit in memory)."""
    count = 0
    out.write("[")
    for row in rows:
        out.write(",\n" if count else "\n")
        out.write(json.dumps(task_object(row), ensure_ascii=False))
        count += 1
    out.write("\n]\n" if count else "]\n")
    return count


def write_csv(rows: Iterable[dict], out: IO[str]) -> int:
    """One line per task, the same fields; the exact arguments as JSON text."""
    writer = csv.writer(out)
    writer.writerow(FIELDS)
    count = 0
    for row in rows:
        obj = task_object(row)
        for key in ("args_json", "kwargs_json"):
            if obj[key] is not None:
                obj[key] = json.dumps(obj[key], ensure_ascii=False)
        writer.writerow(["" if obj[k] is None else obj[k] for k in FIELDS])
        count += 1
    return count
