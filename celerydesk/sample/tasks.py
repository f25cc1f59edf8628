"""Tasks of celerydesk's sample project.

The story, from the course chapter celerydesk started from: a user uploads a video; the app
acknowledges at once; a worker processes it in the background; the user is told it is ready.

Every task has an explicit name (``celerydesk.sample.tasks.<function>``) so that launching by
name (``send_task``) never depends on how the module was imported, and a docstring, which
celerydesk shows as the help text of the task's launch form. Only celery and the standard
library are imported: this module runs in the project interpreter.
"""

from __future__ import annotations

import hashlib
import os
import time

from celery.utils.log import get_task_logger

from .celery_app import app

logger = get_task_logger(__name__)

#: How many PROGRESS updates ``process_video`` sends at most, whatever the file size.
PROGRESS_UPDATES = 20


@app.task(name="celerydesk.sample.tasks.notify_customers")
def notify_customers(message: str, delay: float = 1.0) -> str:
    """Pretend to email every customer a message.

    Prints "Sending 10k emails...", the message, waits ``delay`` seconds to stand for the slow
    part (the course waits 10 s; keep it short here), then prints "Emails were successfully
    sent!". Returns a one-line summary. The sample workspace runs it with beat every 15 minutes.
    """
    print("Sending 10k emails...")
    print(message)
    time.sleep(max(0.0, float(delay)))
    print("Emails were successfully sent!")
    return f"Sent {message!r} to 10000 customers"


@app.task(bind=True, name="celerydesk.sample.tasks.process_video")
def process_video(self, path: str, chunk_size: int = 1048576) -> dict:
    """Process an uploaded video file: read it in chunks and compute its SHA-256.

    ``path`` is a file on the worker's machine; ``chunk_size`` is how many bytes to read at a
    time. While it runs the task reports the state PROGRESS with ``{"current", "total",
    "percent"}`` (at most 20 times), so a progress bar can follow it. When done it logs "Your
    video is processed and ready" and returns ``{"path", "bytes", "sha256", "chunks",
    "seconds"}``. A path that does not exist fails with FileNotFoundError.
    """
    chunk_size = int(chunk_size)
    if chunk_size <= 0:
        raise ValueError(f"chunk_size must be a positive number of bytes, not {chunk_size}")
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"process_video: no such video file: {path!r} (a path is looked up on the "
            f"worker's machine, relative to the worker's working directory {os.getcwd()!r})"
        )

    started = time.monotonic()
    total = os.path.getsize(path)
    # Called directly (not through a worker) there is no task id to report progress against.
    report = bool(getattr(self.request, "id", None))
    digest = hashlib.sha256()
    current = 0
    chunks = 0
    last_bucket = 0

    logger.info("Processing video %s (%d bytes)", path, total)
    with open(path, "rb") as video:
        while True:
            data = video.read(chunk_size)
            if not data:
                break
            digest.update(data)
            current += len(data)
            chunks += 1
            # One update each time another 1/20 of the file is done: at most 20 in all.
            bucket = current * PROGRESS_UPDATES // total if total else PROGRESS_UPDATES
            if report and bucket > last_bucket:
                last_bucket = bucket
                self.update_state(
                    state="PROGRESS",
                    meta={
                        "current": current,
                        "total": total,
                        "percent": round(100.0 * current / total, 1) if total else 100.0,
                    },
                )

    seconds = round(time.monotonic() - started, 6)
    logger.info("Your video is processed and ready: %s", path)
    return {
        "path": path,
        "bytes": current,
        "sha256": digest.hexdigest(),
        "chunks": chunks,
        "seconds": seconds,
    }


@app.task(name="celerydesk.sample.tasks.noop")
def noop() -> None:
    """Do nothing and return None at once.

    For benchmarks and smoke tests: it measures the cost of Celery itself (broker round trip,
    worker overhead, events), not of any work.
    """
    return None


@app.task(name="celerydesk.sample.tasks.add")
def add(x: int, y: int) -> int:
    """Add two integers and return the sum: the smallest task that takes arguments."""
    return x + y
