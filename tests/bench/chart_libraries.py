"""Bench: redrawing the Dashboard's busiest chart with QtCharts and with pyqtgraph (issue 19's choice).

The chart is tasks per bucket stacked by succeeded, failed and retried, as the Dashboard draws it
over 7 days: per hour (168 bars, what the page shows) and per minute (10,080 points, the worst a
range could ask). Each library gets the same series (what the summary gives for a store of
``--rows`` tasks over 7 days; the store's size does not change what is drawn, only the query, which
bench_dashboard times), and each redraw is: new data set on the chart, then the widget painted
into a pixmap (``grab``), as a live update does. ``REDRAWS`` of each, interleaved pairs.

Run: QT_QPA_PLATFORM=offscreen .venv/bin/python tests/bench/chart_libraries.py
"""

from __future__ import annotations

import json
import random
import statistics
import time

REDRAWS = 30


def series(points: int, r: random.Random) -> list[tuple[int, int, int]]:
    return [(r.randint(50, 150), r.randint(0, 10), r.randint(0, 4)) for _ in range(points)]


class QtChartsStack:
    """Stacked bars as QtCharts draws them (QStackedBarSeries: one QBarSet per state)."""

    def __init__(self):
        from PySide6.QtCharts import QBarCategoryAxis, QChart, QChartView, QValueAxis

        self.chart = QChart()
        self.chart.legend().hide()
        self.view = QChartView(self.chart)
        self.view.resize(900, 260)
        self.axis_x, self.axis_y = QBarCategoryAxis(), QValueAxis()
        self.chart.addAxis(self.axis_x, __import__("PySide6.QtCore", fromlist=["Qt"]).Qt.AlignmentFlag.AlignBottom)
        self.chart.addAxis(self.axis_y, __import__("PySide6.QtCore", fromlist=["Qt"]).Qt.AlignmentFlag.AlignLeft)
        self.series = None

    def draw(self, data):
        from PySide6.QtCharts import QBarSet, QStackedBarSeries

        if self.series is not None:
            self.chart.removeSeries(self.series)
        self.series = QStackedBarSeries()
        for i, label in enumerate(("succeeded", "failed", "retried")):
            bar = QBarSet(label)
            bar.append([float(row[i]) for row in data])
            self.series.append(bar)
        self.chart.addSeries(self.series)
        self.series.attachAxis(self.axis_y)
        self.axis_y.setRange(0, max(sum(row) for row in data))
        self.view.grab()


class QtChartsLines:
    """The same data as three stacked line series (QLineSeries.replace: its fast path)."""

    def __init__(self):
        from PySide6.QtCharts import QChart, QChartView, QLineSeries

        self.chart = QChart()
        self.chart.legend().hide()
        self.lines = [QLineSeries() for _ in range(3)]
        for line in self.lines:
            line.setUseOpenGL(False)
            self.chart.addSeries(line)
        self.chart.createDefaultAxes()
        self.view = QChartView(self.chart)
        self.view.resize(900, 260)

    def draw(self, data):
        from PySide6.QtCore import QPointF

        total = [0.0] * len(data)
        for i, line in enumerate(self.lines):
            for n, row in enumerate(data):
                total[n] += row[i]
            line.replace([QPointF(n, v) for n, v in enumerate(total)])
        axes = self.chart.axes()
        axes[0].setRange(0, len(data))
        axes[1].setRange(0, max(total))
        self.view.grab()


class PyqtgraphStack:
    """Stacked bars as pyqtgraph draws them (one BarGraphItem per state, bottoms stacked)."""

    def __init__(self):
        import pyqtgraph as pg

        self.pg = pg
        self.plot = pg.PlotWidget()
        self.plot.resize(900, 260)
        self.bars = [pg.BarGraphItem(x=[0], height=[0], width=0.9) for _ in range(3)]
        for bar in self.bars:
            self.plot.addItem(bar)

    def draw(self, data):
        import numpy as np

        array = np.asarray(data, dtype=float)
        x = np.arange(len(array))
        bottom = np.zeros(len(array))
        for i, bar in enumerate(self.bars):
            bar.setOpts(x=x, height=array[:, i], y0=bottom.copy(), width=0.9)
            bottom += array[:, i]
        self.plot.grab()


def timed_redraws(chart, data_sets) -> list[float]:
    times = []
    for data in data_sets:
        began = time.perf_counter()
        chart.draw(data)
        times.append((time.perf_counter() - began) * 1000)
    return times


def p95(samples):
    return round(statistics.quantiles(samples, n=20)[-1], 1)


def main() -> None:
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    r = random.Random(1)
    out = {}
    for label, points in (("hourly_168", 168), ("per_minute_10080", 10080)):
        data_sets = [series(points, r) for _ in range(REDRAWS)]
        charts = {"qtcharts_bars": QtChartsStack(), "pyqtgraph_bars": PyqtgraphStack()}
        if points > 1000:
            charts["qtcharts_lines"] = QtChartsLines()
        timings = {name: [] for name in charts}
        for data in data_sets:  # interleaved: each library redraws the same data in turn
            for name, chart in charts.items():
                timings[name] += timed_redraws(chart, [data])
                app.processEvents()
        for name, times in timings.items():
            out[f"{label}_{name}_p95_ms"] = p95(times[1:])  # the first one builds caches
            out[f"{label}_{name}_median_ms"] = round(statistics.median(times[1:]), 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
