"""Send tasks by name, one or N copies, off the Qt thread, and keep a history of launches.

The launcher sends through the window's broker client (``BrokerClient.send_batches``): N
copies go through one producer, in batches of publishes where kombu can batch them, and a copy
counts as sent once its batch is flushed, so a broker lost mid-launch leaves ``Launch.ids``
holding the copies known to be queued. One copy carries its task-sent event (it shows in the
monitor at once); N copies do not, which would double what goes to the broker. The loop runs on
the background pool; progress reaches the Qt thread through ``background.post`` at most every
``PROGRESS_EVERY_S`` seconds, so a 10,000-copy launch costs the GUI a handful of events, not
10,000.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Optional

from PySide6.QtCore import QObject, Signal

from celerydesk.core.broker_client import BrokerClient, SendOptions
from celerydesk.core.errors import DeskError
from celerydesk.services.background import post
from celerydesk.services.broker import BrokerService

HISTORY_SIZE = 50  # launches kept for "run again"; older ones fall off
PROGRESS_EVERY_S = 0.1  # at most ten progress updates a second reach the GUI


@dataclass
class Launch:
    """One press of Send: what was sent, and what came of it."""

    task: str
    args: list
    kwargs: dict
    options: SendOptions
    ids: list = field(default_factory=list)  # the task ids sent, in order
    time: float = field(default_factory=time.time)  # wall clock, when Send was pressed
    seconds: float = 0.0  # how long the sending took
    error: Optional[str] = None

    @property
    def ok(self) -> bool:
        return self.error is None


class Launcher(QObject):
    """Sends launches one at a time on the background pool; signals arrive on the Qt thread."""

    started = Signal(object)  # Launch
    progress = Signal(int, int)  # sent so far, copies in all
    finished = Signal(object)  # Launch (its ids, or its error)
    busyChanged = Signal(bool)
    historyChanged = Signal()

    def __init__(self, broker: BrokerService, history_size: int = HISTORY_SIZE, parent=None):
        super().__init__(parent)
        self._broker = broker
        self.history: deque[Launch] = deque(maxlen=history_size)
        self._busy = False
        self._cancel = threading.Event()

    @property
    def busy(self) -> bool:
        return self._busy

    def cancel(self) -> None:
        """Stop sending further copies of the launch in progress (those sent stay sent)."""
        self._cancel.set()

    def send(self, task: str, args: list, kwargs: dict, options: SendOptions = SendOptions()) -> Optional[Launch]:
        """Start sending; None (and nothing sent) while another launch is still sending."""
        if self._busy:
            return None
        launch = Launch(task, list(args), dict(kwargs), options)
        self._set_busy(True)
        self._cancel.clear()
        self.started.emit(launch)
        self._broker.call(lambda client: self._send_blocking(client, launch), self._on_done, owner=self)
        return launch

    def again(self, launch: Launch) -> Optional[Launch]:
        """The same task, arguments and options, sent anew (new ids, a new history entry)."""
        return self.send(launch.task, launch.args, launch.kwargs, launch.options)

    # -- the background side ------------------------------------------------------------------

    def _send_blocking(self, client: BrokerClient, launch: Launch) -> Launch:
        total = max(1, launch.options.copies)
        started = time.perf_counter()
        last_report = started
        batches = client.send_batches(launch.task, launch.args, launch.kwargs, launch.options,
                                      sent_events=total == 1)
        try:
            for ids in batches:
                launch.ids.extend(ids)  # flushed: queued on the broker
                if len(launch.ids) < total and self._cancel.is_set():
                    launch.error = f"cancelled after {len(launch.ids)} of {total} copies"
                    break
                now = time.perf_counter()
                if now - last_report >= PROGRESS_EVERY_S:
                    last_report = now
                    sent = len(launch.ids)
                    post(self, lambda sent=sent: self.progress.emit(sent, total))
        except DeskError as exc:  # a broker gone mid-loop: what was sent is kept and said
            launch.error = str(exc)
        finally:
            batches.close()
        launch.seconds = time.perf_counter() - started
        return launch

    def _on_done(self, launch: Optional[Launch], error: Optional[BaseException]) -> None:
        if launch is None:  # _send_blocking itself raised (creating the client): nothing was sent
            return self._finish_failed(error)
        self.progress.emit(len(launch.ids), max(1, launch.options.copies))
        self.history.appendleft(launch)
        self._set_busy(False)
        self.historyChanged.emit()
        self.finished.emit(launch)

    def _finish_failed(self, error: Optional[BaseException]) -> None:
        self._set_busy(False)
        self.finished.emit(Launch("", [], {}, SendOptions(), error=f"could not send: {error}"))

    def _set_busy(self, busy: bool) -> None:
        if busy != self._busy:
            self._busy = busy
            self.busyChanged.emit(busy)

