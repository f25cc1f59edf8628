"""The merged schedule list, the settings.py export, and the JSON mirror beat reads.

Covered: workspace and project schedules in one list with their source, a workspace schedule
replacing a project one of the same name, last run and count from beat's state file;
``export_snippet`` executed as Python gives celery the same crontab sets and arguments; the
mirror is written atomically and only when it changes, leaves out (and reports) a schedule
whose cron celery would misread, and is kept as it was when the workspace file is corrupt,
which is itself never written; the scheduler module is installed alone in its folder; next runs
honour a schedule's timezone, start_at, expires as a time and one_off; entries of a project's
store are listed once (an app entry beat writes into the store shown as the store's), with
notes, and a schedule celerydesk cannot rewrite says why; the workspace's are marked not sent
beside a scheduler celerydesk cannot add to.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path

import pytest

from celerydesk.core import schedule_mirror, schedules
from celerydesk.core.cron import CronError
from celerydesk.core.workspace import ScheduleConfig, load_workspace
from tests.helpers.stack import write_workspace

SCHEDULES_TOML = """
# the schedules of this project
[[schedules]]
name = "notify-monday-morning"   # said on Monday
task = "playground.tasks.notify_customers"
cron = "30 7 * * 1"
args = ["Hello World"]
kwargs = { delay = 2 }
enabled = true
queue = "mail"

[[schedules]]
name = "tick"
task = "celerydesk.sample.tasks.noop"
every = 5.0
enabled = false
"""


@pytest.fixture
def ws_path(tmp_path):
    path = write_workspace(tmp_path)
    path.write_text(path.read_text() + SCHEDULES_TOML)
    return path


# -- the merged view ----------------------------------------------------------------------------------


def test_workspace_schedules_with_description_and_next_runs(ws_path):
    views = schedules.workspace_schedules(load_workspace(ws_path))
    monday, tick = views
    assert (monday.name, monday.source, monday.enabled, monday.kind, monday.queue) == (
        "notify-monday-morning", "workspace", True, "cron", "mail")
    assert monday.description() == "At 07:30, only on Monday"
    after = datetime(2026, 11, 25, tzinfo=timezone.utc)
    assert [r.isoformat() for r in monday.next_runs(2, "Europe/Paris", after)] == [
        "2026-11-30T07:30:00+01:00", "2026-12-07T07:30:00+01:00"]
    assert (tick.kind, tick.enabled, tick.description(), tick.when) == ("every", False, "Every 5 seconds", "every 5 s")
    assert monday.editable and not monday.problems


def test_project_schedules_are_listed_after_the_workspace_ones_and_can_be_replaced(ws_path):
    ws = load_workspace(ws_path)
    project = [
        {"name": "tick", "task": "project.tasks.tick", "every": 60},
        {"name": "cleanup", "task": "project.tasks.cleanup", "cron": "0 4 * * *", "options": {"queue": "slow"}},
        {"name": "sunrise", "task": "project.tasks.wake", "schedule": "<solar: sunrise at latitude 1>"},
    ]
    state = {"entries": {
        "tick": {"source": "workspace", "last_run_at": "2026-11-25T10:00:00+00:00", "total_run_count": 7},
        "cleanup": {"source": "app", "last_run_at": "2026-11-25T04:00:00+00:00", "total_run_count": 3},
    }}
    views = schedules.merged(schedules.workspace_schedules(ws), schedules.project_schedules(project), state)
    assert [(v.name, v.source) for v in views] == [
        ("notify-monday-morning", "workspace"), ("tick", "workspace"),
        ("tick", "app"), ("cleanup", "app"), ("sunrise", "app")]
    ws_tick, project_tick, cleanup, sunrise = views[1:]
    assert project_tick.overridden and not cleanup.overridden
    assert ws_tick.total_run_count == 7 and project_tick.total_run_count == 0  # the record is the workspace's
    assert cleanup.total_run_count == 3 and cleanup.last_run_at == datetime(2026, 11, 25, 4, tzinfo=timezone.utc)
    assert cleanup.queue == "slow" and cleanup.description() == "At 04:00"
    assert sunrise.kind == "other" and sunrise.next_runs() == [] and not sunrise.editable
    listed = json.loads(json.dumps([v.to_json() for v in views]))
    assert {"name", "task", "enabled", "source", "description", "last_run_at", "total_run_count"} <= set(listed[0])


def test_project_schedules_in_the_introspectors_format():
    views = schedules.project_schedules([
        {"name": "monday", "source": "config", "task": "shop.tasks.notify", "args": ["Hello"],
         "schedule": {"type": "crontab", "cron": "30 7 * * 1", "minute": "30", "hour": "7"}},
        {"name": "often", "source": "add_periodic_task", "task": "shop.tasks.ping",
         "schedule": {"type": "interval", "seconds": 15.0, "relative": False}, "options": {"queue": "fast"}},
        {"name": "dawn", "source": "config", "task": "shop.tasks.wake",
         "schedule": {"type": "solar", "event": "sunrise", "lat": 1.0, "lon": 2.0}},
        {"name": "odd", "source": "config", "error": "TypeError: nope"},
    ])
    monday, often, dawn, odd = views
    assert (monday.source, monday.origin, monday.cron, monday.args) == ("app", "config", "30 7 * * 1", ["Hello"])
    assert monday.description() == "At 07:30, only on Monday"
    assert (often.origin, often.every, often.queue, often.description()) == (
        "add_periodic_task", 15.0, "fast", "Every 15 seconds")
    assert dawn.kind == "other" and "sunrise" in dawn.when
    assert odd.problems == ["the app's entry could not be read: TypeError: nope"]


def test_load_schedules_takes_the_project_ones_beat_loaded_from_its_state_file(ws_path):
    ws = load_workspace(ws_path)
    ws.runtime_dir.mkdir(exist_ok=True)
    schedule_mirror.state_path(ws.runtime_dir).write_text(json.dumps({"entries": {
        "notify-monday-morning": {"source": "workspace", "total_run_count": 2, "last_run_at": None},
        "from-settings": {"source": "app", "task": "shop.tasks.report", "cron": "0 6 * * *",
                          "total_run_count": 1, "last_run_at": "2026-11-25T06:00:00+00:00"},
    }}))
    views = schedules.load_schedules(ws)
    assert [(v.name, v.source, v.total_run_count) for v in views] == [
        ("notify-monday-morning", "workspace", 2), ("tick", "workspace", 0), ("from-settings", "app", 1)]


def test_an_invalid_cron_in_the_file_is_a_problem_of_that_schedule(tmp_path):
    path = write_workspace(tmp_path)
    path.write_text(path.read_text() + '[[schedules]]\nname = "bad"\ntask = "t"\ncron = "* * * * mar"\n')
    (view,) = schedules.workspace_schedules(load_workspace(path))
    assert view.problems and "month name" in view.problems[0]
    assert view.description().startswith("invalid: day-of-week")


# -- export ---------------------------------------------------------------------------------------------------


def test_export_snippet_is_python_that_gives_celery_the_same_schedules(ws_path):
    ws = load_workspace(ws_path)
    text = schedules.export_snippet(ws.schedules, source=str(ws.path))
    assert "CELERY_BEAT_SCHEDULE = {" in text and 'crontab(minute="30", hour="7", day_of_week="1")' in text
    assert "left out: tick" in text
    namespace: dict = {}
    exec(compile(text, "settings.py", "exec"), namespace)
    beat = namespace["CELERY_BEAT_SCHEDULE"]
    assert list(beat) == ["notify-monday-morning"]
    entry = beat["notify-monday-morning"]
    assert entry["task"] == "playground.tasks.notify_customers"
    assert entry["args"] == ("Hello World",) and entry["kwargs"] == {"delay": 2}
    assert entry["options"] == {"queue": "mail"}
    sched = entry["schedule"]
    assert (sched.minute, sched.hour, sched.day_of_week) == ({30}, {7}, {1})
    everything: dict = {}
    exec(schedules.export_snippet(ws.schedules, include_disabled=True), everything)
    assert everything["CELERY_BEAT_SCHEDULE"]["tick"]["schedule"] == 5.0


def test_export_refuses_an_expression_celery_would_misread():
    with pytest.raises(CronError, match="day-of-week"):
        schedules.export_snippet([ScheduleConfig("x", "t", cron="0 0 * * mar")])


def test_export_quotes_awkward_names_and_values():
    text = schedules.export_snippet([ScheduleConfig('say "hi"', "t", every=1, args=["é\n", None, True, 1.5],
                                                    kwargs={"k": [1, {"a": 2}]})])
    ns: dict = {}
    exec(text, ns)
    entry = ns["CELERY_BEAT_SCHEDULE"]['say "hi"']
    assert entry["args"] == ("é\n", None, True, 1.5) and entry["kwargs"] == {"k": (1, {"a": 2})}


# -- the mirror -----------------------------------------------------------------------------------------------


def test_the_mirror_has_every_schedule_and_is_rewritten_only_when_they_change(ws_path):
    ws = load_workspace(ws_path)
    runtime = ws.runtime_dir
    result = schedule_mirror.sync_mirror(ws_path, runtime)
    assert result.ok and result.written and not result.problems
    data = json.loads(schedule_mirror.mirror_path(runtime).read_text())
    assert data["schedules"] == [
        {"name": "notify-monday-morning", "task": "playground.tasks.notify_customers", "cron": "30 7 * * 1",
         "args": ["Hello World"], "kwargs": {"delay": 2}, "enabled": True, "queue": "mail"},
        {"name": "tick", "task": "celerydesk.sample.tasks.noop", "every": 5.0, "args": [], "kwargs": {},
         "enabled": False},
    ]
    stamp = os.stat(schedule_mirror.mirror_path(runtime)).st_mtime_ns
    ws_path.write_text(ws_path.read_text().replace("# the schedules", "# all the schedules"))
    again = schedule_mirror.sync_mirror(ws_path, runtime)
    assert again.ok and not again.written  # a comment changed, not a schedule: beat is left alone
    assert os.stat(schedule_mirror.mirror_path(runtime)).st_mtime_ns == stamp
    assert not list(runtime.glob(".*.tmp"))


def test_a_corrupt_workspace_keeps_the_previous_mirror_and_the_file(ws_path):
    runtime = ws_path.parent / ".celerydesk"
    schedule_mirror.sync_mirror(ws_path, runtime)
    before = schedule_mirror.mirror_path(runtime).read_text()
    corrupt = ws_path.read_text() + "\n[[schedules]\nname = \n"
    ws_path.write_text(corrupt)
    result = schedule_mirror.sync_mirror(ws_path, runtime)
    assert not result.ok and "not valid TOML" in result.error and str(ws_path) in result.error
    assert not result.written
    assert schedule_mirror.mirror_path(runtime).read_text() == before
    assert ws_path.read_text() == corrupt


def test_a_schedule_celery_would_misread_is_left_out_and_reported(tmp_path):
    path = write_workspace(tmp_path)
    path.write_text(path.read_text() + '[[schedules]]\nname = "bad"\ntask = "t"\ncron = "*/61 * * * *"\n'
                    '[[schedules]]\nname = "good"\ntask = "t"\ncron = "0 0 1 * 1"\n')
    result = schedule_mirror.sync_mirror(path, tmp_path / ".celerydesk")
    assert result.ok
    assert result.problems == ['[[schedules]] "bad" cron: minute: \'*/61\': step 61 is larger than the 60 values '
                               'of minute (celery would silently run only at 0)']
    assert any("BOTH" in w for w in result.warnings)
    names = [s["name"] for s in json.loads(schedule_mirror.mirror_path(tmp_path / ".celerydesk").read_text())["schedules"]]
    assert names == ["good"]


def test_the_scheduler_module_is_installed_alone_and_kept_current(tmp_path):
    """The scheduler and the one module it imports of celerydesk's (the history's sent records)."""
    from celerydesk.core.history import sent

    folder = schedule_mirror.install_scheduler_module(tmp_path)
    assert sorted(p.name for p in folder.iterdir()) == ["celerydesk_beat_scheduler.py", "celerydesk_history_sent.py"]
    module, recorder = folder / "celerydesk_beat_scheduler.py", folder / "celerydesk_history_sent.py"
    assert module.read_text() == schedule_mirror.scheduler_source()
    assert recorder.read_text() == Path(sent.__file__).read_text()
    module.write_text("# an old copy\n")
    recorder.write_text("# an old copy\n")
    schedule_mirror.install_scheduler_module(tmp_path)
    assert module.read_text() == schedule_mirror.scheduler_source()
    assert recorder.read_text() == Path(sent.__file__).read_text()


def test_workspace_id_is_stable_and_differs_between_workspaces(tmp_path):
    a, b = tmp_path / "a" / "celerydesk.toml", tmp_path / "b" / "celerydesk.toml"
    assert schedule_mirror.workspace_id(a) == schedule_mirror.workspace_id(a)
    assert schedule_mirror.workspace_id(a) != schedule_mirror.workspace_id(b)


# -- the options, and the entries of a project's store ---------------------------------------------------


def test_next_runs_honour_timezone_start_at_expires_and_one_off():
    after = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
    tokyo = schedules.ScheduleView(name="t", task="t", cron="0 9 * * *", timezone="Asia/Tokyo")
    assert [r.isoformat() for r in tokyo.next_runs(2, "UTC", after)] == [
        "2026-11-26T00:00:00+00:00", "2026-11-27T00:00:00+00:00"]
    assert tokyo.description() == "At 09:00 (Asia/Tokyo)"
    later = schedules.ScheduleView(name="l", task="t", every=3600, start_at="2026-12-01T08:00:00")
    assert [r.isoformat() for r in later.next_runs(2, "UTC", after)] == [
        "2026-12-01T08:00:00+00:00", "2026-12-01T09:00:00+00:00"]
    cron_later = schedules.ScheduleView(name="c", task="t", cron="30 7 * * *", start_at="2026-12-01T08:00:00+00:00")
    assert cron_later.next_runs(1, "UTC", after)[0].isoformat() == "2026-12-02T07:30:00+00:00"
    ending = schedules.ScheduleView(name="e", task="t", every=86400, expires="2026-11-27T13:00:00+00:00")
    assert len(ending.next_runs(5, "UTC", after)) == 2 and "until 2026-11-27" in ending.description()
    once = schedules.ScheduleView(name="o", task="t", every=60, one_off=True)
    assert len(once.next_runs(5, "UTC", after)) == 1
    once.done = True
    assert once.next_runs(5, "UTC", after) == [] and once.description() == "Every minute (once, done)"


def test_store_entries_are_listed_once_with_their_notes_and_what_beat_does():
    from celerydesk.core.project_scheduler import classify

    database = classify({"beat_scheduler": "django", "beat_scheduler_mro": ["django_celery_beat.schedulers."
                                                                             "DatabaseScheduler"]})
    store = schedules.store_views([
        {"name": "nightly", "task": "p.n", "every": 86400.0, "from_settings": True, "total_run_count": 3,
         "last_run_at": "2026-11-25T04:00:00+00:00", "next_run_at": "2026-11-26T04:00:00+00:00"},
        {"name": "dawn", "task": "p.d", "schedule": "At sunrise at latitude 1, longitude 2", "kind": "solar",
         "next_run_at": "2026-11-26T06:00:00+00:00"},
        {"name": "mine", "task": "p.m", "cron": "0 4 * * *", "timezone": "Europe/Paris"},
    ], "database")
    app = schedules.project_schedules([{"name": "nightly", "task": "p.n", "every": 86400},
                                       {"name": "new-in-settings", "task": "p.x", "every": 60}])
    mine = [schedules.ScheduleView(name="mine", task="w.m", every=5)]
    views = schedules.merged(mine, app, {}, store, database)
    assert [(v.source, v.name) for v in views] == [("workspace", "mine"), ("app", "new-in-settings"),
                                                    ("database", "nightly"), ("database", "dawn"),
                                                    ("database", "mine")]
    nightly, dawn = views[2], views[3]
    assert nightly.total_run_count == 3 and "writes it into the database at every start" in nightly.notes[0]
    assert "beat writes it into the database when it starts" in views[1].notes[0]
    assert "beat sends both" in views[0].warnings[0]
    assert dawn.writable and not dawn.editable and "this is a solar schedule" in dawn.edit_refusal()
    assert dawn.next_run("UTC").isoformat() == "2026-11-26T06:00:00+00:00"
    custom = classify({"beat_scheduler": "x:Y", "beat_scheduler_mro": ["x.Y"]})
    (alone,) = schedules.merged([schedules.ScheduleView(name="w", task="t", every=5)], [], {}, None, custom)
    assert alone.problems[0].startswith("not sent: the workspace's [[schedules]] are NOT sent")
