"""The Celery application of celerydesk's sample project.

Imports only celery and the standard library: it runs in the project interpreter, which need not
have celerydesk's other dependencies (PySide6, docker, ...).

Configuration comes from the environment, which celerydesk always sets for the processes it
starts:

- ``CELERY_BROKER_URL``: the broker; default ``redis://127.0.0.1:6390/0``, the port the sample
  ``celerydesk.toml`` gives its local Redis (6390, not 6379, so it does not collide with a Redis
  the developer already runs).
- ``CELERY_RESULT_BACKEND``: where results are stored. Default: the broker URL on Redis (Redis
  is both); on any other broker (RabbitMQ) ``rpc://``, which sends each result back to the client
  that sent the task as an AMQP message. Celery 5 has no ``amqp://`` result backend, and a Redis
  beside a RabbitMQ is not there to take the results unless the user runs one, so the sample runs
  unchanged on any broker. (With ``rpc://`` only the sender can read a result, and progress is
  not stored anywhere celerydesk can read: its Tasks page shows states and results from the
  workers' events, which do not depend on the backend.)
"""

from __future__ import annotations

import os

from celery import Celery

DEFAULT_BROKER_URL = "redis://127.0.0.1:6390/0"

BROKER_URL = os.environ.get("CELERY_BROKER_URL") or DEFAULT_BROKER_URL
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND") or (
    BROKER_URL if BROKER_URL.startswith(REDIS_SCHEMES) else "rpc://")

app = Celery("celerydesk.sample", include=["celerydesk.sample.tasks"])

app.conf.update(
    broker_url=BROKER_URL,
    result_backend=RESULT_BACKEND,
    # --- do not lose tasks -------------------------------------------------------------------
    # Acknowledge a message only after the task has run, not when the worker receives it: a
    # worker killed mid-task (celerydesk's Stop / Restart buttons, a crash) leaves the message
    # unacknowledged and the broker delivers it again. Tasks must therefore be idempotent, which
    # the sample tasks are.
    task_acks_late=True,
    # With acks_late, a task whose pool child dies (SIGKILL, out of memory) is normally acked
    # anyway and marked failed; this rejects and requeues it instead.
    task_reject_on_worker_lost=True,
    # Reserve one message per pool process, not four: a worker being stopped holds back as few
    # messages as possible, and long tasks (video processing) are not stuck behind one another
    # while another worker idles.
    worker_prefetch_multiplier=1,
    # Reconnect patiently if the broker is not up yet when the worker starts (celerydesk may
    # start Redis and the worker at nearly the same time); Celery 6 will require this setting.
    broker_connection_retry_on_startup=True,
    # On Redis, a message a worker had reserved when it was killed outright (SIGKILL, power
    # loss) goes back to its queue only after this many seconds without an ack. Kombu's default
    # is an hour; a dev stack wants minutes. It must stay longer than the longest task, or a
    # running task is delivered a second time. SAMPLE_VISIBILITY_TIMEOUT overrides it (tests).
    # Workers look for such messages every 10 s, but by default scan only on every 10th look
    # (~100 s); a throttle of 1 scans on each, so they return within ~10 s of their timeout.
    # A worker killed during a scan leaves its lock on scanning behind: kept 300 s by default,
    # it would hold off every other worker's scan for five minutes; 30 s is plenty for a scan.
    broker_transport_options={"visibility_timeout": int(os.environ.get("SAMPLE_VISIBILITY_TIMEOUT", "300")),
                              "unacked_restore_throttle": 1, "unacked_mutex_expire": 30},
    # --- let celerydesk (and Flower) see what happens ----------------------------------------
    # Report STARTED, so a running task is distinguishable from one waiting in the queue.
    task_track_started=True,
    # Emit task events (the same as `worker -E`) for celerydesk's monitor and Flower ...
    worker_send_task_events=True,
    # ... including task-sent, so a task shows up the moment it is launched, before any worker
    # has received it (and even while no worker runs).
    task_send_sent_event=True,
    # Keep results an hour: long enough to inspect them in the UI, short enough that a dev Redis
    # does not fill up with benchmark results.
    result_expires=3600,
    # Keep each task's arguments with its result (name, args, kwargs, queue, worker): celery's
    # events carry only a repr of them cut at 1,024 characters, so this is where celerydesk's
    # task history reads the whole of a long argument sent by something else than celerydesk
    # (a web app, a plain celery client), and what lets a retry send exactly what ran.
    result_extended=True,
    # --- portable messages ---------------------------------------------------------------------
    # JSON only: celerydesk's launcher builds arguments from form fields, and nothing pickled
    # can slip through.
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
)

celery_app = app
