"""event_consumer.read_progress against a real redis-server: only tasks in PROGRESS come back.

Celery writes a task's meta to ``celery-task-meta-<id>`` in the result backend; the monitor
polls those of the tasks it sees running. Finished tasks are most of what it reads in a flood,
and they must be skipped, including one whose result happens to be the word "PROGRESS".
"""

from __future__ import annotations

import json

import redis

from celerydesk.core.event_consumer import read_progress


def _meta(task_id: str, status: str, result) -> str:
    # The layout Celery's Redis backend writes (kombu's json: ", " and ": " separators).
    return json.dumps({"status": status, "result": result, "traceback": None, "children": [],
                       "date_done": None, "task_id": task_id})


def test_only_tasks_in_progress_are_read(redis_server):
    client = redis.Redis.from_url(redis_server)
    try:
        client.set("celery-task-meta-moving", _meta("moving", "PROGRESS", {"percent": 40}))
        client.set("celery-task-meta-done", _meta("done", "SUCCESS", "PROGRESS"))
        client.set("celery-task-meta-started", _meta("started", "STARTED", {"pid": 12}))
        readings = read_progress(client, ["moving", "done", "started", "unknown"])
    finally:
        client.close()
    assert readings == {"moving": {"percent": 40}}
