"""The Workers page: the workers table (``workers_list``), a line saying what its figures are, and
the actions on the selected worker (``worker_actions``).

While the page is shown it refreshes the table every 2 s and as new samples come, and it has the
window ask remote workers for ``inspect stats``; hidden, it asks nothing (the resource sampling
goes on for the services table).
"""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from celerydesk.core.worker_resources import SAMPLE_INTERVAL_S
from celerydesk.services.worker_resources import STATS_INTERVAL_MS
from celerydesk.ui import defs
from celerydesk.ui.worker_actions import QtWorkerActions
from celerydesk.ui.workers_list import QtWorkersList

REFRESH_MS = 2000

ABOUT = (f"<b>This stack's workers</b> are measured here: memory is the resident memory (RSS) of the worker and "
         f"its pool processes, summed; CPU is a percentage of one core; sampled every {SAMPLE_INTERVAL_S:g} s with "
         f"psutil. <b>Other workers</b> are asked for <code>inspect stats</code> every "
         f"{STATS_INTERVAL_MS // 1000} s while this page is shown: their memory is the peak RSS of their main "
         f"process (<code>rusage.maxrss</code>), without the pool's, and they report no CPU percentage.")


class QtWorkersPanel(QWidget):
    def __init__(self, context, parent=None, confirm=None):
        """``confirm(parent, title, text) -> bool`` asks before shutting down a remote worker
        (a question box by default)."""
        super().__init__(parent)
        self.context = context
        self.about = QLabel(ABOUT, self)
        self.about.setWordWrap(True)
        self.table = QtWorkersList(context, self)
        self.actions = QtWorkerActions(context, confirm=confirm, parent=self)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(defs.MARGIN, defs.MARGIN, defs.MARGIN, defs.MARGIN)
        layout.setSpacing(defs.SPACING)
        layout.addWidget(self.about)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.actions)
        self._timer = QTimer(self, interval=REFRESH_MS)  # the event store's counts and statuses
        self._timer.timeout.connect(self._refresh)
        context.resources.sampled.connect(self._refresh_if_shown)
        context.worker_stats.changed.connect(self._refresh_if_shown)
        self._active = False
        self._refresh()

    def rows(self) -> list[tuple[str, str, str]]:
        return self.table.rows()

    def _refresh_if_shown(self) -> None:
        if self.isVisible():
            self._refresh()

    def _refresh(self) -> None:
        """The table, and the actions' view of the selected worker (its status; read-only or not)."""
        self.table.refresh()
        self._selection_changed()

    def _selection_changed(self) -> None:
        self.actions.set_row(self.table.selected())

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self._set_active(True)
        self._refresh()

    def hideEvent(self, event) -> None:
        super().hideEvent(event)
        self._set_active(False)

    def _set_active(self, active: bool) -> None:
        if active == self._active:
            return
        self._active = active
        self.context.worker_stats.set_active(active)
        if active:
            self._timer.start()
        else:
            self._timer.stop()
