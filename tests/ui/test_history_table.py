"""The lazy table over the history (celerydesk/ui/history_table.py), on a real file and its reads'
thread: only the blocks painted are fetched; new tasks come in at the top as the writer
commits, with counts that stay right whether a refresh counted everything or only what came
since; pruned tasks leave at the bottom; a filter and an order are the history's (SQL).
Qt's QAbstractItemModelTester checks every signal the model sends against its rows.
"""

from __future__ import annotations

import sqlite3
import time

import pytest
from PySide6.QtTest import QAbstractItemModelTester

from celerydesk.core.history.queries import HistoryReader, Order, TaskFilter
from celerydesk.core.history.writer import HistoryWriter
from celerydesk.services.history_queries import HistoryQueries
from celerydesk.ui import history_table
from celerydesk.ui.history_table import BLOCK, HistoryTableModel
from tests.core.test_history_store import task
from tests.helpers.qt_wait import wait_for

T = time.time() - 3600


def ids_newest_first(runtime, f=TaskFilter()) -> list[str]:
    reader = HistoryReader(runtime)
    try:
        return [row["id"] for row in reader.iter_rows(f)]
    finally:
        reader.close()


@pytest.fixture
def history(qapp, tmp_path):
    runtime = tmp_path / ".celerydesk"
    writer = HistoryWriter(runtime, interval=0.02)
    writer.start()
    events = []
    for i in range(450):
        events += task(f"t{i:04d}", T + i, name=("shop.tasks.charge", "shop.tasks.mail")[i % 2],
                       state="failed" if i % 5 == 0 else "succeeded")
    writer.submit(events)
    writer.flush()
    queries = HistoryQueries(runtime)
    model = HistoryTableModel(queries)
    tester = QAbstractItemModelTester(model, QAbstractItemModelTester.FailureReportingMode.Fatal)
    yield runtime, writer, queries, model
    del tester
    queries.close()
    writer.close()


def loaded(model, at_least=1):
    return wait_for(lambda: not model.loading and model.rowCount() >= at_least and model.record_at(0) is not None,
                    10, "the model's rows")


def rows_shown(model, rows) -> list[str]:
    """The ids at ``rows``, fetching their blocks as a paint would."""
    wait_for(lambda: all(model.record_at(r) is not None for r in rows), 10, "the blocks")
    return [model.record_at(r).id for r in rows]


def test_only_the_blocks_painted_are_fetched(history):
    runtime, _writer, _queries, model = history
    model.reload()
    loaded(model)
    assert model.rowCount() == 450 and sorted(model._blocks) == [0]
    expected = ids_newest_first(runtime)
    assert rows_shown(model, range(10)) == expected[:10]
    assert rows_shown(model, [420, 449]) == [expected[420], expected[449]]
    assert sorted(model._blocks) == [0, 420 // BLOCK]  # nothing in between was read


def test_new_tasks_come_in_at_the_top_and_the_counts_stay_right(history, monkeypatch):
    runtime, writer, queries, model = history
    model.reload()
    loaded(model)
    inserted = []
    model.rowsInserted.connect(lambda _parent, first, last: inserted.append((first, last)))
    for n, full in enumerate((True, False)):  # a count of everything, and one of what came since
        monkeypatch.setattr(history_table, "CHEAP_COUNT_MS", 1e9 if full else -1.0)
        monkeypatch.setattr(history_table, "FULL_COUNT_EVERY_S", 1e9)
        before, inserted[:] = model.rowCount(), []
        events = [e for i in range(7) for e in task(f"n{n}{i}", T + 1000 + 10 * n + i)]  # newer than all
        writer.submit(events)
        writer.flush()
        model.refresh()
        wait_for(lambda: model.rowCount() == before + 7, 10, "the new rows")
        assert inserted == [(0, 6)]
        assert rows_shown(model, range(10)) == ids_newest_first(runtime)[:10]


def test_pruned_tasks_leave_at_the_bottom(history):
    runtime, _writer, _queries, model = history
    model.reload()
    loaded(model)
    removed = []
    model.rowsRemoved.connect(lambda _parent, first, last: removed.append((first, last)))
    db = sqlite3.connect(runtime / "history.sqlite3")  # as the writer's pruning deletes: the oldest
    with db:
        db.execute("DELETE FROM tasks WHERE seq IN (SELECT seq FROM tasks ORDER BY seen_at LIMIT 50)")
    db.close()
    model.refresh()
    wait_for(lambda: model.rowCount() == 400, 10, "the rows to go")
    assert removed == [(400, 449)]
    assert rows_shown(model, range(5)) == ids_newest_first(runtime)[:5]


def test_a_filter_and_an_order_are_read_in_sql(history):
    runtime, _writer, _queries, model = history
    counts = []
    model.countChanged.connect(lambda count, capped: counts.append((count, capped)))
    failures = TaskFilter(states=("FAILURE",), names=("charge",))
    model.set_task_filter(failures)
    loaded(model)
    assert counts[-1] == (45, False) and rows_shown(model, range(45)) == ids_newest_first(runtime, failures)
    model.set_task_filter(TaskFilter())
    model.set_order(Order("seen", descending=False))
    loaded(model)
    assert model.record_at(0).id == "t0000"
