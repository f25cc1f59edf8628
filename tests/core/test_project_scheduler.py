"""What celerydesk does with the app's beat scheduler (core/project_scheduler.py) and the command
beat runs for each (core/commands.beat_spec); the options of a schedule (core/schedule_options.py).

Covered: celery's own schedulers are stock, django-celery-beat's and RedBeat's (and their
subclasses) are wrapped, anything else (or a class that does not import) is custom, each with
the words `up` and the window show; beat's argv and environment for each; expires, start_at,
priority and timezone read from what a user types, with the reason for what is refused.
"""

from __future__ import annotations

import pytest

from celerydesk.core import commands, schedule_options
from celerydesk.core.errors import DeskError
from celerydesk.core.project_scheduler import CUSTOM, DATABASE, REDBEAT, STOCK, classify
from tests.helpers.stack import make_workspace

DCB = "django_celery_beat.schedulers.DatabaseScheduler"
RB = "redbeat.schedulers.RedBeatScheduler"
BASE = ["celery.beat.Scheduler", "builtins.object"]


@pytest.mark.parametrize("setting, mro, kind", [
    ("celery.beat:PersistentScheduler", ["celery.beat.PersistentScheduler"] + BASE, STOCK),
    ("django", [DCB] + BASE, DATABASE),
    ("shop.beat:Mine", ["shop.beat.Mine", DCB] + BASE, DATABASE),
    ("redbeat.RedBeatScheduler", [RB] + BASE, REDBEAT),
    ("shop.beat:Own", ["shop.beat.Own", "celery.beat.PersistentScheduler"] + BASE, CUSTOM),
])
def test_classify(setting, mro, kind):
    scheduler = classify({"beat_scheduler": setting, "beat_scheduler_mro": mro})
    assert (scheduler.kind, scheduler.setting) == (kind, setting)
    assert scheduler.wrapped == (kind in (DATABASE, REDBEAT))
    assert scheduler.sends_workspace_schedules == (kind != CUSTOM)
    assert scheduler.store == (kind if kind in (DATABASE, REDBEAT) else None)


def test_a_scheduler_that_does_not_import_is_run_as_configured_and_said():
    scheduler = classify({"beat_scheduler": "nowhere:Thing", "beat_scheduler_error": "ModuleNotFoundError: nowhere"})
    assert scheduler.kind == CUSTOM
    text = scheduler.describe()
    assert "runs the app's own scheduler nowhere:Thing as configured" in text
    assert "[[schedules]] are NOT sent" in text and "cannot be imported: ModuleNotFoundError: nowhere" in text


def test_beat_command_for_each_kind(tmp_path):
    ws = make_workspace(tmp_path)
    runtime = tmp_path / ".celerydesk"
    stock = commands.beat_spec(ws, ws.broker_url(), runtime)
    assert "-S" in stock.argv and "CELERYDESK_PROJECT_SCHEDULER" not in stock.env
    assert stock.readiness.pattern == "celerydesk: live scheduler ready"
    wrapped = commands.beat_spec(ws, ws.broker_url(), runtime, classify(
        {"beat_scheduler": "django", "beat_scheduler_mro": [DCB] + BASE}))
    assert wrapped.argv == stock.argv and wrapped.env["CELERYDESK_PROJECT_SCHEDULER"] == "django"
    custom = commands.beat_spec(ws, ws.broker_url(), runtime, classify(
        {"beat_scheduler": "x:Y", "beat_scheduler_mro": ["x.Y"] + BASE}))
    assert "-S" not in custom.argv and "CELERYDESK_SCHEDULES_FILE" not in custom.env
    assert custom.readiness.pattern == r"beat: Starting\.\.\."


def test_schedule_options_read_what_users_type():
    assert schedule_options.parse_expires("3600") == 3600.0
    assert schedule_options.parse_expires("2026-12-31T18:00:00+01:00") == "2026-12-31T18:00:00+01:00"
    assert schedule_options.parse_time(" 2026-12-24 18:00 ", "start") == "2026-12-24 18:00"
    assert schedule_options.parse_priority("7") == 7 and schedule_options.parse_timezone("Asia/Tokyo") == "Asia/Tokyo"
    for call, words in [(lambda: schedule_options.parse_expires("-5"), "from 0.001 to 31536000 seconds"),
                        (lambda: schedule_options.parse_expires("nan"), "finite"),
                        (lambda: schedule_options.parse_expires("1e300"), "from 0.001 to 31536000 seconds"),
                        (lambda: schedule_options.parse_expires("soon"), "not a date and time"),
                        (lambda: schedule_options.parse_time("2026-12-24", "start"), "not a date and time"),
                        (lambda: schedule_options.parse_priority("256"), "0 to 255"),
                        (lambda: schedule_options.parse_priority("1.5"), "0 to 255"),
                        (lambda: schedule_options.parse_timezone("Mars/Olympus"), "unknown timezone")]:
        with pytest.raises(DeskError, match=words):
            call()
