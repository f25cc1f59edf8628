"""Keeping a workspace's history from a process that watches its stack: the window, ``celerydesk
up``, the headless watcher. It decides who writes, and fills in arguments celery cut.

:class:`HistoryRecorder` is a sink for ``core.event_consumer.EventConsumer`` (``submit``). It is
in one of three states:

- ``writing``: this process holds the history's lock; events go to its :class:`HistoryWriter`.
- ``reading``: another celerydesk writes this workspace's history (a window opened while ``up``
  runs it, or the other way round). Events are kept here for ``keep_s`` seconds meanwhile, and
  every ``takeover_s`` the recorder tries the lock again: once the other process has stopped,
  this one writes, starting with the events it kept. Merging an event twice changes nothing
  (``merge.py``), so what both processes saw is recorded once, and what the other saw after
  its last commit is not lost.
- ``off``: the history cannot be used (a read-only folder, a damaged or newer file): the
  process goes on without it. ``detail`` says why.

Arguments celery cut (its events carry a repr cut at 1,024 characters): for each task whose
repr may be cut or is not a literal (``arguments.maybe_inexact``, a look without parsing), the
recorder reads the result backend once the task has finished. Where the app keeps arguments
there (``result_extended``), the exact ones go into the history, which then outlives the
backend's ``result_expires``. Only a Redis result backend is read (the stack's broker, unless
the workspace's environment sets ``CELERY_RESULT_BACKEND``).

Callbacks (``on_state``, and the writer's ``on_error`` and ``on_commit``) run on the
recorder's or the writer's thread, never the caller's: a window emits a Qt signal from them.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from pathlib import Path
from typing import Callable, Optional

from celerydesk.core.errors import DeskError
from celerydesk.core.history.arguments import backend_arguments, backend_records, maybe_inexact
from celerydesk.core.history.writer import Commit, HistoryBusy, HistoryWriter
from celerydesk.core.workspace import HistoryConfig

WRITING, READING, OFF = "writing", "reading", "off"
_CARRY_ARGS = ("task-received", "task-sent")
_FINAL = frozenset({"task-succeeded", "task-failed", "task-retried", "task-rejected", "task-revoked"})
WATCHED_MAX = 100_000  # tasks with arguments that may be cut, waiting to finish
KEPT_MAX = 500_000  # events kept while another process writes


class HistoryRecorder:
    def __init__(self, runtime_dir: Path, retention: HistoryConfig = HistoryConfig(), *,
                 backend_url: Optional[str] = None,
                 on_state: Optional[Callable[[str, str], None]] = None,
                 on_error: Optional[Callable[[DeskError], None]] = None,
                 on_commit: Optional[Callable[[Commit], None]] = None,
                 takeover_s: float = 2.0, keep_s: float = 30.0, tick_s: float = 0.5):
        self.runtime_dir = Path(runtime_dir)
        self.retention = retention
        self.backend_url = backend_url if backend_url and backend_url.startswith(("redis://", "rediss://")) else None
        self.on_state, self.on_error, self.on_commit = on_state, on_error, on_commit
        self.takeover_s, self.keep_s, self.tick_s = takeover_s, keep_s, tick_s
        self.state = OFF
        self.detail = "not started"
        self.writer: Optional[HistoryWriter] = None
        self.filled = 0  # tasks whose cut arguments were filled in from the result backend
        self._kept: deque = deque()  # (monotonic time, events) while reading
        self._kept_count = 0
        self._watched: OrderedDict = OrderedDict()  # task id -> None: arguments may be cut
        self._finished: deque = deque()  # ... and since finished: read the backend for them
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._backend = None

    # -- life ------------------------------------------------------------------------------------

    def start(self) -> str:
        """Become the writer, or a reader while another process writes; the state it is in."""
        self._try_writing()
        thread = threading.Thread(target=self._run, name="celerydesk-history-recorder", daemon=True)
        thread.start()
        # Known to close() once started: a close() while the new thread was not yet scheduled (a
        # loaded machine; the window closed right after opening) joined a thread not started.
        self._thread = thread
        return self.state

    def close(self, timeout: float = 10.0) -> None:
        """Write what is waiting (within ``timeout``), stop, release the lock."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self.writer is not None:
            self._fill_from_backend()
            self.writer.close(timeout)
        if self._backend is not None:
            self._backend.close()

    def flush(self, timeout: float = 10.0) -> bool:
        return self.writer.flush(timeout) if self.writer is not None else True

    # -- the consumer's side ------------------------------------------------------------------

    def submit(self, events: list) -> None:
        """An event consumer's sink: never blocks on the file, never raises."""
        writer = self.writer
        if writer is not None:
            writer.submit(events)
            if self.backend_url:
                self._watch(events)
        elif self.state == READING:
            with self._lock:
                self._kept.append((time.monotonic(), events))
                self._kept_count += len(events)

    def record_alerts(self, firings: list) -> bool:
        """Store alert firings, if this process writes the history; False if it does not (another
        celerydesk writes it and stores its own firings of the same rules, or it is off)."""
        writer = self.writer
        if writer is None:
            return False
        writer.submit_alerts(firings)
        return True

    def submit_samples(self, samples: list) -> None:
        """Queue depths and the like (``samples.py``), recorded while this process writes."""
        writer = self.writer
        if writer is not None:
            writer.submit_samples(samples)

    def _watch(self, events: list) -> None:
        watched = self._watched
        for event in events:
            kind = event.get("type")
            if kind in _CARRY_ARGS:
                if maybe_inexact(event.get("args"), event.get("kwargs")):
                    watched[event.get("uuid")] = None
                    if len(watched) > WATCHED_MAX:
                        watched.popitem(last=False)
            elif kind in _FINAL and watched:
                task_id = event.get("uuid")
                if task_id in watched:
                    del watched[task_id]
                    self._finished.append(task_id)

    # -- the recorder's thread ----------------------------------------------------------------

    def _run(self) -> None:
        next_try = time.monotonic() + self.takeover_s
        while not self._stop.wait(self.tick_s):
            if self.state == READING:
                self._drop_old_kept()
                if time.monotonic() >= next_try:
                    next_try = time.monotonic() + self.takeover_s
                    self._try_writing()
            elif self.writer is not None:
                self._fill_from_backend()

    def _try_writing(self) -> None:
        writer = HistoryWriter(self.runtime_dir, self.retention, on_error=self.on_error, on_commit=self.on_commit)
        try:
            writer.start()
        except HistoryBusy as exc:
            self._set_state(READING, exc.message)
            return
        except DeskError as exc:
            self._set_state(OFF, str(exc))
            return
        with self._lock:
            kept, self._kept, self._kept_count = [e for _, chunk in self._kept for e in chunk], deque(), 0
            self.writer = writer
        writer.submit(kept)
        self._set_state(WRITING, str(writer.path))

    def _drop_old_kept(self) -> None:
        cutoff = time.monotonic() - self.keep_s
        with self._lock:
            while self._kept and (self._kept[0][0] < cutoff or self._kept_count > KEPT_MAX):
                self._kept_count -= len(self._kept.popleft()[1])

    def _fill_from_backend(self) -> None:
        ids = []
        while self._finished:
            ids.append(self._finished.popleft())
        if not ids or self.writer is None:
            return
        try:
            if self._backend is None:
                import redis

                self._backend = redis.Redis.from_url(self.backend_url, socket_timeout=2, socket_connect_timeout=2)
            records = backend_records(backend_arguments(self._backend, ids))
        except Exception:  # a backend that is down or not Redis: the reprs stay what is known
            return
        if records:
            self.filled += len(records)
            self.writer.submit_records(records)

    def _set_state(self, state: str, detail: str) -> None:
        changed = (state, detail) != (self.state, self.detail)
        self.state, self.detail = state, detail
        if changed and self.on_state is not None:
            try:
                self.on_state(state, detail)
            except Exception:
                pass
