"""Take the README's picture of the Dashboard: the real window on Xvfb, over an hour of history.

    .venv/bin/python resources/screenshots/take_dashboard.py [--out resources/screenshots] [--keep] [--dark]

It uses take.py's session (the sample workspace with free ports, Xvfb, the window with
``--start``; see take.py for what it needs). Before the window opens, the workspace's history is
given the last hour of a small web shop's traffic (tests/helpers/history_events.py: the events a
real worker and sender emit, through the real writer), with a burst of failures twenty minutes
ago, and the queue depths and workers a watching celerydesk would have sampled meanwhile; a new
sample stack has nothing to chart yet. Then the window runs the sample stack, a few real tasks
are sent, and the Dashboard (Ctrl+2) is shown on its default range, the last hour, and saved as
dashboard.png, reduced as take.py reduces its pictures.
"""

from __future__ import annotations

import argparse
import math
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from resources.screenshots.take import Session, log, read, reduce, send_tasks  # noqa: E402


def seed_history(runtime: Path, now: float) -> None:
    from celerydesk.core.history.writer import HistoryWriter
    from tests.helpers.history_events import task_events

    r = random.Random(19)
    writer = HistoryWriter(runtime)
    writer.start()
    events, previous, at, i = [], {}, now - 3600, 0
    while at < now - 30:
        minute = (at - (now - 3600)) / 60
        rate = 1.2 + 0.6 * math.sin(minute / 9)  # tasks a second: a slow swell
        task = task_events(i, at, r, previous)
        if 38 <= minute < 41 and r.random() < 0.5:  # the SMTP server went away for three minutes
            task[-1] = dict(task[-1], type="task-failed", exception="ConnectionError('smtp-1 unreachable')")
        events += task
        at += r.expovariate(rate)
        i += 1
    writer.submit(events)
    samples = []
    for n in range(360):
        t = now - 3600 + n * 10
        backlog = 40 * math.exp(-((n - 235) / 12) ** 2)  # the emails queue backed up during the outage
        samples += [("queue", t, "celery", float(r.randint(0, 3))),
                    ("queue", t, "emails", float(round(backlog + r.randint(0, 2)))),
                    ("queue", t, "media", float(r.randint(0, 6))),
                    ("workers", t, "", 3.0 if 120 <= n < 300 else 2.0)]
    writer.submit_samples(samples)
    writer.flush(120)
    writer.close()
    log(f"history seeded: {i} tasks over the last hour")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--dark", action="store_true")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="celerydesk-dashboard-shot-"))
    session = Session(scratch, dark=args.dark)
    ok = False
    try:
        session.write_workspace()
        seed_history(session.ws / ".celerydesk", time.time())
        session.start_xvfb()
        main_window = session.start_app()
        send_tasks(session)
        session.page(main_window, "dashboard", settle=6)  # built when first shown, then read off the GUI thread
        raw = session.shot(main_window, "dashboard.png")
        args.out.mkdir(parents=True, exist_ok=True)
        reduce(raw, args.out)
        ok = True
    except Exception as exc:
        print(f"take_dashboard.py: failed: {exc}", file=sys.stderr)
        print(read(session.app_log)[-2000:], file=sys.stderr)
    finally:
        session.stop()
        if args.keep or not ok:
            log(f"kept {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
