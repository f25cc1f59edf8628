"""Send tasks by name, one or N copies, off the Qt thread, and keep a history of launches.

The launcher is a bare Celery client on the workspace's broker: it never imports the user's
code (the task is named, not called). N copies go through one producer (one connection, one
channel) held for the whole loop, as a hand-written ``apply_async`` loop with a shared producer
would: acquiring a connection per message costs more than the message itself. Where kombu can
batch publishes (``Producer.batch``: Redis, in a pipeline), copies go ``BATCH_COPIES`` per round
trip; a copy counts as sent once its batch is flushed, so a broker lost mid-launch leaves
``Launch.ids`` holding the copies known to be queued. The loop runs on the background pool;
progress reaches the Qt thread through ``background.post`` at most every ``PROGRESS_EVERY_S``
seconds, so a 10,000-copy launch costs the GUI a handful of events, not 10,000.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable, Optional, Union

from PySide6.QtCore import QObject, Signal

from celerydesk.services.background import post, run_in_background

HISTORY_SIZE = 50  # launches kept for "run again"; older ones fall off
PROGRESS_EVERY_S = 0.1  # at most ten progress updates a second reach the GUI
BATCH_COPIES = 200  # copies per batch of publishes (one Redis pipeline), and between cancel checks


@dataclass(frozen=True)
class LaunchOptions:
    """What ``apply_async`` accepts besides the arguments; None means celery's default."""

    queue: Optional[str] = None
    countdown: Optional[float] = None  # seconds from now; exclusive with eta
    eta: Optional[datetime] = None  # timezone-aware
    expires: Optional[float] = None  # seconds after sending
    priority: Optional[int] = None  # 0-9 (Redis: 0 is the highest)
    copies: int = 1

    def send_options(self) -> dict:
        out: dict = {}
        if self.queue:
            out["queue"] = self.queue
        if self.eta is not None:
            out["eta"] = self.eta
        elif self.countdown:
            out["countdown"] = self.countdown
        if self.expires:
            out["expires"] = self.expires
        if self.priority is not None:
            out["priority"] = self.priority
        return out

    def describe(self) -> str:
        parts = [f"{k}={v.isoformat() if isinstance(v, datetime) else v}" for k, v in self.send_options().items()]
        if self.copies != 1:
            parts.append(f"×{self.copies}")
        return ", ".join(parts)


@dataclass
class Launch:
    """One press of Send: what was sent, and what came of it."""

    task: str
    args: list
    kwargs: dict
    options: LaunchOptions
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

    def __init__(self, broker_url: Union[str, Callable[[], str]], history_size: int = HISTORY_SIZE, parent=None):
        super().__init__(parent)
        # A callable: the stack's broker URL is only final once its mode is resolved.
        self._broker_url = broker_url if callable(broker_url) else (lambda: broker_url)
        self.history: deque[Launch] = deque(maxlen=history_size)
        self._busy = False
        self._apps: dict[str, object] = {}
        self._apps_lock = threading.Lock()
        self._cancel = threading.Event()

    @property
    def busy(self) -> bool:
        return self._busy

    def cancel(self) -> None:
        """Stop sending further copies of the launch in progress (those sent stay sent)."""
        self._cancel.set()

    def send(self, task: str, args: list, kwargs: dict, options: LaunchOptions = LaunchOptions()) -> Optional[Launch]:
        """Start sending; None (and nothing sent) while another launch is still sending."""
        if self._busy:
            return None
        launch = Launch(task, list(args), dict(kwargs), options)
        self._set_busy(True)
        self._cancel.clear()
        url = self._broker_url()
        self.started.emit(launch)
        run_in_background(lambda: self._send_blocking(url, launch), self._on_done, self)
        return launch

    def again(self, launch: Launch) -> Optional[Launch]:
        """The same task, arguments and options, sent anew (new ids, a new history entry)."""
        return self.send(launch.task, launch.args, launch.kwargs, launch.options)

    # -- the background side ------------------------------------------------------------------

    def client(self, url: str):
        """A bare Celery app for ``url``, made once: its connection pool outlives each launch."""
        with self._apps_lock:
            app = self._apps.get(url)
            if app is None:
                from celery import Celery

                app = Celery("celerydesk-launcher", broker=url, set_as_current=False)
                # JSON only, as the form's values are (and as the sample app accepts).
                app.conf.update(task_serializer="json", accept_content=["json"],
                                broker_connection_retry_on_startup=False)
                self._apps[url] = app
            return app

    def _send_blocking(self, url: str, launch: Launch) -> Launch:
        app = self.client(url)
        options = launch.options.send_options()
        total = max(1, launch.options.copies)
        started = time.perf_counter()
        last_report = started
        try:
            with app.producer_or_acquire() as producer:
                while len(launch.ids) < total:
                    if self._cancel.is_set():
                        launch.error = f"cancelled after {len(launch.ids)} of {total} copies"
                        break
                    count = min(BATCH_COPIES, total - len(launch.ids))
                    ids = []
                    with _batch(producer, count):
                        for _ in range(count):
                            ids.append(app.send_task(launch.task, args=launch.args, kwargs=launch.kwargs,
                                                     producer=producer, **options).id)
                            # Batched, a copy does no I/O, and the brief GIL releases it does make
                            # (uuid4's os.urandom) are too short for a waiting thread to get in: the
                            # GUI thread waited ~100 ms per batch. A sleep(0) lets it in (~1 µs).
                            time.sleep(0)
                    launch.ids.extend(ids)  # flushed: queued on the broker
                    now = time.perf_counter()
                    if now - last_report >= PROGRESS_EVERY_S:
                        last_report = now
                        sent = len(launch.ids)
                        post(self, lambda sent=sent: self.progress.emit(sent, total))
        except Exception as exc:  # a broker gone mid-loop: what was sent is kept and said
            launch.error = (f"sending {launch.task} failed after {len(launch.ids)} of {total}: "
                            f"{type(exc).__name__}: {exc}")
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
        self.finished.emit(Launch("", [], {}, LaunchOptions(), error=f"could not send: {error!r}"))

    def _set_busy(self, busy: bool) -> None:
        if busy != self._busy:
            self._busy = busy
            self.busyChanged.emit(busy)


def _batch(producer, copies: int):
    """Publishes of up to ``copies`` messages grouped into one flush, where kombu can batch them."""
    batch = getattr(producer, "batch", None)  # kombu >= 5.7
    if batch is None or not getattr(producer, "supports_batch_publish", False):
        return nullcontext()
    # Room for every command of the copies (an LPUSH, plus a PEXPIRE per priority list when the
    # queue expires): no flush happens before the batch ends, so the ids added after it are sent.
    return batch(max_size=copies * 12)
