"""The live task monitor against a real stack running the sample app (real Redis, real worker).

One stack serves the module (starting one costs seconds on a shared machine); the tests run in
file order and each sends its own tasks, waiting on the monitor, never on wall-clock sleeps.
"""

from __future__ import annotations

import os

import pytest
from PySide6.QtCore import Qt

from celerydesk.core.broker_client import SendOptions
from celerydesk.core.states import ProcessState
from celerydesk.core.task_store import FAILURE, PROGRESS, SUCCESS
from celerydesk.services.context import DeskContext
from celerydesk.ui.task_monitor import QtTaskMonitor
from celerydesk.ui.task_retry import RetryDialog, parse_repr
from celerydesk.ui.task_table import ARGS, NAME, PROGRESS as PROGRESS_COLUMN, RESULT, RUNTIME, STATE, ProgressRole
from tests.helpers.qt_wait import wait_for
from tests.helpers.stack import make_workspace

pytestmark = pytest.mark.slow
ADD = "celerydesk.sample.tasks.add"
VIDEO = "celerydesk.sample.tasks.process_video"


@pytest.fixture(scope="module")
def desk(qapp, tmp_path_factory):
    from celerydesk.services.stack import StackController

    ws = make_workspace(tmp_path_factory.mktemp("taskmon"), beat=False, flower=False)
    stack = StackController(ws)
    outcome: list[str] = []
    stack.stackReady.connect(lambda: outcome.append("ready"))
    stack.stackStopped.connect(lambda: outcome.append("stopped"))
    stack.start_all()
    wait_for(lambda: outcome, 120, "the stack")
    assert outcome[0] == "ready"
    monitor = QtTaskMonitor(DeskContext(stack, parent=stack), capacity=1000)
    monitor.resize(1200, 700)
    monitor.show()
    wait_for(monitor.monitor.is_connected, 15, "the event consumer")
    wait_for(lambda: monitor.store.alive_workers(), 30, "a worker heartbeat")
    yield monitor
    monitor.shutdown()
    outcome.clear()
    stack.stop_all()
    wait_for(lambda: outcome, 60, "the stack to stop")
    monitor.deleteLater()


def send(desk, name, args=(), kwargs=None, **options):
    """Straight through the window's broker client (blocking, from the test): the task's id."""
    return desk.broker.client.send(name, args, kwargs, SendOptions(**options))


def record(desk, task_id):
    return desk.store.tasks.get(task_id)


def wait_state(desk, task_id, state, timeout=30.0):
    return wait_for(lambda: record(desk, task_id) is not None and record(desk, task_id).state == state
                    and record(desk, task_id), timeout, f"task {task_id} {state}")


def cell(desk, task_id, column):
    row = desk.model.row_of(task_id)
    assert row >= 0, "the task is not in the table"
    return desk.model.index(row, column).data()


def test_a_succeeded_task_shows_result_and_runtime(desk):
    task_id = send(desk, ADD, args=[2, 3])
    rec = wait_state(desk, task_id, SUCCESS)
    assert rec.worker.startswith("main@")
    assert cell(desk, task_id, STATE) == SUCCESS
    assert cell(desk, task_id, NAME) == ADD
    assert cell(desk, task_id, ARGS) == "2, 3"
    assert cell(desk, task_id, RESULT) == "5"
    assert cell(desk, task_id, RUNTIME).endswith(" s")


def test_a_failed_task_shows_its_traceback_and_notifies(desk, qtbot, tmp_path):
    missing = str(tmp_path / "no-such-video.mp4")
    task_id = send(desk, VIDEO, args=[missing])
    with qtbot.waitSignal(desk.notified, timeout=30000) as notified:
        desk.note_launched(task_id, name=VIDEO)
    wait_state(desk, task_id, FAILURE)
    assert "process_video" in notified.args[0] and "FileNotFoundError" in notified.args[1]
    assert desk.toast.isVisible()  # no tray here: the in-window toast
    assert "FileNotFoundError" in cell(desk, task_id, RESULT)
    desk.select_task(task_id)
    text = desk.details.text.toPlainText()
    assert "Traceback (most recent call last)" in text and "no such video file" in text
    desk.failed_id = task_id  # the retry test sends it again


def test_retry_of_the_failed_task_with_edited_args(desk, tmp_path):
    video = tmp_path / "small.mp4"
    video.write_bytes(os.urandom(50_000))
    new_id = desk.retry(desk.failed_id, args=[str(video)], kwargs={"chunk_size": 4096})
    rec = wait_state(desk, new_id, SUCCESS)
    assert rec.name == VIDEO and str(video) in rec.args
    assert "'bytes': 50000" in rec.result


def test_process_video_reports_progress(desk, tmp_path):
    video = tmp_path / "big.mp4"
    video.write_bytes(os.urandom(24 * 1024 * 1024))
    seen: list[float] = []

    def watch(_changed):
        rec = record(desk, task_id)
        if rec is not None and rec.state == PROGRESS:
            seen.append(rec.progress)
            row = desk.model.row_of(task_id)
            if row >= 0:
                seen_role.append(desk.model.index(row, PROGRESS_COLUMN).data(ProgressRole))

    seen_role: list = []
    desk.monitor.updated.connect(watch)
    try:
        # One byte at a time, ~130 ns a byte here: 3 s or more of work, for several polls of the
        # backend (every 500 ms, once the task-started event is in). 3 MB took ~0.4 s: one poll
        # at best, and a run with no reading at all.
        task_id = send(desk, VIDEO, args=[str(video)], kwargs={"chunk_size": 1})
        wait_state(desk, task_id, SUCCESS, timeout=120)
    finally:
        desk.monitor.updated.disconnect(watch)
    assert seen and min(seen) < 100.0, "no PROGRESS reading was shown while the task ran"
    assert any(v is not None and 0 < v < 100 for v in seen_role)  # the table paints a bar for it
    assert record(desk, task_id).progress == 100.0


def test_revoke_a_countdown_task(desk):
    task_id = send(desk, ADD, args=[1, 1], countdown=4)
    wait_for(lambda: record(desk, task_id) and record(desk, task_id).state == "RECEIVED", 30, "received")
    desk.select_task(task_id)
    desk.details.revoke_button.click()
    rec = wait_state(desk, task_id, "REVOKED", timeout=30)
    assert rec.result is None
    assert cell(desk, task_id, STATE) == "REVOKED"


def test_filters_and_search(desk):
    desk.filters.state_filter.setCurrentText(FAILURE)
    assert desk.model.rowCount() >= 1
    assert all(desk.model.index(r, STATE).data() == FAILURE for r in range(desk.model.rowCount()))
    desk.filters.state_filter.setCurrentText("(all)")
    desk.filters.search.setText("small.mp4")
    assert desk.model.rowCount() == 1 and desk.model.index(0, NAME).data() == VIDEO
    desk.filters.search.setText("")
    assert desk.model.rowCount() == len(desk.store.tasks)


def test_an_unregistered_task_warns_and_offers_a_restart(desk, qtbot):
    name = "celerydesk.sample.tasks.not_written_yet"
    with qtbot.waitSignal(desk.unregisteredTask, timeout=30000) as warned:
        send(desk, name)
    assert warned.args == [name]
    assert desk.warning.isVisible() and name in desk.warning_label.text()
    stack = desk.stack
    old_pid = stack.services["worker-main"].pid
    qtbot.mouseClick(desk.restart_button, Qt.MouseButton.LeftButton)
    assert not desk.warning.isVisible()
    wait_for(lambda: stack.state("worker-main") == ProcessState.RUNNING and stack.services["worker-main"].pid
             not in (None, old_pid), 90, "the worker restarted")


def test_capacity_bounds_the_table(desk):
    before = desk.store.counts.get("task-succeeded", 0)
    desk.filters.capacity.setValue(100)  # the spin box's minimum
    assert len(desk.store.tasks) <= 100
    ids = [send(desk, ADD, args=[i, i]) for i in range(120)]
    wait_for(lambda: desk.store.counts.get("task-succeeded", 0) >= before + 120, 120, "120 tasks")
    wait_for(lambda: desk.model.rowCount() == 100, 5, "the table to refresh")
    assert len(desk.store.tasks) == 100 and ids[-1] in desk.store.tasks and ids[0] not in desk.store.tasks
    assert desk.model.index(0, NAME).data() == ADD


def test_purge_asks_first_and_empties_the_priority_lists_too(desk, qtbot):
    import redis
    from PySide6.QtWidgets import QApplication, QMessageBox

    from celerydesk.ui.queues_panel import QtQueuesPanel

    queues = QtQueuesPanel(desk.context)  # the Queues page, on the same window services
    qtbot.addWidget(queues)
    client = redis.Redis.from_url(desk.stack.broker_url())
    client.lpush("purge-test", b"a", b"b", b"c")
    client.lpush("purge-test\x06\x163", b"d", b"e")
    desk.watch_queue("purge-test")

    def depth_row():
        for row in range(queues.table.rowCount()):
            if queues.table.item(row, 0).text() == "purge-test":
                return row, queues.table.item(row, 1).text()
        return None

    row, depth = wait_for(depth_row, 10, "the queue's depth")
    assert depth == "5"
    queues.table.selectRow(row)
    answered = []

    def answer(button):
        box = QApplication.activeModalWidget()
        if isinstance(box, QMessageBox):
            answered.append(box.text())
            box.button(button).click()
        else:
            QTimer.singleShot(50, lambda: answer(button))

    from PySide6.QtCore import QTimer

    QTimer.singleShot(50, lambda: answer(QMessageBox.StandardButton.No))
    queues.purge_button.click()
    assert "5 waiting messages" in answered[0] and client.llen("purge-test") == 3  # No: nothing deleted
    QTimer.singleShot(50, lambda: answer(QMessageBox.StandardButton.Yes))
    queues.purge_button.click()
    wait_for(lambda: client.llen("purge-test") + client.llen("purge-test\x06\x163") == 0, 10, "the purge")
    wait_for(lambda: (depth_row() or (0, ""))[1] == "0", 10, "the depth to show 0")
    client.close()


def test_retry_dialog_and_argument_reprs(qtbot):
    assert parse_repr("('/tmp/v.mp4', 4096)", []) == ("/tmp/v.mp4", 4096)
    assert parse_repr("{'chunk_size': 1}", {}) == {"chunk_size": 1}
    assert parse_repr("(<object at 0x1>,)", []) == []  # not a literal: the caller edits it
    dialog = RetryDialog("app.video", ("/tmp/v.mp4",), {"chunk_size": 1})
    qtbot.addWidget(dialog)
    assert dialog.args_edit.text() == '["/tmp/v.mp4"]'
    dialog.args_edit.setText('["/tmp/other.mp4"]')
    assert dialog.values() == (["/tmp/other.mp4"], {"chunk_size": 1})


def test_the_page_says_why_no_events_come_until_the_broker_is_up(qapp, tmp_path):
    """Opened before its broker runs, the page says it cannot reach it, then that events come."""
    from celerydesk.services.stack import StackController

    ws = make_workspace(tmp_path, beat=False, flower=False)
    stack = StackController(ws)
    page = QtTaskMonitor(DeskContext(stack, parent=stack), capacity=100)
    outcome: list[str] = []
    try:
        url = stack.broker_url()
        assert page.connection.text() == f"Connecting to {url} for task events…"
        wait_for(lambda: page.monitor.status()[1], 10, "a first attempt to fail")
        # A broker being started refuses connections for a moment: no alarm for that at once.
        assert page.connection.text() == f"Connecting to {url} for task events…"
        wait_for(lambda: "Not receiving" in page.connection.text(), 15, "the error to show")
        text = page.connection.text()
        assert url in text and "refused the connection: nothing listens on" in text and "start the broker" in text
        assert "background" in page.connection.styleSheet()  # it stands out, unlike the quiet line
        stack.stackStopped.connect(lambda: outcome.append("stopped"))
        stack.start_service("broker")
        wait_for(lambda: page.connection.text() == f"Receiving task events from {url}", 60, "events to come")
        assert "background" not in page.connection.styleSheet()
    finally:
        page.shutdown()
        page.deleteLater()
        outcome.clear()
        stack.stop_all()
        wait_for(lambda: "stopped" in outcome or stack.state("broker") == ProcessState.STOPPED, 60,
                 "the broker to stop")


def test_the_page_reads_events_with_a_generated_password_and_names_a_wrong_one(qapp, tmp_path):
    """The page's own Redis reader authenticates with the workspace's generated password; a
    wrong password is named as such on its connection line, the password itself never."""
    from celerydesk.services.stack import StackController

    ws = make_workspace(tmp_path / "guarded", beat=False, flower=False, broker={"password": "generate"})
    stack = StackController(ws)
    page = QtTaskMonitor(DeskContext(stack, parent=stack), capacity=100)
    outcome: list[str] = []
    stack.stackStopped.connect(lambda: outcome.append("stopped"))
    try:
        stack.start_service("broker")
        url = stack.broker_url()
        assert "***" in page.connection.text() and ws.broker_password() not in page.connection.text()
        wait_for(lambda: page.connection.text().startswith("Receiving task events from redis://:***@"), 60,
                 "events to come with the password")
        wrong = make_workspace(tmp_path / "wrong", mode="external", beat=False, flower=False,
                               broker={"url": url.replace(ws.broker_password(), "not-the-password")})
        other_stack = StackController(wrong)
        other = QtTaskMonitor(DeskContext(other_stack, parent=other_stack), capacity=100)
        try:
            wait_for(lambda: "refused the password" in other.connection.text(), 30, "the wrong password named")
            assert "not-the-password" not in other.connection.text()
        finally:
            other.shutdown()
            other.deleteLater()
    finally:
        page.shutdown()
        page.deleteLater()
        stack.stop_all()
        wait_for(lambda: "stopped" in outcome or stack.state("broker") == ProcessState.STOPPED, 60,
                 "the broker to stop")
