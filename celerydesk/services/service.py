"""The base of every supervised service: a Supervision state machine driven from Qt.

Subclasses say how to spawn and terminate their thing (a child process, a container, a
remote broker); this class carries out the machine's effects, arms its one timer, turns its
transitions into signals, and implements restart as stop-then-start.
"""

from __future__ import annotations

import time
from typing import Callable, Optional

from PySide6.QtCore import QObject, QTimer, Signal

from celerydesk.core.states import RUNNING_STATES, ProcessState
from celerydesk.core.supervision import Effect, RestartPolicy, Supervision


class Service(QObject):
    stop_timeout = 10.0  # how long a stop may take before it is forced (the stack's stop deadline)

    stateChanged = Signal(str, object)  # key, ProcessState
    linesReceived = Signal(str, object)  # key, [(text, channel)]: object, so PySide does not convert the list
    detailsChanged = Signal(str)  # key: pid or container changed within the same state

    def __init__(self, key: str, label: str, kind: str, policy: RestartPolicy,
                 clock: Callable[[], float] = time.monotonic, parent=None):
        super().__init__(parent)
        self.key = key
        self.label = label
        self.kind = kind
        self.supervision = Supervision(key, policy, clock, listener=self._on_transition)
        self._wake_timer = QTimer(self, singleShot=True)
        self._wake_timer.timeout.connect(self._on_wake)
        self._restart_pending = False

    # -- what the controller and the window call ----------------------------------------------

    @property
    def state(self) -> ProcessState:
        return self.supervision.state

    @property
    def pid(self) -> Optional[int]:
        return self.supervision.pid

    def start(self) -> None:
        self._apply(self.supervision.start())

    def stop(self) -> None:
        self._restart_pending = False
        self._apply(self.supervision.stop())

    def hold(self) -> None:
        """The stack is stopping: nothing restarts or retries from now on (until a start)."""
        self._restart_pending = False
        self._apply(self.supervision.hold())

    def restart(self) -> None:
        if self.state in RUNNING_STATES and self.state != ProcessState.BACKOFF:
            self._restart_pending = True
            self._apply(self.supervision.stop())
        else:
            self.supervision.stop()  # BACKOFF -> STOPPED, no effect
            self.start()

    # -- for subclasses -----------------------------------------------------------------------

    def _spawn(self) -> None:
        raise NotImplementedError

    def _terminate(self) -> None:
        raise NotImplementedError

    def _apply(self, effect: Effect) -> None:
        if effect is Effect.SPAWN:
            self._spawn()
        elif effect is Effect.TERMINATE:
            self._terminate()
        self._rearm()

    # -- internals ----------------------------------------------------------------------------

    def _rearm(self) -> None:
        wake = self.supervision.next_wake
        if wake is None:
            self._wake_timer.stop()
        else:
            delay_ms = max(0, int((wake - self.supervision.clock()) * 1000) + 1)
            self._wake_timer.start(delay_ms)

    def _on_wake(self) -> None:
        self._apply(self.supervision.wake())

    def _on_transition(self, supervision: Supervision, old: ProcessState, new: ProcessState) -> None:
        self.stateChanged.emit(self.key, new)
        if new == ProcessState.STOPPED and self._restart_pending:
            self._restart_pending = False
            QTimer.singleShot(0, self.start)
