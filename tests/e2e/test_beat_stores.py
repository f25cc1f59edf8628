"""Schedules kept where the project keeps them, under ``celerydesk up``: real projects in their own
venv (django-celery-beat 2.9 with a SQLite database made by its migrations; RedBeat 2.4 on the
stack's Redis), real workers and beat, no mocks.

Covered: the shop's seeded 2 s database row runs under ``up`` (at least 5 times in 12 s) beside
a workspace schedule, ``schedules list --json`` shows it with source ``database``, ``schedules
edit ... --source database --every 1`` changes the rate beat sends it at with beat's pid
unchanged, and a row disabled outside celerydesk (the Django ORM) stops and is listed so; an
entry a RedBeat app saves at run time runs within 5 s, is listed with source ``redbeat``, and
an edit through celerydesk changes its rate with the same beat; an app on a scheduler
celerydesk cannot add to runs it as configured, and ``up`` and ``schedules list`` say that the
workspace's schedules are not sent.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers.beat_stores import add_redbeat_entry, django_shell, redbeat_project, runs, shop_project
from tests.helpers.stack import UpProcess, write_workspace

pytestmark = pytest.mark.slow

EVERY_SECOND = """
[[schedules]]
name = "ws-every-1s"
task = "{task}"
every = 1
args = ["ws"]
"""


def celerydesk(*args, timeout=180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "celerydesk", "schedules", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout)


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.2)


def listed(path: Path) -> dict:
    result = celerydesk("list", "-w", path, "--json")
    assert result.returncode == 0, result.stderr
    return {(s["source"], s["name"]): s for s in json.loads(result.stdout)}


def beat_pid(up: UpProcess) -> int:
    pids = re.findall(r"^beat: RUNNING \(pid (\d+)\)", "\n".join(up.lines), re.M)
    assert len(pids) == 1, up.lines  # started once, never restarted
    return int(pids[0])


def steady_gaps(times: list, after: float, count: int = 3) -> list:
    """The gaps between the last ``count`` + 1 runs after ``after`` (fewer if there are not enough)."""
    later = [t for t in times if t > after]
    return [b - a for a, b in zip(later, later[1:])][-count:]


def edit_to_every_second(up: UpProcess, path: Path, name: str, source: str, label: str) -> None:
    """``schedules edit NAME --source SOURCE --every 1``: beat, the same process, sends it every
    second, and the workspace's schedule goes on beside it."""
    pid = beat_pid(up)
    edited = celerydesk("edit", name, "-w", path, "--source", source, "--every", "1")
    assert edited.returncode == 0, edited.stderr
    saved = time.time()
    folder = path.parent

    def every_second() -> bool:
        gaps = steady_gaps(runs(folder, label), saved)
        return len(gaps) == 3 and all(gap < 1.5 for gap in gaps)

    wait_until(every_second, 30, "a run every second")
    print(f"after --every 1: gaps {[round(g, 2) for g in steady_gaps(runs(folder, label), saved)]} s, beat pid {pid}")
    assert beat_pid(up) == pid and os.kill(pid, 0) is None
    ws_before = len(runs(folder, "ws"))
    wait_until(lambda: len(runs(folder, "ws")) > ws_before + 1, 10, "the workspace's schedule still runs")


def test_database_entries_run_under_up_and_an_edit_changes_their_rate_with_the_same_beat(tmp_path):
    folder = tmp_path / "shop"
    path = shop_project(folder, EVERY_SECOND.format(task="orders.tasks.record"), flower=False)
    up = UpProcess(path)
    try:
        up.wait_for("stack ready", timeout=180)
        up.wait_for("DatabaseScheduler runs the entries kept in django-celery-beat's database", timeout=5)
        wait_until(lambda: len(runs(folder, "db")) >= 6, 40, "six runs of the 2 s row")
        wait_until(lambda: runs(folder, "db")[-1] - runs(folder, "db")[0] > 12.0, 30, "12 s of the 2 s row")
        db = runs(folder, "db")
        in_12_s = len([t for t in db if t - db[0] <= 12.0])
        print(f"\nthe 2 s database row ran {in_12_s} times in 12 s under up")
        assert in_12_s >= 5
        assert all(1.5 <= gap <= 2.5 for gap in steady_gaps(db, 0)), db
        assert len(runs(folder, "ws")) >= 3  # the workspace's schedule runs beside the database's

        row = listed(path)[("database", "record-every-2s")]
        assert (row["every"], row["enabled"], row["task"]) == (2.0, True, "orders.tasks.record")
        assert row["total_run_count"] >= 1 and row["last_run_at"] and row["next_run_at"]
        assert row["description"] == "Every 2 seconds"

        edit_to_every_second(up, path, "record-every-2s", "database", "db")

        # Disabled outside celerydesk (the ORM, as the Django admin does): beat stops, list says so.
        django_shell(folder, "from django_celery_beat.models import PeriodicTask as P; "
                             "t = P.objects.get(name='record-every-2s'); t.enabled = False; t.save()")
        disabled = time.time()
        time.sleep(4)
        assert len([t for t in runs(folder, "db") if t > disabled + 1.5]) == 0
        assert listed(path)[("database", "record-every-2s")]["enabled"] is False
    finally:
        up.signal()
        assert up.finish(60) == 0


def test_a_redbeat_entry_saved_at_run_time_runs_within_seconds_and_an_edit_changes_its_rate(tmp_path):
    folder = tmp_path / "redbeatapp"
    path = redbeat_project(folder, EVERY_SECOND.format(task="tasks.record"), flower=False)
    up = UpProcess(path)
    try:
        up.wait_for("stack ready", timeout=180)
        up.wait_for("RedBeatScheduler runs the entries kept in RedBeat's Redis", timeout=5)
        url = re.search(r"broker: local at (\S+)", "\n".join(up.lines)).group(1)
        saved = time.time()
        add_redbeat_entry(folder, url, "added-live", 2, "redbeat")
        wait_until(lambda: runs(folder, "redbeat"), 15, "the entry saved at run time")
        print(f"\nthe RedBeat entry first ran {runs(folder, 'redbeat')[0] - saved:.2f} s after it was saved")
        assert runs(folder, "redbeat")[0] - saved <= 5.0

        row = listed(path)[("redbeat", "added-live")]
        assert (row["every"], row["enabled"], row["task"], row["args"]) == (2.0, True, "tasks.record", ["redbeat"])

        edit_to_every_second(up, path, "added-live", "redbeat", "redbeat")
        refused = celerydesk("edit", "added-live", "-w", path, "--source", "database", "--every", "1")
        assert refused.returncode == 2 and "does not read django-celery-beat's database" in refused.stderr
    finally:
        up.signal()
        assert up.finish(60) == 0


CUSTOM_APP = '''
from celery import Celery
from celery.beat import PersistentScheduler

app = Celery("custom")
app.conf.beat_scheduler = "custom:OwnScheduler"


class OwnScheduler(PersistentScheduler):
    """A scheduler of the project's own, which celerydesk cannot add the workspace's to."""


@app.task
def noop():
    return None
'''


def test_another_scheduler_runs_as_configured_and_the_workspace_schedules_are_said_not_sent(tmp_path):
    from tests.helpers.project_venv import stores_venv

    folder = tmp_path / "custom"
    folder.mkdir()
    (folder / "custom.py").write_text(CUSTOM_APP)
    path = write_workspace(folder, app="custom", flower=False, project={"python": str(stores_venv())})
    path.write_text(path.read_text() + EVERY_SECOND.format(task="custom.noop"))
    up = UpProcess(path)
    try:
        up.wait_for("stack ready", timeout=180)
        said = up.wait_for("runs the app's own scheduler custom:OwnScheduler as configured", timeout=5)
        assert said.startswith("warning: ") and "[[schedules]] are NOT sent" in said
        log = (folder / ".celerydesk" / "logs" / "beat.log").read_text()
        assert "custom.OwnScheduler" in log and "celerydesk_beat_scheduler" not in log
    finally:
        up.signal()
        assert up.finish(60) == 0
    result = celerydesk("list", "-w", path)
    assert result.returncode == 0
    assert "warning: ws-every-1s: not sent: the workspace's [[schedules]] are NOT sent" in result.stderr
