"""Run a blocking call off the Qt thread and get its outcome back on the Qt thread."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from PySide6.QtCore import QObject, Signal

_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="celerydesk-bg")


class _Delivery(QObject):
    done = Signal(object, object)  # result, exception


def run_in_background(fn: Callable[[], Any], on_done: Callable[[Any, BaseException | None], None],
                      parent: QObject) -> None:
    """``on_done(result, error)`` runs in ``parent``'s thread once ``fn()`` returns or raises."""
    delivery = _Delivery(parent)

    def finished(result, error):
        delivery.deleteLater()
        on_done(result, error)

    delivery.done.connect(finished)
    future = _POOL.submit(fn)
    future.add_done_callback(lambda f: delivery.done.emit(
        None if f.exception() else f.result(), f.exception()))
