"""A plain-module Celery app, as in Celery's "First steps": no package, no Django, no broker
configured in code (the broker comes from the command line or CELERY_BROKER_URL).

Run from this folder: `celery -A tasks worker -b redis://...`; the tasks are then named
`tasks.multiply` and `tasks.whoami`.
"""

from celery import Celery

app = Celery("tasks")


@app.task
def multiply(x: int, y: int = 2) -> int:
    """Multiply x by y (by 2 unless told otherwise)."""
    return x * y


@app.task(bind=True)
def whoami(self, greeting: str = "hello") -> dict:
    """Return the greeting with this task's id, name and the worker (hostname) that ran it."""
    return {
        "greeting": greeting,
        "id": self.request.id,
        "name": self.name,
        "hostname": self.request.hostname,
    }
