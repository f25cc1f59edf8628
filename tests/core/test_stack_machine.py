"""The stack machine (celerydesk/core/stack_machine.py), driven by message histories.

In the style of honcho's manager tests: each case is a table of what happened (events, and
seconds passing on a fake clock) with the effects each event must return, then the phase the
stack must be in. No processes, no Qt, no sleeps: the services are names the machine was told
about, and their states are the ``ServiceChanged`` events of the history.

The stack here: the broker, worker "main", beat and Flower (beat wanted only where it says so).
"""

from __future__ import annotations

import pytest

from celerydesk.core.commands import BEAT, BROKER, FLOWER, WORKER
from celerydesk.core.stack_events import (
    AdoptScheduler, AnnounceReady, AnnounceStopped, CheckInterpreter, DeadlinePassed, EndRun,
    FinishStop, HoldAll, InterpreterChecked, KillAll, KillRequested, LeaveToReaper, PreflightFailed,
    PreflightPassed, PrepareRun, ReadScheduler, RestartService, RunPreflight, RunPrepared, RunRefused,
    Say, SchedulerRead, ServiceChanged, ServiceRestartRequested, ServiceStartRequested, SetPhase,
    StartRequested, StartService, StopRequested, StopService, UseBroker)
from celerydesk.core.stack_machine import StackMachine
from celerydesk.core.states import ProcessState as S
from celerydesk.core.states import StackPhase as P

W = "worker-main"
T0 = 1000.0
MARGIN = 5.0
# Per layer, the longest stop timeout: beat/Flower 10, the worker 20, the broker 10.
STOP_DEADLINE = 10.0 + 20.0 + 10.0 + MARGIN
ANNOUNCED = "broker: local at redis://127.0.0.1:6379/0"
INTERPRETER = "project interpreter .venv/bin/python: Python 3.11.7, celery 5.5.3, redis 5.2.1"
NO_CELERY = "the project interpreter .venv/bin/python cannot import celery"
SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"  # opaque to the machine
READY = [SetPhase(P.RUNNING), Say("info", "stack ready in 2.50 s"), AnnounceReady()]
WITHOUT_WORKER = "worker main could not be started; the other services run without it"
REFUSED = "the stack is stopping, so worker main was not started; start it again once the stack has stopped"


class FakeClock:
    def __init__(self):
        self.now = T0

    def __call__(self) -> float:
        return self.now


def make() -> StackMachine:
    machine = StackMachine(clock=FakeClock(), stop_margin=MARGIN)
    machine.add_service(W, WORKER, "worker main", 20.0)
    machine.add_service(BEAT, BEAT, "beat", 10.0)
    machine.add_service(FLOWER, FLOWER, "flower", 5.0)
    machine.add_service(BROKER, BROKER, "broker", 10.0)  # as the owner does on UseBroker
    return machine


def play(machine: StackMachine, history: list) -> None:
    """Each step is (event, the effects it returns), or a number of seconds that pass."""
    for number, step in enumerate(history):
        if isinstance(step, (int, float)):
            machine.clock.now += step
            continue
        event, expected = step
        assert machine.handle(event) == expected, f"step {number}: {event}"


def changed(key: str, state: S, effects: list = ()) -> tuple:
    return ServiceChanged(key, state), list(effects)


def up_to_starting(*services: str) -> list:
    """Asked to start ``services``: prepared, preflight passed, the broker started."""
    return [
        (StartRequested(frozenset(services)), [PrepareRun()]),
        (RunPrepared(), ([ReadScheduler()] if BEAT in services else []) + [SetPhase(P.PREFLIGHT), RunPreflight()]),
        (PreflightPassed("local", ANNOUNCED),
         [UseBroker("local"), SetPhase(P.STARTING), Say("info", ANNOUNCED), CheckInterpreter(), StartService(BROKER)]),
    ]


UP_TO_RUNNING = up_to_starting(W, FLOWER) + [
    changed(BROKER, S.STARTING),
    changed(BROKER, S.RUNNING),  # one gate of two: nothing else starts yet
    (InterpreterChecked(True, INTERPRETER), [Say("info", INTERPRETER), StartService(W), StartService(FLOWER)]),
    changed(W, S.STARTING), changed(FLOWER, S.STARTING), changed(W, S.RUNNING),
    2.5,
    changed(FLOWER, S.RUNNING, READY),
]
STOP_BEGINS = (StopRequested(), [SetPhase(P.STOPPING), HoldAll(), StopService(FLOWER)])
LAYERED_STOP = [
    STOP_BEGINS,
    changed(FLOWER, S.STOPPING), changed(FLOWER, S.STOPPED, [StopService(W)]),
    changed(W, S.STOPPING), changed(W, S.STOPPED, [StopService(BROKER)]),
    changed(BROKER, S.STOPPING), changed(BROKER, S.STOPPED, [FinishStop(forced=False), EndRun()]),
]

HISTORIES = {
    "start in order, then the layered stop": (UP_TO_RUNNING + LAYERED_STOP, P.IDLE),

    "broker RUNNING, interpreter ok, worker FATAL": (up_to_starting(W, FLOWER) + [
        changed(BROKER, S.STARTING), changed(BROKER, S.RUNNING),
        (InterpreterChecked(True, INTERPRETER), [Say("info", INTERPRETER), StartService(W), StartService(FLOWER)]),
        changed(FLOWER, S.STARTING), changed(FLOWER, S.RUNNING),
        changed(W, S.STARTING), changed(W, S.BACKOFF), changed(W, S.STARTING),
        # Its supervision gave up: nothing is on its way any more, so the stack is up (the window
        # stops showing a start in progress), without it, and says so; it is not "ready".
        changed(W, S.FATAL, [SetPhase(P.RUNNING), Say("warning", WITHOUT_WORKER)]),
        # The user fixes it and restarts it: now everything wanted runs, and that is "ready".
        (ServiceRestartRequested(W), [RestartService(W)]),
        changed(W, S.STARTING), 2.5, changed(W, S.RUNNING, READY[1:]),
        changed(W, S.EXITED), changed(W, S.RUNNING),  # ready is said once a run
    ], P.RUNNING),

    "the broker dies for good after its gate passed": (up_to_starting(W, FLOWER) + [
        changed(BROKER, S.STARTING), changed(BROKER, S.RUNNING),
        (InterpreterChecked(True, INTERPRETER), [Say("info", INTERPRETER), StartService(W), StartService(FLOWER)]),
        changed(W, S.STARTING), changed(FLOWER, S.STARTING),
        changed(BROKER, S.BACKOFF), changed(BROKER, S.STARTING),
        changed(BROKER, S.FATAL, [Say("error", "the broker stopped and could not be started again, so the stack stops"),
                                  SetPhase(P.STOPPING), HoldAll(), StopService(FLOWER)]),
    ], P.STOPPING),

    "stop during PREFLIGHT: nothing starts": (up_to_starting(W, FLOWER)[:2] + [
        (StopRequested(), []),
        (StopRequested(), []),
        (PreflightPassed("local", ANNOUNCED), [FinishStop(forced=False), EndRun()]),
        (InterpreterChecked(True, INTERPRETER), []),
    ], P.IDLE),

    "kill during PREFLIGHT waits for the preflight too": (up_to_starting(W, FLOWER)[:2] + [
        (KillRequested(), []),
        (PreflightPassed("local", ANNOUNCED), [FinishStop(forced=False), EndRun()]),
    ], P.IDLE),

    "stop during PREFLIGHT, and the preflight fails": (up_to_starting(W, FLOWER)[:2] + [
        (StopRequested(), []),
        (PreflightFailed(("port 6379 is used by redis-server (pid 812)",)),
         [Say("error", "port 6379 is used by redis-server (pid 812)"), EndRun()]),
    ], P.IDLE),

    "broker dies while workers run: it restarts on its own, nothing stops": (UP_TO_RUNNING + [
        changed(BROKER, S.EXITED), changed(BROKER, S.STARTING), changed(BROKER, S.RUNNING),
        changed(W, S.EXITED), changed(W, S.STARTING), changed(W, S.RUNNING),
        changed(BROKER, S.EXITED), changed(BROKER, S.BACKOFF), changed(BROKER, S.FATAL),
    ], P.RUNNING),

    "the broker FATAL while starting: the stack stops, nothing else was started": (up_to_starting(W, FLOWER) + [
        changed(BROKER, S.STARTING), changed(BROKER, S.BACKOFF),
        changed(BROKER, S.FATAL, [Say("error", "the broker did not start, so nothing else was started"),
                                  SetPhase(P.STOPPING), HoldAll(), FinishStop(forced=False), EndRun()]),
        (InterpreterChecked(True, INTERPRETER), []),  # too late: nothing starts
    ], P.IDLE),

    "a failed interpreter check stops the broker": (up_to_starting(W, FLOWER) + [
        changed(BROKER, S.STARTING), changed(BROKER, S.RUNNING),
        (InterpreterChecked(False, NO_CELERY),
         [Say("error", NO_CELERY), SetPhase(P.STOPPING), HoldAll(), StopService(BROKER)]),
        changed(BROKER, S.STOPPING), changed(BROKER, S.STOPPED, [FinishStop(forced=False), EndRun()]),
    ], P.IDLE),

    "a second start while stopping is ignored, one service's start refused": (UP_TO_RUNNING + [
        STOP_BEGINS,
        (StartRequested(frozenset({W, FLOWER})), []),
        changed(FLOWER, S.STOPPING), changed(FLOWER, S.STOPPED, [StopService(W)]),
        changed(W, S.STOPPING), changed(W, S.STOPPED, [StopService(BROKER)]),
        (ServiceStartRequested(W), [Say("warning", REFUSED)]),
        (ServiceRestartRequested(W), [Say("warning", REFUSED)]),
        changed(BROKER, S.STOPPING), changed(BROKER, S.STOPPED, [FinishStop(forced=False), EndRun()]),
        (StartRequested(frozenset({W})), [PrepareRun()]),  # stopped: a start is a start again
    ], P.IDLE),

    "a second stop request waits; a kill ends the waiting": (UP_TO_RUNNING + [
        STOP_BEGINS,
        (StopRequested(), []),
        (KillRequested(), [KillAll()]),
        changed(FLOWER, S.STOPPED), changed(W, S.STOPPED),  # killed: no layer waits for another
        changed(BROKER, S.STOPPED, [FinishStop(forced=True), EndRun()]),
    ], P.IDLE),

    "a kill from RUNNING stops and kills at once": (UP_TO_RUNNING + [
        (KillRequested(), [SetPhase(P.STOPPING), HoldAll(), KillAll()]),
        changed(FLOWER, S.STOPPED), changed(BROKER, S.STOPPED),
        changed(W, S.STOPPED, [FinishStop(forced=True), EndRun()]),
    ], P.IDLE),

    "the deadline kills, then leaves to the reaper what even that did not end": (UP_TO_RUNNING + [
        STOP_BEGINS,
        changed(FLOWER, S.STOPPING),
        STOP_DEADLINE - 1.0,
        (DeadlinePassed(), []),  # a timer that fires early changes nothing
        1.0,
        (DeadlinePassed(), [Say("error", "the stop took too long (broker, worker main, flower still running): "
                                         "killing them now"), KillAll()]),
        changed(FLOWER, S.STOPPED), changed(W, S.STOPPED),
        MARGIN,
        (DeadlinePassed(), [LeaveToReaper((BROKER,)), FinishStop(forced=True), EndRun()]),
        (DeadlinePassed(), []),
    ], P.IDLE),

    "a service started alone from an idle stack brings the broker first": ([
        (ServiceStartRequested(W), [PrepareRun()]),
        (RunPrepared(), [SetPhase(P.PREFLIGHT), RunPreflight()]),
        (PreflightPassed("local", ANNOUNCED),
         [UseBroker("local"), SetPhase(P.STARTING), Say("info", ANNOUNCED), CheckInterpreter(), StartService(BROKER)]),
        (InterpreterChecked(True, INTERPRETER), [Say("info", INTERPRETER)]),  # the broker's gate is still shut
        changed(BROKER, S.STARTING), changed(BROKER, S.RUNNING, [StartService(W)]),
        changed(W, S.STARTING), 2.5, changed(W, S.RUNNING, READY),
    ], P.RUNNING),

    "beat waits for the app's scheduler, read beside the preflight": (up_to_starting(W, BEAT) + [
        changed(BROKER, S.STARTING), changed(BROKER, S.RUNNING),
        (InterpreterChecked(True, INTERPRETER), [Say("info", INTERPRETER), StartService(W)]),
        changed(W, S.STARTING), changed(W, S.RUNNING),  # not ready: beat is wanted
        (SchedulerRead(SCHEDULER, (("info", "beat runs django-celery-beat's scheduler"),)),
         [Say("info", "beat runs django-celery-beat's scheduler"), AdoptScheduler(SCHEDULER), StartService(BEAT)]),
        changed(BEAT, S.STARTING), 2.5, changed(BEAT, S.RUNNING, READY),
    ], P.RUNNING),

    "a scheduler read before the gates pass: beat starts with the others": (up_to_starting(W, BEAT)[:2] + [
        (SchedulerRead(SCHEDULER), [AdoptScheduler(SCHEDULER)]),
    ] + up_to_starting(W, BEAT)[2:] + [
        changed(BROKER, S.RUNNING),
        (InterpreterChecked(True, INTERPRETER), [Say("info", INTERPRETER), StartService(W), StartService(BEAT)]),
    ], P.STARTING),

    "beat asked for by hand during the preflight waits for its scheduler too": (up_to_starting(W)[:2] + [
        (ServiceStartRequested(BEAT), [ReadScheduler()]),
        (ServiceRestartRequested(FLOWER), []),  # not running yet: a restart is a start, in order
    ] + up_to_starting(W)[2:] + [
        changed(BROKER, S.RUNNING),
        (InterpreterChecked(True, INTERPRETER), [Say("info", INTERPRETER), StartService(W), StartService(FLOWER)]),
        (SchedulerRead(SCHEDULER), [AdoptScheduler(SCHEDULER), StartService(BEAT)]),
    ], P.STARTING),

    "beat started by hand on a running stack reads the scheduler first": (UP_TO_RUNNING + [
        (ServiceStartRequested(BEAT), [ReadScheduler()]),
        (ServiceStartRequested(BEAT), []),  # already being read
        (SchedulerRead(SCHEDULER), [AdoptScheduler(SCHEDULER), StartService(BEAT)]),
        (ServiceStartRequested(BEAT), [StartService(BEAT)]),
    ], P.RUNNING),

    "a scheduler read after the stop began is dropped": (up_to_starting(W, BEAT) + [
        changed(BROKER, S.RUNNING),
        (StopRequested(), [SetPhase(P.STOPPING), HoldAll(), StopService(BROKER)]),
        (SchedulerRead(SCHEDULER), []),
        changed(BROKER, S.STOPPED, [FinishStop(forced=False), EndRun()]),
    ], P.IDLE),

    "the broker alone is ready without waiting for the interpreter": (up_to_starting() + [
        2.5, changed(BROKER, S.RUNNING, READY),
        (InterpreterChecked(False, NO_CELERY), []),  # RUNNING already: the check no longer matters
    ], P.RUNNING),

    "a refused run (the lock is another's) ends at once": ([
        (StartRequested(frozenset({W})), [PrepareRun()]),
        (StartRequested(frozenset({W})), []),
        (RunRefused(("another celerydesk runs this stack",)), [Say("error", "another celerydesk runs this stack"),
                                                               EndRun()]),
        (StartRequested(frozenset({W})), [PrepareRun()]),
    ], P.IDLE),

    "a failed preflight says every problem": (up_to_starting(W)[:2] + [
        (PreflightFailed(("port 6379 is taken", "no celery")),
         [Say("error", "port 6379 is taken"), Say("error", "no celery"), EndRun()]),
    ], P.IDLE),

    "stop and kill when idle": ([
        (StopRequested(), [AnnounceStopped()]),
        (KillRequested(), [KillAll()]),
    ], P.IDLE),

    "a service started while stopping is stopped again when its layer's turn has passed": (UP_TO_RUNNING + [
        STOP_BEGINS,
        changed(FLOWER, S.STOPPED, [StopService(W)]),
        changed(W, S.STOPPED, [StopService(BROKER)]),
        changed(W, S.STARTING, [StopService(W)]),  # nothing restarts while stopping
        changed(BROKER, S.STOPPED), changed(W, S.STOPPING),
        changed(W, S.STOPPED, [FinishStop(forced=False), EndRun()]),
    ], P.IDLE),

    "requests during STARTING: queued until the gates pass, then at once": (up_to_starting(W) + [
        (ServiceStartRequested(FLOWER), []),
        (ServiceRestartRequested(BROKER), [RestartService(BROKER)]),  # it was started: restarted as asked
        changed(BROKER, S.RUNNING),
        (InterpreterChecked(True, INTERPRETER), [Say("info", INTERPRETER), StartService(W), StartService(FLOWER)]),
        (ServiceStartRequested(BEAT), [ReadScheduler()]),
        (ServiceRestartRequested(W), [RestartService(W)]),
    ], P.STARTING),
}


@pytest.mark.parametrize("history, phase", HISTORIES.values(), ids=HISTORIES.keys())
def test_history(history, phase):
    machine = make()
    play(machine, history)
    assert machine.phase is phase


def test_the_stop_deadline_is_every_layers_longest_timeout_plus_the_margin():
    machine = make()
    play(machine, UP_TO_RUNNING + [STOP_BEGINS])
    assert machine.deadline == machine.clock() + STOP_DEADLINE
    play(machine, [(KillRequested(), [KillAll()])])  # killed: what SIGKILL does not end in the margin is left
    assert machine.deadline == machine.clock() + MARGIN
    play(machine, [changed(FLOWER, S.STOPPED), changed(W, S.STOPPED),
                   changed(BROKER, S.STOPPED, [FinishStop(forced=True), EndRun()])])
    assert machine.deadline is None


def test_every_phase_change_is_said_once_and_in_order():
    machine = make()
    history = UP_TO_RUNNING + LAYERED_STOP
    said = []
    for step in history:
        if isinstance(step, tuple):
            said += [effect.phase for effect in machine.handle(step[0]) if isinstance(effect, SetPhase)]
        else:
            machine.clock.now += step
    # IDLE is said by EndRun, which always ends a run.
    assert said == [P.PREFLIGHT, P.STARTING, P.RUNNING, P.STOPPING]


def test_a_broker_built_again_replaces_the_old_one_and_comes_first():
    machine = make()
    play(machine, UP_TO_RUNNING[:5])
    assert machine.state(BROKER) is S.RUNNING
    machine.add_service(BROKER, BROKER, "broker", 30.0)  # another mode: a container
    assert list(machine.units)[0] == BROKER and machine.state(BROKER) is S.STOPPED
    assert machine.units[BROKER].stop_timeout == 30.0


def test_an_unknown_event_is_a_programming_error():
    with pytest.raises(TypeError):
        make().handle("stop")
