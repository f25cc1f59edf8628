"""Folding celery's task events, in whatever order they come, into a task's row and timeline.

A row is a dict of the ``tasks`` columns, with label texts (``name``, ``worker``, ``queue``,
``routing_key``) in place of their ids. Events come as celery's EventReceiver delivers them
(``type``, ``uuid``, ``timestamp``, ``hostname`` and the fields of each type), from several
workers' buffers and the sender: a ``task-succeeded`` may come before its ``task-received``.

Which event sets the state:

- SUCCESS, FAILURE and REVOKED are final: the first one seen stays.
- RETRY and REJECTED are ordered by time: a retried task (and a rejected one put back in the
  queue) is received and started again, later; a late event of an earlier attempt must not
  take it back.
- SENT, RECEIVED and STARTED only move forward (a late task-received never undoes STARTED).

Times: ``sent_at`` is the first send, ``received_at``/``started_at`` the latest attempt's (the
wait is that attempt's), ``finished_at`` when a final state was entered, ``seen_at`` the
earliest time of any event. Fields are merged, never overwritten with nothing.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from typing import Any, Optional

from celerydesk.core.task_store import (
    EVENT_STATES, FAILURE, FINISHED_STATES, PENDING, RECEIVED, REJECTED, RETRY, REVOKED, SENT,
    STARTED, STATE_RANK, SUCCESS,
)

STICKY_STATES = frozenset({SUCCESS, FAILURE, REVOKED})
TIME_ORDERED_STATES = frozenset({RETRY, REJECTED})
# Text fields copied from events when present; longer ones are cut (a traceback of a deep
# recursion can be megabytes; the start and the end say what happened).
_TEXT_FIELDS = ("name", "args", "kwargs", "result", "exception", "traceback", "parent_id", "root_id",
                "queue", "routing_key")
MAX_TEXT = 100_000
_TEXT_CUT = "\n… (cut by celerydesk) …\n"

COLUMNS = ("id", "name", "state", "state_at", "queue", "routing_key", "worker", "args", "kwargs",
           "args_json", "kwargs_json", "sent_by", "result", "exception", "traceback", "retries",
           "parent_id", "root_id", "eta", "expires", "seen_at", "sent_at", "received_at",
           "started_at", "finished_at", "runtime")


def new_row(task_id: str, at: float) -> dict:
    row = dict.fromkeys(COLUMNS)
    row["id"] = task_id
    row["state"] = PENDING
    row["seen_at"] = at
    return row


def event_time(event: dict, default: float) -> float:
    """The event's own time (the sender's clock), else when it was received, else ``default``."""
    for key in ("timestamp", "local_received"):
        value = event.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
    return default


def task_state(event: dict) -> Optional[str]:
    """The state a task event stands for; None for anything else (worker events, custom ones)."""
    return EVENT_STATES.get(event.get("type"))


def takes_over(current: str, current_at: Optional[float], new: str, new_at: float) -> bool:
    if current in STICKY_STATES:
        return False  # the first final state stays
    if current == PENDING or new in STICKY_STATES:
        return True
    if new in TIME_ORDERED_STATES or current in TIME_ORDERED_STATES:
        return current_at is None or new_at >= current_at
    return STATE_RANK[new] >= STATE_RANK[current]


def apply_event(row: dict, event: dict, state: str, at: float) -> None:
    """Merge one task event (of state ``state``, at time ``at``) into ``row``."""
    kind = event["type"]
    for key in _TEXT_FIELDS:
        value = event.get(key)
        if value is not None:
            row[key] = _text(value)
    retries = event.get("retries")
    if isinstance(retries, int) and not isinstance(retries, bool):
        row["retries"] = max(row["retries"] or 0, retries)
    for key in ("eta", "expires"):
        moment = parse_time(event.get(key))
        if moment is not None:
            row[key] = moment
    runtime = event.get("runtime")
    if isinstance(runtime, (int, float)) and not isinstance(runtime, bool) and math.isfinite(runtime):
        row["runtime"] = float(runtime)
    hostname = event.get("hostname")
    if hostname and kind != "task-sent":  # task-sent's hostname is the sender's, not a worker
        row["worker"] = _text(hostname)
    row["seen_at"] = min(row["seen_at"], at)
    if state == SENT:
        row["sent_at"] = at if row["sent_at"] is None else min(row["sent_at"], at)
    elif state == RECEIVED:
        row["received_at"] = at if row["received_at"] is None else max(row["received_at"], at)
    elif state == STARTED:
        row["started_at"] = at if row["started_at"] is None else max(row["started_at"], at)
    if takes_over(row["state"], row["state_at"], state, at):
        row["state"], row["state_at"] = state, at
    if row["state"] in FINISHED_STATES:
        row["finished_at"] = row["state_at"]
        if row["runtime"] is None and row["started_at"] is not None and row["state"] != REVOKED:
            row["runtime"] = max(0.0, row["finished_at"] - row["started_at"])
    else:
        row["finished_at"] = None


def apply_sent_record(row: dict, record: dict) -> None:
    """Merge what a celerydesk sender recorded (``sent.py``): the exact JSON arguments."""
    if "args" in record and "kwargs" in record:  # else the sender found them not JSON
        row["args_json"] = _json_text(record["args"])
        row["kwargs_json"] = _json_text(record["kwargs"])
    row["sent_by"] = _text(record.get("via")) if record.get("via") else row["sent_by"]
    for key in ("name", "queue"):
        if row[key] is None and record.get(key):
            row[key] = _text(record[key])
    at = record.get("at")
    if isinstance(at, (int, float)) and math.isfinite(at):
        row["seen_at"] = min(row["seen_at"], at)
        if row["sent_at"] is None:
            row["sent_at"] = float(at)
        if row["state"] == PENDING:  # celerydesk did send it, whether or not an event says so
            row["state"], row["state_at"] = SENT, float(at)


def parse_time(value: Any) -> Optional[float]:
    """Celery's eta/expires: an ISO 8601 string (naive means UTC, as celery sends), or a number."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return moment.timestamp()
    return None


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else str(value)
    if len(text) > MAX_TEXT:
        half = (MAX_TEXT - len(_TEXT_CUT)) // 2
        text = text[:half] + _TEXT_CUT + text[-half:]
    return text


def _json_text(value: Any) -> Optional[str]:
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return None  # not JSON: nothing exact to keep (a retry then says so)
