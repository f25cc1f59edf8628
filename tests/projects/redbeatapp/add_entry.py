"""Add a RedBeat entry at run time, as the application would: `python add_entry.py NAME SECONDS LABEL`."""

import sys
from datetime import timedelta

from celery.schedules import schedule
from redbeat import RedBeatSchedulerEntry

from tasks import app

name, seconds, label = sys.argv[1], float(sys.argv[2]), sys.argv[3]
RedBeatSchedulerEntry(name, "tasks.record", schedule(timedelta(seconds=seconds)), args=[label], app=app).save()
print(f"saved {name}")
