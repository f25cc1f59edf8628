"""The options a schedule takes beyond its timing, read from what a user typed or wrote.

``timezone`` (a crontab read in that zone), ``expires`` (seconds: each message expires that
long after it is sent; a time: the schedule sends nothing after it, as django-celery-beat's
``expires``), ``start_at`` (nothing is sent before it), ``one_off`` and ``priority`` (0-255).
The workspace file's validator, ``schedules add/edit`` and the editor read them the same way.
A time without an offset is read in the schedule's timezone, else the app's (celery's
``timezone`` setting, UTC unless set).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Optional, Union

from celerydesk.core import limits
from celerydesk.core.errors import DeskError

TIME_EXAMPLE = "2026-12-24T18:00:00+01:00"


def iso_time(value: Any) -> Optional[str]:
    """``value`` as ISO 8601 text with a date and a time, or None if it is not one."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date) or not isinstance(value, str):
        return None
    text = value.strip()
    try:
        datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError:
        return None
    return text if ("T" in text or " " in text) else None


def known_zone(name: str) -> bool:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def parse_time(text: str, what: str) -> str:
    found = iso_time(text)
    if found is None:
        raise DeskError(f"{what}: {text!r} is not a date and time", hint=f"ISO 8601, e.g. {TIME_EXAMPLE}")
    return found


def parse_expires(text: Union[str, int, float]) -> Union[float, str]:
    """Seconds (``3600``) or a time; DeskError otherwise."""
    try:
        seconds = float(text)
    except (TypeError, ValueError):
        return parse_time(str(text), "expires")
    problem = limits.out_of_bounds(seconds, limits.EXPIRES)
    if problem:
        raise DeskError(f"expires: {problem}", hint=f"seconds (3600), or a time: {TIME_EXAMPLE}")
    return seconds


def parse_priority(text: Union[str, int]) -> int:
    try:
        value = int(text)
    except (TypeError, ValueError):
        value = -1
    if not limits.PRIORITY.allows(value) or str(text).strip() not in (str(value), f"+{value}"):
        raise DeskError(f"priority: must be a whole number {limits.PRIORITY.text()}, got {text!r}",
                        hint="0 is the lowest; on Redis celery maps 0-255 onto its 10 steps")
    return value


def parse_timezone(name: str) -> str:
    if not known_zone(name):
        raise DeskError(f"unknown timezone {name!r}", hint="use an IANA name such as Europe/Paris or UTC")
    return name
