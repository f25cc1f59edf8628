"""The window's task history: recording what its event consumer sees, and reading it for the page.

:class:`HistoryService` wraps the Qt-free ``core.history.recorder.HistoryRecorder`` (who writes
the workspace's history: this window, or another celerydesk while it runs, with a takeover when
that one stops) and owns the page's reads (``history_queries.HistoryQueries``, their own
thread). Its ``submit`` is a sink of the window's event consumer.

It says what the user must read through ``message`` (the window's banner): that the history
cannot be used (a read-only folder, a damaged file), or stopped recording (a full disk), once,
and that it records again. ``stateChanged(state, detail)`` tells the page whether it can read
the history (``writing``, ``reading``) or must show the tasks it keeps in memory (``off``).

The recorder starts off the GUI thread: opening the file may migrate it, which takes seconds
on a large, old one.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

from PySide6.QtCore import QObject, Signal

from celerydesk.core.errors import DeskError
from celerydesk.core.history.recorder import OFF, READING, WRITING, HistoryRecorder
from celerydesk.core.history.retry import result_backend_url
from celerydesk.core.history.samples import DepthSampler
from celerydesk.services.background import post, run_in_background

STARTING = "starting"


class HistoryService(QObject):
    message = Signal(str, str)  # level, text: for the window's banner
    stateChanged = Signal(str, str)  # writing | reading | off | starting, and why (for off: the error)
    recordingChanged = Signal(bool)  # False while batches fail (a full disk), True once one goes through
    committed = Signal()  # this window's writer committed a batch (another writer's: ``queries.changed``)

    def __init__(self, ws, parent=None, runtime_dir: Optional[Path] = None):
        super().__init__(parent)
        self.ws = ws
        self.runtime_dir = Path(runtime_dir or ws.runtime_dir)
        self.state, self.detail = STARTING, ""
        self.recorder = HistoryRecorder(self.runtime_dir, ws.history, backend_url=result_backend_url(ws),
                                        on_state=self._state_from_thread, on_error=self._error_from_thread,
                                        on_commit=self._commit_from_thread)
        self._failing = False
        self._commit_posted = False
        self._depths = DepthSampler()
        self._queries = None
        self._started = False

    def start(self) -> None:
        if self._started:
            return
        self._started = True
        run_in_background(self.recorder.start, lambda _state, error: self._on_started(error), self)

    @property
    def queries(self):
        """The page's reads (made on first use)."""
        if self._queries is None:
            from celerydesk.services.history_queries import HistoryQueries

            self._queries = HistoryQueries(self.runtime_dir, parent=self)
        return self._queries

    @property
    def readable(self) -> bool:
        return self.state in (WRITING, READING)

    def submit(self, events: list) -> None:
        """The event consumer's sink (its thread): hand the events to the recorder."""
        self.recorder.submit(events)

    def record_depths(self, depths: dict) -> None:
        """The window's depth poll (``QueueDepths.depthsChanged``): sampled into the history."""
        rows = self._depths.add(time.time(), depths)
        if rows:
            self.recorder.submit_samples(rows)

    def shutdown(self, timeout: float = 5.0) -> None:
        """Write what waits (a full disk or a stuck file never holds this up past ``timeout``)."""
        if self._queries is not None:
            self._queries.close()
        self.recorder.close(timeout)

    # -- from the recorder's and writer's threads ---------------------------------------------

    def _state_from_thread(self, state: str, detail: str) -> None:
        post(self, lambda: self._set_state(state, detail))

    def _error_from_thread(self, error: DeskError) -> None:
        post(self, lambda: self._on_error(error))

    def _commit_from_thread(self, _commit) -> None:
        if self._failing:  # a batch went through again after a failure: say so, once
            post(self, self._on_recovered)
        if not self._commit_posted:  # one waiting at a time: a flood's commits do not queue up
            self._commit_posted = True
            post(self, self._on_committed)

    def _on_committed(self) -> None:
        self._commit_posted = False
        self.committed.emit()

    # -- the Qt thread --------------------------------------------------------------------------

    def _on_started(self, error) -> None:
        if error is not None:  # a bug: the recorder's own failures are states
            self._set_state(OFF, f"the task history could not be opened: {type(error).__name__}: {error}")

    def _set_state(self, state: str, detail: str) -> None:
        if (state, detail) == (self.state, self.detail):
            return
        before, self.state, self.detail = self.state, state, detail
        if state == OFF:
            self.message.emit("error", f"{detail}\nThe Tasks page shows the tasks of this session only, "
                                       "kept in memory; nothing is recorded.")
        elif state == READING:
            self.message.emit("info", f"{detail}: this window reads it")
        elif state == WRITING and before == READING:
            self.message.emit("info", "this window records the task history now (the other celerydesk stopped)")
        self.stateChanged.emit(state, detail)

    def _on_error(self, error: DeskError) -> None:
        """A batch could not be written (the writer says so once per spell of failures)."""
        self._failing = True
        self.message.emit("error", f"{error}\nThe stack keeps running; the Tasks page shows this session's "
                                   "tasks from memory, and they are not recorded meanwhile.")
        self.recordingChanged.emit(False)

    def _on_recovered(self) -> None:
        if self._failing:
            self._failing = False
            self.message.emit("info", "the task history records again")
            self.recordingChanged.emit(True)

    @property
    def recording(self) -> bool:
        """This window's writer is not failing (a reader's is another process's business)."""
        return not self._failing
