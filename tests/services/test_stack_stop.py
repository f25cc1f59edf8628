"""The stack's stop deadline: a service whose stop never completes (an engine that no longer
answers) does not keep the stack from stopping. After every layer's stop timeout and a margin
it is killed; if even that ends nothing, the stack stops anyway (the reaper, told so, kills
what is still registered), and says so.

The hung service is a real Service whose terminate reaches nothing, as a Docker engine that
stopped answering would: the state machine, timers and the stack are the real ones.
"""

from __future__ import annotations

from celerydesk.core.commands import BROKER
from celerydesk.core.states import StackPhase
from celerydesk.core.supervision import RestartPolicy
from celerydesk.services.service import Service
from celerydesk.services.stack import StackController
from tests.helpers.stack import make_workspace


class HungBroker(Service):
    stop_timeout = 0.2

    def __init__(self, parent=None):
        super().__init__(BROKER, "broker", BROKER, RestartPolicy(), parent=parent)

    def _spawn(self) -> None:
        self.supervision.spawned(None)
        self._apply(self.supervision.ready_seen())

    def _terminate(self) -> None:
        pass  # asked to stop, it never answers


def test_a_stop_that_never_completes_ends_at_the_deadline(qtbot, tmp_path):
    # The worker is never started; its stop timeout still counts in the deadline (every layer's).
    stack = StackController(make_workspace(tmp_path, beat=False, flower=False,
                                           workers=[{"name": "main", "stop_timeout": 0}]))
    stack.stop_margin_s = 0.3
    hung = HungBroker(stack)
    stack.services = {BROKER: hung}  # the workers were never started: only the hung broker runs
    stack._connect(hung)
    hung.start()
    stack.machine.phase = StackPhase.RUNNING  # as if started: the stop is the point here
    messages: list = []
    stack.message.connect(lambda level, text: messages.append((level, text)))
    with qtbot.waitSignal(stack.stackStopped, timeout=10000):
        stack.stop_all()
    assert stack.phase == StackPhase.IDLE and not stack.last_stop_clean
    errors = [text for level, text in messages if level == "error"]
    assert errors == ["the stop took too long (broker still running): killing them now",
                      "broker did not end even when killed; leaving them to the reaper"]
