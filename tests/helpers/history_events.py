"""Synthetic celery task events of realistic shape, for the history's tests and benchmark.

Each task gets the events a real worker and sender emit, with the fields celery 5 puts in
them (captured from a real worker: ``task-sent`` carries the queue and routing key and the
sender's hostname, ``task-received`` the arguments' reprs, ``task-succeeded`` the result's
repr and the runtime, ``task-failed`` the exception and traceback). The mix is a small
web shop's: confirmation emails, card charges, thumbnails, re-indexing, video processing
(a SHA-256 in its result), a daily report; about 5 % fail, 2 % are retried once and then
succeed, 0.5 % are revoked, 10 % are children in a chain. Events of neighbouring tasks are
interleaved the way two workers' buffers deliver them: a task's later events can come
before its earlier ones.
"""

from __future__ import annotations

import random
import uuid
from typing import Iterator

NAMES = [("storefront.orders.tasks.send_confirmation_email", 30), ("playground.tasks.notify_customers", 10),
         ("celerydesk.sample.tasks.process_video", 5), ("storefront.billing.tasks.charge_card", 15),
         ("storefront.search.tasks.reindex_product", 20), ("storefront.reports.tasks.build_daily_report", 2),
         ("storefront.media.tasks.make_thumbnail", 15), ("celery.chord_unlock", 3)]
QUEUES = {"celerydesk.sample.tasks.process_video": "media", "storefront.media.tasks.make_thumbnail": "media",
          "storefront.orders.tasks.send_confirmation_email": "emails"}
WORKERS = ("main@web-1", "main@web-2", "media@worker-3")
FIRST = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory",
         "oscar", "peggy", "trent", "victor", "walter"]
TRACEBACK = """Traceback (most recent call last):
  File "/srv/app/.venv/lib/python3.11/site-packages/celery/app/trace.py", line 453, in trace_task
    R = retval = fun(*args, **kwargs)
  File "/srv/app/.venv/lib/python3.11/site-packages/celery/app/trace.py", line 736, in __protected_call__
    return self.run(*args, **kwargs)
  File "/srv/app/storefront/orders/tasks.py", line %d, in send_confirmation_email
    connection.send_messages([message])
  File "/srv/app/.venv/lib/python3.11/site-packages/django/core/mail/backends/smtp.py", line 128, in send_messages
    new_conn_created = self.open()
  File "/srv/app/.venv/lib/python3.11/site-packages/django/core/mail/backends/smtp.py", line 86, in open
    self.connection = self.connection_class(self.host, self.port, **connection_params)
  File "/usr/lib/python3.11/smtplib.py", line 341, in connect
    self.sock = self._get_socket(host, port, self.timeout)
ConnectionError: %s
"""


def arguments(name: str, r: random.Random) -> tuple[str, str, str]:
    """(args repr, kwargs repr, result repr) as a worker's events carry them for task ``name``."""
    if name.endswith("send_confirmation_email"):
        email = f"{r.choice(FIRST)}.{r.randrange(10**4)}@example.com"
        return (repr((r.randrange(10**5, 10**7), email)),
                repr({"template": r.choice(["order_confirmed", "order_shipped", "refund"]),
                      "locale": r.choice(["en", "de", "fr"])}),
                repr({"sent": True, "message_id": f"<{r.getrandbits(64):016x}@mail.example.com>"}))
    if name.endswith("notify_customers"):
        text = r.choice(["Hello World", "Sale starts Monday", "New arrivals", "Your cart misses you"])
        return repr((text,)), repr({"delay": 1.0}), repr(f"Sent {text!r} to 10000 customers")
    if name.endswith("process_video"):
        path = f"/srv/uploads/{r.randrange(2020, 2027)}/{r.randrange(1, 13):02d}/clip-{r.getrandbits(32):08x}.mp4"
        return (repr((path,)), repr({"chunk_size": 1048576}),
                repr({"path": path, "bytes": r.randrange(10**6, 10**9), "sha256": "%064x" % r.getrandbits(256),
                      "chunks": r.randrange(1, 900)}))
    if name.endswith("charge_card"):
        return (repr((r.randrange(10**5, 10**7),)),
                repr({"amount": f"{r.randrange(100, 50000) / 100:.2f}", "currency": r.choice(["EUR", "USD", "GBP"])}),
                repr({"status": "captured", "charge_id": f"ch_{r.getrandbits(64):016x}"}))
    if name.endswith("reindex_product"):
        return repr((f"SKU-{r.randrange(10**6):06d}",)), "{}", "None"
    if name.endswith("build_daily_report"):
        day = f"2026-{r.randrange(1, 13):02d}-{r.randrange(1, 29):02d}"
        return repr((day,)), repr({"format": "pdf"}), repr(f"/srv/reports/daily-{day}-{r.getrandbits(24):06x}.pdf")
    if name.endswith("make_thumbnail"):
        return (repr((f"https://cdn.example.com/img/{r.getrandbits(40):010x}.jpg", 256)), "{}",
                repr({"width": 256, "height": r.choice([144, 192, 256])}))
    return repr((uuid.UUID(int=r.getrandbits(128)).hex,)), repr({"interval": 1}), "None"


def task_events(i: int, t0: float, r: random.Random, previous: dict) -> list[dict]:
    """The events of task number ``i`` (sent at ``t0``), in the order they were emitted."""
    name = r.choice(_WEIGHTED)
    task_id = str(uuid.UUID(int=r.getrandbits(128), version=4))
    args, kwargs, result = arguments(name, r)
    parent = previous.get("id") if r.random() < 0.1 and previous else None
    root = previous.get("root") if parent else task_id
    previous.update(id=task_id, root=root)
    queue = QUEUES.get(name, "celery")
    worker = WORKERS[2] if queue == "media" else WORKERS[i % 2]
    base = {"utcoffset": 0.0, "pid": 4242, "uuid": task_id}
    common = {"name": name, "args": args, "kwargs": kwargs, "root_id": root, "parent_id": parent, "eta": None,
              "expires": None}
    sent = dict(base, hostname="gen4242@web-1", clock=i, type="task-sent", timestamp=t0, retries=0, queue=queue,
                exchange="", routing_key=queue, **common)
    events = [sent]
    at = t0 + r.uniform(0.0005, 0.02)
    luck = r.random()
    attempts = 2 if luck < 0.02 else 1
    for attempt in range(attempts):
        events.append(dict(base, hostname=worker, clock=i, type="task-received", timestamp=at, retries=attempt,
                           **common))
        at += r.uniform(0.0002, 0.005)
        if 0.02 <= luck < 0.025:
            events.append(dict(base, hostname=worker, clock=i, type="task-revoked", timestamp=at, terminated=False,
                               signum=None, expired=False))
            return events
        events.append(dict(base, hostname=worker, clock=i, type="task-started", timestamp=at))
        runtime = r.expovariate(1 / 0.08)
        at += runtime
        if attempt + 1 < attempts:
            exc = f"ConnectionError('timeout talking to smtp-{r.randrange(9)}.example.com')"
            events.append(dict(base, hostname=worker, clock=i, type="task-retried", timestamp=at, exception=exc,
                               traceback=TRACEBACK % (r.randrange(20, 90), exc)))
            at += r.uniform(0.5, 2.0)
        elif luck > 0.95:
            exc = f"ConnectionError('timeout talking to smtp-{r.randrange(9)}.example.com')"
            events.append(dict(base, hostname=worker, clock=i, type="task-failed", timestamp=at, exception=exc,
                               traceback=TRACEBACK % (r.randrange(20, 90), exc)))
        else:
            events.append(dict(base, hostname=worker, clock=i, type="task-succeeded", timestamp=at, result=result,
                               runtime=runtime))
    return events


_WEIGHTED = [n for n, weight in NAMES for _ in range(weight)]


def event_stream(tasks: int, start: float, per_second: float = 650.0, seed: int = 1,
                 chunk: int = 500) -> Iterator[list[dict]]:
    """Lists of events for ``tasks`` tasks sent ``per_second`` from ``start``, as a monitor
    hands them over: ordered by time within a chunk, with one event in fifty swapped with
    its neighbour (two workers' buffers)."""
    r = random.Random(seed)
    previous: dict = {}
    for first in range(0, tasks, chunk):
        events = []
        for i in range(first, min(first + chunk, tasks)):
            events += task_events(i, start + i / per_second, r, previous)
        events.sort(key=lambda e: e["timestamp"])
        for j in range(0, len(events) - 1, 50):
            events[j], events[j + 1] = events[j + 1], events[j]
        yield events
