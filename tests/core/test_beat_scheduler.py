"""The live beat scheduler module (celerydesk/beat_scheduler.py), in-process on a memory broker.

Covered: it imports nothing but celery and the standard library (celerydesk blocked) and is
Python 3.9 syntax; it loads the workspace mirror and the app's own beat_schedule, a workspace
schedule replacing a project one of the same name; a changed mirror is applied on the next
tick (added, edited keeping its run count, disabled, removed), a missing or unreadable one
keeps what runs, a bad entry is skipped alone; due schedules are sent and counted in the
state file, which a restarted scheduler restores; a schedule's own timezone; one scheduler per
workspace (the file lock used on brokers other than Redis; Redis is covered by
tests/services/test_live_beat.py); a lazy instance (beat's banner) locks and writes nothing;
start_at, expires as a time, one_off (kept across a restart, again after an edit) and priority;
a project's own scheduler wrapped (made with beat's arguments, ticked beside the workspace's,
RedBeat's lock attributes reaching it, closed with it). django-celery-beat and RedBeat
themselves are wrapped for real in tests/e2e/test_beat_stores.py.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from celerydesk import beat_scheduler
from celery.beat import Scheduler

from celerydesk.beat_scheduler import EXIT_LOCKED, LiveScheduler
from celerydesk.core import schedule_mirror

SOURCE = Path(beat_scheduler.__file__).read_text()


def test_imports_only_celery_and_the_standard_library(tmp_path):
    folder = schedule_mirror.install_scheduler_module(tmp_path)
    probe = r"""
import importlib.abc, json, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "celerydesk" or name.startswith("celerydesk."):
            raise ImportError("celerydesk is not installed in a project's interpreter")
sys.meta_path.insert(0, Block())
import celery, celery.beat, celery.schedules, celery.utils.log
before = set(sys.modules)
import celerydesk_beat_scheduler
new = sorted(m.split(".")[0] for m in set(sys.modules) - before)
print(json.dumps(new))
"""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(folder)
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd=tmp_path,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    allowed = set(sys.stdlib_module_names) | {"celery", "kombu", "billiard", "vine", "celerydesk_beat_scheduler",
                                              "celerydesk_history_sent"}
    imported = set(json.loads(out.stdout))
    assert imported <= allowed
    assert "celerydesk_history_sent" in imported  # copied beside it: what it sends is recorded


def _python39():
    """A real Python 3.9, if this machine has one (pyenv's shims answer without being one)."""
    candidates = sorted(Path(os.environ.get("PYENV_ROOT", "/root/.pyenv")).glob("versions/3.9*/bin/python3.9"))
    candidates += [Path(p) for p in [shutil.which("python3.9")] if p]
    for candidate in candidates:
        probe = subprocess.run([str(candidate), "-c", "import sys; print(sys.version_info[:2])"],
                               capture_output=True, text=True, timeout=30)
        if probe.returncode == 0 and probe.stdout.strip() == "(3, 9)":
            return candidate
    return None


def test_python_3_9_syntax():
    ast.parse(SOURCE, feature_version=(3, 9))
    assert "match " not in SOURCE and "tomllib" not in SOURCE
    py39 = _python39()
    if py39:  # the real parser, not just ast's feature_version
        compiled = subprocess.run([str(py39), "-c", "import sys; compile(sys.stdin.read(), 'm', 'exec')"],
                                  input=SOURCE, capture_output=True, text=True, timeout=60)
        assert compiled.returncode == 0, compiled.stderr


# -- in-process, on a memory broker --------------------------------------------------------------------


@pytest.fixture
def files(tmp_path, monkeypatch):
    mirror, state = tmp_path / "schedules.json", tmp_path / "beat-state.json"
    monkeypatch.setenv("CELERYDESK_SCHEDULES_FILE", str(mirror))
    monkeypatch.setenv("CELERYDESK_BEAT_STATE_FILE", str(state))
    monkeypatch.setenv("CELERYDESK_WORKSPACE_ID", "test")
    return mirror, state


def write_mirror(path: Path, *schedules: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"version": 1, "schedules": list(schedules)}))
    os.replace(tmp, path)  # as celerydesk writes it: a new inode each time


def app(beat_schedule=None):
    from celery import Celery

    application = Celery("live-test", broker="memory://", set_as_current=False)
    application.conf.beat_schedule = beat_schedule or {}
    application.conf.result_expires = None  # else celery adds its backend_cleanup entry, as stock beat does
    return application


@pytest.fixture
def schedulers():
    made = []

    def make(application, **kw):
        scheduler = LiveScheduler(app=application, **kw)
        made.append(scheduler)
        return scheduler

    yield make
    for scheduler in made:
        scheduler.close()


ADD = {"name": "adder", "task": "t.add", "every": 60.0, "args": [1, 2], "kwargs": {}, "enabled": True}


def state_of(path: Path) -> dict:
    return json.loads(path.read_text())["entries"]


def test_loads_workspace_and_project_schedules(files, schedulers):
    mirror, state = files
    write_mirror(mirror, ADD, {"name": "report", "task": "t.report", "cron": "30 7 * * 1", "queue": "mail",
                               "enabled": True},
                 {"name": "shadow", "task": "t.mine", "every": 5.0, "enabled": True})
    s = schedulers(app({"nightly": {"task": "p.nightly", "schedule": 3600.0},
                        "shadow": {"task": "p.theirs", "schedule": 5.0}}))
    assert set(s.schedule) == {"adder", "report", "nightly", "shadow"}
    assert s.schedule["shadow"].task == "t.mine"  # the workspace's wins
    assert s.schedule["report"].options == {"queue": "mail"}
    assert (s.schedule["report"].schedule.hour, s.schedule["report"].schedule.day_of_week) == ({7}, {1})
    assert s.schedule["adder"].args == (1, 2)
    assert s.max_interval <= 1.0
    entries = state_of(state)
    assert entries["nightly"]["source"] == "app" and entries["nightly"]["every"] == 3600.0
    assert entries["report"] == {"source": "workspace", "task": "t.report", "cron": "30 7 * * 1", "enabled": True,
                                 "args": [], "kwargs": {}, "last_run_at": None, "total_run_count": 0}


def test_a_changed_mirror_is_applied_on_the_next_tick(files, schedulers):
    mirror, state = files
    write_mirror(mirror, ADD, {"name": "gone", "task": "t.gone", "every": 60.0, "enabled": True})
    s = schedulers(app())
    adder = s.schedule["adder"]
    adder.total_run_count = 4  # as if it had run
    write_mirror(mirror, dict(ADD, args=[5, 5]), {"name": "new", "task": "t.new", "cron": "* * * * *"},
                 {"name": "off", "task": "t.off", "every": 1.0, "enabled": False})
    s.tick()
    assert set(s.schedule) == {"adder", "new"}
    assert s.schedule["adder"].args == (5, 5) and s.schedule["adder"].total_run_count == 4
    entries = state_of(state)
    assert entries["off"]["enabled"] is False and "gone" not in entries
    unchanged = s.schedule["new"]
    os.utime(mirror)  # touched, same content: the entry object (and its next run) stays
    s.tick()
    assert s.schedule["new"] is unchanged


def test_a_missing_or_unreadable_mirror_keeps_what_runs_and_a_bad_entry_is_skipped_alone(files, schedulers):
    mirror, _ = files
    write_mirror(mirror, ADD)
    s = schedulers(app())
    mirror.write_text("{ not json")
    s.tick()
    assert set(s.schedule) == {"adder"}
    mirror.unlink()
    s.tick()
    assert set(s.schedule) == {"adder"}
    write_mirror(mirror, ADD, {"name": "bad", "task": "t", "cron": "* * *"}, {"name": "bad2", "task": "t"},
                 {"name": "ok", "task": "t.ok", "every": 2.0})
    s.tick()
    assert set(s.schedule) == {"adder", "ok"}


def test_due_schedules_are_sent_counted_and_restored_after_a_restart(files, schedulers):
    mirror, state = files
    write_mirror(mirror, dict(ADD, every=0.05))
    application = app()
    s = schedulers(application)
    deadline = time.monotonic() + 20
    while state_of(state)["adder"]["total_run_count"] < 3 and time.monotonic() < deadline:
        time.sleep(max(0.0, min(s.tick(), 0.05)))  # as beat does: only a positive wait sleeps
    entries = state_of(state)
    assert entries["adder"]["total_run_count"] >= 3 and entries["adder"]["last_run_at"]
    s.close()
    again = schedulers(application)
    assert again.schedule["adder"].total_run_count == entries["adder"]["total_run_count"]
    assert again.schedule["adder"].last_run_at.isoformat() == entries["adder"]["last_run_at"]


def test_a_schedule_in_its_own_timezone(files, schedulers):
    from zoneinfo import ZoneInfo

    mirror, _ = files
    write_mirror(mirror, {"name": "tokyo", "task": "t", "cron": "0 9 * * *", "timezone": "Asia/Tokyo"})
    s = schedulers(app())
    sched = s.schedule["tokyo"].schedule
    assert sched.tz == ZoneInfo("Asia/Tokyo")
    from datetime import datetime, timezone

    last, delta, _ = sched.remaining_delta(datetime(2026, 1, 1, tzinfo=timezone.utc))
    assert (last + delta).isoformat() == "2026-01-02T09:00:00+09:00"


def test_a_second_scheduler_of_the_workspace_is_refused(files, schedulers):
    mirror, _ = files
    write_mirror(mirror, ADD)
    first = schedulers(app())
    with pytest.raises(SystemExit) as refused:
        LiveScheduler(app=app())
    assert refused.value.code == EXIT_LOCKED
    first.close()
    schedulers(app())  # free again


def test_a_lazy_instance_neither_locks_nor_writes(files, schedulers):
    mirror, state = files
    write_mirror(mirror, ADD)
    LiveScheduler(app=app(), lazy=True).close()
    assert not state.exists()
    schedulers(app())


# -- the options of a workspace schedule -------------------------------------------------------------


def run_ticks(s, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(max(0.0, min(s.tick(), 0.05)))


def test_start_at_expires_one_off_and_priority(files, schedulers):
    from datetime import datetime, timedelta, timezone

    mirror, state = files
    now = datetime.now(timezone.utc)
    write_mirror(mirror,
                 {"name": "later", "task": "t.later", "every": 0.05, "start_at": (now + timedelta(hours=1)).isoformat()},
                 {"name": "over", "task": "t.over", "every": 0.05, "expires": (now - timedelta(seconds=1)).isoformat()},
                 {"name": "once", "task": "t.once", "every": 0.05, "one_off": True, "priority": 7, "expires": 30},
                 {"name": "soon", "task": "t.soon", "every": 3600, "start_at": (now + timedelta(seconds=0.3)).isoformat()})
    s = schedulers(app())
    assert s.schedule["once"].options == {"priority": 7, "expires": 30.0}
    assert s.schedule["over"].options["expires"] == s.schedule["over"].until
    run_ticks(s, 1.5)
    entries = state_of(state)
    assert entries["later"]["total_run_count"] == 0  # not before its start
    assert entries["over"]["total_run_count"] == 0  # not after it expired
    assert entries["once"]["total_run_count"] == 1 and entries["once"]["done"] is True
    assert entries["soon"]["total_run_count"] == 1  # an interval's first run is at its start, not an hour later
    s.close()
    again = schedulers(app())  # a restarted beat does not send the one-off again
    run_ticks(again, 0.5)
    assert state_of(state)["once"]["total_run_count"] == 1
    write_mirror(mirror, {"name": "once", "task": "t.once", "every": 0.05, "one_off": True, "args": [2]})
    run_ticks(again, 0.5)  # edited: it runs once more
    assert state_of(state)["once"]["total_run_count"] == 2


class ProjectScheduler(Scheduler):
    """A project's own scheduler with an entry of its own and RedBeat's lock attributes: what
    the live scheduler wraps (a real celery Scheduler, not a mock)."""

    lock = None
    lock_key = "project:lock"
    lock_timeout = 25
    made = []

    def __init__(self, *args, **kwargs):
        self.closed = False
        self.kwargs = dict(kwargs)
        super().__init__(*args, **kwargs)
        ProjectScheduler.made.append(self)

    def setup_schedule(self):
        self.update_from_dict({"theirs": {"task": "p.theirs", "schedule": 0.05}})
        self.update_from_dict(self.app.conf.beat_schedule)  # as django-celery-beat and RedBeat do

    def close(self):
        self.closed = True
        super().close()

    @property
    def info(self):
        return "       . project store -> here"


def test_the_project_scheduler_is_wrapped_and_both_are_ticked(files, schedulers, monkeypatch):
    mirror, state = files
    write_mirror(mirror, dict(ADD, every=0.05))
    monkeypatch.setenv("CELERYDESK_PROJECT_SCHEDULER", f"{__name__}:ProjectScheduler")
    ProjectScheduler.made.clear()
    lazy = LiveScheduler(app=app(), lazy=True, max_interval=9)
    assert "project store -> here" in lazy.info and f"{__name__}:ProjectScheduler" in lazy.info
    lazy.close()
    s = schedulers(app({"nightly": {"task": "p.nightly", "schedule": 3600.0}}), max_interval=9)
    inner = ProjectScheduler.made[-1]
    assert inner.kwargs["max_interval"] == 9 and inner.max_interval == 9  # beat's own value, not ours
    assert set(s.schedule) == {"adder"} and set(inner.schedule) == {"theirs", "nightly"}
    assert s.max_interval <= 1.0 and s.lock_key == "project:lock" and s.lock_timeout == 25
    s.lock = "a lock"  # what RedBeat's beat_init handler does, through beat's scheduler
    assert inner.lock == "a lock" and s.lock == "a lock"
    run_ticks(s, 0.6)
    assert inner.schedule["theirs"].total_run_count >= 3 and state_of(state)["adder"]["total_run_count"] >= 3
    assert "theirs" not in state_of(state)  # the project's scheduler keeps its own runs
    assert json.loads(state.read_text())["project_scheduler"] == f"{__name__}:ProjectScheduler"
    s.close()
    assert inner.closed
