"""The Dashboard page (issue 19) on a real history: the charts show the stored counts, hovering
says a bucket's values, a click opens the Tasks page filtered to that bucket and state, and the
last bucket follows the history's commits without reading the whole range again.

The history is real (the writer, its file, the window's HistoryService and its reads thread);
the events are shaped as a worker's (``finished``), handed to the writer or to the service's
sink as the window's event consumer does.
"""

from __future__ import annotations

import time

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtTest import QTest

from celerydesk.core.history.queries import TaskFilter
from celerydesk.core.history.writer import HistoryWriter
from celerydesk.services.context import DeskContext
from tests.core.test_history_dashboard import finished
from tests.helpers.stack import make_workspace


def fill(runtime, events, samples=()):
    writer = HistoryWriter(runtime)
    writer.start()
    writer.submit(events)
    writer.submit_samples(list(samples))
    assert writer.flush(10)
    writer.close()


def bucket_events(minute_start: float) -> list:
    """In the minute from ``minute_start``: 5 successes of shop.a, 2 failures of shop.b, a retry."""
    events = []
    for n in range(5):
        events += finished(f"a{n}-{minute_start}", "shop.a", "SUCCESS", minute_start + 5 + n, 0.2 * (n + 1))
    for n in range(2):
        events += finished(f"b{n}-{minute_start}", "shop.b", "FAILURE", minute_start + 20 + n, 1.5)
    events.append({"type": "task-retried", "uuid": f"r-{minute_start}", "name": "shop.b",
                   "timestamp": minute_start + 30})
    return events


@pytest.fixture
def desk(qtbot, tmp_path):
    from celerydesk.services.stack import StackController

    stack = StackController(make_workspace(tmp_path, beat=False, flower=False))
    made = []

    def make():
        context = DeskContext(stack, parent=stack)
        made.append(context)
        return context

    yield stack, make
    for context in made:
        context.shutdown()
    stack.deleteLater()


def view_point(chart, x: float, y: float) -> QPoint:
    """Where the data point (x, y) is drawn, in the chart's plot viewport."""
    scene = chart.plot.getPlotItem().getViewBox().mapViewToScene(QPointF(x, y))
    return chart.plot.mapFromScene(scene)


def test_the_charts_show_the_stored_counts_and_hovering_says_them(qtbot, desk):
    from celerydesk.ui.dashboard_page import QtDashboardPage

    stack, make = desk
    now = 1_796_003_630.0
    minute = now // 60 * 60
    fill(stack.runtime.dir, bucket_events(minute - 3 * 60) + bucket_events(minute),
         [("queue", minute + 1, "celery", 12.0), ("queue", minute - 50, "media", 3.0)])
    page = QtDashboardPage(make(), clock=lambda: now)
    qtbot.addWidget(page)
    page.resize(1200, 760)
    page.show()
    qtbot.waitUntil(lambda: page.settled, timeout=20000)
    bars = page.throughput.bars
    assert page.board.label == "1 h" and page.board.span.count == 60  # a bucket a minute, the last one now
    assert list(bars["succeeded"].opts["height"]) == [5 if n in (56, 59) else 0 for n in range(60)]
    assert list(bars["failed"].opts["height"]) == [2 if n in (56, 59) else 0 for n in range(60)]
    assert list(bars["retried"].opts["height"]) == [1 if n in (56, 59) else 0 for n in range(60)]
    assert "10 succeeded, 4 failed, 2 retried" in page.status.text()
    assert [(r.name, r.finished, r.p95) for r in page.runtimes.rows] == [("shop.a", 10, 0.2 * 5), ("shop.b", 4, 1.5)]
    assert page.depths.values["celery"][59] == 12 and page.depths.values["media"][58] == 3

    # hovering the last bar says its counts
    span = page.board.span
    QTest.mouseMove(page.throughput.plot.viewport(), view_point(page.throughput, span.bucket_start(59) + 30, 2))
    qtbot.waitUntil(lambda: "succeeded 5, failed 2, retried 1" in page.throughput.readout.text(), timeout=5000)
    assert page.throughput.readout.text().startswith(time.strftime("%H:%M", time.localtime(span.bucket_start(59))))

    # 7 days: hourly buckets, the same tasks
    page.show_range("7 d")
    qtbot.waitUntil(lambda: page.board.label == "7 d" and page.settled, timeout=20000)
    assert page.board.span.step == 3600 and sum(page.throughput.values["succeeded"]) == 10
    assert "Tasks per hour" in page.throughput.title.text()


def test_clicking_a_bar_opens_the_tasks_page_filtered_to_that_bucket_and_state(qtbot, desk):
    from celerydesk.ui.main_window import QtMainWindow

    stack, make = desk
    minute = time.time() // 60 * 60 - 120  # two minutes ago: in the hour shown, whenever the test runs
    fill(stack.runtime.dir, bucket_events(minute) + bucket_events(minute - 600))
    window = QtMainWindow(make())
    qtbot.addWidget(window)
    window.resize(1280, 800)
    with qtbot.waitSignal(window.panelsBuilt, timeout=10000):
        window.show()
    page = window.show_page("dashboard") and window.dashboard
    qtbot.waitUntil(lambda: page.settled, timeout=20000)
    span = page.board.span
    index = span.index_of(minute)
    assert page.throughput.values["failed"][index] == 2
    # a click on the red part (failed: above the 5 succeeded, below the retry on top)
    QTest.mouseClick(page.throughput.plot.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     view_point(page.throughput, span.bucket_start(index) + 30, 6))
    assert window.pages.current_key() == "tasks"
    tasks = window.tasks
    assert tasks.filters.current == TaskFilter(states=("FAILURE",), since=minute, until=minute + 60, when="finished")
    qtbot.waitUntil(lambda: tasks.uses_history() and not tasks.model.loading and tasks.model.rowCount() == 2,
                    timeout=20000)
    assert {tasks.model.record_at(r).id for r in range(2)} == {f"b0-{minute}", f"b1-{minute}"}
    # and the retried part: the task retried in that minute (its state is no matter)
    window.show_page("dashboard")
    page.throughput.click(index, 7.5)
    assert tasks.filters.current == TaskFilter(since=minute, until=minute + 60, when="retried")
    qtbot.waitUntil(lambda: not tasks.model.loading and tasks.model.rowCount() == 1, timeout=20000)
    assert tasks.model.record_at(0).id == f"r-{minute}"
    window.shutdown()


def test_the_last_bucket_follows_the_commits_without_reading_the_range_again(qtbot, desk):
    from celerydesk.ui.dashboard_page import QtDashboardPage

    stack, make = desk
    context = make()
    page = QtDashboardPage(context)
    qtbot.addWidget(page)
    page.show()
    qtbot.waitUntil(lambda: page.settled, timeout=20000)
    whole = page.reads["whole"]
    assert sum(page.throughput.values["succeeded"]) == 0
    for n in range(3):  # three batches, as the event consumer hands them over
        at = time.time()
        context.history.submit(finished(f"live-{n}", "shop.a", "SUCCESS", at, 0.01))
        qtbot.waitUntil(lambda n=n: sum(page.throughput.values["succeeded"]) == n + 1, timeout=20000)
    assert page.reads["live"] >= 3
    # a whole read only if a minute began meanwhile (one per minute)
    assert page.reads["whole"] - whole <= 1


def test_the_window_s_depth_poll_is_sampled_into_the_history(qtbot, desk):

    stack, make = desk
    context = make()
    history = context.history
    history.start()
    qtbot.waitUntil(lambda: history.state == "writing", timeout=20000)
    context.depths.depthsChanged.emit({"celery": 4, "media": 0})  # what a poll of the broker emits
    context.depths.depthsChanged.emit({"celery": 9})  # within 10 s: kept as the highest, not a row
    assert history.recorder.flush(10)
    qtbot.waitUntil(lambda: bool(_samples(stack.runtime.dir)), timeout=20000)
    rows = _samples(stack.runtime.dir)
    assert sorted((key, value) for key, value in rows) == [("celery", 4.0), ("media", 0.0)]


def _samples(runtime) -> list:
    import sqlite3

    from celerydesk.core.history import history_path

    db = sqlite3.connect(history_path(runtime))
    try:
        return db.execute("SELECT key, value FROM samples WHERE kind = 'queue'").fetchall()
    finally:
        db.close()
