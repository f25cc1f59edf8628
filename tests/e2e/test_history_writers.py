"""One writer per workspace: a window opened while ``celerydesk up`` records the history reads it,
follows what ``up`` writes, and takes over writing once ``up`` stops.

The window's side is the real Tasks page (offscreen) on a context for the same workspace; ``up``
is a real child process. A task sent while ``up`` runs shows in the page's table (read from the
file ``up`` writes); after ``up`` stops, the page's history becomes the writer, and a task sent
then (the stack started again, by a second ``up``, which now only reads) is recorded by it.
"""

from __future__ import annotations

import signal

import pytest

from celerydesk.core.broker_client import BrokerClient, SendOptions
from celerydesk.core.history.recorder import READING, WRITING
from celerydesk.core.workspace import load_workspace
from tests.helpers.qt_wait import wait_for
from tests.helpers.stack import UpProcess, write_workspace

pytestmark = pytest.mark.slow
ADD = "celerydesk.sample.tasks.add"


def send(url: str, *args) -> str:
    with BrokerClient(url) as client:
        return client.send(ADD, list(args), {}, SendOptions())


def test_a_window_reads_while_up_writes_and_takes_over_when_it_stops(qapp, tmp_path):
    from celerydesk.services.context import DeskContext
    from celerydesk.services.stack import StackController
    from celerydesk.ui.task_monitor import QtTaskMonitor

    path = write_workspace(tmp_path / "shared", beat=False, flower=False)
    up = UpProcess(path)
    page = context = None
    try:
        up.wait_for("stack ready", timeout=120)
        ws = load_workspace(path)
        url = ws.broker_url()
        stack = StackController(ws)
        context = DeskContext(stack, parent=stack)
        said = []
        context.message.connect(lambda level, text: said.append((level, text)))
        page = QtTaskMonitor(context, capacity=100)
        page.show()
        wait_for(lambda: context.history.state == READING, 15, "the window to read")
        assert any("written by another celerydesk (pid" in text and "this window reads it" in text
                   for _level, text in said)
        wait_for(page.uses_history, 10, "the history's table")
        first = send(url, 1, 1)
        wait_for(lambda: page.model.row_of(first) >= 0 and page.model.record_at(page.model.row_of(first)).state
                 == "SUCCESS", 30, "up's record of the task in the window's table")

        up.signal(signal.SIGTERM)
        assert up.finish(90) == 0
        wait_for(lambda: context.history.state == WRITING, 15, "the window to take over")
        assert any("this window records the task history now" in text for _level, text in said)

        up = UpProcess(path)  # the stack again; the history stays the window's
        up.wait_for("stack ready", timeout=120)
        assert any("history: the task history of this workspace is written by another celerydesk" in line
                   for line in up.lines), up.lines
        wait_for(page.monitor.is_connected, 30, "the window's events")
        second = send(url, 2, 2)
        wait_for(lambda: page.model.row_of(second) >= 0 and page.model.record_at(page.model.row_of(second)).state
                 == "SUCCESS", 30, "the window's record of the task")
    finally:
        if page is not None:
            page.shutdown()
            context.shutdown()
            page.deleteLater()
        up.signal(signal.SIGTERM)
        try:
            up.finish(60)
        finally:
            up.kill_group()
