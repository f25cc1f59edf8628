"""The supervised-process state table, with no dependencies (after supervisor's ``states.py``)."""

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
