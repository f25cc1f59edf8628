"""The project's tasks and beat schedule, read once for every widget of the window.

Introspection runs a script in the project's interpreter (``core.introspection``: a second
or more, or a cached answer when no project file changed), off the GUI thread. The Launch and
Schedules pages both ask here: a request while one runs waits for that one's answer, and
``finished`` tells every reader. ``latest`` keeps the last answer for a page built later.
"""

from __future__ import annotations

from typing import Callable, Optional

from PySide6.QtCore import QObject, Signal

from celerydesk.services.background import run_in_background


def _introspect(ws, force: bool):
    from celerydesk.core.introspection import introspect  # here: the window's first paint skips it

    return introspect(ws, refresh=force)


class ProjectIntrospection(QObject):
    finished = Signal(object, object)  # Introspection or None, the error or None

    def __init__(self, ws, introspect: Optional[Callable] = None, parent=None):
        """``introspect(ws, force)`` blocks and returns an Introspection (tests give their own)."""
        super().__init__(parent)
        self._ws = ws
        self._introspect = introspect or _introspect
        self.latest = None
        self.busy = False
        self._again: Optional[bool] = None  # asked again while busy: run once more (forced?)

    def request(self, force: bool = False) -> None:
        """Read the project (cached unless ``force`` or a project file changed); ``finished`` follows."""
        if self.busy:
            if force:
                self._again = True
            return
        self.busy = True
        ws, introspect = self._ws, self._introspect
        run_in_background(lambda: introspect(ws, force), self._on_done, self)

    def _on_done(self, result, error) -> None:
        self.busy = False
        if error is None:
            self.latest = result
        self.finished.emit(result, error)
        if self._again is not None:
            force, self._again = self._again, None
            self.request(force)
