"""The Tasks page against a real stack running the sample app (real Redis, real worker), reading
the workspace's real history file as the window writes it.

One stack serves the module (starting one costs seconds on a shared machine); the tests run in
file order and each sends its own tasks, waiting on the page, never on wall-clock sleeps.
What is checked: the table shows the history (rows fetched lazily, filters and search in SQL,
live as commits come), a task's details with its timeline and family, exact retry (and its
refusal, with the reason), retry with edited arguments (with the warning), bulk retry and
revoke over the filter, progress, notifications, the unregistered-task warning, and, in the
real window, the banner and the in-memory table when the history cannot be used (a damaged
file, a read-only folder, a full disk: real ones, on a tmpfs of the test's own).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from PySide6.QtCore import Qt

from celerydesk.core.broker_client import SendOptions
from celerydesk.core.history.queries import HistoryReader
from celerydesk.core.states import ProcessState
from celerydesk.core.task_store import FAILURE, PROGRESS, SUCCESS
from celerydesk.services.context import DeskContext
from celerydesk.ui.history_table import HistoryTableModel
from celerydesk.ui.task_monitor import QtTaskMonitor
from celerydesk.ui.task_retry import RetryDialog, parse_repr
from celerydesk.ui.task_table import (ARGS, NAME, PROGRESS as PROGRESS_COLUMN, RESULT, RUNTIME, STATE, TIME,
                                     ProgressRole, TaskTableModel)
from tests.helpers.qt_wait import wait_for
from tests.helpers.small_disk import fill_up, small_tmpfs
from tests.helpers.stack import make_workspace, start_outside_a_test, stop_broker_alone

pytestmark = pytest.mark.slow
ADD = "celerydesk.sample.tasks.add"
VIDEO = "celerydesk.sample.tasks.process_video"
NOTIFY = "celerydesk.sample.tasks.notify_customers"
PLAIN_SENDER = """
import sys
from celery import Celery
app = Celery(broker=sys.argv[1])
app.conf.task_send_sent_event = True
print(app.send_task(sys.argv[2], args=[sys.argv[3]]).id)
"""


@pytest.fixture(scope="module")
def desk(qapp, tmp_path_factory):
    stack = start_outside_a_test(make_workspace(tmp_path_factory.mktemp("taskmon"), beat=False, flower=False))
    confirmations: list[str] = []

    def confirm(_parent, _title, text):
        confirmations.append(text)
        return True

    context = DeskContext(stack, parent=stack)
    monitor = QtTaskMonitor(context, capacity=1000, confirm=confirm)
    monitor.confirmations = confirmations
    monitor.said = []
    context.message.connect(lambda level, text: monitor.said.append((level, text)))
    monitor.message.connect(lambda level, text: monitor.said.append((level, text)))
    monitor.resize(1400, 800)
    monitor.show()
    wait_for(monitor.monitor.is_connected, 15, "the event consumer")
    wait_for(lambda: monitor.store.alive_workers(), 30, "a worker heartbeat")
    wait_for(monitor.uses_history, 15, "the history's table")
    yield monitor
    monitor.shutdown()
    context.shutdown()
    stop_broker_alone(stack)
    monitor.deleteLater()


def send(desk, name, args=(), kwargs=None, **options):
    """Through the window's broker client (blocking, from the test), recorded as the Launch form does."""
    return desk.broker.client.send(name, args, kwargs, SendOptions(**options), via="launch")


def send_plainly(desk, name, argument) -> str:
    """As a program of the user's would: a bare celery client, which records nothing for the history."""
    out = subprocess.run([sys.executable, "-c", PLAIN_SENDER, desk.stack.broker_url(), name, argument],
                         capture_output=True, text=True, timeout=60, check=True)
    return out.stdout.strip()


def stored(desk, task_id) -> dict:
    reader = HistoryReader(desk.stack.runtime.dir)
    try:
        return reader.task(task_id)
    finally:
        reader.close()


def backend_result(desk, task_id):
    """The whole result, from the result backend (events carry a repr of it cut at 1,024 characters)."""
    import redis

    client = redis.Redis.from_url(desk.stack.broker_url())
    try:
        return json.loads(client.get(f"celery-task-meta-{task_id}"))["result"]
    finally:
        client.close()


def row_in_table(desk, task_id, state=None, timeout=30.0):
    """The task's row once the table shows it (in ``state``, if given)."""
    def found():
        row = desk.model.row_of(task_id)
        if row < 0:
            return None
        record = desk.model.record_at(row)
        return row + 1 if record is not None and (state is None or record.state == state) else None

    return wait_for(found, timeout, f"task {task_id} in the table" + (f" as {state}" if state else "")) - 1


def shown(desk, at_least=1, timeout=10.0) -> list:
    """The records of the table once its filter's rows are in (at least ``at_least`` of them)."""
    def ready():
        model = desk.model
        if model.loading or model.rowCount() < at_least:
            return None
        records = [model.record_at(r) for r in range(min(model.rowCount(), 100))]
        return records if None not in records else None

    return wait_for(ready, timeout, f"at least {at_least} row(s) for the filter")


def cell(desk, task_id, column):
    return desk.model.index(desk.model.row_of(task_id), column).data()


def test_a_succeeded_task_comes_into_the_history_table(desk):
    task_id = send(desk, ADD, args=[2, 3])
    row_in_table(desk, task_id, SUCCESS)
    assert isinstance(desk.model, HistoryTableModel)
    assert cell(desk, task_id, STATE) == SUCCESS and cell(desk, task_id, NAME) == ADD
    assert cell(desk, task_id, ARGS) == "2, 3" and cell(desk, task_id, RESULT) == "5"
    assert cell(desk, task_id, RUNTIME).endswith(" s") and ":" in cell(desk, task_id, TIME)
    assert desk.model.row_of(task_id) == 0  # newest first
    wait_for(lambda: "task(s) in the history" in desk.count_label.text(), 10, "the count")
    row = wait_for(lambda: stored(desk, task_id)["sent_by"] and stored(desk, task_id), 10, "the sender's record")
    assert row["sent_by"] == "launch" and json.loads(row["args_json"]) == [2, 3]


def test_a_failed_task_shows_its_traceback_timeline_and_notifies(desk, qtbot, tmp_path):
    missing = str(tmp_path / "no-such-video.mp4")
    task_id = send(desk, VIDEO, args=[missing])
    with qtbot.waitSignal(desk.notified, timeout=30000) as notified:
        desk.note_launched(task_id, name=VIDEO)
    row_in_table(desk, task_id, FAILURE)
    assert "process_video" in notified.args[0] and "FileNotFoundError" in notified.args[1]
    assert desk.toast.isVisible()  # no tray here: the in-window toast
    assert "FileNotFoundError" in cell(desk, task_id, RESULT)
    desk.select_task(task_id)
    # The details follow the history: the sender's exact arguments come within a second.
    text = wait_for(lambda: "(exact, as sent)" in desk.details.text.toPlainText() and desk.details.text.toPlainText(),
                    10, "the details")
    assert "Traceback (most recent call last)" in text and "no such video file" in text and missing in text
    states = re.findall(r"^  \d{4}-\d\d-\d\d [\d:.]+  (\w+) +\+", text, re.MULTILINE)
    assert states[:2] == ["SENT", "RECEIVED"] and states[-1] == FAILURE


def test_retry_sends_a_long_argument_exactly(desk, qtbot):
    long_text = "x" * 2990 + "TAIL-WINDOW"
    task_id = send(desk, NOTIFY, args=[long_text, 0])
    row_in_table(desk, task_id, SUCCESS)
    assert len(cell(desk, task_id, ARGS)) < 1100  # the table shows celery's repr, cut
    with qtbot.waitSignal(desk.actions.retried, timeout=30000) as retried:
        desk.retry(task_id)
    new_id = retried.args[1]
    row_in_table(desk, new_id, SUCCESS)
    row = wait_for(lambda: stored(desk, new_id)["sent_by"] and stored(desk, new_id), 10, "the sender's record")
    assert row["sent_by"] == "retry" and json.loads(row["args_json"]) == [long_text, 0]
    assert backend_result(desk, new_id) == f"Sent {long_text!r} to 10000 customers"  # the worker had all of it
    assert any(level == "info" and "exact arguments" in text for level, text in desk.said)


def test_retry_refuses_cut_arguments_it_cannot_know_and_says_why(desk):
    # A program of the user's sends a task no worker runs: no result backend keeps its arguments.
    task_id = send_plainly(desk, "celerydesk.sample.tasks.never_registered", "z" * 3000)
    row_in_table(desk, task_id)
    before = len(desk.said)
    desk.retry(task_id)
    level, text = wait_for(lambda: desk.said[before:] and desk.said[before], 30, "the refusal")
    assert level == "error" and f"[{task_id}] not retried" in text
    assert "celery cut its arguments' repr at 1,024 characters" in text and "result_extended = True" in text
    assert desk.model.rowCount() == wait_for(lambda: desk.model.rowCount(), 5)  # nothing new was sent
    desk.refused_id = task_id


def test_retry_with_edited_arguments_warns_where_they_come_from(desk, qtbot):
    opened: list[RetryDialog] = []

    def ask(dialog, send_them):
        opened.append(dialog)
        dialog.args_edit.setText('["edited", 0]')
        send_them(dialog.values())

    with qtbot.waitSignal(desk.actions.retried, timeout=30000) as retried:
        desk.actions.retry_edited(desk.refused_id, ask=ask)
    note = opened[0].note.text()
    assert note.startswith("Warning: these arguments are read back from celery's repr") and "cut" in note
    new_id = retried.args[1]
    row_in_table(desk, new_id)
    row = wait_for(lambda: (stored(desk, new_id) or {}).get("args_json") and stored(desk, new_id), 10, "its record")
    assert json.loads(row["args_json"]) == ["edited", 0] and row["sent_by"] == "retry"


def test_search_as_you_type_and_filters_run_in_the_history(desk):
    desk.filters.search.setText("TAIL-WINDOW")
    wait_for(lambda: "2 task(s) match" in desk.count_label.text(), 10, "the search")
    assert {r.name for r in shown(desk, 2)} == {NOTIFY} and desk.model.rowCount() == 2
    desk.filters.search.setText("")
    desk.filters.state_filter.setCurrentText(FAILURE)
    assert {r.state for r in shown(desk)} == {FAILURE}
    desk.filters.state_filter.setCurrentText("(all)")
    wait_for(lambda: desk.filters.name_filter.findText(VIDEO) >= 0, 10, "the task names as choices")
    desk.filters.name_filter.setCurrentText(VIDEO)
    desk.filters.time_filter.setCurrentText("last 15 minutes")
    assert {r.name for r in shown(desk)} == {VIDEO}
    desk.filters.name_filter.setCurrentText("(all)")
    desk.filters.time_filter.setCurrentText("any time")


def test_sorting_by_a_column_is_the_historys(desk):
    desk.view.sortByColumn(RUNTIME, Qt.SortOrder.DescendingOrder)
    assert desk.model.order.column == "runtime"
    known = [r.runtime for r in shown(desk, 5) if r.runtime is not None]
    assert len(known) >= 3 and known == sorted(known, reverse=True)
    desk.view.sortByColumn(TIME, Qt.SortOrder.DescendingOrder)
    wait_for(lambda: desk.model.order.column == "seen", 10, "newest first again")


def test_a_chain_shows_as_a_family_tree(desk):
    app = desk.broker.client.app
    last = (app.signature(ADD, args=(1, 2)) | app.signature(ADD, args=(10,)) | app.signature(ADD, args=(100,))
            ).apply_async()
    first, second = last.parent.parent.id, last.parent.id
    row_in_table(desk, last.id, SUCCESS)
    desk.select_task(second)
    wait_for(lambda: desk.details.family_ids() == [first, second, last.id], 30, "the family tree")
    assert "3 task(s) under root" in desk.details.family_label.text()
    top = desk.details.family.topLevelItem(0)
    assert top.child(0).child(0).data(0, Qt.ItemDataRole.UserRole) == last.id  # nested: a chain
    assert top.child(0).font(0).bold()  # the selected task
    desk.details.familyTaskClicked.emit(last.id)  # a click on a member selects it
    assert desk.selected_id() == last.id


def test_process_video_reports_progress(desk, tmp_path):
    video = tmp_path / "big.mp4"
    video.write_bytes(os.urandom(24 * 1024 * 1024))
    seen: list = []

    def watch(_changed):
        rec = desk.store.tasks.get(task_id)
        if rec is not None and rec.state == PROGRESS:
            row = desk.model.row_of(task_id)
            record = desk.model.record_at(row) if row >= 0 else None
            if record is not None:
                seen.append((record.state, desk.model.index(row, PROGRESS_COLUMN).data(ProgressRole)))

    desk.monitor.updated.connect(watch)
    try:
        task_id = send(desk, VIDEO, args=[str(video)], kwargs={"chunk_size": 1})
        row_in_table(desk, task_id, SUCCESS, timeout=120)
    finally:
        desk.monitor.updated.disconnect(watch)
    assert any(state == PROGRESS and value is not None and 0 < value < 100 for state, value in seen), seen


def test_revoke_a_countdown_task(desk):
    task_id = send(desk, ADD, args=[1, 1], countdown=5)
    row_in_table(desk, task_id, "RECEIVED")
    desk.select_task(task_id)
    desk.details.revoke_button.click()
    row_in_table(desk, task_id, "REVOKED")


def test_bulk_retry_of_the_failures_of_one_task(desk, tmp_path):
    ids = [send(desk, VIDEO, args=[str(tmp_path / f"gone-{i}.mp4")]) for i in range(3)]
    for task_id in ids:
        row_in_table(desk, task_id, FAILURE)
    desk.filters.name_filter.setCurrentText(VIDEO)
    desk.filters.state_filter.setCurrentText(FAILURE)
    desk.filters.time_filter.setCurrentText("last 15 minutes")
    shown(desk, 3)
    matching = desk.model.rowCount()
    outcomes = []
    desk.actions.bulkDone.connect(outcomes.append)
    desk.retry_all_button.click()
    outcome = wait_for(lambda: outcomes, 60, "the bulk retry")[0]
    assert f"Retry the {matching:,} task(s) matching the filter?" in desk.confirmations[-1]
    assert len(outcome.sent) == matching and not outcome.refused
    assert {old for old, _new, _source in outcome.sent} >= set(ids)
    # celerydesk's records, or (for one whose record was not merged yet) the backend's (result_extended)
    assert {source for _old, _new, source in outcome.sent} <= {"celerydesk", "backend"}
    wait_for(lambda: desk.model.rowCount() >= 2 * matching, 60, "the retried ones failing again")
    desk.filters.name_filter.setCurrentText("(all)")
    desk.filters.state_filter.setCurrentText("(all)")
    desk.filters.time_filter.setCurrentText("any time")


def test_bulk_retry_lists_the_refused(desk):
    desk.filters.search.setText(desk.refused_id)  # the plain client's task, whose arguments celery cut
    wait_for(lambda: "1 task(s) match" in desk.count_label.text(), 10, "the plain task")
    outcomes = []
    desk.actions.bulkDone.connect(outcomes.append)
    desk.retry_all_button.click()
    outcome = wait_for(lambda: outcomes, 60, "the bulk retry")[0]
    assert not outcome.sent and len(outcome.refused) == 1
    [(task_id, name, reason)] = outcome.refused
    assert task_id == desk.refused_id and name.endswith("never_registered") and "cut" in reason
    desk.filters.search.setText("")


def test_bulk_revoke_counts_and_revokes_the_unfinished(desk):
    # A worker says a task it holds for later was revoked when its time comes: a short countdown.
    waiting = [send(desk, ADD, args=[4242, i], countdown=6) for i in range(3)]
    done = send(desk, ADD, args=[4242, 99])
    for task_id in waiting:
        row_in_table(desk, task_id, "RECEIVED")
    row_in_table(desk, done, SUCCESS)
    desk.filters.search.setText("4242")
    wait_for(lambda: "4 task(s) match" in desk.count_label.text(), 10, "the four")
    outcomes = []
    desk.actions.bulkDone.connect(outcomes.append)
    desk.revoke_all_button.click()
    assert wait_for(lambda: outcomes, 60, "the bulk revoke") == [(3, 0)]
    assert "Revoke the 3 unfinished task(s) of the 4 matching the filter?" in desk.confirmations[-1]
    for task_id in waiting:
        row_in_table(desk, task_id, "REVOKED")
    desk.filters.search.setText("")


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


def test_purge_asks_first_and_empties_the_priority_lists_too(desk, qtbot):
    import redis
    from PySide6.QtCore import QTimer
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

    QTimer.singleShot(50, lambda: answer(QMessageBox.StandardButton.No))
    queues.purge_button.click()
    assert "5 waiting messages" in answered[0] and client.llen("purge-test") == 3  # No: nothing deleted
    QTimer.singleShot(50, lambda: answer(QMessageBox.StandardButton.Yes))
    queues.purge_button.click()
    wait_for(lambda: client.llen("purge-test") + client.llen("purge-test\x06\x163") == 0, 10, "the purge")
    wait_for(lambda: (depth_row() or (0, ""))[1] == "0", 10, "the depth to show 0")
    client.close()


def _damage(runtime, _stack_up):
    runtime.mkdir(parents=True)
    (runtime / "history.sqlite3").write_bytes(b"not a database at all " * 64)
    yield


def _read_only(runtime, _stack_up):
    with small_tmpfs(runtime) as remount:  # read-only for root too (a chmod is not, to root)
        remount("ro")
        yield


def _full_disk(runtime, stack_up):
    with small_tmpfs(runtime):
        stack_up()  # the history opens and records; then the disk fills up under it
        fill_up(runtime)
        yield


UNUSABLE = {
    "damaged": (_damage, "is damaged", "move it aside"),
    "read-only": (_read_only, "cannot be written", "writable"),
    "full disk": (_full_disk, "is full", "free some space"),
}


@pytest.mark.parametrize("fault", list(UNUSABLE))
def test_an_unusable_history_is_said_in_the_window_which_goes_on_from_memory(desk, tmp_path, fault):
    """The real window on another workspace on the same broker, its history unusable: the banner
    says why and what to do, and the Tasks page shows the tasks it sees, from memory."""
    from celerydesk.services.stack import StackController
    from celerydesk.ui.main_window import QtMainWindow

    make_fault, why, what_to_do = UNUSABLE[fault]
    ws = make_workspace(tmp_path / "unusable", mode="external", beat=False, flower=False,
                        broker={"url": desk.stack.broker_url()})
    stack = StackController(ws)
    context = DeskContext(stack, parent=stack)
    window = QtMainWindow(context)
    window.resize(1280, 800)

    def window_up():
        window.show()
        wait_for(lambda: window.tasks_tab.widget is not None, 15, "the Tasks page")
        window.pages.show_page("tasks")
        wait_for(lambda: page().history.state != "starting", 15, "the history opened or refused")

    def page():
        return window.tasks_tab.widget

    faults = make_fault(ws.runtime_dir, window_up)
    try:
        next(faults)
        if not window.isVisible():
            window_up()
        wait_for(page().monitor.is_connected, 15, "its event consumer")
        task_id = send(desk, ADD, args=[4, 4])
        wait_for(lambda: window.banner.isVisible() and why in window.banner.label.text(), 30, "the banner")
        text = window.banner.label.text()
        assert what_to_do in text and "memory" in text and "Traceback" not in text, text
        wait_for(lambda: not page().uses_history(), 15, "the in-memory table")
        assert isinstance(page().model, TaskTableModel) and "not in use" in page().count_label.text()
        assert not page().retry_all_button.isVisible()
        wait_for(lambda: page().model.row_of(task_id) >= 0
                 and page().model.index(page().model.row_of(task_id), STATE).data() == SUCCESS, 30,
                 "the task in the in-memory table")
    finally:
        window.shutdown()
        window.deleteLater()
        stack.deleteLater()
        next(faults, None)


def test_retry_dialog_and_argument_reprs(qtbot):
    assert parse_repr("('/tmp/v.mp4', 4096)", []) == ("/tmp/v.mp4", 4096)
    assert parse_repr("{'chunk_size': 1}", {}) == {"chunk_size": 1}
    assert parse_repr("(<object at 0x1>,)", []) == []  # not a literal: the caller edits it
    dialog = RetryDialog("app.video", ("/tmp/v.mp4",), {"chunk_size": 1})
    qtbot.addWidget(dialog)
    assert dialog.args_edit.text() == '["/tmp/v.mp4"]'
    dialog.args_edit.setText('["/tmp/other.mp4"]')
    assert dialog.values() == (["/tmp/other.mp4"], {"chunk_size": 1})
    dialog.kwargs_edit.setText('["not an object"]')
    with pytest.raises(ValueError):
        dialog.values()


def test_the_page_says_why_no_events_come_until_the_broker_is_up(qapp, tmp_path):
    """Opened before its broker runs, the page says it cannot reach it, then that events come."""
    from celerydesk.services.stack import StackController

    ws = make_workspace(tmp_path, beat=False, flower=False)
    stack = StackController(ws)
    context = DeskContext(stack, parent=stack)
    page = QtTaskMonitor(context, capacity=100)
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
        context.shutdown()
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
    context = DeskContext(stack, parent=stack)
    page = QtTaskMonitor(context, capacity=100)
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
        other_context = DeskContext(other_stack, parent=other_stack)
        other = QtTaskMonitor(other_context, capacity=100)
        try:
            wait_for(lambda: "refused the password" in other.connection.text(), 30, "the wrong password named")
            assert "not-the-password" not in other.connection.text()
        finally:
            other.shutdown()
            other_context.shutdown()
            other.deleteLater()
    finally:
        page.shutdown()
        context.shutdown()
        page.deleteLater()
        stack.stop_all()
        wait_for(lambda: "stopped" in outcome or stack.state("broker") == ProcessState.STOPPED, 60,
                 "the broker to stop")
