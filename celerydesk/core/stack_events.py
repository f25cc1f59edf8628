"""What the stack machine (core/stack_machine.py) is told, and what it asks its owner to do.

Events say what happened or what was asked; effects say what to do, as data. Both are frozen
values, so a history of them can be written down as a table, compared and printed.
The owner (services/stack.py) turns each effect into Qt calls: starting a process, a signal, a
background check whose answer comes back as the matching event (``RunPreflight`` comes back as
``PreflightPassed`` or ``PreflightFailed``). Values the machine only passes through (a broker
mode, the app's scheduler) are opaque to it.
"""

from __future__ import annotations

from celerydesk.core.states import ProcessState, StackPhase


class Message:
    """A frozen value whose fields are its class's annotations, in order (a default is a class
    attribute): built, compared, hashed, shown and matched (``case Say(level, text)``) as a frozen
    dataclass is. Not a dataclass: generating the code of some thirty of them would add ~12 ms to
    the window's start-up."""

    _fields: tuple = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls._fields = tuple(cls.__dict__.get("__annotations__", ()))
        cls.__match_args__ = cls._fields

    def __init__(self, *args, **kwargs):
        name = type(self).__name__
        if len(args) > len(self._fields):
            raise TypeError(f"{name} takes {len(self._fields)} values, not {len(args)}")
        values = dict(zip(self._fields, args))
        for field, value in kwargs.items():
            if field not in self._fields or field in values:
                raise TypeError(f"{name}: unexpected or repeated value {field!r}")
            values[field] = value
        for field in self._fields:
            if field not in values and not hasattr(type(self), field):
                raise TypeError(f"{name} needs {field!r}")
            object.__setattr__(self, field, values.get(field, getattr(type(self), field, None)))

    def _values(self) -> tuple:
        return tuple(getattr(self, field) for field in self._fields)

    def __eq__(self, other) -> bool:
        return type(other) is type(self) and other._values() == self._values()

    def __hash__(self) -> int:
        return hash((type(self), self._values()))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{f}={getattr(self, f)!r}' for f in self._fields)})"

    def __setattr__(self, field, value):
        raise AttributeError(f"{type(self).__name__} is frozen")

    __delattr__ = __setattr__

# -- events: requests --------------------------------------------------------------------------


class StartRequested(Message):
    """Start these services (the broker always comes, first)."""
    services: frozenset


class ServiceStartRequested(Message):
    key: str


class ServiceRestartRequested(Message):
    key: str


class StopRequested(Message):
    pass


class KillRequested(Message):
    """Stop waiting: kill what is left (a second stop request: a second Ctrl-C, quitting again)."""


# -- events: answers to effects ----------------------------------------------------------------


class RunPrepared(Message):
    """The answer to ``PrepareRun``: the workspace is ours for this run."""


class RunRefused(Message):
    """The answer to ``PrepareRun``: not ours (another celerydesk runs this stack)."""
    problems: tuple


class PreflightPassed(Message):
    mode: str  # the broker mode it resolved (auto -> docker or local), for ``UseBroker``
    announcement: str  # what to tell the user about that broker


class PreflightFailed(Message):
    problems: tuple  # each in words, with what to do


class InterpreterChecked(Message):
    ok: bool
    text: str  # its versions, or why it cannot run the workers


class SchedulerRead(Message):
    """The app's beat_scheduler, read (or the stock one, when it could not be)."""
    answer: object  # a ProjectScheduler, for ``AdoptScheduler``
    notes: tuple = ()  # (level, text): what the user should know about it


class ServiceChanged(Message):
    key: str
    state: ProcessState


class DeadlinePassed(Message):
    """The owner's timer for ``StackMachine.deadline`` fired."""


# -- effects: what the owner does --------------------------------------------------------------


class PrepareRun(Message):
    """Take the workspace's lock, follow its schedules, open the records; answer ``RunPrepared``
    or ``RunRefused``."""


class RunPreflight(Message):
    pass


class ReadScheduler(Message):
    pass


class UseBroker(Message):
    """The broker service for this mode (built again if the mode changed)."""
    mode: str


class CheckInterpreter(Message):
    pass


class AdoptScheduler(Message):
    """Beat's command follows the app's scheduler."""
    answer: object


class StartService(Message):
    key: str


class StopService(Message):
    key: str


class RestartService(Message):
    key: str


class HoldAll(Message):
    """From now on no service restarts or retries on its own (``Supervision.hold``)."""


class KillAll(Message):
    pass


class Say(Message):
    level: str  # info | warning | error
    text: str


class SetPhase(Message):
    phase: StackPhase


class AnnounceReady(Message):
    pass


class LeaveToReaper(Message):
    """These did not end even when killed: say so (with their pids); the reaper ends them."""
    keys: tuple


class FinishStop(Message):
    """The stop is over: tell the user what had to be killed, keep whether it was clean."""
    forced: bool  # killed at a second request or at the deadline: not a clean stop


class EndRun(Message):
    """Let go of what the run held (records, schedule mirror, lock); the phase is IDLE again
    and the stack says it stopped, whatever fails on the way."""


class AnnounceStopped(Message):
    """Nothing was running: the stack says it stopped at once."""
