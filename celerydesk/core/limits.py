"""The allowed range of every number a user gives celerydesk, named once, checked at the edge.

The workspace loader, the command line and the window's forms all check against these, so a
value is refused with the same words wherever it is typed: the field's name, the range, what
was given. A number must also be finite: TOML and Python's float() read ``inf`` and ``nan``,
which Qt timers, datetimes and celery's schedules cannot take.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Optional

from celerydesk.core.errors import DeskError

DAY_S = 86_400.0
YEAR_S = 365 * DAY_S


@dataclass(frozen=True)
class Bounds:
    low: float
    high: float
    unit: str = ""  # "seconds", or "" for a plain count

    def allows(self, value: float) -> bool:
        return math.isfinite(value) and self.low <= value <= self.high

    def text(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        return f"from {_plain(self.low)} to {_plain(self.high)}{unit}"


def _plain(number: float) -> str:
    """31536000, not 3.1536e+07: a range is read by people."""
    return str(int(number)) if float(number).is_integer() else f"{number:g}"


STOP_TIMEOUT = Bounds(0.0, 3600.0, "seconds")  # the warm shutdown's grace, then the group is killed
EVERY = Bounds(0.001, YEAR_S, "seconds")  # an interval schedule; a longer one is a crontab
COUNTDOWN = Bounds(0.0, YEAR_S, "seconds")
WAIT = Bounds(0.1, DAY_S, "seconds")
PORT = Bounds(1, 65535)
MAX_CRASHES = Bounds(1, 100)
CRASH_WINDOW = Bounds(1.0, DAY_S, "seconds")
EXPIRES = Bounds(0.001, YEAR_S, "seconds")  # a message's expiry after it is sent
PEEK = Bounds(1, 1000)  # messages `queues peek` shows at once
PRIORITY = Bounds(0, 255)  # a message's priority (AMQP's range; Redis maps it onto 0-9)
HISTORY_KEEP_DAYS = Bounds(1, 3650)  # [history] keep_days
HISTORY_MAX_TASKS = Bounds(1000, 100_000_000)  # [history] max_tasks: ~1 kB each on disk
# [[alerts]]: a task's runtime, a queue's messages, a fraction of failed tasks, how long a rule must
# stay true (for), and the span a failure rate is counted over (window).
ALERT_SLOW = Bounds(0.001, DAY_S, "seconds")
ALERT_DEPTH = Bounds(0, 100_000_000, "messages")
ALERT_RATE = Bounds(0.0, 1.0)
ALERT_FOR = Bounds(0.0, DAY_S, "seconds")
ALERT_WINDOW = Bounds(1.0, 7 * DAY_S, "seconds")
# Processes and threads cost memory each; green threads (gevent, eventlet) are cheap, and
# thousands of them are how those pools are meant to run. (solo ignores it: one task at a time.)
CONCURRENCY = {"prefork": Bounds(1, 256), "solo": Bounds(1, 256), "threads": Bounds(1, 1024),
               "gevent": Bounds(1, 10_000), "eventlet": Bounds(1, 10_000)}
# Nesting of task arguments: far beyond any real call, well within what Python's JSON (and
# kombu's serializer, which recurses) takes.
MAX_JSON_DEPTH = 32


def out_of_bounds(value: Any, bounds: Bounds) -> Optional[str]:
    """None when ``value`` is a number within ``bounds``, else why not (without the field name)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"expected a number {bounds.text()}, got {value!r}"
    if not math.isfinite(value):
        return f"must be a finite number {bounds.text()}, got {value!r}"
    if not bounds.low <= value <= bounds.high:
        return f"must be {bounds.text()}, got {_plain(value)}"
    return None


def number_option(text: str, option: str, bounds: Bounds) -> float:
    """A command-line number (``--countdown 5``), or a DeskError naming the option and its range."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise DeskError(f"{option}: {text!r} is not a number", hint=f"give a number {bounds.text()}") from None
    problem = out_of_bounds(value, bounds)
    if problem:
        raise DeskError(f"{option}: {problem}", hint=f"give a number {bounds.text()}")
    return value


def json_depth(value: Any) -> int:
    """How deeply arrays and objects nest in ``value`` (a scalar is 0); iterative, so any depth."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, (list, tuple)):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children)
    return deepest


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def load_json(text: str) -> Any:
    """``json.loads`` for what users type: no NaN or Infinity (not JSON), at most MAX_JSON_DEPTH
    levels (Python's reader recurses: 5,000 levels raise RecursionError). JSONDecodeError keeps
    its position; the other refusals are a ValueError saying what."""
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels") from None
    if json_depth(value) > MAX_JSON_DEPTH:
        raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels")
    return value
