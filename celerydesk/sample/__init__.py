"""The built-in sample Celery project that ships with celerydesk.

It tells the story of the course chapter celerydesk grew from: a user uploads a video, the app
acknowledges the upload at once, a worker processes it in the background, and the user is told
"Your video is processed and ready". It also has the course's ``notify_customers`` task (which
``celerydesk.toml`` beside this file schedules with beat), and two tiny tasks, ``add`` and
``noop``, for smoke tests and benchmarks.

Point Celery at this package like at any project::

    CELERY_BROKER_URL=redis://127.0.0.1:6390/0 python -m celery -A celerydesk.sample worker -l info

``celery -A celerydesk.sample`` finds the app through the ``app`` (or ``celery_app``) attribute
exported here. Like the live beat scheduler, this package imports only celery and the standard
library, because it runs in the project interpreter, not necessarily in celerydesk's own.
"""

from .celery_app import app

celery_app = app

__all__ = ["app", "celery_app"]
