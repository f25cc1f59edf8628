"""The stack machine of one workspace: its phase, gates and ordering; pure logic, no Qt, no I/O.

The owner (services/stack.py) registers its services (key, kind, label, stop timeout), reports
what happens as events (core/stack_events.py) through ``handle``, and carries out the effects
each call returns, in order. Timers are data: the owner arms one timer for ``deadline`` and
reports ``DeadlinePassed`` when it fires; the clock is injected. The machine keeps each
service's state from the ``ServiceChanged`` events; a service's own restarts and retries are
its supervision's business (core/supervision.py), not this machine's.

Start: the run is prepared (the workspace's lock), the preflight runs (PREFLIGHT), then the
broker starts and the interpreter is checked beside it (STARTING). Workers, beat and Flower
start, in parallel, once both gates have passed: the broker RUNNING and the interpreter good.
Beat also waits for the app's beat_scheduler, read beside the preflight, which decides its
command. The stack is RUNNING once every wanted service is RUNNING at the same time.

Stop: beat and Flower first (nothing new is scheduled or watched), then the workers (warm:
running tasks finish), the broker last; from its first moment nothing restarts, and nothing is
started by hand. A stop asked during PREFLIGHT waits for the preflight, then starts nothing. A
kill (a second request) stops waiting for layers and kills everything; the deadline (the sum of
each layer's longest stop timeout, plus a margin) kills too, and if even that does not end
everything within the margin, the stop ends and the reaper is left with the rest.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass
from typing import Callable, Optional

from celerydesk.core.commands import BEAT, BROKER, FLOWER, WORKER
from celerydesk.core.stack_events import (
    AdoptScheduler, AnnounceReady, AnnounceStopped, CheckInterpreter, DeadlinePassed, EndRun,
    FinishStop, HoldAll, InterpreterChecked, KillAll, KillRequested, LeaveToReaper, PreflightFailed,
    PreflightPassed, PrepareRun, ReadScheduler, RestartService, RunPreflight, RunPrepared, RunRefused,
    Say, SchedulerRead, ServiceChanged, ServiceRestartRequested, ServiceStartRequested, SetPhase,
    StartRequested, StartService, StopRequested, StopService, UseBroker)
from celerydesk.core.states import RUNNING_STATES, STARTED_PHASES, STOPPED_STATES, ProcessState, StackPhase

P = StackPhase
# Stopped in this order, each layer once the one before has stopped.
STOP_LAYERS = ((BEAT, FLOWER), (WORKER,), (BROKER,))


class Gate(enum.Enum):
    """What must be good before workers, beat and Flower start."""

    BROKER = "the broker is RUNNING"
    INTERPRETER = "the project's interpreter runs celery"


class Scheduler(enum.Enum):
    """What this run knows of the app's beat_scheduler (beat's command depends on it)."""

    UNKNOWN = "not read"
    READING = "being read"
    KNOWN = "read"


@dataclass
class Unit:
    """One registered service, as the machine sees it."""

    kind: str
    label: str
    stop_timeout: float
    state: ProcessState = ProcessState.STOPPED


class StackMachine:
    def __init__(self, clock: Callable[[], float] = time.monotonic, stop_margin: float = 5.0):
        self.clock = clock
        # Beyond the layers' own stop timeouts, before whatever still runs is killed regardless.
        self.stop_margin = stop_margin
        self.phase = P.IDLE
        self.units: dict[str, Unit] = {}
        self.wanted: set[str] = set()  # the services this run brings up
        self.gates: set[Gate] = set()  # still pending, while STARTING
        self.scheduler = Scheduler.UNKNOWN
        self.deadline: Optional[float] = None  # of the stop, by ``clock``
        self.started_at: Optional[float] = None
        self._preparing = False  # asked for PrepareRun; its answer not in yet
        self._stop_pending = False  # asked to stop during PREFLIGHT
        self._killing = False  # no more waiting for layers
        self._asked_to_stop: set[str] = set()  # StopService sent, no news of the service since
        self._announced = False  # this run's "stack ready" was said

    def add_service(self, key: str, kind: str, label: str, stop_timeout: float) -> None:
        """Register a service (STOPPED). A key registered again (the broker, built again for
        another mode) is replaced; the broker comes first, as in the window's table."""
        unit = Unit(kind, label, stop_timeout)
        others = {k: u for k, u in self.units.items() if k != key}
        self.units = {key: unit, **others} if kind == BROKER else {**others, key: unit}

    def state(self, key: str) -> ProcessState:
        unit = self.units.get(key)
        return unit.state if unit is not None else ProcessState.STOPPED

    def handle(self, event) -> list:
        """Take one event; return the effects to carry out, in order."""
        match event:
            case StartRequested(services):
                return self._start(services)
            case RunPrepared():
                return self._prepared()
            case RunRefused(problems):
                assert self.phase is P.IDLE and self._preparing, self.phase
                self._preparing = False
                return self._fail(problems)  # IDLE -> IDLE: nothing was started
            case PreflightFailed(problems):
                assert self.phase is P.PREFLIGHT, self.phase
                self.phase = P.IDLE
                return self._fail(problems)  # PREFLIGHT -> IDLE
            case PreflightPassed(mode, announcement):
                return self._preflight_passed(mode, announcement)
            case InterpreterChecked(ok, text):
                return self._interpreter_checked(ok, text)
            case SchedulerRead(answer, notes):
                return self._scheduler_read(answer, notes)
            case ServiceChanged(key, state):
                return self._service_changed(key, state)
            case ServiceStartRequested(key):
                return self._start_service(key)
            case ServiceRestartRequested(key):
                return self._restart_service(key)
            case StopRequested():
                return self._stop()
            case KillRequested():
                return self._kill()
            case DeadlinePassed():
                return self._deadline_passed()
        raise TypeError(f"not an event of the stack machine: {event!r}")

    # -- starting ---------------------------------------------------------------------------------

    def _start(self, services) -> list:
        if self.phase is not P.IDLE or self._preparing:
            return []  # a second start while busy, running or stopping: nothing to do
        self.wanted = {BROKER, *services}
        self.gates = set()
        self.scheduler = Scheduler.UNKNOWN  # read again: the app's settings may have changed
        self._stop_pending = False
        self._killing = False
        self._announced = False
        self.started_at = self.clock()
        self._preparing = True
        return [PrepareRun()]

    def _prepared(self) -> list:
        assert self.phase is P.IDLE and self._preparing, self.phase
        self._preparing = False
        # Beside the preflight, which mostly waits.
        effects = self._read_scheduler() if BEAT in self.wanted else []
        return effects + self._to(P.PREFLIGHT) + [RunPreflight()]  # IDLE -> PREFLIGHT

    def _preflight_passed(self, mode: str, announcement: str) -> list:
        assert self.phase is P.PREFLIGHT, self.phase
        if self._stop_pending:
            return self._finish_stop()  # PREFLIGHT -> IDLE: stopped before anything started
        self.gates = {Gate.BROKER, Gate.INTERPRETER}
        # PREFLIGHT -> STARTING. The interpreter check costs a celery import: it runs while the
        # broker starts.
        return ([UseBroker(mode)] + self._to(P.STARTING)
                + [Say("info", announcement), CheckInterpreter(), StartService(BROKER)])

    def _interpreter_checked(self, ok: bool, text: str) -> list:
        if self.phase is not P.STARTING:
            return []  # stopped meanwhile (or RUNNING already: only the broker was wanted)
        if not ok:
            return [Say("error", text)] + self._stop()  # only the broker runs: stop it, start nothing else
        return [Say("info", text)] + self._pass(Gate.INTERPRETER)

    def _read_scheduler(self) -> list:
        if BEAT not in self.units or self.scheduler is not Scheduler.UNKNOWN:
            return []
        self.scheduler = Scheduler.READING
        return [ReadScheduler()]

    def _scheduler_read(self, answer, notes) -> list:
        if self.phase in (P.IDLE, P.STOPPING) or self.scheduler is not Scheduler.READING:
            return []  # the run it was read for is over, or stopping
        self.scheduler = Scheduler.KNOWN
        effects = [Say(level, text) for level, text in notes] + [AdoptScheduler(answer)]
        if self.phase in STARTED_PHASES and not self.gates and BEAT in self.wanted:
            effects.append(StartService(BEAT))  # the last thing beat waited for
        return effects

    def _pass(self, gate: Gate) -> list:
        """Workers, beat and Flower start, in parallel, once every gate has passed (beat also
        once the app's scheduler is known)."""
        if gate not in self.gates:
            return []
        self.gates.discard(gate)
        if self.gates:
            return []
        return [StartService(key) for key in self.units
                if key != BROKER and key in self.wanted and self._may_start(key)]

    def _may_start(self, key: str) -> bool:
        return key != BEAT or self.scheduler is Scheduler.KNOWN

    def _want(self, key: str) -> list:
        """Started in order, later: once the gates pass (and, for beat, its scheduler is known)."""
        self.wanted.add(key)
        return self._read_scheduler() if key == BEAT else []

    def _service_changed(self, key: str, state: ProcessState) -> list:
        unit = self.units.get(key)
        if unit is None:
            return []
        unit.state = state
        self._asked_to_stop.discard(key)
        if self.phase is P.STARTING:
            effects = []
            if key == BROKER and state is ProcessState.RUNNING:
                effects += self._pass(Gate.BROKER)
            elif key == BROKER and state is ProcessState.FATAL:
                # Leave the starting phase: `up` exits, the window shows it stopped.
                said = ("the broker did not start, so nothing else was started" if Gate.BROKER in self.gates
                        else "the broker stopped and could not be started again, so the stack stops")
                effects += [Say("error", said)] + self._stop()
            if self.phase is P.STARTING and self._all_wanted_running():
                # STARTING -> RUNNING
                effects += self._to(P.RUNNING) + self._ready()
            elif self.phase is P.STARTING and self._settled_with_failures():
                # STARTING -> RUNNING: nothing is on its way any more, so the window stops showing
                # a start in progress; ready is announced once the failed ones run (a restart).
                failed = ", ".join(self.units[k].label for k in sorted(self.wanted) if self.state(k) is ProcessState.FATAL)
                effects += self._to(P.RUNNING) + [Say("warning", f"{failed} could not be started; the other "
                                                                 "services run without it")]
            return effects
        if self.phase is P.STOPPING:
            return self._advance_stop()
        if self.phase is P.RUNNING and not self._announced and self._all_wanted_running():
            return self._ready()  # the service that had failed runs now
        # IDLE, PREFLIGHT, RUNNING: a service that exits, dies or ends FATAL is its supervision's
        # business (restart, backoff, give up); the stack does not stop for it, nor for the broker.
        return []

    def _all_wanted_running(self) -> bool:
        return all(self.state(k) is ProcessState.RUNNING for k in self.wanted)

    def _settled_with_failures(self) -> bool:
        """Every wanted service runs or has been given up on (FATAL), and one has."""
        if self.gates:
            return False  # workers, beat and Flower have not even been started
        states = [self.state(k) for k in self.wanted]
        return ProcessState.FATAL in states and all(s in (ProcessState.RUNNING, ProcessState.FATAL) for s in states)

    def _ready(self) -> list:
        self._announced = True
        took = self.clock() - self.started_at
        return [Say("info", f"stack ready in {took:.2f} s"), AnnounceReady()]

    # -- requests for one service -----------------------------------------------------------------

    def _start_service(self, key: str) -> list:
        if self.phase is P.IDLE:
            return self._start({key})  # IDLE -> (preparing): the broker comes first, as for the stack
        if self.phase is P.STOPPING:
            return self._refuse(key)
        if self.phase is P.PREFLIGHT or (self.phase is P.STARTING and self.gates):
            return self._want(key)
        if not self._may_start(key):
            return self._want(key)  # beat: once the app's scheduler is known
        if key not in self.units:
            return []
        self.wanted.add(key)
        return [StartService(key)]

    def _restart_service(self, key: str) -> list:
        if self.phase is P.IDLE:
            return self._start({key})
        if self.phase is P.STOPPING:
            return self._refuse(key)
        if self.phase is P.PREFLIGHT or (self.phase is P.STARTING and self.gates and key != BROKER):
            return self._want(key)  # not started yet: a restart is a start, in order
        if not self._may_start(key):
            return self._start_service(key)
        return [RestartService(key)] if key in self.units else []

    def _refuse(self, key: str) -> list:
        unit = self.units.get(key)
        label = unit.label if unit is not None else key
        return [Say("warning", f"the stack is stopping, so {label} was not started; "
                               "start it again once the stack has stopped")]

    # -- stopping ---------------------------------------------------------------------------------

    def _stop(self) -> list:
        if self.phase is P.IDLE:
            return [AnnounceStopped()]  # nothing runs: `up` and the window wait for this
        if self.phase is P.STOPPING:
            return []  # already on its way; a second request that should kill is KillRequested
        if self.phase is P.PREFLIGHT:
            self._stop_pending = True  # nothing runs yet: acted on when the preflight returns
            return []
        return self._begin_stopping() + self._advance_stop()

    def _kill(self) -> list:
        if self.phase is P.PREFLIGHT:
            self._stop_pending = True  # nothing runs yet to kill: acted on when the preflight returns
            return []
        if self.phase is P.IDLE:
            return [KillAll()]  # whatever a stop left to the reaper
        effects = self._begin_stopping() if self.phase is not P.STOPPING else []
        self._killing = True
        # What a SIGKILL does not end within the margin, the reaper ends.
        self.deadline = self.clock() + self.stop_margin
        return effects + [KillAll()] + self._advance_stop()

    def _begin_stopping(self) -> list:
        """From now on nothing restarts; the whole stop has a deadline."""
        assert self.phase in STARTED_PHASES, self.phase
        layers = [[u.stop_timeout for u in self.units.values() if u.kind in kinds] for kinds in STOP_LAYERS]
        self.deadline = self.clock() + sum(max(layer) for layer in layers if layer) + self.stop_margin
        self._asked_to_stop = set()
        return self._to(P.STOPPING) + [HoldAll()]  # STARTING/RUNNING -> STOPPING

    def _advance_stop(self) -> list:
        """Stop in layers; each starts once the one before has stopped (killing: all at once)."""
        if self.phase is not P.STOPPING:
            return []
        effects = []
        if not self._killing:
            for kinds in STOP_LAYERS:
                layer = {key: u for key, u in self.units.items() if u.kind in kinds}
                for key, unit in layer.items():
                    if unit.state in RUNNING_STATES and key not in self._asked_to_stop:
                        self._asked_to_stop.add(key)
                        effects.append(StopService(key))
                if any(u.state not in STOPPED_STATES for u in layer.values()):
                    return effects
        if all(u.state in STOPPED_STATES for u in self.units.values()):
            return effects + self._finish_stop()
        return effects

    def _deadline_passed(self) -> list:
        if self.deadline is None or self.clock() < self.deadline:
            return []  # early, or disarmed meanwhile
        self.deadline = None
        if self.phase is not P.STOPPING:
            return []
        left = [key for key, u in self.units.items() if u.state not in STOPPED_STATES]
        if not self._killing:
            # Longer than every layer's timeout: kill what is left.
            labels = ", ".join(self.units[key].label for key in left)
            return [Say("error", f"the stop took too long ({labels} still running): killing them now")] + self._kill()
        # Not even killing ended it (a process in uninterruptible sleep ignores SIGKILL): end the
        # stop anyway; the reaper, told the stack is done, kills the groups still registered.
        return [LeaveToReaper(tuple(left))] + self._finish_stop()

    def _finish_stop(self) -> list:
        assert self.phase in (P.STOPPING, P.PREFLIGHT), self.phase
        self.deadline = None
        self.phase = P.IDLE  # STOPPING/PREFLIGHT -> IDLE
        return [FinishStop(forced=self._killing), EndRun()]

    def _fail(self, problems) -> list:
        return [Say("error", problem) for problem in problems] + [EndRun()]

    def _to(self, phase: StackPhase) -> list:
        self.phase = phase
        return [SetPhase(phase)]
