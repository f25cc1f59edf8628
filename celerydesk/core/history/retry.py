"""Retrying and revoking tasks of the history: one, or every task matching a filter.

A retry sends a task again by name, to the queue it went to, with its exact arguments
(``arguments.exact_arguments``: the history's JSON, the result backend, a complete repr) or
not at all: each task that cannot be sent exactly is refused with its reason, and the others
still go. The window (Retry, and Retry all matching) and ``celerydesk retry`` use these
functions, with a ``BrokerClient``; the history's rows are read by the caller (one reader per
thread).

The result backend is read where the app keeps arguments there (``result_extended``): the
workspace's ``CELERY_RESULT_BACKEND`` if its environment sets one, else the broker, the stack's
Redis (as the sample app has it). Only Redis is read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Iterable, Optional

from celerydesk.core.errors import DeskError
from celerydesk.core.history.arguments import Exact, NotExact, backend_arguments, exact_arguments
from celerydesk.core.task_store import FINISHED_STATES

REVOKE_CHUNK = 500  # ids per revoke broadcast


def result_backend_url(ws) -> Optional[str]:
    """The Redis result backend the workspace's tasks keep their results (and arguments) in."""
    url = ws.project.env.get("CELERY_RESULT_BACKEND") or ws.broker_url()
    return url if url.startswith(("redis://", "rediss://")) else None


class KeptArguments:
    """The arguments a Redis result backend keeps, read for many tasks with one connection.
    A backend that cannot be read is tried once; ``lookup`` then raises what went wrong."""

    def __init__(self, url: Optional[str]):
        self.url = url
        self.error: Optional[DeskError] = None
        self._client = None
        self._found: dict = {}
        self._asked: set = set()

    def read(self, task_ids: list[str]) -> None:
        """Read these tasks' metas at once (a bulk retry); ``lookup`` then answers from them."""
        task_ids = [i for i in task_ids if i not in self._asked]
        if not self.url or self.error is not None or not task_ids:
            return
        self._asked.update(task_ids)
        try:
            if self._client is None:
                import redis

                self._client = redis.Redis.from_url(self.url, socket_timeout=3, socket_connect_timeout=3)
            self._found.update(backend_arguments(self._client, task_ids))
        except Exception as exc:
            from celerydesk.core.broker_errors import classify

            self.error = DeskError(classify(exc, self.url).reason)

    def lookup(self, task_id: str) -> Optional[tuple[list, dict]]:
        """The task's arguments in the backend; None when it does not keep them."""
        self.read([task_id])
        if self.error is not None:
            raise self.error
        return self._found.get(task_id)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


@dataclass
class RetryOutcome:
    sent: list = field(default_factory=list)  # (old id, new id, source of the arguments)
    refused: list = field(default_factory=list)  # (old id, name, reason)

    def summary(self) -> str:
        text = f"{len(self.sent)} task(s) sent again with their exact arguments"
        if self.refused:
            text += f"; {len(self.refused)} refused (their arguments cannot be sent exactly)"
        return text


def stored_arguments(row: dict) -> Optional[tuple[list, dict]]:
    """The exact JSON a history row holds (celerydesk sent the task, or the backend had it)."""
    if row.get("args_json") is None or row.get("kwargs_json") is None:
        return None
    return json.loads(row["args_json"]), json.loads(row["kwargs_json"])


def resolve(row: dict, stored: Optional[tuple], kept: KeptArguments) -> Exact:
    """The exact arguments of one stored task (NotExact with the reason)."""
    if not row.get("name"):
        raise NotExact(f"task {row.get('id')} has no name in the history (no event that carries it was seen)",
                       hint="it cannot be sent again; launch it from its form")
    return exact_arguments(row, stored, kept.lookup if kept.url else None)


def retry_one(client, row: dict, stored: Optional[tuple], kept: KeptArguments) -> tuple[str, Exact]:
    """Send one task again exactly: (new id, the arguments sent). NotExact sends nothing."""
    from celerydesk.core.broker_client import SendOptions

    exact = resolve(row, stored, kept)
    new_id = client.send(row["name"], exact.args, exact.kwargs, SendOptions(queue=row.get("queue") or None),
                         via="retry")
    return new_id, exact


def retry_many(client, rows: Iterable[tuple[dict, Optional[tuple]]], kept: KeptArguments) -> RetryOutcome:
    """Retry each (row, stored arguments); those that cannot be sent exactly are listed."""
    rows = list(rows)
    kept.read([row["id"] for row, stored in rows if stored is None])  # one MGET per 500, not one per task
    outcome = RetryOutcome()
    for row, stored in rows:
        try:
            new_id, exact = retry_one(client, row, stored, kept)
        except NotExact as exc:
            outcome.refused.append((row["id"], row.get("name"), exc.message))
            continue
        outcome.sent.append((row["id"], new_id, exact.source))
    return outcome


def revoke_many(client, rows: Iterable[dict], terminate: bool = False) -> tuple[int, int]:
    """Revoke the unfinished ones of ``rows`` (revoking a finished task changes nothing);
    (revoked, finished and left alone)."""
    ids, finished = [], 0
    for row in rows:
        if row.get("state") in FINISHED_STATES:
            finished += 1
        else:
            ids.append(row["id"])
    for start in range(0, len(ids), REVOKE_CHUNK):
        client.revoke(ids[start:start + REVOKE_CHUNK], terminate=terminate)
    return len(ids), finished
