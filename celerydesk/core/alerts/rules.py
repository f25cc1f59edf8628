"""The ``[[alerts]]`` tables of a workspace: what each rule watches, parsed with clear errors.

One table per rule, with a unique ``name`` and a ``when`` saying what it watches::

    [[alerts]]
    name = "video-failed"
    when = "task-failed"          # task (a glob, e.g. "*.process_video")
    task = "*.process_video"

    when = "task-slow"            # task (glob), above (seconds of runtime)
    when = "queue-depth"          # queue (a name), above (messages), for (seconds)
    when = "worker-offline"       # worker (a glob on the hostname, e.g. "main@*"), for (seconds)
    when = "failure-rate"         # task (glob), above (a fraction, 0-1), window (seconds)

Problems name the table and the key (``[[alerts]] #2 "backlog" above: ...``), as the rest of the
workspace's validation does; they are collected by the workspace's validator (``v``), whose
``problem``, ``unknown``, ``string`` and ``number`` this module uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from celerydesk.core import limits

TASK_FAILED, TASK_SLOW, QUEUE_DEPTH = "task-failed", "task-slow", "queue-depth"
WORKER_OFFLINE, FAILURE_RATE = "worker-offline", "failure-rate"
# Each kind's keys besides name and when; every one is required.
KINDS: dict[str, tuple[str, ...]] = {
    TASK_FAILED: ("task",),
    TASK_SLOW: ("task", "above"),
    QUEUE_DEPTH: ("queue", "above", "for"),
    WORKER_OFFLINE: ("worker", "for"),
    FAILURE_RATE: ("task", "above", "window"),
}
TARGETS = ("task", "queue", "worker")  # the key naming what a rule watches
NUMBERS = ("above", "for", "window")
ALL_KEYS = ("name", "when", *TARGETS, *NUMBERS)
EXAMPLES = {"task": '"*.process_video"', "queue": '"celery"', "worker": '"main@*"'}


def above_bounds(kind: str) -> limits.Bounds:
    return {TASK_SLOW: limits.ALERT_SLOW, QUEUE_DEPTH: limits.ALERT_DEPTH, FAILURE_RATE: limits.ALERT_RATE}[kind]


NUMBER_BOUNDS = {"for": limits.ALERT_FOR, "window": limits.ALERT_WINDOW}


@dataclass(frozen=True)
class AlertRule:
    name: str
    when: str
    task: Optional[str] = None  # a glob on the task's name
    queue: Optional[str] = None
    worker: Optional[str] = None  # a glob on the worker's hostname
    above: Optional[float] = None
    for_s: float = 0.0  # ``for`` in the file
    window: Optional[float] = None

    @property
    def target(self) -> str:
        """What the rule watches, as written: the task glob, queue or worker glob."""
        return self.task or self.queue or self.worker or ""

    def describe(self) -> str:
        """One line a person reads: ``task-slow: *.process_video above 30 s``."""
        if self.when == TASK_FAILED:
            return f"a task {self.task} fails"
        if self.when == TASK_SLOW:
            return f"a task {self.task} runs longer than {self.above:g} s"
        if self.when == QUEUE_DEPTH:
            return f"queue {self.queue} holds more than {self.above:g} messages for {self.for_s:g} s"
        if self.when == WORKER_OFFLINE:
            return f"worker {self.worker} is offline for {self.for_s:g} s"
        return f"more than {self.above:.0%} of tasks {self.task} fail within {self.window:g} s"

    def table(self) -> dict[str, Any]:
        """The rule as its ``[[alerts]]`` table's keys (what the editor writes)."""
        out: dict[str, Any] = {"name": self.name, "when": self.when}
        for key in KINDS[self.when]:
            out[key] = self.for_s if key == "for" else getattr(self, key)
        return out


def parse_alerts(v, value: Any) -> list[AlertRule]:
    """The rules of the ``alerts`` array (None: none); problems go to the validator ``v``."""
    if value is None:
        return []
    if not isinstance(value, list):
        v.problem("alerts: must be an array of tables, written [[alerts]]")
        return []
    rules, names = [], set()
    for i, t in v.tables(value, "alerts"):
        where = f"[[alerts]] #{i}"
        name = v.string(t, where, "name", None)
        where = f'{where} "{name}"' if name else where
        v.unknown(t, where, ALL_KEYS)
        if not name:
            v.problem(f'{where} name: missing; every alert needs a unique name, e.g. name = "video-failed"')
        elif name in names:
            v.problem(f"{where} name: used twice; alert names must be unique")
        names.add(name or "")
        rule = _parse_rule(v, t, where, name or "")
        if rule is not None:
            rules.append(rule)
    return rules


def _parse_rule(v, t: dict, where: str, name: str) -> Optional[AlertRule]:
    when = v.string(t, where, "when", None)
    if when is None:
        v.problem(f"{where} when: missing; one of {', '.join(KINDS)}")
        return None
    if when not in KINDS:
        v.problem(f"{where} when: {when!r} is not one of {', '.join(KINDS)}")
        return None
    needed = KINDS[when]
    for key in ALL_KEYS[2:]:
        if key in t and key not in needed:
            v.problem(f"{where} {key}: not used by when = \"{when}\" (it takes {', '.join(needed)})")
    values: dict[str, Any] = {}
    ok = True
    for key in needed:
        if key not in t:
            example = EXAMPLES.get(key, "a number")
            v.problem(f"{where} {key}: missing; when = \"{when}\" needs {key} (e.g. {key} = {example})"
                      if key in TARGETS else
                      f"{where} {key}: missing; when = \"{when}\" needs {key}, "
                      f"a number {(above_bounds(when) if key == 'above' else NUMBER_BOUNDS[key]).text()}")
            ok = False
        elif key in TARGETS:
            text = v.string(t, where, key, None)
            if text is None:
                ok = False
            elif not text.strip():
                v.problem(f"{where} {key}: empty; name a {key} (e.g. {key} = {EXAMPLES[key]})")
                ok = False
            values[key] = text
        else:
            bounds = above_bounds(when) if key == "above" else NUMBER_BOUNDS[key]
            number = v.number(t, where, key, None, bounds)
            ok = ok and number is not None
            values["for_s" if key == "for" else key] = number
    return AlertRule(name=name, when=when, **values) if ok else None


def check_table(table: dict) -> tuple[Optional[AlertRule], list[str]]:
    """One ``[[alerts]]`` table checked as the workspace's loader checks it (the editor's line
    under its form): the rule, or None, and the problems."""
    from celerydesk.core.workspace import _Validator  # the loader's own checks (it imports this module)

    check = _Validator()
    found = parse_alerts(check, [table])
    return (found[0] if found else None), check.problems
