"""The state tables, with no dependencies (after supervisor's ``states.py``): one supervised
process's states, and the whole stack's phase beside them (supervisor keeps ``SupervisorStates``
beside ``ProcessStates``), each with its groups."""

from __future__ import annotations

from enum import IntEnum


class ProcessState(IntEnum):
    STOPPED = 0
    STARTING = 10
    RUNNING = 20
    BACKOFF = 30
    STOPPING = 40
    EXITED = 100
    FATAL = 200


# States in which the program is wanted up (or on its way there).
RUNNING_STATES = frozenset({ProcessState.RUNNING, ProcessState.BACKOFF, ProcessState.STARTING})
# States in which no process exists and none is scheduled to.
STOPPED_STATES = frozenset({ProcessState.STOPPED, ProcessState.EXITED, ProcessState.FATAL})
# States from which a start request is accepted.
STARTABLE_STATES = STOPPED_STATES | {ProcessState.BACKOFF}


class StackPhase(IntEnum):
    """Where the stack of one workspace is (core/stack_machine.py moves it)."""

    IDLE = 0  # nothing of a run is held: no lock, no reaper, nothing started
    PREFLIGHT = 10  # ports, engine, interpreter and leftovers checked; nothing started yet
    STARTING = 20  # the broker first; the rest once the broker and the interpreter are good
    RUNNING = 30  # everything wanted was RUNNING; from here each service restarts on its own
    STOPPING = 40  # in layers, nothing restarts; past a deadline whatever is left is killed


# The stack is on its way somewhere: the window shows it is busy.
BUSY_PHASES = frozenset({StackPhase.PREFLIGHT, StackPhase.STARTING, StackPhase.STOPPING})
# The broker has been asked to start: services may start (in order, while gates are pending).
STARTED_PHASES = frozenset({StackPhase.STARTING, StackPhase.RUNNING})
