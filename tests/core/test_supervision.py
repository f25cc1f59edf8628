"""The supervision state machine (celerydesk/core/supervision.py), driven with a fake clock.

In the style of supervisord's tests: a state is reached through the public API on a fake
clock, one call is made, and the new state, the returned Effect, the deadlines and the
listener's (old, new) history are checked; tables where the cases differ only in data.

Covered: start from every startable state; startsecs and readiness (RUNNING only after both);
start_timeout (TERMINATE, then the exit is a failed start); backoff delays n * step capped by
backoff_max; FATAL when retries are exhausted; early wake() does nothing; BACKOFF -> STARTING;
autorestart ALWAYS / UNEXPECTED(exitcodes) / NEVER after RUNNING; crash loops (restart at once,
then after growing delays, FATAL at max_crashes within crash_window; older crashes forgotten);
hold (nothing restarts or retries while the owner stops everything); stop in every state; exit
while STOPPING; permanent spawn failures; retries reset on RUNNING; messages that say why.
"""

from __future__ import annotations

import pytest

from celerydesk.core.states import ProcessState as S
from celerydesk.core.supervision import Autorestart, Effect, RestartPolicy, Supervision

PID = 4242
T0 = 1000.0


class FakeClock:
    def __init__(self, now: float = T0):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Recorder:
    """The listener: every (old, new) in order, and the state the machine shows at that time."""

    def __init__(self):
        self.edges: list[tuple[S, S]] = []

    def __call__(self, sup: Supervision, old: S, new: S) -> None:
        assert sup.state == new  # the listener sees the new state already in place
        self.edges.append((old, new))


def make(**policy) -> tuple[Supervision, FakeClock, Recorder]:
    clock, rec = FakeClock(), Recorder()
    return Supervision("svc", RestartPolicy(**policy), clock=clock, listener=rec), clock, rec


# -- reaching each state through the public API ---------------------------------------------------


def to_starting(sup: Supervision) -> None:
    assert sup.start() is Effect.SPAWN
    sup.spawned(PID)


def to_running(sup: Supervision, clock: FakeClock) -> None:
    to_starting(sup)
    clock.advance(sup.policy.startsecs)
    sup.ready_seen()
    if sup.state is not S.RUNNING:
        sup.wake()
    assert sup.state is S.RUNNING


def to_backoff(sup: Supervision, clock: FakeClock) -> None:
    to_starting(sup)
    sup.exited(1)
    assert sup.state is S.BACKOFF


def to_exited(sup: Supervision, clock: FakeClock) -> None:
    to_running(sup, clock)
    assert sup.policy.autorestart is not Autorestart.ALWAYS
    sup.exited(next(iter(sup.policy.exitcodes)) if sup.policy.autorestart is Autorestart.UNEXPECTED else 1)
    assert sup.state is S.EXITED


def to_fatal(sup: Supervision, clock: FakeClock) -> None:
    to_starting(sup)
    sup.spawn_failed("no such file", permanent=True)
    assert sup.state is S.FATAL


def to_stopping(sup: Supervision, clock: FakeClock) -> None:
    to_running(sup, clock)
    assert sup.stop() is Effect.TERMINATE
    assert sup.state is S.STOPPING


REACH = {
    S.STOPPED: lambda sup, clock: None,
    S.STARTING: lambda sup, clock: to_starting(sup),
    S.RUNNING: to_running,
    S.BACKOFF: to_backoff,
    S.EXITED: to_exited,
    S.FATAL: to_fatal,
    S.STOPPING: to_stopping,
}


def reach(state: S, **policy) -> tuple[Supervision, FakeClock, Recorder]:
    sup, clock, rec = make(**policy)
    REACH[state](sup, clock)
    assert sup.state is state
    rec.edges.clear()
    return sup, clock, rec


# -- start ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("state", [S.STOPPED, S.EXITED, S.FATAL, S.BACKOFF])
def test_start_from_a_startable_state_spawns(state):
    sup, clock, rec = reach(state, autorestart=Autorestart.NEVER)
    sup.retries, sup.restarts = 2, 5  # whatever came before, a user start begins afresh

    assert sup.start() is Effect.SPAWN
    assert sup.state is S.STARTING
    assert rec.edges == [(state, S.STARTING)]
    assert (sup.retries, sup.restarts) == (0, 0)
    assert sup.next_wake is None  # a pending backoff retry is cancelled
    assert sup.ready is False
    assert "start requested" in sup.message


@pytest.mark.parametrize("state", [S.STARTING, S.RUNNING, S.STOPPING])
def test_start_while_up_or_stopping_does_nothing(state):
    sup, clock, rec = reach(state)
    assert sup.start() is Effect.NONE
    assert sup.state is state
    assert rec.edges == []


# -- readiness and startsecs ---------------------------------------------------------------------


def test_spawned_arms_the_startsecs_deadline_first():
    sup, clock, rec = make(startsecs=5, start_timeout=30)
    to_starting(sup)
    assert sup.spawned_at == T0
    assert sup.pid == PID
    assert sup.next_wake == T0 + 5


def test_spawned_without_startsecs_arms_the_start_timeout():
    sup, clock, rec = make(startsecs=0, start_timeout=30)
    to_starting(sup)
    assert sup.next_wake == T0 + 30


@pytest.mark.parametrize(
    "ready_at, wake_at, state_after_ready, state_after_wake",
    [
        # ready before startsecs: still STARTING until the startsecs deadline, then RUNNING
        (1.0, 5.0, S.STARTING, S.RUNNING),
        # ready exactly at startsecs: RUNNING at once
        (5.0, None, S.RUNNING, S.RUNNING),
        # ready after startsecs: RUNNING at once
        (7.0, None, S.RUNNING, S.RUNNING),
    ],
)
def test_running_needs_both_readiness_and_startsecs(ready_at, wake_at, state_after_ready, state_after_wake):
    sup, clock, rec = make(startsecs=5, start_timeout=30)
    to_starting(sup)
    if ready_at > 5:
        clock.now = T0 + 5
        assert sup.wake() is Effect.NONE  # startsecs passed without readiness: keep waiting
        assert sup.state is S.STARTING
        assert sup.next_wake == T0 + 30
    clock.now = T0 + ready_at
    assert sup.ready_seen() is Effect.NONE
    assert sup.state is state_after_ready
    if wake_at is not None:
        assert sup.next_wake == T0 + 5
        clock.now = T0 + wake_at
        assert sup.wake() is Effect.NONE
    assert sup.state is state_after_wake
    assert rec.edges[-1] == (S.STARTING, S.RUNNING)
    assert sup.next_wake is None


def test_startsecs_alone_is_not_enough_without_readiness():
    sup, clock, rec = make(startsecs=5, start_timeout=30)
    to_starting(sup)
    clock.now = T0 + 5
    assert sup.wake() is Effect.NONE
    clock.now = T0 + 29
    assert sup.wake() is Effect.NONE  # early: before the start timeout
    assert sup.state is S.STARTING
    assert rec.edges == [(S.STOPPED, S.STARTING)]


def test_ready_without_startsecs_is_running_at_once():
    sup, clock, rec = make(startsecs=0)
    to_starting(sup)
    sup.ready_seen()
    assert sup.state is S.RUNNING
    assert sup.message == "ready"


@pytest.mark.parametrize("early", [0.0, 0.5, 4.999])
def test_wake_before_the_deadline_does_nothing(early):
    sup, clock, rec = make(startsecs=5, start_timeout=30)
    to_starting(sup)
    sup.ready_seen()
    clock.now = T0 + early
    assert sup.wake() is Effect.NONE
    assert sup.state is S.STARTING
    assert sup.next_wake == T0 + 5  # the deadline is kept, not consumed


@pytest.mark.parametrize("state", [S.STOPPED, S.RUNNING, S.EXITED, S.FATAL, S.STOPPING])
def test_wake_without_a_deadline_does_nothing(state):
    sup, clock, rec = reach(state, autorestart=Autorestart.NEVER)
    clock.advance(1000)
    assert sup.wake() is Effect.NONE
    assert sup.state is state
    assert rec.edges == []


def test_uptime_is_counted_from_spawn_and_none_without_a_process():
    sup, clock, rec = make()
    assert sup.uptime() is None
    to_running(sup, clock)
    clock.advance(12.5)
    assert sup.uptime() == 12.5
    sup.stop()
    sup.exited(0)
    assert sup.uptime() is None


# -- start timeout ------------------------------------------------------------------------------


def test_start_timeout_terminates_then_the_exit_is_a_failed_start():
    sup, clock, rec = make(startsecs=0, start_timeout=30, startretries=3, backoff_step=1)
    to_starting(sup)
    clock.now = T0 + 29.9
    assert sup.wake() is Effect.NONE
    clock.now = T0 + 30
    assert sup.wake() is Effect.TERMINATE
    assert sup.state is S.STARTING  # until the process is actually gone
    assert "not ready after 30 s" in sup.message
    assert sup.wake() is Effect.NONE  # no second TERMINATE from the same deadline

    sup.ready_seen()  # too late: the start is being abandoned
    assert sup.state is S.STARTING

    assert sup.exited(-15) is Effect.NONE
    assert sup.state is S.BACKOFF
    assert sup.retries == 1
    assert sup.next_wake == clock.now + 1
    assert rec.edges == [(S.STOPPED, S.STARTING), (S.STARTING, S.BACKOFF)]


def test_backoff_after_a_start_timeout_says_it_timed_out():
    sup, clock, rec = make(startsecs=0, start_timeout=30)
    to_starting(sup)
    clock.now = T0 + 30
    assert sup.wake() is Effect.TERMINATE
    sup.exited(-15)
    assert sup.state is S.BACKOFF
    assert "not ready after 30 s" in sup.message


def test_stop_during_an_abandoned_start_ends_stopped_not_backoff():
    sup, clock, rec = make(startsecs=0, start_timeout=30)
    to_starting(sup)
    clock.now = T0 + 30
    assert sup.wake() is Effect.TERMINATE
    assert sup.stop() is Effect.TERMINATE
    sup.exited(-15)
    assert sup.state is S.STOPPED
    assert sup.retries == 0


# -- failed starts: backoff and FATAL ----------------------------------------------------------


@pytest.mark.parametrize(
    "step, maximum, retries, delays",
    [
        (1.0, 10.0, 3, [1, 2, 3]),
        (2.0, 5.0, 4, [2, 4, 5, 5]),
        (0.5, 1.0, 3, [0.5, 1, 1]),
        (3.0, 100.0, 1, [3]),
    ],
)
def test_failed_starts_back_off_then_give_up(step, maximum, retries, delays):
    sup, clock, rec = make(backoff_step=step, backoff_max=maximum, startretries=retries)
    to_starting(sup)
    for n, delay in enumerate(delays, 1):
        clock.advance(0.25)
        assert sup.exited(1) is Effect.NONE
        assert sup.state is S.BACKOFF
        assert sup.retries == n
        assert sup.next_wake == pytest.approx(clock.now + delay)
        assert f"retrying in {delay:g} s" in sup.message
        assert "exited with code 1 before it was ready" in sup.message

        clock.now = sup.next_wake - 0.01
        assert sup.wake() is Effect.NONE  # early
        assert sup.state is S.BACKOFF
        clock.now = sup.next_wake
        assert sup.wake() is Effect.SPAWN  # BACKOFF -> STARTING
        assert sup.state is S.STARTING
        assert f"retry {n} of {retries}" in sup.message
        sup.spawned(PID + n)

    assert sup.exited(1) is Effect.NONE
    assert sup.state is S.FATAL
    assert sup.next_wake is None
    assert f"gave up after {retries} retries" in sup.message
    assert rec.edges == (
        [(S.STOPPED, S.STARTING)]
        + [(S.STARTING, S.BACKOFF), (S.BACKOFF, S.STARTING)] * len(delays)
        + [(S.STARTING, S.FATAL)]
    )


def test_zero_retries_is_fatal_on_the_first_failure():
    sup, clock, rec = make(startretries=0)
    to_starting(sup)
    sup.exited(2)
    assert sup.state is S.FATAL
    assert "gave up after 0 retries" in sup.message


def test_transient_spawn_failure_backs_off_like_an_early_exit():
    sup, clock, rec = make(backoff_step=1)
    sup.start()
    assert sup.spawn_failed("engine busy") is Effect.NONE
    assert sup.state is S.BACKOFF
    assert sup.retries == 1
    assert sup.next_wake == T0 + 1
    assert sup.message.startswith("engine busy")
    assert "retrying in 1 s" in sup.message


def test_permanent_spawn_failure_is_fatal_at_once():
    sup, clock, rec = make(startretries=5)
    sup.start()
    assert sup.spawn_failed("no such file: /nope/python", permanent=True) is Effect.NONE
    assert sup.state is S.FATAL
    assert sup.next_wake is None
    assert sup.message == "no such file: /nope/python"
    assert rec.edges == [(S.STOPPED, S.STARTING), (S.STARTING, S.FATAL)]


def test_spawn_failure_while_stopping_is_stopped():
    sup, clock, rec = make()
    sup.start()
    assert sup.stop() is Effect.TERMINATE
    assert sup.spawn_failed("no such file") is Effect.NONE
    assert sup.state is S.STOPPED


def test_retries_reset_when_running_is_reached():
    sup, clock, rec = make(startretries=3, backoff_step=1, autorestart=Autorestart.ALWAYS)
    to_starting(sup)
    for _ in range(2):
        sup.exited(1)
        clock.now = sup.next_wake
        sup.wake()
        sup.spawned(PID)
    assert sup.retries == 2
    sup.ready_seen()
    assert sup.state is S.RUNNING
    assert sup.retries == 0

    # After an automatic restart, a failing start counts from 1 again and backs off 1 s.
    sup.exited(1)
    assert sup.state is S.STARTING
    sup.spawned(PID)
    sup.exited(1)
    assert sup.state is S.BACKOFF
    assert sup.retries == 1
    assert sup.next_wake == clock.now + 1


# -- exits while RUNNING: autorestart ------------------------------------------------------------


@pytest.mark.parametrize(
    "autorestart, exitcodes, code, restarted",
    [
        (Autorestart.ALWAYS, {0}, 0, True),
        (Autorestart.ALWAYS, {0}, 1, True),
        (Autorestart.UNEXPECTED, {0}, 0, False),
        (Autorestart.UNEXPECTED, {0}, 1, True),
        (Autorestart.UNEXPECTED, {0, 2}, 2, False),
        (Autorestart.UNEXPECTED, {0, 2}, 3, True),
        (Autorestart.UNEXPECTED, {0}, None, True),  # killed by a signal: unexpected
        (Autorestart.NEVER, {0}, 1, False),
        (Autorestart.NEVER, {0}, 0, False),
    ],
)
def test_exit_while_running_follows_the_autorestart_policy(autorestart, exitcodes, code, restarted):
    sup, clock, rec = reach(S.RUNNING, autorestart=autorestart, exitcodes=frozenset(exitcodes))
    effect = sup.exited(code)
    assert sup.exit_code == code
    assert sup.pid is None
    if restarted:
        assert effect is Effect.SPAWN
        assert sup.state is S.STARTING
        assert rec.edges == [(S.RUNNING, S.EXITED), (S.EXITED, S.STARTING)]
        assert sup.restarts == 1
        assert sup.message == "automatic restart #1"
    else:
        assert effect is Effect.NONE
        assert sup.state is S.EXITED
        assert rec.edges == [(S.RUNNING, S.EXITED)]
        assert sup.restarts == 0
        assert sup.message == f"exited with code {code}"


def test_restarts_are_counted_and_reset_by_a_user_start():
    sup, clock, rec = make(autorestart=Autorestart.ALWAYS)
    to_running(sup, clock)
    for n in (1, 2, 3):
        clock.advance(61)  # each crash the first within the crash window: restarted at once
        assert sup.exited(0, "killed by SIGKILL") is Effect.SPAWN
        assert sup.restarts == n
        assert sup.message == f"automatic restart #{n}"
        sup.spawned(PID)
        sup.ready_seen()
        assert sup.state is S.RUNNING
    sup.stop()
    sup.exited(0)
    sup.start()
    assert sup.restarts == 0


# -- crash loops ----------------------------------------------------------------------------------


def crash_right_after_ready(sup: Supervision, clock: FakeClock) -> Effect:
    """The program was RUNNING; it dies at once (killed right after its ready line)."""
    return sup.exited(-9, "was killed by a signal")


def test_a_crash_loop_backs_off_then_is_fatal():
    sup, clock, rec = reach(S.RUNNING, max_crashes=5, crash_window=60.0, backoff_step=1.0, backoff_max=10.0)
    seen = []
    for crash in range(1, 6):
        clock.advance(1.5)  # it ran 1.5 s since it was ready
        effect = crash_right_after_ready(sup, clock)
        seen.append((sup.state, effect, sup.next_wake - clock.now if sup.next_wake else None))
        if sup.state is S.FATAL:
            break
        if effect is Effect.NONE:  # BACKOFF: nothing until the delay has passed
            clock.advance(sup.next_wake - clock.now - 0.01)
            assert sup.wake() is Effect.NONE
            clock.advance(0.01)
            assert sup.wake() is Effect.SPAWN
            assert sup.message == f"automatic restart #{sup.restarts}"
        sup.spawned(PID)
        sup.ready_seen()
        assert sup.state is S.RUNNING
    assert seen == [
        (S.STARTING, Effect.SPAWN, None),  # the first crash in the window: at once
        (S.BACKOFF, Effect.NONE, 1.0),
        (S.BACKOFF, Effect.NONE, 2.0),
        (S.BACKOFF, Effect.NONE, 4.0),
        (S.FATAL, Effect.NONE, None),  # the 5th within 60 s
    ]
    assert "crashed 5 times within 60 s" in sup.message and "was killed by a signal" in sup.message
    assert (S.EXITED, S.BACKOFF) in rec.edges and rec.edges[-1] == (S.EXITED, S.FATAL)
    assert sup.restarts == 4


def test_crashes_older_than_the_window_are_forgotten():
    sup, clock, rec = reach(S.RUNNING, max_crashes=2, crash_window=60.0)
    for _ in range(5):  # one crash a minute never adds up to two within 60 s
        clock.advance(60.0)
        assert crash_right_after_ready(sup, clock) is Effect.SPAWN
        sup.spawned(PID)
        sup.ready_seen()
    clock.advance(30.0)
    assert crash_right_after_ready(sup, clock) is Effect.NONE
    assert sup.state is S.FATAL


def test_the_crash_delay_grows_and_is_capped():
    policy = RestartPolicy(backoff_step=1.0, backoff_max=5.0)
    assert [policy.crash_delay(n) for n in range(1, 7)] == [0.0, 1.0, 2.0, 4.0, 5.0, 5.0]


def test_a_user_start_forgets_the_crashes():
    sup, clock, rec = reach(S.RUNNING, max_crashes=2)
    assert crash_right_after_ready(sup, clock) is Effect.SPAWN
    sup.stop()
    sup.exited(0)
    assert sup.start() is Effect.SPAWN
    sup.spawned(PID)
    sup.ready_seen()
    assert crash_right_after_ready(sup, clock) is Effect.SPAWN  # the first again, not the second


def test_a_crash_backoff_is_stopped_by_stop():
    sup, clock, rec = reach(S.RUNNING)
    crash_right_after_ready(sup, clock)
    sup.spawned(PID)
    sup.ready_seen()
    crash_right_after_ready(sup, clock)
    assert sup.state is S.BACKOFF
    assert sup.stop() is Effect.NONE
    assert sup.state is S.STOPPED and sup.next_wake is None


# -- hold: the owner stops everything ---------------------------------------------------------------


def test_held_a_crash_is_not_restarted():
    sup, clock, rec = reach(S.RUNNING, autorestart=Autorestart.ALWAYS)
    assert sup.hold() is Effect.NONE
    assert sup.state is S.RUNNING  # holding changes nothing that runs
    assert sup.exited(-9, "was killed by a signal") is Effect.NONE
    assert sup.state is S.EXITED


def test_held_a_program_waiting_to_start_again_stops():
    sup, clock, rec = reach(S.BACKOFF)
    sup.hold()
    assert sup.state is S.STOPPED and sup.next_wake is None
    assert rec.edges[-1] == (S.BACKOFF, S.STOPPED)
    clock.advance(100)
    assert sup.wake() is Effect.NONE


def test_held_a_failed_start_is_not_retried():
    sup, clock, rec = reach(S.STARTING)
    sup.hold()
    assert sup.exited(1) is Effect.NONE
    assert sup.state is S.EXITED and "not retried: stopping" in sup.message
    assert rec.edges[-1] == (S.STARTING, S.EXITED)


def test_a_start_after_a_hold_restarts_again():
    sup, clock, rec = reach(S.RUNNING)
    sup.hold()
    sup.stop()
    sup.exited(0)
    sup.start()
    sup.spawned(PID)
    sup.ready_seen()
    assert sup.exited(-9) is Effect.SPAWN


def test_exit_description_is_the_message():
    sup, clock, rec = reach(S.RUNNING, autorestart=Autorestart.NEVER)
    sup.exited(None, "killed by SIGKILL")
    assert sup.message == "killed by SIGKILL"


# -- stop ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "state, effect, after",
    [
        (S.STARTING, Effect.TERMINATE, S.STOPPING),
        (S.RUNNING, Effect.TERMINATE, S.STOPPING),
        (S.BACKOFF, Effect.NONE, S.STOPPED),
        (S.STOPPED, Effect.NONE, S.STOPPED),
        (S.EXITED, Effect.NONE, S.EXITED),
        (S.FATAL, Effect.NONE, S.FATAL),
        (S.STOPPING, Effect.NONE, S.STOPPING),
    ],
)
def test_stop(state, effect, after):
    sup, clock, rec = reach(state, autorestart=Autorestart.NEVER)
    assert sup.stop() is effect
    assert sup.state is after
    assert rec.edges == ([(state, after)] if after is not state else [])
    if after is not state:
        assert sup.message == "stop requested"
        assert sup.next_wake is None


def test_stop_in_backoff_cancels_the_retry():
    sup, clock, rec = reach(S.BACKOFF)
    sup.stop()
    clock.advance(1000)
    assert sup.wake() is Effect.NONE
    assert sup.state is S.STOPPED


@pytest.mark.parametrize("autorestart", list(Autorestart))
def test_exit_while_stopping_is_stopped_never_restarted(autorestart):
    sup, clock, rec = reach(S.STOPPING, autorestart=autorestart)
    assert sup.exited(-15, "terminated by SIGTERM") is Effect.NONE
    assert sup.state is S.STOPPED
    assert rec.edges == [(S.STOPPING, S.STOPPED)]
    assert sup.message == "terminated by SIGTERM"
    assert sup.restarts == 0


def test_stop_while_starting_then_exit_is_stopped_not_a_failed_start():
    sup, clock, rec = reach(S.STARTING)
    assert sup.stop() is Effect.TERMINATE
    sup.ready_seen()  # a late readiness report does not revive it
    assert sup.state is S.STOPPING
    sup.exited(0)
    assert sup.state is S.STOPPED
    assert sup.retries == 0


# -- the listener sees every edge, in order ----------------------------------------------------------


def test_listener_receives_every_transition_in_order():
    sup, clock, rec = make(startsecs=2, start_timeout=10, startretries=1, autorestart=Autorestart.UNEXPECTED)
    sup.start()
    sup.spawned(1)
    clock.advance(1)
    sup.exited(1)  # failed start
    clock.now = sup.next_wake
    sup.wake()  # retry
    sup.spawned(2)
    sup.ready_seen()
    clock.advance(2)
    sup.wake()  # startsecs reached
    sup.exited(3)  # unexpected: restart
    sup.spawned(3)
    clock.advance(2)
    sup.ready_seen()
    sup.stop()
    sup.exited(0)
    sup.start()
    sup.spawn_failed("gone", permanent=True)

    assert rec.edges == [
        (S.STOPPED, S.STARTING),
        (S.STARTING, S.BACKOFF),
        (S.BACKOFF, S.STARTING),
        (S.STARTING, S.RUNNING),
        (S.RUNNING, S.EXITED),
        (S.EXITED, S.STARTING),
        (S.STARTING, S.RUNNING),
        (S.RUNNING, S.STOPPING),
        (S.STOPPING, S.STOPPED),
        (S.STOPPED, S.STARTING),
        (S.STARTING, S.FATAL),
    ]
