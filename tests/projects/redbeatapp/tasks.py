"""A plain Celery app whose beat keeps its schedule in Redis with RedBeat.

Entries are added at run time by the application (`add_entry.py` does what such an app does:
`RedBeatSchedulerEntry(...).save()`). RedBeat looks for new entries every
`beat_max_loop_interval` seconds: 1 here, as an app that adds entries live sets it.
The RedBeat store is the broker's Redis (`CELERY_BROKER_URL`, which celerydesk sets).

Run from this folder: `celery -A tasks beat` (the scheduler comes from the app's settings).
"""

import os
import time

from celery import Celery

app = Celery("tasks")
app.conf.beat_scheduler = "redbeat.RedBeatScheduler"
app.conf.beat_max_loop_interval = 1
app.conf.redbeat_redis_url = os.environ.get("CELERY_BROKER_URL", "redis://localhost:6379/0")


@app.task
def record(label):
    """Append a line to runs.log beside this file: the tests count what beat sent."""
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "runs.log"), "a", encoding="utf-8") as f:
        f.write(f"{time.time():.3f} {label}\n")
    return label
