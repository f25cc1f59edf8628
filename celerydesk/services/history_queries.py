"""The Tasks page's reads of the history, on a thread of their own, answered on the Qt thread.

A count of a million rows takes tens of milliseconds, a page deep in them or a search as much:
none of that may run on the GUI thread. :class:`HistoryQueries` owns one thread and its one
:class:`HistoryReader` (SQLite connections are not shared between threads), runs the requests
in order, and hands each outcome to ``on_done(result, error)`` on the Qt thread (through
``background.post``: not at all if the asker was deleted meanwhile).

A request may carry a ``key``: a newer request with the same key replaces one still waiting
(a search typed letter by letter runs for the last text, not for each letter).

``watch()`` also asks, every ``WATCH_MS``, whether the file changed (SQLite's ``data_version``
moves when another connection commits: this process's writer or another celerydesk's), and
emits ``changed`` when it did: that is how the table follows the history, whoever writes it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from functools import partial
from pathlib import Path
from typing import Any, Callable, Optional

from PySide6.QtCore import QObject, QTimer, Signal

from celerydesk.core.history.queries import HistoryReader
from celerydesk.services.background import post

WATCH_MS = 250
OnDone = Callable[[Any, Optional[BaseException]], None]


class HistoryQueries(QObject):
    changed = Signal()  # the history file has new commits

    def __init__(self, runtime_dir: Path, parent=None, watch_ms: int = WATCH_MS):
        super().__init__(parent)
        self.runtime_dir = Path(runtime_dir)
        self._requests: OrderedDict = OrderedDict()  # key -> (fn, on_done, owner)
        self._serial = 0
        self._wake = threading.Condition()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="celerydesk-history-reads", daemon=True)
        self._thread.start()
        self._version: Optional[int] = None
        self._watching = False
        self._watch = QTimer(self, interval=watch_ms)
        self._watch.timeout.connect(self._check_changed)

    def ask(self, fn: Callable[[HistoryReader], Any], on_done: OnDone, owner: QObject,
            key: Optional[str] = None) -> None:
        """Run ``fn(reader)`` on the reads' thread; ``on_done(result, error)`` on the Qt thread."""
        with self._wake:
            if key is None:
                self._serial += 1
                key = ("#", self._serial)
            else:
                self._requests.pop(key, None)  # the newer one runs, at the end of the line
            self._requests[key] = (fn, on_done, owner)
            self._wake.notify()

    def watch(self, on: bool) -> None:
        """Look for changes (``changed``) while on; a table that is not shown need not follow."""
        if on and not self._watch.isActive():
            self._watch.start()
            self._check_changed()
        elif not on:
            self._watch.stop()

    def close(self, timeout: float = 5.0) -> None:
        self._watch.stop()
        with self._wake:
            self._closing = True
            self._requests.clear()
            self._wake.notify()
        self._thread.join(timeout)

    # -- the Qt thread ----------------------------------------------------------------------------

    def _check_changed(self) -> None:
        if self._watching:
            return  # the last look has not come back yet
        self._watching = True
        self.ask(lambda reader: reader.data_version(), self._on_version, self, key="data_version")

    def _on_version(self, version, error) -> None:
        self._watching = False
        if error is not None or version is None:
            return
        if version != self._version:
            first = self._version is None
            self._version = version
            if not first:
                self.changed.emit()

    # -- the reads' thread ------------------------------------------------------------------------

    def _run(self) -> None:
        reader: Optional[HistoryReader] = None
        while True:
            with self._wake:
                while not self._requests and not self._closing:
                    self._wake.wait()
                if self._closing:
                    break
                _key, (fn, on_done, owner) = self._requests.popitem(last=False)
            try:
                if reader is None:
                    reader = HistoryReader(self.runtime_dir)  # the file may appear after the first ask
                outcome = (fn(reader), None)
            except BaseException as exc:  # handed to on_done, on the Qt thread
                outcome = (None, exc)
            # fn goes back too: what it holds (a model, say) is let go of on the Qt thread (background.py)
            post(owner, partial(_deliver, fn, on_done, outcome))
            del fn, on_done, owner, outcome
        if reader is not None:
            reader.close()


def _deliver(_fn, on_done: OnDone, outcome: tuple) -> None:
    on_done(*outcome)
