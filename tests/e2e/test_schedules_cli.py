"""``celerydesk schedules ...`` as real child processes.

Covered: ``next`` prints what celery beat would send (compared with beat's own loop on a fake
clock) and refuses malformed expressions, timezones and times with a field-level message and
exit 2; ``list --json`` shows workspace and project schedules with their source, run count and
last run; add, edit, disable, enable, remove keep the file's comments and layout, refuse a bad
cron or a corrupt file without writing; ``export`` gives Python that celery reads back; the
Django storefront (its own venv, no celerydesk) runs beat with the live scheduler, whose
project schedules ``list`` then shows.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from celerydesk.core import cron, schedule_mirror
from celerydesk.core.workspace import load_workspace
from tests.core.test_cron import _beat_loop
from tests.helpers.stack import UpProcess, write_workspace

SAMPLE = Path(__file__).resolve().parents[2] / "celerydesk" / "sample" / "celerydesk.toml"


def celerydesk(*args, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "celerydesk", "schedules", *args], capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture
def commented(tmp_path):
    """The sample's workspace file, comments and all, on a port of its own."""
    path = tmp_path / "celerydesk.toml"
    path.write_text(SAMPLE.read_text().replace("port = 6390", "port = 6391"))
    return path


# -- next -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("expr, tz, after", [
    ("30 7 * * 1", "Europe/Paris", "2026-11-25T00:00:00+00:00"),
    ("*/30 0-3 * * *", "America/New_York", "2026-11-01T03:00:00+00:00"),
    ("30 2 * * *", "America/New_York", "2026-03-07T12:00:00"),
    ("0 0 29 2 *", "UTC", "2026-01-01T00:00:00Z"),
    ("0 9 1-7 jan-mar,dec mon-FRI", "Asia/Kolkata", "2027-12-30T10:00:00+05:30"),
])
def test_next_agrees_with_celery_beat(expr, tz, after):
    result = celerydesk("next", "--cron", expr, "-n", "6", "--tz", tz, "--after", after)
    assert result.returncode == 0, result.stderr
    zone = cron.get_zone(tz)
    start = datetime.fromisoformat(after.replace("Z", "+00:00"))
    start = start if start.tzinfo else start.replace(tzinfo=zone)
    expected = [r.isoformat() for r in _beat_loop(expr, 6, zone, start)]
    assert result.stdout.splitlines() == expected


def test_next_defaults_to_five_runs_from_now_in_utc():
    result = celerydesk("next", "--cron", "* * * * *")
    lines = result.stdout.splitlines()
    assert result.returncode == 0 and len(lines) == 5
    first = datetime.fromisoformat(lines[0])
    assert first.utcoffset().total_seconds() == 0 and 0 < (first - datetime.now(timezone.utc)).total_seconds() <= 61


@pytest.mark.parametrize("args, words", [
    (["--cron", "* * * * mar"], "day-of-week: 'mar': is a month name"),
    (["--cron", "*/0 * * * *"], "minute: '*/0': step 0"),
    (["--cron", "* 1,,2 * * *"], "hour: '1,,2': has an empty part"),
    (["--cron", "* * 32 * *"], "day-of-month: '32': 32 is out of range"),
    (["--cron", "*/61 * * * *"], "minute: '*/61'"),
    (["--cron", "5-1 * * * *"], "reversed range"),
    (["--cron", "* * * *"], "has 4 field(s)"),
    (["--cron", "* * * * *", "--tz", "Mars/Olympus"], "unknown timezone 'Mars/Olympus'"),
    (["--cron", "* * * * *", "--after", "yesterday"], "--after: 'yesterday' is not an ISO 8601"),
    (["--cron", "* * * * *", "-n", "0"], "-n: must be from 1"),
])
def test_next_refuses_bad_input_with_a_field_level_message(args, words):
    result = celerydesk("next", *args)
    assert result.returncode == 2, result.stdout
    assert words in result.stderr and result.stdout == ""


# -- list, edits, export -----------------------------------------------------------------------------


def test_list_json_shows_workspace_and_project_schedules(commented):
    runtime = commented.parent / ".celerydesk"
    runtime.mkdir()
    schedule_mirror.state_path(runtime).write_text(json.dumps({"entries": {
        "notify-every-15-minutes": {"source": "workspace", "total_run_count": 4,
                                    "last_run_at": "2026-11-25T12:15:00+00:00"},
        "from-settings": {"source": "project", "task": "shop.tasks.report", "every": 60.0, "total_run_count": 1},
    }}))
    result = celerydesk("list", "-w", str(commented), "--json", "--no-introspect")
    assert result.returncode == 0, result.stderr
    listed = {(s["name"], s["source"]): s for s in json.loads(result.stdout)}
    mine = listed[("notify-every-15-minutes", "workspace")]
    assert mine["enabled"] is True and mine["task"] == "celerydesk.sample.tasks.notify_customers"
    assert mine["cron"] == "*/15 * * * *" and mine["description"] == "Every 15 minutes"
    assert mine["total_run_count"] == 4 and mine["last_run_at"] == "2026-11-25T12:15:00+00:00"
    assert listed[("from-settings", "app")]["every"] == 60.0
    # Loaded through the introspector, the sample app has no beat_schedule of its own.
    introspected = json.loads(celerydesk("list", "-w", str(commented), "--json").stdout)
    assert [(s["name"], s["source"]) for s in introspected] == [("notify-every-15-minutes", "workspace")]
    table = celerydesk("list", "-w", str(commented))
    assert table.returncode == 0 and "notify-every-15-minutes  workspace" in table.stdout


def test_add_disable_enable_edit_remove_keep_comments(commented):
    original = commented.read_text()
    comments = [line for line in original.splitlines() if line.lstrip().startswith("#")]
    w = ["-w", str(commented)]

    added = celerydesk("add", "weekly-report", *w, "--task", "celerydesk.sample.tasks.add", "--cron", "30 7 * * 1",
                       "--args", "[1, 2]", "--queue", "celery")
    assert added.returncode == 0, added.stderr
    assert "At 07:30, only on Monday" in added.stdout
    for args, check in [
        (["disable", "weekly-report", *w], lambda s: s.enabled is False),
        (["enable", "weekly-report", *w], lambda s: s.enabled is True),
        (["edit", "weekly-report", *w, "--every", "15m", "--kwargs", '{"x": 1}'],
         lambda s: s.every == 900.0 and s.cron is None and s.kwargs == {"x": 1} and s.args == [1, 2]),
        (["edit", "weekly-report", *w, "--cron", "0 0 1-7 * 1"], lambda s: s.cron == "0 0 1-7 * 1"),
    ]:
        result = celerydesk(*args)
        assert result.returncode == 0, (args, result.stderr)
        (schedule,) = [s for s in load_workspace(commented).schedules if s.name == "weekly-report"]
        assert check(schedule), (args, schedule)
        text = commented.read_text()
        assert all(c in text.splitlines() for c in comments), args
    assert "BOTH" in result.stderr  # the last edit warned: celery ANDs day-of-month and day-of-week

    removed = celerydesk("remove", "weekly-report", *w)
    assert removed.returncode == 0, removed.stderr
    assert commented.read_text() == original


def test_edits_refuse_bad_input_and_never_write_it(commented):
    original = commented.read_text()
    w = ["-w", str(commented)]
    for args, words in [
        (["add", "x", *w, "--task", "t", "--cron", "* * * * mar"], "day-of-week: 'mar'"),
        (["add", "notify-every-15-minutes", *w, "--task", "t", "--every", "5"], "exists already"),
        (["add", "x", *w, "--task", "t", "--every", "soon"], "every: 'soon' is not a duration"),
        (["add", "x", *w, "--task", "t", "--every", "5", "--args", "{bad"], "--args is not valid JSON"),
        (["edit", "nosuch", *w, "--every", "5"], "nosuch"),
        (["disable", "nosuch", *w], "nosuch"),
        (["edit", "notify-every-15-minutes", *w, "--cron", "*/0 * * * *"], "minute: '*/0'"),
    ]:
        result = celerydesk(*args)
        assert result.returncode != 0, args
        assert words in result.stderr, (args, result.stderr)
        assert commented.read_text() == original, args


def test_a_corrupt_file_is_reported_and_kept(commented):
    corrupt = commented.read_text() + "\n[[schedules]\n"
    commented.write_text(corrupt)
    for args in (["disable", "notify-every-15-minutes"], ["list"], ["export"]):
        result = celerydesk(*args, "-w", str(commented))
        assert result.returncode == 2 and "not valid TOML" in result.stderr, (args, result.stderr)
    assert commented.read_text() == corrupt
    assert [p.name for p in commented.parent.iterdir()] == ["celerydesk.toml"]


def test_export_is_python_celery_reads_back(commented, tmp_path):
    assert celerydesk("add", "off", "-w", str(commented), "--task", "t", "--every", "60", "--disabled").returncode == 0
    out = tmp_path / "beat_settings.py"
    result = celerydesk("export", "-w", str(commented), "-o", str(out))
    assert result.returncode == 0, result.stderr
    namespace: dict = {}
    exec(compile(out.read_text(), str(out), "exec"), namespace)
    (name,) = namespace["CELERY_BEAT_SCHEDULE"]
    entry = namespace["CELERY_BEAT_SCHEDULE"][name]
    assert name == "notify-every-15-minutes" and entry["schedule"].minute == {0, 15, 30, 45}
    assert entry["args"] == ("Hello from beat",)
    printed = celerydesk("export", "-w", str(commented), "--include-disabled")
    assert '"off": {' in printed.stdout and '"schedule": 60.0' in printed.stdout


# -- the storefront, in its own venv ----------------------------------------------------------------


@pytest.mark.slow
def test_storefront_beat_runs_the_live_scheduler_without_celerydesk_installed(tmp_path):
    from tests.helpers.project_venv import storefront_venv, venv_env

    project = tmp_path / "storefront"
    shutil.copytree(Path(__file__).resolve().parents[1] / "projects" / "storefront", project)
    python = storefront_venv()
    check = subprocess.run([str(python), "-c", "import celerydesk"], capture_output=True, cwd=tmp_path,
                           env=venv_env(python))
    assert check.returncode != 0  # the project's interpreter really lacks celerydesk
    path = write_workspace(project, app="storefront", flower=False,
                           project={"python": str(python), "env": {"DJANGO_SETTINGS_MODULE": "storefront.settings"}})
    up = UpProcess(path)
    try:
        up.wait_for("stack ready", timeout=120)
        state = schedule_mirror.state_path(project / ".celerydesk")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (state.exists() and "notify_customers" in state.read_text()):
            time.sleep(0.2)
        for how in ([], ["--no-introspect"]):  # the app loaded by the introspector; what beat loaded
            listed = json.loads(celerydesk("list", "-w", str(path), "--json", *how).stdout)
            project_ones = {s["name"]: s for s in listed if s["source"] == "app"}
            assert project_ones["notify_customers"]["cron"] == "30 7 * * 1", how
            assert project_ones["notify_customers"]["description"] == "At 07:30, only on Monday"
            assert project_ones["notify_customers_every_15_seconds"]["every"] == 15.0
        log = (project / ".celerydesk" / "logs" / "beat.log").read_text()
        assert "celerydesk_beat_scheduler.LiveScheduler" in log and "live scheduler ready" in log
    finally:
        up.signal()
        assert up.finish(60) == 0
