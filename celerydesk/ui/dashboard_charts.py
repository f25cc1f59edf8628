"""The Dashboard's charts, drawn with pyqtgraph: a chart per figure, over the buckets of a range.

Each chart is a ``pg.PlotWidget`` with a time axis, a title, and a readout line under it that
says the values of the bucket under the mouse (hovering); the same text is its tooltip.
:class:`QtStackedBars` (tasks per bucket, stacked by state) also says which state of which
bucket was clicked (``bucketClicked``), for the Tasks page. Colours are chosen to read on light
and dark palettes; axes, text and background follow the palette (``apply_palette``, and again
when it changes).

pyqtgraph over QtCharts: redrawing 10,080 stacked bars took ~47 ms against ~670 ms (median; the
README's design notes give the figures and tests/bench/chart_libraries.py measures them).
"""

from __future__ import annotations

import math
import time
from typing import Callable, Optional, Sequence

import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QGraphicsItem, QLabel, QToolTip, QVBoxLayout, QWidget

from celerydesk.ui import defs

# Saturated mid-tones: they stand out from white and from #1e1e1e alike.
SUCCEEDED, FAILED, RETRIED = QColor("#2ea44f"), QColor("#e5534b"), QColor("#e09b13")
LINE_COLORS = [QColor(c) for c in ("#3b82f6", "#a855f7", "#14b8a6", "#f97316", "#ec4899", "#84cc16")]
SPARSE_POINTS = 30
STATES = (("succeeded", "SUCCESS", SUCCEEDED), ("failed", "FAILURE", FAILED), ("retried", None, RETRIED))


def moment(at: float, step: int) -> str:
    """A bucket's start as the user reads it: the time of day, with the date for long ranges."""
    return time.strftime("%a %d %b %H:%M" if step >= 3600 else "%H:%M", time.localtime(at))


def seconds_text(value: Optional[float]) -> str:
    if value is None:
        return "–"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    return f"{value:.1f} s" if value < 120 else f"{value / 60:.1f} min"


class QtChart(QWidget):
    """A titled plot with a readout line; subclasses draw and describe a bucket."""

    def __init__(self, title: str, parent=None, time_axis: bool = True):
        super().__init__(parent)
        self.title = QLabel(f"<b>{title}</b>", self)
        self.readout = QLabel(" ", self)
        self.readout.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        axes = {"bottom": pg.DateAxisItem(orientation="bottom")} if time_axis else {}
        self.plot = pg.PlotWidget(self, axisItems=axes)
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.setMinimumHeight(150)
        self.plot.getPlotItem().getViewBox().setDefaultPadding(0.02)
        for name in ("left", "bottom"):
            # The axes (the grid lines are the left one's) are painted from a pixmap, made again
            # only when they change: drawing the translucent grid was 90 % of a repaint (11 ms).
            self.plot.getPlotItem().getAxis(name).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.plot.scene().sigMouseMoved.connect(self._on_moved)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(defs.SMALL // 2)
        head = QWidget(self)
        head_layout = QVBoxLayout(head)
        head_layout.setContentsMargins(0, 0, 0, 0)
        head_layout.setSpacing(0)
        head_layout.addWidget(self.title)
        head_layout.addWidget(self.readout)
        layout.addWidget(head)
        layout.addWidget(self.plot, 1)
        self.span = None
        self.apply_palette()

    # -- the look -----------------------------------------------------------------------------

    def apply_palette(self) -> None:
        palette = self.palette()
        text = palette.color(QPalette.ColorRole.WindowText)
        self.plot.setBackground(palette.color(QPalette.ColorRole.Base))
        for name in ("left", "bottom"):
            axis = self.plot.getPlotItem().getAxis(name)
            axis.setPen(pg.mkPen(palette.color(QPalette.ColorRole.Mid)))
            axis.setTextPen(pg.mkPen(text))
        self.plot.getPlotItem().showGrid(x=False, y=True, alpha=0.15)
        muted = palette.color(QPalette.ColorRole.PlaceholderText).name()
        self.readout.setStyleSheet(f"QLabel {{ color: {muted}; }}")

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            self.apply_palette()

    # -- hovering -------------------------------------------------------------------------------

    def index_at_scene(self, scene_pos) -> Optional[int]:
        if self.span is None or not self.plot.getPlotItem().sceneBoundingRect().contains(scene_pos):
            return None
        x = self.plot.getPlotItem().getViewBox().mapSceneToView(scene_pos).x()
        index = self.span.index_of(x)
        return index if 0 <= index < self.span.count else None

    def _on_moved(self, scene_pos) -> None:
        index = self.index_at_scene(scene_pos)
        text = self.describe(index) if index is not None else ""
        self.readout.setText(text or " ")
        self.plot.setToolTip(text)
        if text:
            QToolTip.showText(self.plot.mapToGlobal(self.plot.mapFromScene(scene_pos)), text, self.plot)

    def describe(self, index: int) -> str:
        raise NotImplementedError

    def set_top(self, highest: float) -> None:
        """The y axis up to a round number above ``highest``: it changes seldom as values grow,
        and with it the axis' width (a new layout of the whole plot)."""
        top = nice_ceiling(highest * 1.05)
        if top != getattr(self, "_top", None):
            self._top = top
            self.plot.setYRange(0, top, padding=0)

    def set_x_range(self, span) -> None:
        if span != self.span:  # the same range again would redo the time axis' ticks
            self.span = span
            self.plot.setXRange(span.start, span.end, padding=0)


class QtStackedBars(QtChart):
    """Tasks per bucket, stacked: succeeded, failed, retried. A click says which bar and state."""

    bucketClicked = Signal(float, float, str)  # since, until, series (succeeded | failed | retried)

    def __init__(self, title: str, parent=None):
        super().__init__(title, parent)
        self.bars = {}
        for key, _state, color in STATES:
            bar = pg.BarGraphItem(x=[0], height=[0], width=1, brush=pg.mkBrush(color), pen=pg.mkPen(None))
            self.plot.addItem(bar)
            self.bars[key] = bar
        self.values = {key: [] for key, _, _ in STATES}
        self.set_title(title)
        self.plot.scene().sigMouseClicked.connect(self._on_clicked)

    def set_title(self, title: str) -> None:
        legend = "  ".join(f"<span style='color:{c.name()}'>■</span> {k}" for k, _, c in STATES)
        self.title.setText(f"<b>{title}</b> &nbsp; {legend}")

    def show_counts(self, span, succeeded: Sequence[int], failed: Sequence[int], retried: Sequence[int]) -> None:
        self.set_x_range(span)
        self.values = {"succeeded": list(succeeded), "failed": list(failed), "retried": list(retried)}
        x = [span.bucket_start(i) + span.step / 2 for i in range(span.count)]
        bottom = [0] * span.count
        for key, _state, _color in STATES:
            heights = self.values[key]
            self.bars[key].setOpts(x=x, height=heights, y0=list(bottom), width=span.step * 0.85)
            bottom = [b + h for b, h in zip(bottom, heights)]
        self.set_top(max(bottom, default=0))

    def describe(self, index: int) -> str:
        counts = ", ".join(f"{key} {self.values[key][index]}" for key, _, _ in STATES if self.values[key])
        return f"{moment(self.span.bucket_start(index), self.span.step)}: {counts}" if counts else ""

    def series_at(self, index: int, y: float) -> Optional[str]:
        """The state whose part of the bar ``index`` is at height ``y`` (above the bar: its top part)."""
        top, found = 0, None
        for key, _, _ in STATES:
            height = self.values[key][index] if self.values[key] else 0
            if height:
                found = key
                if y < top + height:
                    return key
                top += height
        return found

    def _on_clicked(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        index = self.index_at_scene(event.scenePos())
        if index is None:
            return
        y = self.plot.getPlotItem().getViewBox().mapSceneToView(event.scenePos()).y()
        self.click(index, y)

    def click(self, index: int, y: float) -> None:
        series = self.series_at(index, y)
        if series is not None:
            start = self.span.bucket_start(index)
            self.bucketClicked.emit(start, start + self.span.step, series)


class QtLinesChart(QtChart):
    """One line per series (a queue, or one figure), a point per bucket; gaps where nothing was known."""

    def __init__(self, title: str, unit: Callable[[Optional[float]], str] = str, parent=None,
                 axis_units: str = ""):
        super().__init__(title, parent)
        self.heading = title
        self.unit = unit
        if axis_units:
            self.plot.getPlotItem().getAxis("left").setLabel(units=axis_units)
        self.curves: dict = {}
        self.values: dict = {}
        self.empty = pg.TextItem("", anchor=(0.5, 0.5))
        self.plot.addItem(self.empty)

    def show_series(self, span, series: dict, empty_text: str = "nothing recorded in this range") -> None:
        self.set_x_range(span)
        self.values = series
        if len(series) > 1:  # a legend: which colour is which queue
            names = sorted(series)
            self.title.setText(f"<b>{self.heading}</b> &nbsp; " + "  ".join(
                f"<span style='color:{LINE_COLORS[n % len(LINE_COLORS)].name()}'>■</span> {name}"
                for n, name in enumerate(names)))
        for name in list(self.curves):
            if name not in series:
                self.plot.removeItem(self.curves.pop(name))
        highest = 0.0
        for n, (name, values) in enumerate(sorted(series.items())):
            curve = self.curves.get(name)
            if curve is None:
                color = LINE_COLORS[n % len(LINE_COLORS)]
                curve = self.plot.plot(pen=pg.mkPen(color, width=2), connect="finite")
                curve.color = color
                self.curves[name] = curve
            known = [(span.bucket_start(i) + span.step / 2, v) for i, v in enumerate(values)]
            points = sum(v is not None for _, v in known)
            if points:
                # Dots only where there are few points (a lone one has no line): they cost a paint each.
                dots = dict(symbol="o", symbolSize=5, symbolBrush=pg.mkBrush(curve.color), symbolPen=None) \
                    if points <= SPARSE_POINTS else dict(symbol=None)
                curve.setData(x=[x for x, _ in known], y=[float("nan") if v is None else float(v) for _, v in known],
                              connect="finite", **dots)
            else:
                curve.setData(x=[], y=[])
            highest = max([highest, *(v for v in values if v is not None)])
        self.set_top(highest)
        has_data = any(v is not None for values in series.values() for v in values)
        self.empty.setText("" if has_data else empty_text)
        self.empty.setColor(self.palette().color(QPalette.ColorRole.PlaceholderText))
        self.empty.setPos((span.start + span.end) / 2, 0.5 if not highest else highest / 2)

    def describe(self, index: int) -> str:
        parts = [f"{name} {self.unit(values[index])}" for name, values in sorted(self.values.items())
                 if values[index] is not None]
        return f"{moment(self.span.bucket_start(index), self.span.step)}: {', '.join(parts)}" if parts else ""


class QtRuntimeBars(QtChart):
    """p50 and p95 runtime per task name, as horizontal bars (the most run task on top)."""

    def __init__(self, title: str, parent=None):
        super().__init__(title, parent, time_axis=False)
        self.p95 = pg.BarGraphItem(x0=[0], y=[0], height=0.7, width=[0], brush=pg.mkBrush(LINE_COLORS[1]),
                                   pen=pg.mkPen(None))
        self.p50 = pg.BarGraphItem(x0=[0], y=[0], height=0.7, width=[0], brush=pg.mkBrush(LINE_COLORS[0]),
                                   pen=pg.mkPen(None))
        self.plot.addItem(self.p95)
        self.plot.addItem(self.p50)
        self.title.setText(f"<b>{title}</b> &nbsp; <span style='color:{LINE_COLORS[0].name()}'>■</span> p50"
                           f"  <span style='color:{LINE_COLORS[1].name()}'>■</span> p95")
        self.plot.getPlotItem().getAxis("bottom").setLabel("runtime", units="s")  # ms, s... as it fits
        self.rows: list = []

    def show_runtimes(self, rows: list) -> None:
        self.rows = rows[:12]
        n = len(self.rows)
        ys = [n - 1 - i for i in range(n)]
        self.p95.setOpts(x0=[0] * n, y=ys, width=[r.p95 for r in self.rows], height=0.7)
        self.p50.setOpts(x0=[0] * n, y=ys, width=[r.p50 for r in self.rows], height=0.7)
        axis = self.plot.getPlotItem().getAxis("left")
        axis.setTicks([[(y, short_name(r.name, [o.name for o in self.rows])) for y, r in zip(ys, self.rows)]])
        self.plot.setYRange(-0.6, max(n, 1) - 0.4, padding=0)
        self.plot.setXRange(0, max([r.p95 for r in self.rows], default=1) * 1.05 or 1, padding=0)

    def index_at_scene(self, scene_pos) -> Optional[int]:
        if not self.rows or not self.plot.getPlotItem().sceneBoundingRect().contains(scene_pos):
            return None
        y = self.plot.getPlotItem().getViewBox().mapSceneToView(scene_pos).y()
        index = len(self.rows) - 1 - round(y)
        return index if 0 <= index < len(self.rows) else None

    def describe(self, index: int) -> str:
        r = self.rows[index]
        how = "" if r.exact else " (from the runtime buckets: within 19 %)"
        return f"{r.name}: p50 {seconds_text(r.p50)}, p95 {seconds_text(r.p95)} over {r.finished} finished{how}"


def nice_ceiling(value: float) -> float:
    """1, 2 or 5 times a power of ten, at least ``value`` (1 for nothing)."""
    if value <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(value))
    return next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= value)


def short_name(name: str, others: list[str]) -> str:
    """The fewest last dotted parts of ``name`` that no other name shown ends with."""
    parts = name.split(".")
    for n in range(1, len(parts) + 1):
        tail = ".".join(parts[-n:])
        if not any(o != name and (o == tail or o.endswith("." + tail)) for o in others):
            return tail
    return name
