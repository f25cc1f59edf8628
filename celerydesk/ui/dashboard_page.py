"""The Dashboard page: how the stack behaves over time, from the task history.

Five charts over a range (the last 15 minutes, hour, 24 hours or 7 days; ``core.history.dashboard``
says how each is read): tasks per bucket stacked by succeeded, failed and retried; runtime p50 and
p95 per task; the mean wait in the queue (received minus sent); the queue depths; the workers
online. Hovering a chart says the values of the bucket under the mouse; clicking a bar of the
first opens the Tasks page on the tasks that finished (or were retried) in that bucket, in that
state (``tasksRequested``, which the window routes).

Reads run on the history's reads thread (``HistoryQueries``), never on the GUI thread. A range is
read whole when chosen (or when time has moved on a bucket); while the page is shown, each commit
of this window's writer (``HistoryService.committed``, at most every ``LIVE_MS``) and a slower
tick (another process may be writing; queue depths come every 10 s) read the last two buckets
only, and the runtimes every ``RUNTIMES_EVERY_MS``.
"""

from __future__ import annotations

import time
from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QButtonGroup, QGridLayout, QHBoxLayout, QLabel, QToolButton, QVBoxLayout, QWidget

from celerydesk.core.history.dashboard import RANGES, read_dashboard, read_last_bucket, span_of
from celerydesk.ui import defs
from celerydesk.ui.dashboard_charts import QtLinesChart, QtRuntimeBars, QtStackedBars, seconds_text

DEFAULT_RANGE = "1 h"
LIVE_MS = 1000
TICK_MS = 2500
RUNTIMES_EVERY_MS = 10_000
_STATES = {"succeeded": ("finished", ("SUCCESS",)), "failed": ("finished", ("FAILURE",)), "retried": ("retried", ())}


class QtDashboardPage(QWidget):
    tasksRequested = Signal(float, float, str, tuple)  # since, until, when (finished | retried), states
    redrawn = Signal()  # the charts show a new read (whole or live)

    def __init__(self, context, parent=None, clock=time.time):
        super().__init__(parent)
        self.context = context
        self.history = context.history
        self.clock = clock
        self.label = DEFAULT_RANGE
        self.board = None  # the last whole read (core.history.dashboard.Dashboard), updated live
        self._reading = False
        self._build()
        self._live = QTimer(self, singleShot=True, interval=LIVE_MS)
        self._live.timeout.connect(self.read_live)
        self._tick = QTimer(self, interval=TICK_MS)
        self._tick.timeout.connect(self._schedule_live)
        self._runtimes_due = 0.0
        self._pending: list = []  # charts still to be given their values, one per turn
        self._drawing = False
        self._drawn: dict = {}  # chart -> the values it shows (unchanged ones are not redrawn)
        self.reads = {"whole": 0, "live": 0}  # how the charts were read (the tests tell live from whole)
        self.history.committed.connect(self._schedule_live)
        self.history.stateChanged.connect(lambda *_: self.refresh())
        context.event_monitor()  # what the history records comes from the window's event consumer
        self.refresh()

    def _build(self) -> None:
        self.range_buttons = QButtonGroup(self)
        ranges = QHBoxLayout()
        ranges.addWidget(QLabel("Range:", self))
        for label in RANGES:
            button = QToolButton(self, text=label, checkable=True)
            button.setToolTip(f"The last {label}")
            self.range_buttons.addButton(button)
            ranges.addWidget(button)
            button.setChecked(label == self.label)
        self.range_buttons.buttonClicked.connect(lambda button: self.show_range(button.text()))
        self._mark_range()
        self.status = QLabel(self)
        self.status.setStyleSheet("QLabel { color: palette(placeholder-text); }")
        ranges.addSpacing(2 * defs.MARGIN)
        ranges.addWidget(self.status, 1)
        hint = QLabel("Hover a chart for its values; click a bar to see those tasks.", self)
        hint.setStyleSheet("QLabel { color: palette(placeholder-text); }")
        ranges.addWidget(hint)

        self.throughput = QtStackedBars("Tasks per minute", self)
        self.throughput.bucketClicked.connect(self._on_bucket_clicked)
        self.runtimes = QtRuntimeBars("Runtime per task", self)
        self.wait = QtLinesChart("Wait in the queue (received − sent, mean of the tasks finished)", seconds_text, self,
                                 axis_units="s")
        self.depths = QtLinesChart("Queue depth (messages waiting, highest)", lambda v: f"{v:.0f}", self)
        self.workers = QtLinesChart("Workers online", lambda v: f"{v:.0f}", self)
        grid = QGridLayout()
        grid.setSpacing(2 * defs.MARGIN)
        grid.addWidget(self.throughput, 0, 0, 1, 2)
        grid.addWidget(self.runtimes, 1, 0)
        grid.addWidget(self.wait, 1, 1)
        grid.addWidget(self.depths, 2, 0)
        grid.addWidget(self.workers, 2, 1)
        for row, stretch in ((0, 4), (1, 3), (2, 3)):
            grid.setRowStretch(row, stretch)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2 * defs.MARGIN, defs.MARGIN, 2 * defs.MARGIN, defs.MARGIN)
        layout.setSpacing(defs.MARGIN)
        layout.addLayout(ranges)
        layout.addLayout(grid, 1)

    # -- the public face -------------------------------------------------------------------------

    def show_range(self, label: str) -> None:
        if label not in RANGES:
            raise ValueError(f"no range {label!r}; choose one of {', '.join(RANGES)}")
        self.label = label
        for button in self.range_buttons.buttons():
            button.setChecked(button.text() == label)
        self._mark_range()
        self.refresh()

    def _mark_range(self) -> None:
        """The range shown in bold too: a checked button barely differs in some styles (dark Fusion)."""
        for button in self.range_buttons.buttons():
            font = button.font()
            font.setBold(button.isChecked())
            button.setFont(font)

    def refresh(self) -> None:
        """Read the whole range again."""
        if not self.history.readable:
            self.status.setText("The task history is not in use: " + (self.history.detail or "it is opening…"))
            return
        label, now = self.label, self.clock()
        if self.board is None or self.board.label != label:
            self.status.setText("reading…")
        self._reading = True
        self.reads["whole"] += 1
        self.history.queries.ask(lambda reader: read_dashboard(reader, label, now), self._on_board, self,
                                 key="dashboard")

    def read_live(self) -> None:
        """Read the last buckets of the range shown (the whole range when time moved past a bucket)."""
        board = self.board
        if board is None or self._reading or not self.history.readable:
            return
        now = self.clock()
        if span_of(self.label, now) != board.span or now >= self._runtimes_due:
            self.refresh()
            return
        span = board.span
        self.reads["live"] += 1
        self.history.queries.ask(lambda reader: read_last_bucket(reader, span, now), self._on_last, self,
                                 key="dashboard-live")

    # -- showing ---------------------------------------------------------------------------------

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self._tick.start()
        self._schedule_live()

    def hideEvent(self, event) -> None:
        super().hideEvent(event)
        self._tick.stop()

    def _schedule_live(self) -> None:
        if self.isVisible() and not self._live.isActive():
            self._live.start()

    def _on_board(self, board, error) -> None:
        self._reading = False
        if error is not None:
            self.status.setText(f"The task history cannot be read: {error}")
            return
        if board.label != self.label:
            return  # a range chosen meanwhile is on its way
        self.board = board
        self._runtimes_due = self.clock() + RUNTIMES_EVERY_MS / 1000
        self._draw()
        self.status.setText(f"{self._total_text()} · updated live")

    def _on_last(self, result, error) -> None:
        if error is not None or self.board is None:
            return
        throughput, samples = result
        if throughput.span != self.board.span:
            return
        mine, theirs = self.board.throughput, throughput
        for i in range(max(0, mine.span.count - 2), mine.span.count):  # what a live read covers
            mine.succeeded[i], mine.failed[i], mine.retried[i] = theirs.succeeded[i], theirs.failed[i], theirs.retried[i]
            mine.wait_mean[i] = theirs.wait_mean[i]
            self.board.samples.workers[i] = samples.workers[i]
            for queue, values in samples.queues.items():
                self.board.samples.queues.setdefault(queue, [None] * mine.span.count)[i] = values[i]
        self._draw()
        self.status.setText(f"{self._total_text()} · updated live")

    @property
    def settled(self) -> bool:
        """The charts show the last read (none is waiting to be drawn)."""
        return self.board is not None and not self._drawing

    def _draw(self) -> None:
        """Give each chart its new values, one chart per turn of the event loop, so each is
        painted before the next is worked on: the GUI never waits on all five at once (a live
        flood redraws every second). A chart whose values did not change is left alone."""
        board = self.board
        span, tp = board.span, board.throughput
        per = {60: "minute", 600: "10 minutes", 3600: "hour"}[span.step]
        self.throughput.set_title(f"Tasks per {per}")
        steps = [
            (self.throughput, (span, tp.succeeded, tp.failed, tp.retried), self.throughput.show_counts),
            (self.wait, (span, {"mean wait": tp.wait_mean}), self.wait.show_series),
            (self.depths, (span, board.samples.queues), self.depths.show_series),
            (self.workers, (span, {"workers": board.samples.workers}), self.workers.show_series),
            (self.runtimes, (board.runtimes,), self.runtimes.show_runtimes),
        ]
        self._pending = [(chart, _frozen(args), show, args) for chart, args, show in steps]
        if not self._drawing:
            self._drawing = True
            self._draw_next()

    def _draw_next(self) -> None:
        while self._pending:
            chart, frozen, show, args = self._pending.pop(0)
            if self._drawn.get(chart) == frozen:
                continue
            self._drawn[chart] = frozen
            show(*args)
            if self._pending:
                QTimer.singleShot(0, self, self._draw_next)
                return
        self._drawing = False
        self.redrawn.emit()

    def _total_text(self) -> str:
        tp = self.board.throughput
        return (f"last {self.label}: {sum(tp.succeeded)} succeeded, {sum(tp.failed)} failed, "
                f"{sum(tp.retried)} retried")

    def _on_bucket_clicked(self, since: float, until: float, series: str) -> None:
        when, states = _STATES[series]
        self.tasksRequested.emit(since, until, when, states)



def _frozen(args: tuple) -> tuple:
    """Values to compare (lists and dicts of lists as tuples)."""
    def freeze(value):
        if isinstance(value, dict):
            return tuple(sorted((k, freeze(v)) for k, v in value.items()))
        if isinstance(value, list):
            return tuple(value)
        return value

    return tuple(freeze(a) for a in args)
