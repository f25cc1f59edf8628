"""Run a blocking call off the Qt thread and get its outcome back on the Qt thread.

One long-lived dispatcher object carries every outcome back: per-call QObjects parented to a
caller are easy to delete twice (the caller's deletion and a deleteLater racing), which
crashes. A caller deleted before its outcome arrives simply does not get called.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import shiboken6
from PySide6.QtCore import QObject, Signal

_pool = None  # made on first use: importing concurrent.futures costs the window's first paint


def _executor():
    global _pool
    if _pool is None:
        from concurrent.futures import ThreadPoolExecutor

        _pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="celerydesk-bg")
    return _pool


class _Dispatcher(QObject):
    deliver = Signal(object)  # a callable to run on the thread this object lives in

    def __init__(self):
        super().__init__()
        self.deliver.connect(self._run)

    @staticmethod
    def _run(fn: Callable[[], None]) -> None:
        fn()


# Created at import, which happens on the Qt (main) thread: that is where it delivers.
_dispatcher = _Dispatcher()


def post(owner: QObject, fn: Callable[[], None]) -> None:
    """From any thread: run ``fn()`` on the Qt thread, unless ``owner`` is deleted by then."""
    _dispatcher.deliver.emit(lambda: shiboken6.isValid(owner) and fn())


def run_in_background(fn: Callable[[], Any], on_done: Callable[[Any, Optional[BaseException]], None],
                      owner: QObject) -> None:
    """``on_done(result, error)`` runs on the Qt thread once ``fn()`` returns or raises,
    unless ``owner`` has been deleted by then."""

    def finished(future) -> None:
        error = future.exception()
        result = None if error else future.result()
        post(owner, lambda: on_done(result, error))

    _executor().submit(fn).add_done_callback(finished)
