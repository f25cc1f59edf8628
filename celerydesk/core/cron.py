"""Crontab expressions read the way celery beat reads them: checked, described, previewed.

Beat runs celery's semantics, not cron's, so everything here follows celery (DESIGN.md):

- ``check()`` parses the five fields ``minute hour day-of-month month day-of-week`` one by one
  and reports each problem naming its field and the part typed: out-of-range values, step 0, a
  step wider than the field (celery silently turns ``*/61`` into ``0``), empty parts
  (``1,,2``), reversed ranges, names where they mean nothing, and month names in day-of-week
  (celery silently reads ``mar`` as 3, a Wednesday). What it accepts, celery accepts and expands
  to the same sets (a hypothesis test proves it); what celery would refuse, it refuses first,
  with a message instead of a traceback.
- Warnings say where celery's reading differs from cron's: day-of-month and day-of-week are
  ANDed by celery (cron ORs them).
- ``next_runs()`` runs beat's own loop (celery's ``crontab.is_due``) on a clock of its own, in a
  zoneinfo timezone, so DST gaps and repeats come out as beat would run them.
- ``describe()`` says it in plain words: "At 07:30, only on Monday".

Interval schedules (``every = SECONDS``) have their helpers at the end.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Optional, Union

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from celerydesk.core.errors import DeskError
from celerydesk.core.limits import EVERY, out_of_bounds

MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september",
          "october", "november", "december")
DAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")


@dataclass(frozen=True)
class Field:
    name: str  # what the user reads: "day-of-week"
    celery: str  # crontab()'s keyword: "day_of_week"
    low: int
    high: int

    @property
    def size(self) -> int:
        return self.high - self.low + 1


FIELDS = (
    Field("minute", "minute", 0, 59),
    Field("hour", "hour", 0, 23),
    Field("day-of-month", "day_of_month", 1, 31),
    Field("month", "month_of_year", 1, 12),
    Field("day-of-week", "day_of_week", 0, 6),
)
MINUTE, HOUR, DOM, MONTH, DOW = FIELDS
_DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)  # celery's: February of leap years
_DIGITS = re.compile(r"^[0-9]+$")


@dataclass(frozen=True)
class CronProblem:
    """One problem (or warning) with an expression: the field, the part as typed, what is wrong."""

    field: str  # a field name, or "" for the expression as a whole
    part: str
    message: str

    def __str__(self) -> str:
        where = f"{self.field}: " if self.field else ""
        return f"{where}{self.part!r}: {self.message}" if self.part else f"{where}{self.message}"


@dataclass(frozen=True)
class CronExpr:
    """A valid expression: its five fields as typed and the sets celery expands them to."""

    text: str
    fields: tuple  # five strings
    values: tuple  # five frozensets of ints
    warnings: tuple = ()

    def crontab_kwargs(self) -> dict:
        """Keyword arguments of ``celery.schedules.crontab`` (the fields as typed)."""
        return {f.celery: text for f, text in zip(FIELDS, self.fields)}

    def crontab(self, app=None, nowfun=None):
        from celery.schedules import crontab

        return crontab(app=app, nowfun=nowfun, **self.crontab_kwargs())


@dataclass
class CronCheck:
    """What the editor shows while the user types: the expression, or every problem at once."""

    expr: Optional[CronExpr]
    errors: list = field(default_factory=list)  # [CronProblem]
    warnings: list = field(default_factory=list)  # [CronProblem]

    @property
    def ok(self) -> bool:
        return self.expr is not None


class CronError(DeskError, ValueError):
    """A malformed expression; ``problems`` names each field and part."""

    def __init__(self, text: str, problems: list):
        self.text = text
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"cron {text!r}: {len(self.problems)} problem(s)\n{lines}",
                         hint='five fields: minute hour day-of-month month day-of-week, e.g. "30 7 * * 1"')


# -- parsing -------------------------------------------------------------------------------------


def check(text: str) -> CronCheck:
    """Parse without raising: every problem of every field, and the warnings."""
    if not isinstance(text, str):
        return CronCheck(None, [CronProblem("", "", f"expected a string, got {type(text).__name__}")])
    parts = text.split()
    if not parts:
        return CronCheck(None, [CronProblem("", "", "empty; write five fields: minute hour day-of-month "
                                                     "month day-of-week")])
    if parts[0].startswith("@"):
        return CronCheck(None, [CronProblem("", parts[0], "celery has no @-macros; write the five fields "
                                                          "(@daily is 0 0 * * *, @hourly is 0 * * * *)")])
    if len(parts) != 5:
        return CronCheck(None, [CronProblem("", text.strip(), f"has {len(parts)} field(s); cron needs 5 "
                                                              "(minute hour day-of-month month day-of-week)")])
    errors: list = []
    values = []
    for spec, fld in zip(parts, FIELDS):
        found, problems = _parse_field(spec, fld)
        values.append(frozenset(found))
        errors += problems
    if not errors and not any(d <= _DAYS_IN_MONTH[m - 1] for m in values[3] for d in values[2]):
        errors.append(CronProblem(DOM.name, parts[2], f"never occurs in month {parts[3]!r}"))
    if errors:
        return CronCheck(None, errors)
    warnings = _warnings(parts, values)
    return CronCheck(CronExpr(" ".join(parts), tuple(parts), tuple(values), tuple(warnings)), [], warnings)


def parse(text: str) -> CronExpr:
    """The valid expression, or CronError listing every problem."""
    result = check(text)
    if result.expr is None:
        raise CronError(text, result.errors)
    return result.expr


def _parse_field(spec: str, fld: Field) -> tuple:
    found: set = set()
    problems: list = []

    def bad(part: str, message: str) -> None:
        problems.append(CronProblem(fld.name, part, message))

    for part in spec.split(","):
        if part == "":
            bad(spec, "has an empty part (two commas together, or one at the start or end)")
            continue
        base, slash, step_text = part.partition("/")
        step = 1
        if slash:
            if step_text == "":
                bad(part, "has no step after '/' (e.g. */15)")
                continue
            if not _DIGITS.match(step_text):
                bad(part, f"step {step_text!r} is not a whole number")
                continue
            step = int(step_text)
            if step == 0:
                bad(part, "step 0 never advances; use a step of at least 1")
                continue
            if step > fld.size:
                bad(part, f"step {step} is larger than the {fld.size} values of {fld.name} "
                          f"(celery would silently run only at {fld.low})")
                continue
        if base == "*":
            found.update(range(fld.low, fld.high + 1, step))
            continue
        first, dash, last = base.partition("-")
        if dash:
            if "-" in last or first == "" or last == "":
                bad(part, "is not a range (write FROM-TO, e.g. 1-5)")
                continue
            start, end = _value(first, fld, part, bad), _value(last, fld, part, bad)
            if start is None or end is None:
                continue
            if start > end:
                bad(part, f"is a reversed range ({first} is after {last}); write it as two ranges, "
                          f"e.g. {first}-{fld.high},{fld.low}-{last}")
                continue
            found.update(range(start, end + 1, step))
            continue
        if slash:
            bad(part, f"celery does not accept a step after a single value; write a range, "
                      f"e.g. {base}-{fld.high}/{step}")
            continue
        single = _value(base, fld, part, bad)
        if single is not None:
            found.add(single)
    return found, problems


def _value(token: str, fld: Field, part: str, bad) -> Optional[int]:
    """One number or name of a field, checked against the field's range."""
    said = "" if token == part else f"{token!r} "  # name the token only when the part has more

    def refuse(message: str) -> None:
        bad(part, said + message)

    if _DIGITS.match(token):
        number = int(token)
        if fld is DOW and number == 7:
            refuse("7 means Sunday to some crons but celery refuses it; use 0 for Sunday")
            return None
        if not fld.low <= number <= fld.high:
            refuse(f"{number} is out of range; {fld.name} goes from {fld.low} to {fld.high}")
            return None
        return number
    word = token.lower()
    month = _lookup(word, MONTHS)
    day = _lookup(word, DAYS)
    if fld is MONTH and month is not None:
        return month + 1
    if fld is DOW and day is not None:
        return day
    if fld is DOW and month is not None:
        refuse(f"is a month name; celery would silently read it as {month + 1} "
               f"({DAYS[(month + 1) % 7].title()}); use a day name (mon) or a number 0-6 (0 is Sunday)")
        return None
    if month is not None or day is not None:
        refuse(f"is a name, which {fld.name} does not take; use numbers {fld.low}-{fld.high}")
        return None
    if any(c in token for c in "?LW#"):
        refuse("celery has no ?, L, W or # (Quartz-style) fields")
        return None
    if token.lstrip("+-").isdigit() or token.startswith(("+", "-")):
        refuse(f"is not a plain number {fld.low}-{fld.high}")
        return None
    refuse("is not a number or a known name")
    return None


def _lookup(word: str, names: tuple) -> Optional[int]:
    """Index of a name given in full or by its first three letters (celery reads three)."""
    for i, name in enumerate(names):
        if word == name or word == name[:3]:
            return i
    return None


def _warnings(parts: list, values: list) -> list:
    warnings = []
    dom_all, dow_all = values[2] == frozenset(range(1, 32)), values[4] == frozenset(range(7))
    if not dom_all and not dow_all:
        warnings.append(CronProblem("", "", (
            f"day-of-month {parts[2]} and day-of-week {parts[4]}: celery runs only on days matching BOTH; "
            "cron would run on days matching EITHER (for cron's reading, make two schedules)")))
    for spec, fld, found in zip(parts, FIELDS, values):
        m = re.match(r"^\*/(\d+)$", spec)
        if m and fld in (MINUTE, HOUR) and fld.size % int(m.group(1)):
            step, last = int(m.group(1)), max(found)
            warnings.append(CronProblem(fld.name, spec, (
                f"{fld.size} is not a multiple of {step}: after {last} the next run is at {fld.low}, "
                f"{fld.size - last} {fld.name}(s) later, not {step}")))
    if values[3] == frozenset({2}) and min(values[2]) == 29:
        warnings.append(CronProblem(DOM.name, parts[2], "February 29 comes only in leap years"))
    return warnings


# -- next runs, with celery's own arithmetic ----------------------------------------------------


def get_zone(tz: Union[str, "ZoneInfo", None]):
    """A zoneinfo timezone by name; CronError-like DeskError for an unknown name."""
    if tz is None or tz == "":
        return timezone.utc
    if not isinstance(tz, str):
        return tz
    if tz.upper() == "UTC":
        return timezone.utc
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise DeskError(f"unknown timezone {tz!r}", hint="use an IANA name such as Europe/Paris or UTC") from None


@functools.lru_cache(maxsize=16)
def _app(zone_key: str):
    """A bare Celery app whose timezone is the schedule's (celery's crontab reads app.timezone)."""
    from celery import Celery

    return Celery("celerydesk-cron", set_as_current=False,
                  config_source={"timezone": zone_key, "enable_utc": True})


def _zone_key(zone) -> str:
    return "UTC" if zone is timezone.utc else str(zone)


def next_runs(expr: Union[str, CronExpr], n: int = 5, tz=None, after: Optional[datetime] = None) -> list:
    """The next ``n`` times beat would send a crontab schedule, as aware datetimes in ``tz``.

    ``after`` is when beat last ran it (or started with it): default now. A naive ``after`` is
    read in ``tz``. Beat's own loop is run on a clock of ours: it asks celery's
    ``crontab.is_due(last_run_at)``, sleeps the seconds it says, and sends when it is due. Only
    that gets the hour a DST change repeats right: adding ``remaining_delta`` to the last run
    gave a run before ``after`` (02:30 CEST, the first 02:30, after the second 02:00).
    """
    cron = expr if isinstance(expr, CronExpr) else parse(expr)
    zone = get_zone(tz)
    clock = [(after or datetime.now(timezone.utc))]
    if clock[0].tzinfo is None:
        clock[0] = clock[0].replace(tzinfo=zone)
    clock[0] = clock[0].astimezone(timezone.utc)
    schedule = cron.crontab(app=_app(_zone_key(zone)), nowfun=lambda: clock[0])
    last_run_at, runs = clock[0], []
    # A run comes at the latest on the second turn (one sleep, then due); DST can add one more.
    for _ in range(4 * max(0, n) + 4):
        if len(runs) >= n:
            break
        try:
            due, wait = schedule.is_due(last_run_at)
        except RuntimeError as exc:  # celery gives up on dates it cannot find within 2000 months
            raise CronError(cron.text, [CronProblem("", "", f"celery finds no next run ({exc})")]) from None
        if due:
            runs.append(clock[0].astimezone(zone))
            last_run_at = clock[0]  # beat's reserve(): the entry's last run is now
        else:
            clock[0] += timedelta(seconds=wait)
    return runs


# -- plain words ------------------------------------------------------------------------------


def describe(expr: Union[str, CronExpr]) -> str:
    """``"30 7 * * 1"`` → ``"At 07:30, only on Monday"``; celery's reading (dom AND dow)."""
    cron = expr if isinstance(expr, CronExpr) else parse(expr)
    texts, (minutes, hours, doms, months, dows) = cron.fields, cron.values
    parts = [_describe_time(texts, sorted(minutes), sorted(hours))]
    dom_all, dow_all = len(doms) == DOM.size, len(dows) == DOW.size
    if not dom_all:
        parts.append(f"on {_plural('day', doms)} {_spans(doms, str)} of the month")
    if not dow_all:
        days = _spans(dows, lambda d: DAYS[d].title())
        parts.append(f"and only if it is {'a ' if len(dows) == 1 else ''}{days}" if not dom_all
                     else f"only on {days}")
    if len(months) != MONTH.size:
        parts.append(f"only in {_spans(months, lambda m: MONTHS[m - 1].title())}")
    return ", ".join(parts)


def _describe_time(texts: tuple, minutes: list, hours: list) -> str:
    step_m, step_h = _star_step(texts[0]), _star_step(texts[1])
    all_m, all_h = len(minutes) == 60, len(hours) == 24
    if all_h:
        if all_m:
            return "Every minute"
        if step_m:
            return f"Every {step_m} minutes"
        return f"At {_plural('minute', minutes)} {_spans(minutes, str)} of every hour"
    if len(minutes) * len(hours) <= 4:
        times = [f"{h:02d}:{m:02d}" for h in hours for m in minutes]
        return "At " + _join(times)
    if step_h:
        hour_words = f"of every {_ordinal(step_h)} hour"
    else:
        hour_words = f"of {_plural('hour', hours)} {_spans(hours, str)}"
    if all_m:
        return f"Every minute {hour_words}"
    if step_m:
        return f"Every {step_m} minutes {hour_words}"
    return f"At {_plural('minute', minutes)} {_spans(minutes, str)} {hour_words}"


def _star_step(text: str) -> int:
    m = re.match(r"^\*/(\d+)$", text)
    return int(m.group(1)) if m and int(m.group(1)) > 1 else 0


def _plural(word: str, values) -> str:
    return word if len(values) == 1 else f"{word}s"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _spans(values, name) -> str:
    """Sorted values with runs of three or more as ``X through Y``."""
    values = sorted(values)
    groups: list = []
    for v in values:
        if groups and v == groups[-1][-1] + 1:
            groups[-1].append(v)
        else:
            groups.append([v])
    words = []
    for g in groups:
        if len(g) >= 3:
            words.append(f"{name(g[0])} through {name(g[-1])}")
        else:
            words += [name(v) for v in g]
    return _join(words)


def _join(words: list) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


# -- interval schedules (every = SECONDS) ---------------------------------------------------------

_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


def parse_every(value: Union[str, int, float]) -> float:
    """Seconds from ``900``, ``"900"``, ``"15m"``, ``"1h30m"`` or ``"2d"``; DeskError otherwise."""
    if isinstance(value, bool):
        raise DeskError(f"every: expected seconds, got {value!r}", hint="give seconds (900) or a duration such as 15m")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        text = str(value).strip().lower()
        try:
            seconds = float(text)
        except ValueError:
            pieces = re.findall(r"(\d+(?:\.\d+)?)\s*(sec|min|s|m|h|d)", text)
            if not pieces or re.sub(r"(\d+(?:\.\d+)?)\s*(sec|min|s|m|h|d)|\s", "", text):
                raise DeskError(f"every: {value!r} is not a duration",
                                hint="give seconds (900) or a duration such as 15m, 1h30m, 2d") from None
            seconds = sum(float(n) * _UNITS[u] for n, u in pieces)
    problem = out_of_bounds(seconds, EVERY)  # also refuses NaN and infinity
    if problem:
        raise DeskError(f"every: {problem}",
                        hint="give seconds (900) or a duration such as 15m, 1h30m, 2d; a rarer schedule is a crontab")
    return seconds


def describe_every(seconds: float) -> str:
    """``900`` → ``"Every 15 minutes"``."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            n = int(seconds // size)
            return f"Every {unit}" if n == 1 else f"Every {n} {unit}s"
    text = f"{seconds:g}"
    return "Every second" if seconds == 1 else f"Every {text} seconds"


def next_every_runs(seconds: float, n: int = 5, after: Optional[datetime] = None, tz=None) -> list:
    """Beat sends an interval schedule ``seconds`` after its last run: after + k × seconds."""
    zone = get_zone(tz)
    start = after or datetime.now(timezone.utc)
    if start.tzinfo is None:
        start = start.replace(tzinfo=zone)
    start = start.astimezone(timezone.utc)
    return [(start + timedelta(seconds=seconds * k)).astimezone(zone) for k in range(1, max(0, n) + 1)]
