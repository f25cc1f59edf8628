"""The supervision state machine of one program: pure logic, an injected clock, no I/O.

The owner (a managed process, a container broker) reports what happened (``spawned``,
``ready_seen``, ``exited`` ...) and carries out the one ``Effect`` each call returns: spawn the
program, or terminate it. Timers are data: the owner arms a single timer for ``next_wake`` and
calls ``wake()`` when it fires. Every edge goes through ``_transition``, guarded by an assertion
of the state it leaves, so tests can drive the whole table with a fake clock and no processes.

Semantics follow supervisord: a program is RUNNING once it has been up ``startsecs`` *and* its
readiness probe answered; dying before that is a failed start (BACKOFF, then FATAL after
``startretries``); dying after it is EXITED, followed by an automatic restart when the
``autorestart`` policy says so. A crash loop (a program that dies soon after each restart) is
not restarted at once forever: the first crash within ``crash_window`` restarts at once, the
next ones after growing delays (BACKOFF), and the ``max_crashes``-th is FATAL. When the owner
stops everything (``hold``), nothing restarts or retries any more, as supervisord does once its
mood is below RUNNING.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

from celerydesk.core.states import STARTABLE_STATES, ProcessState

S = ProcessState


class Autorestart(enum.Enum):
    ALWAYS = "always"
    UNEXPECTED = "unexpected"  # restart unless the exit code is one of ``exitcodes``
    NEVER = "never"


class Effect(enum.Enum):
    NONE = "none"
    SPAWN = "spawn"
    TERMINATE = "terminate"


@dataclass(frozen=True)
class RestartPolicy:
    startsecs: float = 0.0  # minimum uptime before RUNNING (readiness is the real signal)
    start_timeout: float = 60.0  # not ready by then: the start failed
    startretries: int = 3
    backoff_step: float = 1.0  # retry n waits n * step seconds, as supervisord does
    backoff_max: float = 10.0
    autorestart: Autorestart = Autorestart.UNEXPECTED
    exitcodes: frozenset = field(default_factory=lambda: frozenset({0}))
    max_crashes: int = 5  # automatic restarts wanted within crash_window: this many is FATAL
    crash_window: float = 60.0

    def crash_delay(self, crashes: int) -> float:
        """Before restarting after the ``crashes``-th crash in the window: 0, then step, 2 step, 4 step ..."""
        if crashes <= 1:
            return 0.0
        return min(self.backoff_step * 2 ** (crashes - 2), self.backoff_max)


Listener = Callable[["Supervision", ProcessState, ProcessState], None]


class Supervision:
    """State, counters and deadlines of one supervised program."""

    def __init__(
        self,
        name: str,
        policy: RestartPolicy = RestartPolicy(),
        clock: Callable[[], float] = time.monotonic,
        listener: Optional[Listener] = None,
    ):
        self.name = name
        self.policy = policy
        self.clock = clock
        self.listener = listener
        self.state = S.STOPPED
        self.pid: Optional[int] = None
        self.retries = 0  # failed starts in a row
        self.restarts = 0  # automatic restarts after an exit, since the last user start
        self.spawned_at: Optional[float] = None
        self.ready = False
        self.exit_code: Optional[int] = None
        self.message = ""  # why the last transition happened, in words for the user
        self.next_wake: Optional[float] = None
        self._abandoning = False  # terminating a start that timed out
        self._crashes: list[float] = []  # when each recent automatic restart was wanted
        self._held = False  # the owner is stopping everything: no restart, no retry

    # -- requests from the user ---------------------------------------------------------------

    def start(self) -> Effect:
        if self.state not in STARTABLE_STATES:
            return Effect.NONE
        self.retries = 0
        self.restarts = 0
        self._crashes = []
        self._held = False
        self._begin_start("start requested")  # STOPPED/EXITED/FATAL/BACKOFF -> STARTING
        return Effect.SPAWN

    def stop(self) -> Effect:
        if self.state == S.BACKOFF:
            self.next_wake = None
            self._transition(S.STOPPED, "stop requested")  # BACKOFF -> STOPPED
            return Effect.NONE
        if self.state in (S.STARTING, S.RUNNING):
            self.next_wake = None
            self._transition(S.STOPPING, "stop requested")  # STARTING/RUNNING -> STOPPING
            return Effect.TERMINATE
        return Effect.NONE

    def hold(self) -> Effect:
        """The owner is stopping everything: from now on an exit is not restarted and a failed
        start not retried (until the next ``start``). A program waiting to start again stops."""
        self._held = True
        if self.state == S.BACKOFF:
            self.next_wake = None
            self._transition(S.STOPPED, "not started again: stopping")  # BACKOFF -> STOPPED
        return Effect.NONE

    # -- reports from the owner ---------------------------------------------------------------

    def spawned(self, pid: Optional[int]) -> None:
        assert self.state in (S.STARTING, S.STOPPING), self.state
        self.pid = pid
        self.spawned_at = self.clock()
        self._arm_start_deadline()

    def spawn_failed(self, reason: str, permanent: bool = False) -> Effect:
        """The program could not even be started (no such binary, engine refused...)."""
        if self.state == S.STOPPING:
            self._transition(S.STOPPED, reason)  # STOPPING -> STOPPED
            return Effect.NONE
        assert self.state == S.STARTING, self.state
        if permanent:
            self.next_wake = None
            self._transition(S.FATAL, reason)  # STARTING -> FATAL
            return Effect.NONE
        return self._failed_start(reason)

    def ready_seen(self) -> Effect:
        if self.state == S.STARTING and not self._abandoning:
            self.ready = True
            self._maybe_running()
        return Effect.NONE

    def exited(self, code: Optional[int], description: str = "") -> Effect:
        self.exit_code = code
        self.pid = None
        what = description or f"exited with code {code}"
        if self.state == S.STOPPING:
            self.next_wake = None
            self._transition(S.STOPPED, what)  # STOPPING -> STOPPED
            return Effect.NONE
        if self.state == S.STARTING:
            if self._abandoning:  # we terminated it: the timeout is the cause, not the exit
                return self._failed_start(self.message)
            return self._failed_start(f"{what} before it was ready")
        assert self.state == S.RUNNING, self.state
        self._transition(S.EXITED, what)  # RUNNING -> EXITED
        if self._held or not self._should_restart(code):
            return Effect.NONE
        return self._restart_after_crash(what)

    def wake(self) -> Effect:
        """The owner's timer fired: act on whichever deadline is due."""
        now = self.clock()
        if self.next_wake is None or now < self.next_wake:
            return Effect.NONE
        self.next_wake = None
        if self.state == S.BACKOFF:
            why = f"retry {self.retries} of {self.policy.startretries}" if self.retries \
                else f"automatic restart #{self.restarts}"
            self._begin_start(why)  # BACKOFF -> STARTING
            return Effect.SPAWN
        if self.state == S.STARTING and not self._abandoning:
            if self._maybe_running():
                return Effect.NONE
            if now - self.spawned_at >= self.policy.start_timeout:
                # Not ready in time: terminate it; its exit then counts as a failed start.
                self._abandoning = True
                self.message = f"not ready after {self.policy.start_timeout:g} s"
                return Effect.TERMINATE
            self._arm_start_deadline()
        return Effect.NONE

    # -- derived ------------------------------------------------------------------------------

    def uptime(self) -> Optional[float]:
        if self.spawned_at is None or self.pid is None:
            return None
        return self.clock() - self.spawned_at

    # -- internals ----------------------------------------------------------------------------

    def _begin_start(self, why: str) -> None:
        self.ready = False
        self._abandoning = False
        self.spawned_at = None
        self.next_wake = None
        self._transition(S.STARTING, why)

    def _arm_start_deadline(self) -> None:
        start = self.spawned_at
        deadlines = [start + self.policy.start_timeout]
        if self.policy.startsecs > 0 and self.clock() - start < self.policy.startsecs:
            deadlines.append(start + self.policy.startsecs)
        self.next_wake = min(deadlines)

    def _maybe_running(self) -> bool:
        if not self.ready or self.spawned_at is None:
            return False
        if self.clock() - self.spawned_at < self.policy.startsecs:
            self._arm_start_deadline()
            return False
        self.retries = 0
        self.next_wake = None
        self._transition(S.RUNNING, "ready")  # STARTING -> RUNNING
        return True

    def _restart_after_crash(self, what: str) -> Effect:
        """EXITED with a restart wanted: at once, later, or never again (a crash loop)."""
        now = self.clock()
        window = self.policy.crash_window
        self._crashes = [t for t in self._crashes if now - t < window] + [now]
        crashes = len(self._crashes)
        if crashes >= self.policy.max_crashes:
            # EXITED -> FATAL
            self._transition(S.FATAL, f"{what}; it crashed {crashes} times within {window:g} s, so it "
                                      "is not restarted again")
            return Effect.NONE
        self.restarts += 1
        delay = self.policy.crash_delay(crashes)
        if delay <= 0:
            self._begin_start(f"automatic restart #{self.restarts}")  # EXITED -> STARTING
            return Effect.SPAWN
        self.next_wake = now + delay
        # EXITED -> BACKOFF
        self._transition(S.BACKOFF, f"{what}; crash {crashes} within {window:g} s, restarting in {delay:g} s")
        return Effect.NONE

    def _failed_start(self, why: str) -> Effect:
        if self._held:
            self.next_wake = None
            self._transition(S.EXITED, f"{why}; not retried: stopping")  # STARTING -> EXITED
            return Effect.NONE
        self.retries += 1
        if self.retries > self.policy.startretries:
            self.next_wake = None
            self._transition(S.FATAL, f"{why}; gave up after {self.policy.startretries} retries")  # STARTING -> FATAL
            return Effect.NONE
        delay = min(self.policy.backoff_step * self.retries, self.policy.backoff_max)
        self.next_wake = self.clock() + delay
        self._transition(S.BACKOFF, f"{why}; retrying in {delay:g} s")  # STARTING -> BACKOFF
        return Effect.NONE

    def _should_restart(self, code: Optional[int]) -> bool:
        if self.policy.autorestart is Autorestart.ALWAYS:
            return True
        if self.policy.autorestart is Autorestart.UNEXPECTED:
            return code not in self.policy.exitcodes
        return False

    def _transition(self, new: ProcessState, why: str) -> None:
        old = self.state
        self.state = new
        self.message = why
        if self.listener is not None:
            self.listener(self, old, new)
