"""Run a blocking call off the Qt thread and get its outcome back on the Qt thread.

One long-lived dispatcher object carries every outcome back: per-call QObjects parented to a
caller are easy to delete twice (the caller's deletion and a deleteLater racing), which
crashes. A caller deleted before its outcome arrives simply does not get called.

No Python reference to a caller's objects is ever *released* on a worker thread: the calls,
their owners and their outcomes wait in ``_pending`` (filled and emptied on the Qt thread),
and a worker passes only a number across. Otherwise a worker could drop the last reference
to, say, a StackController whose window or test already let go of it, and Qt objects would
be destroyed on the wrong thread: a QProcess's socket notifiers "disabled from another
thread", then "Invalid socket ... disabling..." forever in the event loop.
"""

from __future__ import annotations

import itertools
from typing import Any, Callable, Optional

import shiboken6
from PySide6.QtCore import QObject, Signal

_pool = None  # made on first use: importing concurrent.futures costs the window's first paint
_tokens = itertools.count()
_pending: dict[int, list] = {}  # token -> [fn, on_done, owner, outcome]


def _executor():
    global _pool
    if _pool is None:
        from concurrent.futures import ThreadPoolExecutor

        _pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="celerydesk-bg")
    return _pool


class _Dispatcher(QObject):
    deliver = Signal(int)  # a token of _pending, to finish on the thread this object lives in

    def __init__(self):
        super().__init__()
        self.deliver.connect(self._finish)

    @staticmethod
    def _finish(token: int) -> None:
        fn, on_done, owner, outcome = _pending.pop(token)
        if shiboken6.isValid(owner):
            if on_done is None:  # post(): fn itself is what to run here
                fn()
            else:
                on_done(*outcome)


# Created at import, which happens on the Qt (main) thread: that is where it delivers.
_dispatcher = _Dispatcher()


def post(owner: QObject, fn: Callable[[], None]) -> None:
    """From any thread: run ``fn()`` on the Qt thread, unless ``owner`` is deleted by then.

    The caller's own references to ``owner`` and ``fn`` stay its business."""
    token = next(_tokens)
    _pending[token] = [fn, None, owner, None]
    _dispatcher.deliver.emit(token)


def run_in_background(fn: Callable[[], Any], on_done: Callable[[Any, Optional[BaseException]], None],
                      owner: QObject) -> None:
    """On the Qt thread: ``on_done(result, error)`` runs there once ``fn()`` returns or raises,
    unless ``owner`` has been deleted by then."""
    token = next(_tokens)
    _pending[token] = [fn, on_done, owner, None]
    _executor().submit(_work, token)


def _work(token: int) -> None:
    entry = _pending[token]
    try:
        entry[3] = (entry[0](), None)
    except BaseException as exc:  # handed to on_done, on the Qt thread
        entry[3] = (None, exc)
    del entry  # this thread lets go of everything before the Qt thread may
    _dispatcher.deliver.emit(token)
