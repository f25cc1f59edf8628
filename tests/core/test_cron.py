"""Crontab expressions read as celery beat reads them (celerydesk/core/cron.py).

Covered: field-level errors (out of range, step 0, step wider than the field, empty parts,
reversed ranges, month names in day-of-week, names where they mean nothing, wrong field count);
warnings (day-of-month AND day-of-week, uneven steps); plain-words descriptions; next runs in a
timezone with DST; interval helpers. Hypothesis properties: every expression ``check`` accepts,
celery's crontab accepts and expands to the same sets; every one celery refuses, ``check``
refuses; ``next_runs`` equals what a simulated beat loop (``crontab.is_due`` on a fake clock,
exactly as beat calls it) sends, in UTC and DST timezones.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from celerydesk.core import cron
from celerydesk.core.cron import FIELDS, CronError

# -- field-level errors --------------------------------------------------------------------------


@pytest.mark.parametrize("expr, field, part, words", [
    ("60 * * * *", "minute", "60", "out of range; minute goes from 0 to 59"),
    ("* 24 * * *", "hour", "24", "out of range"),
    ("* * 0 * *", "day-of-month", "0", "out of range"),
    ("* * * 13 *", "month", "13", "out of range"),
    ("* * * * 7", "day-of-week", "7", "use 0 for Sunday"),
    ("*/0 * * * *", "minute", "*/0", "step 0"),
    ("1-10/0 * * * *", "minute", "1-10/0", "step 0"),
    ("*/61 * * * *", "minute", "*/61", "celery would silently run only at 0"),
    ("* */25 * * *", "hour", "*/25", "larger than the 24 values"),
    ("1,,2 * * * *", "minute", "1,,2", "empty part"),
    (",1 * * * *", "minute", ",1", "empty part"),
    ("* * * * 1,", "day-of-week", "1,", "empty part"),
    ("30-10 * * * *", "minute", "30-10", "reversed range"),
    ("* * * * fri-mon", "day-of-week", "fri-mon", "reversed range"),
    ("* * * * mar", "day-of-week", "mar", "month name; celery would silently read it as 3 (Wednesday)"),
    ("* * * * mon-mar", "day-of-week", "mon-mar", "'mar' is a month name"),
    ("* * * mon *", "month", "mon", "does not take"),
    ("mon * * * *", "minute", "mon", "does not take"),
    ("*/ * * * *", "minute", "*/", "no step"),
    ("*/x * * * *", "minute", "*/x", "not a whole number"),
    ("5/2 * * * *", "minute", "5/2", "write a range, e.g. 5-59/2"),
    ("1-5-7 * * * *", "minute", "1-5-7", "not a range"),
    ("-5 * * * *", "minute", "-5", "not a range"),
    ("+5 * * * *", "minute", "+5", "not a plain number"),
    ("* * L * *", "day-of-month", "L", "Quartz"),
    ("* * * * monkey", "day-of-week", "monkey", "not a number or a known name"),
    ("* * 30 2 *", "day-of-month", "30", "never occurs in month '2'"),
    ("* * 31 4,6 *", "day-of-month", "31", "never occurs"),
])
def test_a_malformed_field_is_named_with_the_bad_part(expr, field, part, words):
    result = cron.check(expr)
    assert not result.ok
    assert any(p.field == field and p.part == part and words in p.message for p in result.errors), result.errors
    with pytest.raises(CronError) as raised:
        cron.parse(expr)
    assert f"{field}: {part!r}" in str(raised.value)


def test_every_problem_is_reported_at_once():
    result = cron.check("61 25 * * mar")
    assert [p.field for p in result.errors] == ["minute", "hour", "day-of-week"]


@pytest.mark.parametrize("expr, words", [
    ("* * * *", "has 4 field(s); cron needs 5"),
    ("* * * * * *", "has 6 field(s)"),
    ("", "empty"),
    ("@daily", "no @-macros"),
])
def test_the_shape_of_the_expression(expr, words):
    result = cron.check(expr)
    assert not result.ok and words in result.errors[0].message


def test_names_any_case_full_or_three_letters():
    expr = cron.parse("0 9 * JAN-Mar,december Monday-fri")
    assert expr.values[3] == frozenset({1, 2, 3, 12})
    assert expr.values[4] == frozenset({1, 2, 3, 4, 5})


# -- warnings ------------------------------------------------------------------------------------------


def test_day_of_month_and_day_of_week_together_warn_that_celery_ands_them():
    result = cron.check("0 0 1-7 * 1")
    assert result.ok
    assert any("BOTH" in w.message and "EITHER" in w.message for w in result.warnings)
    assert not cron.check("0 0 1-7 * *").warnings
    assert not cron.check("0 0 * * 1").warnings


def test_an_uneven_step_warns_about_the_short_gap():
    (warning,) = cron.check("*/7 * * * *").warnings
    assert warning.field == "minute" and "after 56 the next run is at 0, 4 minute(s) later" in warning.message
    assert not cron.check("*/15 * * * *").warnings


# -- descriptions ------------------------------------------------------------------------------------


@pytest.mark.parametrize("expr, words", [
    ("30 7 * * 1", "At 07:30, only on Monday"),
    ("* * * * *", "Every minute"),
    ("*/15 * * * *", "Every 15 minutes"),
    ("0 0 * * *", "At 00:00"),
    ("0 9 * * 1-5", "At 09:00, only on Monday through Friday"),
    ("30 7,19 * * *", "At 07:30 and 19:30"),
    ("5 * * * *", "At minute 5 of every hour"),
    ("0 */2 * * *", "At minute 0 of every 2nd hour"),
    ("*/10 9-17 * * *", "Every 10 minutes of hours 9 through 17"),
    ("0 0 1 * *", "At 00:00, on day 1 of the month"),
    ("0 0 1-7 * 1", "At 00:00, on days 1 through 7 of the month, and only if it is a Monday"),
    ("0 12 * 6-8 0,6", "At 12:00, only on Sunday and Saturday, only in June through August"),
])
def test_describe_in_plain_words(expr, words):
    assert cron.describe(expr) == words


# -- next runs, DST included ----------------------------------------------------------------------


def _iso(runs):
    return [r.isoformat() for r in runs]


def test_next_runs_in_a_timezone():
    runs = cron.next_runs("30 7 * * 1", 3, "Europe/Paris", datetime(2026, 11, 25, tzinfo=timezone.utc))
    assert _iso(runs) == ["2026-11-30T07:30:00+01:00", "2026-12-07T07:30:00+01:00", "2026-12-14T07:30:00+01:00"]


def test_next_runs_across_the_spring_gap_run_once_after_it():
    # 02:30 does not exist on 2026-03-08 in New York: beat sends it at 03:30 EDT, once.
    runs = cron.next_runs("30 2 * * *", 3, "America/New_York", datetime(2026, 3, 7, 12, tzinfo=timezone.utc))
    assert _iso(runs) == ["2026-03-08T03:30:00-04:00", "2026-03-09T02:30:00-04:00", "2026-03-10T02:30:00-04:00"]


def test_next_runs_across_the_autumn_repeat_do_not_run_the_hour_twice():
    runs = cron.next_runs("*/30 0-3 * * *", 6, "America/New_York", datetime(2026, 11, 1, 3, tzinfo=timezone.utc))
    assert _iso(runs) == ["2026-11-01T00:00:00-04:00", "2026-11-01T00:30:00-04:00", "2026-11-01T01:00:00-04:00",
                          "2026-11-01T01:30:00-04:00", "2026-11-01T02:00:00-05:00", "2026-11-01T02:30:00-05:00"]


def test_a_naive_after_is_read_in_the_timezone_and_seconds_do_not_count():
    runs = cron.next_runs("30 7 * * *", 1, "Europe/Paris", datetime(2026, 6, 1, 7, 29, 59))
    assert _iso(runs) == ["2026-06-01T07:30:00+02:00"]
    # Beat started at 07:30 sharp does not send 07:30's run: celery counts from the next minute.
    runs = cron.next_runs("30 7 * * *", 1, "Europe/Paris", datetime(2026, 6, 1, 7, 30))
    assert _iso(runs) == ["2026-06-02T07:30:00+02:00"]


def test_an_unknown_timezone_is_refused():
    with pytest.raises(Exception, match="unknown timezone 'Mars/Olympus'"):
        cron.next_runs("* * * * *", 1, "Mars/Olympus")


# -- intervals -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text, seconds", [(900, 900.0), ("900", 900.0), ("15m", 900.0), ("1h30m", 5400.0),
                                           ("2d", 172800.0), ("0.5", 0.5), ("90 s", 90.0)])
def test_parse_every(text, seconds):
    assert cron.parse_every(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "15x", "0", "-5", "nan", True])
def test_parse_every_refuses(text):
    with pytest.raises(Exception, match="every"):
        cron.parse_every(text)


def test_describe_and_next_every():
    assert cron.describe_every(900) == "Every 15 minutes"
    assert cron.describe_every(3600) == "Every hour"
    assert cron.describe_every(1) == "Every second"
    assert cron.describe_every(90) == "Every 90 seconds"
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert cron.next_every_runs(30, 2, start) == [start + timedelta(seconds=30), start + timedelta(seconds=60)]


# -- properties: the same as celery --------------------------------------------------------------------

_NAMES = {"month": [m[:3] for m in cron.MONTHS] + list(cron.MONTHS),
          "day-of-week": [d[:3] for d in cron.DAYS] + list(cron.DAYS)}


def _value(fld):
    number = st.integers(fld.low, fld.high)
    if fld.name not in _NAMES:
        return number.map(str)
    names = st.sampled_from(range(fld.low, fld.high + 1)).flatmap(
        lambda v: st.sampled_from([_NAMES[fld.name][v - fld.low], _NAMES[fld.name][v - fld.low + fld.size]])
    ).flatmap(lambda name: st.sampled_from([name, name.upper(), name.title()]))
    return st.one_of(number.map(str), names)


def _number_of(fld, token):
    if token.isdigit():
        return int(token)
    names = _NAMES.get(fld.name, [])
    return names.index(token.lower()) % fld.size + fld.low


def _part(fld):
    step = st.integers(1, fld.size).map(str)
    span = st.tuples(_value(fld), _value(fld)).map(
        lambda ab: ab if _number_of(fld, ab[0]) <= _number_of(fld, ab[1]) else (ab[1], ab[0]))
    return st.one_of(
        st.just("*"),
        step.map(lambda s: f"*/{s}"),
        _value(fld),
        span.map(lambda ab: f"{ab[0]}-{ab[1]}"),
        st.tuples(span, step).map(lambda t: f"{t[0][0]}-{t[0][1]}/{t[1]}"),
    )


valid_expressions = st.tuples(*(st.lists(_part(f), min_size=1, max_size=3).map(",".join) for f in FIELDS)).map(
    " ".join)


def _celery_crontab(text, app=None, nowfun=None):
    from celery.schedules import crontab

    minute, hour, dom, month, dow = text.split()
    return crontab(minute=minute, hour=hour, day_of_month=dom, month_of_year=month, day_of_week=dow,
                   app=app, nowfun=nowfun)


def _celery_sets(c):
    return (c.minute, c.hour, c.day_of_month, c.month_of_year, c.day_of_week)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_expressions)
def test_what_check_accepts_celery_accepts_with_the_same_sets(text):
    result = cron.check(text)
    if not result.ok:  # only an impossible day-of-month/month pair, which celery refuses too
        assert [p.message for p in result.errors if "never occurs" not in p.message] == []
        with pytest.raises(ValueError):
            _celery_crontab(text)
        return
    assert tuple(map(set, result.expr.values)) == tuple(map(set, _celery_sets(_celery_crontab(text))))


junk_field = st.text(alphabet="0123456789*/-,abcdefjmnorstuwy", min_size=1, max_size=8)


@settings(max_examples=400, deadline=None)
@given(st.tuples(junk_field, junk_field, junk_field, junk_field, junk_field).map(" ".join))
def test_anything_celery_refuses_check_refuses_and_anything_it_accepts_matches(text):
    result = cron.check(text)
    try:
        sets = _celery_sets(_celery_crontab(text))
    except Exception:  # ValueError, ParseException (not a ValueError), IndexError...
        assert not result.ok, f"celery refuses {text!r} but check accepts it"
        return
    if result.ok:
        assert tuple(map(set, result.expr.values)) == tuple(map(set, sets))


def _beat_loop(text, n, zone, after):
    """Beat's own loop on a fake clock: ask is_due(last_run_at); sleep what it says; run when due."""
    from celery import Celery

    app = Celery("beat-sim", set_as_current=False, config_source={"timezone": cron._zone_key(zone),
                                                                  "enable_utc": True})
    clock = [after.astimezone(timezone.utc)]
    schedule = _celery_crontab(text, app=app, nowfun=lambda: clock[0])
    last_run_at, runs = clock[0], []
    for _ in range(20 * n + 20):
        due, wait = schedule.is_due(last_run_at)
        if due:
            runs.append(clock[0].astimezone(zone))
            last_run_at = clock[0]  # beat's reserve(): the entry's last run is now
            if len(runs) == n:
                return runs
        else:
            clock[0] += timedelta(seconds=wait)
    raise AssertionError(f"beat loop did not reach {n} runs of {text!r}")


ZONES = ["UTC", "Europe/Paris", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"]
moments = st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2031, 12, 31))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(valid_expressions, st.sampled_from(ZONES), moments)
def test_next_runs_are_what_beat_sends(text, tz, moment):
    result = cron.check(text)
    assume(result.ok)
    zone = cron.get_zone(tz)
    after = moment.replace(tzinfo=timezone.utc)
    try:
        expected = _beat_loop(text, 3, zone, after)
    except RuntimeError:  # celery cannot find a run within its 2000-month search: nor do we
        with pytest.raises(CronError):
            cron.next_runs(result.expr, 3, tz, after)
        return
    assert _iso(cron.next_runs(result.expr, 3, tz, after)) == _iso(expected)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(["*/30 0-3 * * *", "0,30 1,2 * * *", "15 2 * * *", "* 2 * * *", "59 1 * * 0"]),
       st.sampled_from(["Europe/Paris", "America/New_York", "Australia/Lord_Howe"]),
       st.sampled_from([datetime(2026, 3, 8), datetime(2026, 3, 29), datetime(2026, 10, 25), datetime(2026, 11, 1),
                        datetime(2026, 4, 5), datetime(2026, 10, 4)]),
       st.integers(-36, 36))
# Just after the second 02:00 of Paris's fall-back: adding remaining_delta to it gave 02:30 CEST,
# a run before `after`; beat sends at once, in the repeated hour.
@example("*/30 0-3 * * *", "Europe/Paris", datetime(2026, 10, 25), 1)
def test_next_runs_are_what_beat_sends_around_dst_changes(text, tz, day, hours):
    zone = cron.get_zone(tz)
    after = (day + timedelta(hours=hours)).replace(tzinfo=timezone.utc)
    assert _iso(cron.next_runs(text, 4, tz, after)) == _iso(_beat_loop(text, 4, zone, after))
