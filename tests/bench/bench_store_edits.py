"""Benchmark: how long beat takes to apply an edit of an entry the project keeps in a store.

For django-celery-beat's database (the shop test project) and RedBeat's Redis (the redbeatapp
test project): an entry is set to every 30 s, then to every 1 s; its next send is then due at
once, so the time from the end of the save to the first send after it is how long beat took to
see the change. Measured under ``celerydesk up`` (saved with ``celerydesk schedules edit
--source ...``) and, as the baseline, with the project's own ``celery beat`` and a worker
started by hand on a redis-server (saved through the project's own code: the Django ORM,
RedBeat's ``RedBeatSchedulerEntry.save()``). Prints one JSON line: the median and the largest
delay of RUNS edits for each store and each side.

    .venv/bin/python tests/bench/bench_store_edits.py
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.helpers.beat_stores import django_shell, redbeat_project, runs, shop_project  # noqa: E402
from tests.helpers.project_venv import run_in_venv, stores_venv, venv_env  # noqa: E402
from tests.helpers.redis_server import start_redis_server  # noqa: E402
from tests.helpers.stack import UpProcess  # noqa: E402

RUNS = int(os.environ.get("BENCH_RUNS", "3"))
STORES = {
    "database": {"make": shop_project, "app": "shop", "entry": "record-every-2s", "label": "db"},
    "redbeat": {"make": redbeat_project, "app": "tasks", "entry": "added-live", "label": "redbeat"},
}


def first_send_after(folder: Path, label: str, saved: float, timeout: float = 40.0) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        later = [t for t in runs(folder, label) if t > saved]
        if later:
            return later[0] - saved
        time.sleep(0.05)
    raise RuntimeError(f"no send of {label} within {timeout} s of the edit")


def measure(folder: Path, label: str, save) -> list:
    delays = []
    for _ in range(RUNS):
        save(30)
        time.sleep(3)
        save(1)
        saved = time.time()
        delays.append(first_send_after(folder, label, saved))
        time.sleep(2)
    return delays


def redbeat_save(folder: Path, url: str, seconds: float) -> None:
    code = ("import sys; from datetime import timedelta; from celery.schedules import schedule; "
            "from redbeat import RedBeatSchedulerEntry; from redbeat.schedulers import ensure_conf; from tasks import app; ensure_conf(app); "
            "e = RedBeatSchedulerEntry.from_key(RedBeatSchedulerEntry.generate_key(app, 'added-live'), app=app); "
            f"e.schedule = schedule(timedelta(seconds={seconds})); e.save()")
    done = run_in_venv(stores_venv(), "-c", code, cwd=folder, env={"CELERY_BROKER_URL": url})
    assert done.returncode == 0, done.stderr


def add_redbeat_entry(folder: Path, url: str) -> None:
    done = run_in_venv(stores_venv(), "add_entry.py", "added-live", "2", "redbeat", cwd=folder,
                       env={"CELERY_BROKER_URL": url})
    assert done.returncode == 0, done.stderr


def desk(store: str, root: Path) -> list:
    spec = STORES[store]
    folder = root / f"desk-{store}"
    path = spec["make"](folder, flower=False)
    up = UpProcess(path)
    try:
        up.wait_for("stack ready", timeout=180)
        if store == "redbeat":
            url = up.wait_for("broker: local at").split(" at ", 1)[1]
            add_redbeat_entry(folder, url)

        def save(seconds: float) -> None:
            done = subprocess.run([sys.executable, "-m", "celerydesk", "schedules", "edit", spec["entry"], "-w",
                                   str(path), "--source", store, "--every", str(seconds)], capture_output=True, text=True)
            assert done.returncode == 0, done.stderr

        return measure(folder, spec["label"], save)
    finally:
        up.signal()
        up.finish(60)


def by_hand(store: str, root: Path) -> list:
    spec = STORES[store]
    folder = root / f"hand-{store}"
    spec["make"](folder, flower=False)  # the project as it is; the workspace file is not used
    redis_proc, url = start_redis_server(root)
    python = str(stores_venv())
    extra = {"CELERY_BROKER_URL": url}
    if store == "database":  # celery's Django fix-up follows this variable: the RedBeat app is not Django
        extra["DJANGO_SETTINGS_MODULE"] = "shop.settings"
    env = venv_env(stores_venv(), extra)
    base = [python, "-m", "celery", "-A", spec["app"], "-b", url]
    children = [subprocess.Popen(base + ["worker", "-c", "1", "--without-mingle", "--without-gossip", "-l", "warning"],
                                 cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
                subprocess.Popen(base + ["beat", "-l", "info", "-s", str(folder / "celerybeat-schedule")],
                                 cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        if store == "redbeat":
            add_redbeat_entry(folder, url)
        time.sleep(8)  # both up, the entry running
        if store == "database":
            def save(seconds: float) -> None:
                django_shell(folder, "from django_celery_beat.models import PeriodicTask as P, IntervalSchedule as I; "
                                     f"t = P.objects.get(name='{spec['entry']}'); "
                                     f"t.interval = I.objects.get_or_create(every={int(seconds)}, "
                                     "period='seconds')[0]; t.save()")
        else:
            def save(seconds: float) -> None:
                redbeat_save(folder, url, seconds)
        return measure(folder, spec["label"], save)
    finally:
        for child in children:
            child.terminate()
        for child in children:
            child.wait(30)
        redis_proc.terminate()
        redis_proc.wait(10)


def main() -> None:
    out = {"runs": RUNS}
    with tempfile.TemporaryDirectory(prefix="bench-store-edits-") as tmp:
        root = Path(tmp)
        for store in STORES:
            for side, how in (("desk", desk), ("by_hand", by_hand)):
                delays = how(store, root)
                out[f"{store}_{side}_median_s"] = round(statistics.median(delays), 2)
                out[f"{store}_{side}_max_s"] = round(max(delays), 2)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
