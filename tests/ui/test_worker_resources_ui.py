"""Workers' memory and CPU in the window, against a real stack (real Redis, a real prefork worker):
the services table and the Workers page show the worker's whole process tree, measured here; a
worker celerydesk did not start shows what it answers to ``inspect stats``, and says so.

One stack serves the module (starting one costs seconds on a shared machine). The figures are
checked against psutil's own reading of the same processes, taken by the test.
"""

from __future__ import annotations

import os
import signal

import psutil
import pytest
from PySide6.QtCore import Qt

from celerydesk.core.worker_resources import format_bytes
from celerydesk.services.context import DeskContext
from celerydesk.ui.service_table import CPU, MEMORY, QtServiceTable
from celerydesk.ui.sparkline import LINE_COLOR, SeriesRole
from celerydesk.ui.workers_list import HERE, REMOTE
from celerydesk.ui.workers_panel import QtWorkersPanel
from tests.helpers.fake_broker import FakeBrokerClient
from tests.helpers.qt_wait import wait_for
from tests.helpers.stack import make_workspace, remote_worker, running_context

pytestmark = pytest.mark.slow
MB = 1024 * 1024


@pytest.fixture(scope="module")
def context(qapp, tmp_path_factory):
    ws = make_workspace(tmp_path_factory.mktemp("resources"), beat=False, flower=False,
                        workers=[{"name": "main", "concurrency": 2}])
    yield from running_context(ws)


def tree_rss(pid: int) -> int:
    """The test's own reading: the RSS of the process and all its descendants."""
    root = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [root] + root.children(recursive=True))


def test_the_services_table_shows_the_worker_tree_with_sparklines(qtbot, context):
    table = QtServiceTable(context.stack, context.resources)
    qtbot.addWidget(table)
    table.resize(1100, 200)
    table.show()
    row = table.model.row_of("worker-main")
    memory, cpu = table.model.index(row, MEMORY), table.model.index(row, CPU)
    # Three samples (2 s apart): a line to draw, and a CPU % (it needs an interval).
    wait_for(lambda: len(memory.data(SeriesRole) or []) >= 3 and cpu.data(), 30, "three samples of the worker")
    usage = context.resources.latest["worker-main"]
    pid = context.stack.services["worker-main"].pid
    assert usage.pid == pid and usage.processes == 3  # the worker and its two pool processes
    truth = tree_rss(pid)
    assert usage.rss_bytes > 20e6 and abs(usage.rss_bytes - truth) < 0.25 * truth
    assert usage.rss_bytes > psutil.Process(pid).memory_info().rss + 10 * MB  # the pool's memory is in it
    assert memory.data() == format_bytes(usage.rss_bytes) and cpu.data().endswith(" %")
    assert "3 process(es), the worker and its pool processes" in memory.data(Qt.ItemDataRole.ToolTipRole)
    # The broker's row too (a local redis-server); a stopped service has no figures.
    assert table.model.index(table.model.row_of("broker"), MEMORY).data().endswith("MB")
    # The sparkline is painted in its cell.
    rect = table.view.visualRect(memory)
    image = table.view.viewport().grab(rect).toImage()
    colors = {image.pixelColor(x, y).name() for x in range(0, 70) for y in range(image.height())}
    assert LINE_COLOR.name() in colors


def test_the_workers_page_shows_this_stack_worker_measured_here(qtbot, context):
    panel = QtWorkersPanel(context)
    qtbot.addWidget(panel)
    panel.resize(1200, 400)
    panel.show()
    wait_for(lambda: any(r.where == HERE and r.name.startswith("main@") and r.usage is not None
                         for r in panel.table.worker_rows()), 30, "the worker, measured")
    row = next(r for r in panel.table.worker_rows() if r.name.startswith("main@"))
    assert row.key == "worker-main" and row.status == "online"
    assert row.pool == "prefork, 2 processes" and row.source == "measured here (psutil, 3 processes)"
    r = panel.table.worker_rows().index(row)
    assert panel.table.item(r, 5).text() == format_bytes(row.usage.rss_bytes)
    assert len(panel.table.item(r, 5).data(SeriesRole)) >= 1


def test_a_remote_worker_shows_what_inspect_stats_says(qtbot, context, tmp_path):
    panel = QtWorkersPanel(context)
    qtbot.addWidget(panel)
    panel.resize(1200, 400)
    panel.show()
    proc = remote_worker(context.stack.broker_url(), tmp_path, "-c", "1")
    try:
        wait_for(lambda: [r for r in panel.rows() if r[0].startswith("remote@") and r[2] == "online"],
                 60, "the remote worker in the list")
        # Asked when the page was shown and every 10 s since: wait for an answer that has it.
        row = wait_for(lambda: next((r for r in panel.table.worker_rows()
                                     if r.name.startswith("remote@") and r.remote is not None), None),
                       40, "the remote worker's inspect stats")
        assert row.where == REMOTE and row.usage is None
        assert row.remote.pid == proc.pid and row.remote.max_rss_bytes > 20e6
        assert row.pool == "prefork, 1 process"
        assert row.source == "inspect stats (peak memory of its main process)"
        r = panel.table.worker_rows().index(row)
        assert panel.table.item(r, 5).text() == f"peak {format_bytes(row.remote.max_rss_bytes)}"
        assert "rusage maxrss" in panel.table.item(r, 5).toolTip()
        assert any(r[0].startswith("main@") and r[1] == HERE for r in panel.rows())
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
    wait_for(lambda: any(r[0].startswith("remote@") and r[2] == "offline" for r in panel.rows()), 15,
             "the remote worker offline")


def test_inspect_stats_is_asked_only_while_the_page_is_shown(qtbot, context):
    fake = FakeBrokerClient()
    scripted = DeskContext(context.stack, client=fake)
    try:
        panel = QtWorkersPanel(scripted)
        qtbot.addWidget(panel)
        assert fake.count("inspect") == 0  # built, not shown: nothing asked
        panel.show()
        wait_for(lambda: fake.count("inspect") == 1, 10, "inspect stats when shown")
        assert scripted.worker_stats.latest == {} and scripted.worker_stats._timer.isActive()
        panel.hide()
        assert not scripted.worker_stats._timer.isActive()
    finally:
        scripted.shutdown()
        scripted.deleteLater()
