"""The in-memory task table kept in step with the store batch by batch (celerydesk/ui/task_table.py):
what the Tasks page shows when the history cannot be used.

No worker here: events are applied to a real TaskStore as the monitor would, and after every
batch the model's rows must equal a rebuild from scratch (the store's tasks that pass the
filters, newest first), reached by inserts, removals and dataChanged alone: no reset. Qt's
QAbstractItemModelTester checks every signal the model sends against its rows. Random batches
mix new tasks, late events of old ones, evictions past the capacity, progress readings and a
state filter that tasks move in and out of.
"""

from __future__ import annotations

import random

import pytest
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtTest import QAbstractItemModelTester

from celerydesk.core.history.queries import TaskFilter
from celerydesk.core.task_store import FAILURE, PROGRESS, SUCCESS, TaskStore
from celerydesk.ui.task_table import (ARGS, CELL_PADDING, NAME, PROGRESS as PROGRESS_COLUMN, STATE, _STATE_COLORS, QtTaskTableView,
                                     TaskTableModel)


class FakeMonitor(QObject):
    """What the model needs of an EventMonitor: a store and the ``updated`` signal."""

    updated = Signal(object)

    def __init__(self, capacity: int):
        super().__init__()
        self.store = TaskStore(capacity, clock=lambda: 1000.0)

    def apply(self, events) -> set:
        changed = self.store.apply_batch(events)
        self.updated.emit(changed)
        return changed


def expected_rows(model: TaskTableModel) -> list[str]:
    accept = model._accept
    return [r.id for r in reversed(model.store.tasks.values()) if accept is None or accept(r)]


@pytest.fixture
def table(qtbot):
    monitor = FakeMonitor(capacity=60)
    model = TaskTableModel(monitor)
    tester = QAbstractItemModelTester(model, QAbstractItemModelTester.FailureReportingMode.Fatal)
    resets = []
    model.modelReset.connect(lambda: resets.append(1))
    view = QtTaskTableView(model)
    qtbot.addWidget(view)
    view.resize(800, 300)
    view.show()
    yield monitor, model, view, resets
    del tester


def lifecycle(task_id: str, step: int) -> dict:
    kind = ("task-received", "task-started", "task-succeeded", "task-failed")[step]
    event = {"type": kind, "uuid": task_id, "hostname": f"w{hash(task_id) % 3}@h"}
    if step == 0:
        event.update(name=f"app.t{hash(task_id) % 4}", args="(1, 2)", kwargs="{}")
    if step == 2:
        event.update(result="3", runtime=0.01)
    return event


def test_random_batches_follow_the_store_without_resets(table):
    monitor, model, _view, resets = table
    rng = random.Random(7)
    steps: dict[str, int] = {}
    made = 0
    for batch_no in range(120):
        if batch_no == 40:
            model.set_task_filter(TaskFilter(states=("STARTED",)))  # tasks now move in and out of the table
        if batch_no == 80:
            model.set_task_filter(TaskFilter(search="app.t1"))
        resets.clear()
        events = []
        for _ in range(rng.randint(0, 25)):
            if steps and rng.random() < 0.6:  # a late event of a task seen before (maybe evicted)
                task_id = rng.choice(list(steps))
                if steps[task_id] < 3:
                    steps[task_id] += 1 if rng.random() < 0.8 else 2
                    events.append(lifecycle(task_id, min(steps[task_id], 3)))
            else:
                made += 1
                task_id = f"task-{made:04d}"
                steps[task_id] = 0
                events.append(lifecycle(task_id, 0))
        changed = monitor.apply(events)
        if rng.random() < 0.2 and changed:  # a progress reading, as the poll delivers it
            task_id = rng.choice(sorted(changed))
            if monitor.store.set_progress(task_id, PROGRESS, {"percent": rng.randint(0, 100)}):
                monitor.updated.emit({task_id})
        assert model.rows == expected_rows(model), f"batch {batch_no}"
        assert not resets, f"batch {batch_no} reset the model"
        assert [model.row_of(t) for t in model.rows] == list(range(len(model.rows)))
    assert made > 60 and monitor.store.dropped > 0  # evictions happened


def test_new_tasks_go_on_top_and_the_selection_stays_on_its_task(table):
    monitor, model, view, resets = table
    monitor.apply([lifecycle(f"a{i}", 0) for i in range(5)])
    assert model.rows == ["a4", "a3", "a2", "a1", "a0"]
    view.selectRow(model.row_of("a2"))
    inserted = []
    model.rowsInserted.connect(lambda _p, first, last: inserted.append((first, last)))
    monitor.apply([lifecycle(f"b{i}", 0) for i in range(3)] + [lifecycle("a2", 1)])
    assert inserted == [(0, 2)]  # one insertion at the top for the batch
    assert model.rows[:3] == ["b2", "b1", "b0"]
    assert view.currentIndex().row() == model.row_of("a2") == 5
    assert model.index(5, STATE).data() == "STARTED"
    assert not resets


def test_eviction_removes_the_oldest_rows_at_the_bottom(table):
    monitor, model, _view, _resets = table
    monitor.apply([lifecycle(f"t{i:03d}", 0) for i in range(50)])
    removed = []
    model.rowsRemoved.connect(lambda _p, first, last: removed.append((first, last)))
    monitor.apply([lifecycle(f"u{i:03d}", 0) for i in range(20)])  # capacity 60: ten go
    assert model.rowCount() == 60 and removed == [(40, 49)]  # before the new ones go on top
    assert model.rows[-1] == "t010" and model.row_of("t009") == -1


def test_a_capacity_change_rebuilds(table):
    monitor, model, _view, resets = table
    monitor.apply([lifecycle(f"t{i}", 0) for i in range(30)])
    monitor.store.set_capacity(10)
    model.rebuild()
    assert model.rows == expected_rows(model) and len(model.rows) == 10 and resets


def test_cells_painted_from_the_record(table):
    monitor, model, view, _resets = table
    monitor.apply([lifecycle("t1", 0), lifecycle("t1", 1), lifecycle("t1", 2)])
    monitor.store.tasks["t1"].progress = 40.0
    assert model.index(0, NAME).data() == monitor.store.tasks["t1"].name
    assert model.index(0, STATE).data() == SUCCESS
    assert model.index(0, STATE).data(Qt.ItemDataRole.ForegroundRole) == _STATE_COLORS[SUCCESS]
    assert model.index(0, PROGRESS_COLUMN).data() == "40 %"
    # The progress cell is a bar: its chunk is drawn in the highlight colour, 40 % of it.
    cell = view.visualRect(model.index(0, PROGRESS_COLUMN))
    chunk = colour_hits(view, 0, PROGRESS_COLUMN, view.palette().highlight().color())
    assert cell.width() * (cell.height() - 6) * 0.2 < chunk < cell.width() * cell.height() * 0.6


def colour_hits(view, row: int, column: int, color) -> int:
    """Pixels of a cell on screen close to ``color`` (glyph edges are antialiased)."""
    image = view.viewport().grab(view.visualRect(view.model().index(row, column))).toImage()
    return sum(1 for y in range(image.height()) for x in range(image.width())
               if sum(abs(a - b) for a, b in zip(image.pixelColor(x, y).getRgb()[:3], color.getRgb()[:3])) < 60)


def test_cells_are_painted_in_their_state_colours_elided_and_selected(table, qtbot):
    monitor, model, view, _resets = table
    long_name = "app.tasks." + "very_long_module_name." * 8 + "the_task"
    monitor.apply([lifecycle("ok", 0), lifecycle("ok", 1), lifecycle("ok", 2),
                   lifecycle("bad", 0), lifecycle("bad", 1), lifecycle("bad", 3),
                   {"type": "task-received", "uuid": "long", "name": long_name, "hostname": "w@h"}])
    qtbot.waitExposed(view)
    ok, bad, long_row = model.row_of("ok"), model.row_of("bad"), model.row_of("long")
    green, red = _STATE_COLORS[SUCCESS], _STATE_COLORS[FAILURE]
    assert colour_hits(view, ok, STATE, green) > 10 and colour_hits(view, ok, STATE, red) == 0
    assert colour_hits(view, bad, STATE, red) > 10 and colour_hits(view, bad, STATE, green) == 0
    assert colour_hits(view, ok, NAME, view.palette().text().color()) > 10  # other columns: plain text

    # A text wider than its cell is cut with an ellipsis inside the cell, not painted over the next.
    view.setColumnWidth(NAME, 120)
    view.viewport().grab()
    elided = {key: static.text() for key, static in view._texts.items()}
    assert elided[(long_name, 120 - 2 * CELL_PADDING)].endswith("\u2026")
    assert len(elided[(long_name, 120 - 2 * CELL_PADDING)]) < 30
    assert colour_hits(view, long_row, ARGS, view.palette().text().color()) == 0  # its args are empty

    view.selectRow(ok)
    highlight = view.palette().highlight().color()
    cell = view.visualRect(model.index(ok, ARGS))
    assert colour_hits(view, ok, ARGS, highlight) > cell.width() * cell.height() // 2
    assert colour_hits(view, bad, ARGS, highlight) == 0


def test_rows_scrolled_into_view_are_painted_where_qt_places_them(table, qtbot):
    monitor, model, view, _resets = table
    events = []
    for i in range(60):  # one failure among successes, far below the first screenful
        events += [lifecycle(f"t{i:02d}", 0), lifecycle(f"t{i:02d}", 1), lifecycle(f"t{i:02d}", 3 if i == 12 else 2)]
    monitor.apply(events)
    qtbot.waitExposed(view)
    qtbot.waitUntil(lambda: view.verticalScrollBar().maximum() > 0)  # the view laid the new rows out
    bad = model.row_of("t12")
    view.scrollTo(model.index(bad, STATE), view.ScrollHint.PositionAtCenter)
    assert view.verticalHeader().offset() > 0
    red, green = _STATE_COLORS[FAILURE], _STATE_COLORS[SUCCESS]
    assert colour_hits(view, bad, STATE, red) > 10 and colour_hits(view, bad, STATE, green) == 0
    for neighbour in (bad - 1, bad + 1):
        assert colour_hits(view, neighbour, STATE, green) > 10 and colour_hits(view, neighbour, STATE, red) == 0


def test_the_task_column_fits_the_names_shown_until_sized_by_hand(table, qtbot):
    monitor, model, view, _resets = table
    view.resize(1280, 300)
    name = "celerydesk.sample.tasks.notify_customers"
    monitor.apply([{"type": "task-received", "uuid": "n1", "name": name, "hostname": "w@h"}])
    qtbot.waitExposed(view)
    need = view.fontMetrics().horizontalAdvance(name) + 2 * CELL_PADDING
    qtbot.waitUntil(lambda: view.columnWidth(NAME) >= need, timeout=5000)  # the whole name, no ellipsis
    view.viewport().grab()
    assert (name, view.columnWidth(NAME) - 2 * CELL_PADDING) in view._texts
    assert view._texts[(name, view.columnWidth(NAME) - 2 * CELL_PADDING)].text() == name
    # A name longer than the view can give stops at its share of the width; the rest is elided.
    monster = "app." + "very_long_module_name." * 12 + "the_task"
    monitor.apply([{"type": "task-received", "uuid": "n2", "name": monster, "hostname": "w@h"}])
    qtbot.waitUntil(lambda: view.columnWidth(NAME) > need, timeout=5000)
    assert view.columnWidth(NAME) <= view.viewport().width() * QtTaskTableView.NAME_SHARE_MAX + 1
    # Sized by hand: that width stays.
    view.horizontalHeader().resizeSection(NAME, 150)
    monitor.apply([{"type": "task-received", "uuid": "n3", "name": name + "_again", "hostname": "w@h"}])
    view.viewport().grab()
    qtbot.wait(100)
    assert view.columnWidth(NAME) == 150
