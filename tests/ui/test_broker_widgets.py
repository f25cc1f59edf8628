"""The window's widgets against a scripted broker client (tests/helpers/fake_broker.py).

What is checked is how the widgets use the window's services, not the broker: one depth poll
feeds the status bar and the Queues page; purge asks, goes through the broker service, and its
outcome reaches the banner; retry and "Run now" send off the GUI thread, and a failure is said;
the project is introspected once for the Launch and Schedules pages. The stack here is real (a
local redis-server as its broker, so the broker's state is RUNNING as in use); the client the
widgets talk through is the fake, so every outcome, failures included, is scripted.
"""

from __future__ import annotations

import threading
import time

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from celerydesk.core.introspection import Introspection, TaskInfo
from celerydesk.services.context import DeskContext
from tests.helpers.fake_broker import FakeBrokerClient
from tests.helpers.qt_wait import wait_for
from tests.helpers.stack import make_workspace, start_broker_alone, stop_broker_alone

pytestmark = pytest.mark.slow
ADD = "proj.tasks.add"


def canned_project(ws, force=False):
    task = TaskInfo.from_dict({"name": ADD, "params": [{"name": "x", "kind": "positional_or_keyword"},
                                                       {"name": "y", "kind": "positional_or_keyword"}]})
    return Introspection(app={}, tasks={ADD: task}, beat_schedule=[])


@pytest.fixture(scope="module")
def stack(qapp, tmp_path_factory):
    """A stack whose broker (a local redis-server) runs: the depth poll polls only then."""
    ws = make_workspace(tmp_path_factory.mktemp("fake-broker"), beat=False, flower=False,
                        workers=[{"name": "main", "queues": ["celery", "jobs"]}])
    stack = start_broker_alone(ws)
    yield stack
    stop_broker_alone(stack)


@pytest.fixture
def fake():
    return FakeBrokerClient()


@pytest.fixture
def context(stack, fake):
    context = DeskContext(stack, client=fake, introspect=canned_project)
    context.said = []
    context.message.connect(lambda level, text: context.said.append((level, text)))
    yield context
    context.shutdown()
    context.deleteLater()


@pytest.fixture
def window(qtbot, context):
    from celerydesk.ui.main_window import QtMainWindow

    window = QtMainWindow(context)
    with qtbot.waitSignal(window.panelsBuilt, timeout=30000):
        window.show()
    yield window
    # Not closed: with the stack running, closing asks whether to stop it (a modal box).
    window.hide()
    window.deleteLater()


def answer_next_box(button) -> list[str]:
    """Click ``button`` in the next modal message box; its text lands in the returned list."""
    seen: list[str] = []

    def answer():
        box = QApplication.activeModalWidget()
        if isinstance(box, QMessageBox):
            seen.append(box.text())
            box.button(button).click()
        else:
            QTimer.singleShot(20, answer)

    QTimer.singleShot(20, answer)
    return seen


def queue_rows(panel) -> dict[str, str]:
    table = panel.table
    return {table.item(r, 0).text(): table.item(r, 1).text() for r in range(table.rowCount())}


def test_one_depth_poll_feeds_the_status_bar_and_the_queues_page(window, context, fake):
    fake.queues.update({"celery": 7, "jobs": 2, "elsewhere": 4})
    window.tasks.watch_queue("elsewhere")  # a launch went there: the page lists it, the status bar does not
    window.show_page("queues")  # built when first shown
    page = window.queues
    wait_for(lambda: queue_rows(page) == {"celery": "7", "jobs": "2", "elsewhere": "4"}, what="the Queues page")
    wait_for(lambda: window.queue_label.text() == "queued celery: 7, jobs: 2", what="the status bar")
    polls = context.depths.polls
    wait_for(lambda: context.depths.polls >= polls + 2, 10, "two more polls")
    # Both read the one poll: one depth request per poll (once the last one has landed), never one
    # per reader.
    wait_for(lambda: fake.count("depths") == context.depths.polls, 5, "the last poll to land")
    assert fake.count("depths") == context.depths.polls >= polls + 2
    assert all(call.thread != threading.main_thread().name for call in fake.calls)


def test_purge_asks_goes_through_the_service_and_a_failure_reaches_the_banner(window, context, fake):
    fake.queues["jobs"] = 5
    page = window.queues
    wait_for(lambda: queue_rows(page).get("jobs") == "5", what="the depth of jobs")
    row = sorted(queue_rows(page)).index("jobs")
    page.table.selectRow(row)

    asked = answer_next_box(QMessageBox.StandardButton.No)
    page.purge_button.click()
    assert "5 waiting messages of 'jobs'" in asked[0] and fake.count("purge") == 0  # No: nothing asked

    answer_next_box(QMessageBox.StandardButton.Yes)
    page.purge_button.click()
    wait_for(lambda: ("info", "purged 5 messages") in context.said, what="the purge")
    wait_for(lambda: queue_rows(page).get("jobs") == "0", what="the depth to show 0")

    fake.queues["jobs"] = 3
    wait_for(lambda: queue_rows(page).get("jobs") == "3", what="the new depth")
    fake.fail("purge")
    answer_next_box(QMessageBox.StandardButton.Yes)
    page.purge_button.click()
    wait_for(lambda: window.banner.isVisible(), what="the banner")
    text = window.banner.label.text()
    assert text.startswith("purge failed: ") and "refused" in text.lower() and "start the stack first" in text
    assert "fake-pw" not in text and fake.queues["jobs"] == 3


def record_failed_task(page, task_id: str, args: str, kwargs: str, queue: str = "jobs") -> None:
    """A task as the monitor knows it from worker events, applied to the real store."""
    now = time.time()
    page.store.apply_batch([
        {"type": "task-received", "uuid": task_id, "name": ADD, "args": args, "kwargs": kwargs,
         "hostname": "main@here", "timestamp": now, "routing_key": queue, "queue": queue},
        {"type": "task-failed", "uuid": task_id, "exception": "ValueError('x')", "hostname": "main@here",
         "timestamp": now + 1}])


def test_retry_sends_off_the_gui_thread_and_a_failure_reaches_the_banner(window, context, fake, qtbot):
    """A task the history does not hold (this session's, from memory): its complete repr is exact."""
    page = window.tasks
    record_failed_task(page, "failed-1", "(2, 3)", "{'z': 1}")
    with qtbot.waitSignal(page.actions.retried, timeout=10000) as retried:
        page.retry("failed-1")
    old, new_id = retried.args
    [message] = fake.sent
    assert (old, message.task_id, message.name, message.args, message.kwargs, message.via) == (
        "failed-1", new_id, ADD, [2, 3], {"z": 1}, "retry")
    assert message.options.queue == page.store.tasks["failed-1"].queue
    send_call = next(call for call in fake.calls if call.method == "send")
    assert send_call.thread != threading.main_thread().name  # the GUI never waits on the broker

    fake.fail("send")
    page.retry("failed-1")
    wait_for(lambda: window.banner.isVisible(), what="the banner")
    assert window.banner.label.text().startswith(f"{ADD}[failed-1] not retried: ")
    assert "fake-pw" not in window.banner.label.text()


def test_run_now_goes_through_the_broker_service(qtbot, context, fake, stack):
    from celerydesk.core.workspace_edit import WorkspaceDocument
    from celerydesk.ui.schedules_panel import QtSchedulesPanel

    doc = WorkspaceDocument.load(stack.ws.path)
    doc.add_schedule("every-minute", ADD, every=60.0, args=[1, 2], kwargs={"z": 3})
    doc.save()
    panel = QtSchedulesPanel(context)
    qtbot.addWidget(panel)
    panel.select("every-minute")
    with qtbot.waitSignal(panel.sent, timeout=10000) as sent:
        panel.run_selected()
    name, task_id = sent.args
    assert name == "every-minute" and fake.sent[-1].task_id == task_id
    assert (fake.sent[-1].name, fake.sent[-1].args, fake.sent[-1].kwargs) == (ADD, [1, 2], {"z": 3})
    assert fake.sent[-1].via == "run-now"  # recorded for the history as such

    fake.up = False
    said = []
    panel.message.connect(lambda level, text: said.append((level, text)))
    panel.run_selected()
    wait_for(lambda: said, what="the refusal")
    level, text = said[0]
    assert level == "error" and "does not answer" in text and "start the stack first" in text


def test_the_project_is_introspected_once_for_launch_and_schedules(qtbot, stack, fake):
    from celerydesk.ui.launch_form import QtLaunchPanel
    from celerydesk.ui.schedules_panel import QtSchedulesPanel

    release, runs = threading.Event(), []

    def slow_project(ws, force=False):
        runs.append(force)
        release.wait(10)  # both pages ask while the first reading runs
        return canned_project(ws)

    context = DeskContext(stack, client=fake, introspect=slow_project)
    try:
        launch = QtLaunchPanel(context)
        schedules = QtSchedulesPanel(context)
        qtbot.addWidget(launch)
        qtbot.addWidget(schedules)
        release.set()
        wait_for(lambda: launch.tasks and schedules._tasks, what="both pages to have the tasks")
        assert runs == [False] and list(launch.tasks) == [ADD]
        qtbot.mouseClick(launch.picker.refresh_button, Qt.MouseButton.LeftButton)
        wait_for(lambda: len(runs) == 2, what="Refresh to read the project again")
        assert runs[1] is True
    finally:
        context.shutdown()
