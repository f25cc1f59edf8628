"""The alert rules evaluated over what a watching process sees: task and worker events, queue depths.

:class:`AlertEvaluator` is a sink of ``core.event_consumer.EventConsumer`` (``submit``, on the
consumer's thread); ``sample_depths`` takes a queue-depth poll's figures; ``tick`` looks at what
depends on time passing (a backlog that lasts, a worker that stopped beating, a task still
running, a failure rate whose window moves on). All three may come from different threads: one
lock guards the state. No Qt, no I/O: firings go to ``on_fire`` (called outside the lock).

Each rule has conditions that are either true or not, and fires when one turns true; it fires
again only after that condition has cleared. For each kind, the condition is:

- ``task-failed``: the last task of a matching name (a glob on the whole name or its last
  dotted parts: ``process_video``) failed (per task name). A flood of failures
  of one task fires once, naming the first failed task's id; a success of that task clears it.
- ``task-slow``: the last task of a matching name ran (or has been running) longer than
  ``above`` (per task name); one finishing within the limit clears it.
- ``queue-depth``: the queue has held more than ``above`` messages in every sample for ``for``
  seconds; a sample at or below ``above`` clears it.
- ``worker-offline``: a worker seen before (a matching hostname) said it went offline, or sent
  no heartbeat for ``OFFLINE_AFTER_BEATS`` of its heartbeat intervals, ``for`` seconds ago (per
  worker); any event from it clears it. A worker never seen cannot be missed: it is not known,
  and one stopped on purpose (``expect_offline``) is not missed either.
- ``failure-rate``: of the matching tasks that finished within the last ``window`` seconds, more
  than the fraction ``above`` failed.

Times are the events' own (``timestamp``, Unix seconds) where they have one, else the clock's;
a worker's liveness goes by when its events arrive here.
"""

from __future__ import annotations

import fnmatch
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable, Iterable, Optional

from celerydesk.core.alerts.rules import (FAILURE_RATE, QUEUE_DEPTH, TASK_FAILED, TASK_SLOW, WORKER_OFFLINE,
                                          AlertRule)

OFFLINE_AFTER_BEATS = 2.5  # missed heartbeats before a worker counts as gone (celery's own 200 % + slack)
DEFAULT_HEARTBEAT_S = 2.0  # celery's worker_heartbeat default, when the event does not say
RUNNING_MAX = 100_000  # started tasks watched for task-slow (the oldest are forgotten beyond)
RATE_MAX = 1_000_000  # finished tasks kept per failure-rate rule (its window's)
_FINISHED = {"task-succeeded": False, "task-failed": True}


@dataclass(frozen=True)
class Firing:
    """One rule turning true. ``at`` is Unix seconds; exactly what it concerns is set among
    ``task_id``/``task``, ``queue`` and ``worker``."""
    rule: str
    when: str
    at: float
    message: str
    task_id: Optional[str] = None
    task: Optional[str] = None
    queue: Optional[str] = None
    worker: Optional[str] = None


class AlertEvaluator:
    def __init__(self, rules: Iterable[AlertRule], on_fire: Callable[[Firing], None],
                 clock: Callable[[], float] = time.time):
        self.on_fire, self.clock = on_fire, clock
        self._lock = threading.Lock()
        self.fired = 0
        self.rules: list[AlertRule] = []
        self._state: dict[AlertRule, _RuleState] = {}
        self._names: dict[str, str] = {}  # task id -> name (a task's later events lack it)
        self._running: dict = {}  # task id -> (name, started at)
        self._workers: dict = {}  # hostname -> (last seen, heartbeat s, offline at or None)
        self._leaving: set[str] = set()  # globs of workers being stopped on purpose (expect_offline)
        self.set_rules(rules)

    def set_rules(self, rules: Iterable[AlertRule]) -> None:
        """Replace the rules (the workspace was edited); a rule kept as it was keeps its state."""
        rules = list(rules)
        with self._lock:
            self.rules = rules
            self._state = {rule: self._state.get(rule) or _RuleState() for rule in rules}
            # Events are looked at only when a rule reads them: a flood costs nothing otherwise.
            self._reads_events = any(rule.when != QUEUE_DEPTH for rule in rules)

    @property
    def needs_depths(self) -> set[str]:
        """The queues whose depth a rule watches (a process polls only these, only if any)."""
        return {rule.queue for rule in self.rules if rule.when == QUEUE_DEPTH}

    def expect_offline(self, worker_glob: str) -> None:
        """Workers matching ``worker_glob`` are being stopped on purpose (the user stopped them,
        or the stack): their going offline is not an alert. They count again once back online."""
        with self._lock:
            self._leaving.add(worker_glob)
            for host in [h for h in self._workers if fnmatch.fnmatchcase(h, worker_glob)]:
                del self._workers[host]
                for rule, state in self._state.items():
                    if rule.when == WORKER_OFFLINE:
                        state.clear(host)

    # -- inputs ------------------------------------------------------------------------------------

    def submit(self, events: list) -> None:
        """An event consumer's sink: never raises (a malformed event is skipped)."""
        if not self._reads_events:
            return
        fired: list[Firing] = []
        with self._lock:
            for event in events:
                try:
                    self._event(event, fired)
                except (TypeError, ValueError, AttributeError):
                    continue
        self._tell(fired)

    def sample_depths(self, depths: dict, at: Optional[float] = None) -> None:
        """``{queue: messages}`` as just polled (queues missing from it are not judged)."""
        at = self.clock() if at is None else at
        fired: list[Firing] = []
        with self._lock:
            for rule, state in self._state.items():
                if rule.when != QUEUE_DEPTH or rule.queue not in depths:
                    continue
                messages = depths[rule.queue]
                key = rule.queue
                if messages > rule.above:
                    state.since.setdefault(key, at)
                    state.detail[key] = messages
                else:
                    state.since.pop(key, None)
                    state.clear(key)
            self._due(at, fired)
        self._tell(fired)

    def tick(self, now: Optional[float] = None) -> None:
        """What turns true with time alone: lasting backlogs, silent workers, slow running tasks."""
        now = self.clock() if now is None else now
        fired: list[Firing] = []
        with self._lock:
            for host, (seen, beat_s, offline_at) in list(self._workers.items()):
                if offline_at is None and now - seen > beat_s * OFFLINE_AFTER_BEATS:
                    self._workers[host] = (seen, beat_s, seen + beat_s * OFFLINE_AFTER_BEATS)
            for rule, state in self._state.items():
                if rule.when == TASK_SLOW:
                    for task_id, (name, started) in self._running.items():
                        if now - started > rule.above and _match(name, rule.task):
                            self._turn_true(rule, state, name, fired, now,
                                            f"{name} has been running for more than {rule.above:g} s "
                                            f"(task {task_id})", task_id=task_id, task=name)
                elif rule.when == FAILURE_RATE:
                    self._judge_rate(rule, state, now, fired)
            self._due(now, fired)
        self._tell(fired)

    # -- events ------------------------------------------------------------------------------------

    def _event(self, event: dict, fired: list) -> None:
        kind = event.get("type", "")
        at = float(event.get("timestamp") or self.clock())
        if kind.startswith("worker-"):
            host = event.get("hostname")
            leaving = [glob for glob in self._leaving if host and fnmatch.fnmatchcase(host, glob)]
            if leaving:
                if kind != "worker-online":
                    return  # going away as asked
                self._leaving.difference_update(leaving)
            if host:
                # Heard now, by this clock: a remote worker's own clock may be off by seconds,
                # which would make a live one look silent.
                heard = self.clock()
                beat_s = float(event.get("freq") or DEFAULT_HEARTBEAT_S)
                offline_at = heard if kind == "worker-offline" else None
                self._workers[host] = (heard, beat_s, offline_at)
                if offline_at is None:
                    for rule, state in self._state.items():
                        if rule.when == WORKER_OFFLINE:
                            state.since.pop(host, None)
                            state.clear(host)
            return
        task_id = event.get("uuid")
        if not task_id:
            return
        name = event.get("name") or self._names.get(task_id)
        if event.get("name"):
            self._names[task_id] = name
            if len(self._names) > RUNNING_MAX:
                self._names.pop(next(iter(self._names)))
        if name is None:
            return
        if kind == "task-started":
            self._running[task_id] = (name, at)
            if len(self._running) > RUNNING_MAX:
                self._running.pop(next(iter(self._running)))
            return
        if kind not in _FINISHED:
            return
        failed = _FINISHED[kind]
        started = self._running.pop(task_id, (name, None))[1]
        self._names.pop(task_id, None)
        runtime = event.get("runtime")
        if runtime is None and started is not None:
            runtime = at - started
        for rule, state in self._state.items():
            if not _match(name, rule.task):
                continue
            if rule.when == TASK_FAILED:
                if failed:
                    exception = event.get("exception") or "an exception"
                    self._turn_true(rule, state, name, fired, at, f"{name} failed: {exception} (task {task_id})",
                                    task_id=task_id, task=name)
                else:
                    state.clear(name)
            elif rule.when == TASK_SLOW and runtime is not None:
                if float(runtime) > rule.above:
                    self._turn_true(rule, state, name, fired, at,
                                    f"{name} ran for {float(runtime):.1f} s, more than {rule.above:g} s "
                                    f"(task {task_id})", task_id=task_id, task=name)
                else:
                    state.clear(name)
            elif rule.when == FAILURE_RATE:
                state.finished.append((at, failed, task_id))
                if len(state.finished) > RATE_MAX:
                    state.finished.popleft()
                self._judge_rate(rule, state, at, fired)

    # -- judging -----------------------------------------------------------------------------------

    def _judge_rate(self, rule: AlertRule, state: "_RuleState", now: float, fired: list) -> None:
        finished = state.finished
        while finished and finished[0][0] < now - rule.window:
            finished.popleft()
        failures = [task_id for _, failed, task_id in finished if failed]
        rate = len(failures) / len(finished) if finished else 0.0
        if finished and rate > rule.above:
            self._turn_true(rule, state, rule.task, fired, now,
                            f"{len(failures)} of {len(finished)} tasks {rule.task} failed in the last "
                            f"{rule.window:g} s ({rate:.0%}, more than {rule.above:.0%})",
                            task_id=failures[-1], task=rule.task)
        else:
            state.clear(rule.task)

    def _due(self, now: float, fired: list) -> None:
        """Rules that must stay true for ``for`` seconds: fire those that have."""
        for rule, state in self._state.items():
            if rule.when == QUEUE_DEPTH:
                for queue, since in state.since.items():
                    if now - since >= rule.for_s:
                        self._turn_true(rule, state, queue, fired, now,
                                        f"queue {queue} has held more than {rule.above:g} messages for "
                                        f"{now - since:.0f} s (now {state.detail.get(queue)})", queue=queue)
            elif rule.when == WORKER_OFFLINE:
                for host, (_seen, _beat, offline_at) in self._workers.items():
                    if offline_at is not None and _match(host, rule.worker) and now - offline_at >= rule.for_s:
                        self._turn_true(rule, state, host, fired, now,
                                        f"worker {host} has been offline for {now - offline_at:.0f} s", worker=host)

    def _turn_true(self, rule: AlertRule, state: "_RuleState", key: str, fired: list, at: float, message: str,
                   **concerned) -> None:
        if key in state.true:
            return  # still true since it fired: once
        state.true.add(key)
        fired.append(Firing(rule.name, rule.when, at, message, **concerned))

    def _tell(self, fired: list) -> None:
        for firing in fired:
            self.fired += 1
            try:
                self.on_fire(firing)
            except Exception:  # a broken receiver must not stop the evaluation
                pass


class _RuleState:
    """A rule's conditions: which keys (task names, queues, hosts) are true now, since when a
    lasting condition holds, and the finished tasks a failure rate counts."""

    def __init__(self):
        self.true: set[str] = set()
        self.since: dict[str, float] = {}
        self.detail: dict[str, object] = {}
        self.finished: deque = deque()

    def clear(self, key: str) -> None:
        self.true.discard(key)


def _match(value: Optional[str], pattern: Optional[str]) -> bool:
    """A glob on the whole name, or on its last dotted parts: ``process_video`` matches
    ``celerydesk.sample.tasks.process_video`` (as ``history --task`` does)."""
    if value is None or pattern is None:
        return False
    return fnmatch.fnmatchcase(value, pattern) or fnmatch.fnmatchcase(value, f"*.{pattern}")
