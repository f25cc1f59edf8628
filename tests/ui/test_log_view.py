"""The log pane fed by real child processes (celerydesk/ui/log_view.py, log_model.py).

Line sources are real: a ManagedProcess running ``sys.executable -c`` scripts that print
worker-style lines (levels, ANSI colours, task ids, a traceback), the worker-main service of a
real StackController running such a script, a real local redis-server, and the sample's real
celery worker (slow tests).

Covered: replay of a service's history then follow, in order and without duplicates; the
bound (rows never above capacity, old lines leaving in chunks, many tiny chunks becoming one
insertion); search, minimum level (a traceback goes with its error) and task-id filters,
also on lines arriving while filtered; clicking a task id filters on it and the chip clears
it; follow, pause on scrolling up (the lines in view stay put while old ones are dropped),
resume at the bottom; Ctrl+C copies the selected lines as plain text; level colours on
screen; "Open log file"; the broker's tab, there before its service is built at start.
"""

from __future__ import annotations

import dataclasses
import os
import sys

import pytest
from PySide6.QtCore import QItemSelection, QItemSelectionModel, QObject, QPoint, Qt, QUrl, Slot
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import QAbstractSlider

from celerydesk.core.commands import WORKER, Readiness, ServiceSpec
from celerydesk.core.logparse import ERROR, INFO, WARNING, strip_ansi
from celerydesk.core.logtext import RotatingLogFile
from celerydesk.core.states import ProcessState
from celerydesk.core.supervision import Autorestart, RestartPolicy
from celerydesk.services.managed_process import ManagedProcess
from celerydesk.ui import defs
from celerydesk.ui.log_model import CHANNEL, LEVEL, PLAIN, SYSTEM, LogFeed
from celerydesk.ui.log_view import QtLogPane, QtLogsWidget
from tests.helpers.stack import make_workspace, start_stack, stop_stack

T1 = "11111111-1111-4111-8111-111111111111"
T2 = "22222222-2222-4222-8222-222222222222"

# Worker-style lines: a ready line, task lines for two ids, a coloured warning, an error with
# its traceback. "n" lines per batch; batch two waits for a file, so a test can act in between.
SCRIPT = r'''
import os, sys, time
T1, T2 = ("%s-%s-4%s-8%s-%s" % (d * 8, d * 4, d * 3, d * 3, d * 12) for d in "12")  # not in this text
n, go = int(sys.argv[1]), sys.argv[2]
def out(s):
    sys.stdout.write(s + "\n")
def batch(first):
    for i in range(first, first + n):
        ts = f"2026-11-25 12:00:{i // 1000 % 60:02d},{i % 1000:03d}"
        tid = T1 if i % 2 else T2
        r = i % 10
        if r == 7:
            out(f"\x1b[33m[{ts}: WARNING/ForkPoolWorker-1] tasks.slow[{tid}]: slow {i}\x1b[0m")
        elif r == 8:
            out(f"[{ts}: ERROR/ForkPoolWorker-2] Task tasks.fail[{tid}] raised unexpected: ValueError({i})")
            out("Traceback (most recent call last):")
        elif r == 9:
            out(f'  File "/app/tasks.py", line {i}, in fail')
        else:
            out(f"[{ts}: INFO/MainProcess] Task tasks.add[{tid}] received line {i}")
out("[2026-11-25 12:00:00,000: INFO/MainProcess] main@test ready.")
batch(0)
sys.stdout.flush()
if go != "-":
    deadline = time.time() + 60
    while not os.path.exists(go) and time.time() < deadline:
        time.sleep(0.01)
    batch(n)
'''

LINES_PER_10 = 11  # every 10 script lines print 11 (an error brings its traceback line)


def script_argv(n: int, go: str = "-") -> list[str]:
    return [sys.executable, "-c", SCRIPT, str(n), go]


def scripted_process(tmp_path, n: int, go: str = "-", key: str = "worker-fake") -> ManagedProcess:
    spec = ServiceSpec(key=key, label=key, kind=WORKER, argv=script_argv(n, go), cwd=tmp_path,
                       env=dict(os.environ), readiness=Readiness("uptime"),
                       policy=RestartPolicy(autorestart=Autorestart.NEVER))
    return ManagedProcess(spec, RotatingLogFile(tmp_path / f"{key}.log"))


def scripted_stack(tmp_path, n: int, go: str = "-"):
    """A real StackController whose worker-main service runs the script instead of celery."""
    from celerydesk.services.stack import StackController

    stack = StackController(make_workspace(tmp_path, beat=False, flower=False))
    worker = stack.services["worker-main"]
    worker.spec = dataclasses.replace(worker.spec, argv=script_argv(n, go), cwd=tmp_path)
    return stack


def run_to_end(qtbot, proc: ManagedProcess) -> None:
    proc.start()
    qtbot.waitUntil(lambda: proc.state in (ProcessState.EXITED, ProcessState.FATAL), timeout=30000)


def plains(model) -> list[str]:
    return [model.record(row)[PLAIN] for row in range(model.rowCount())]


def shown(entries) -> list[str]:
    """What a pane shows for ``(text, channel)`` entries: the text without its escapes."""
    return [strip_ansi(text) for text, _ in entries]


def output_row(model, predicate) -> int:
    """The first row of the child's own output (not celerydesk's lines) meeting ``predicate``."""
    return next(r for r in range(model.rowCount())
                if model.record(r)[CHANNEL] != SYSTEM and predicate(model.record(r)[PLAIN]))


@pytest.fixture
def owned():
    """QObjects a test made without a parent, deleted on this thread when it ends.

    Left to Python's garbage collector they may be collected in a worker thread (the stack's
    preflight runs in one), where deleting a StackController's file watcher tears its socket
    notifier down from the wrong thread: the event loop then warns about it forever.
    """
    made: list = []

    def keep(obj):
        made.append(obj)
        return obj

    yield keep
    for obj in reversed(made):
        try:
            obj.deleteLater()
        except RuntimeError:  # already deleted
            pass


@pytest.fixture
def pane_of(qtbot):
    def make(model, path=None, height=400):
        pane = QtLogPane(model, path)
        qtbot.addWidget(pane)
        pane.resize(1100, height)
        pane.show()
        return pane
    return make


# -- replay, follow, bounds ---------------------------------------------------------------------

def test_replay_then_follow_in_order_without_duplicates(qtbot, tmp_path, owned):
    go = tmp_path / "go"
    stack = owned(scripted_stack(tmp_path, 50, str(go)))
    worker = stack.services["worker-main"]
    worker.start()
    qtbot.waitUntil(lambda: sum(ch == "stdout" and "received" in text for text, ch in worker.history) == 35,
                    timeout=30000)

    logs = QtLogsWidget(stack)  # replays the 1 + 55 lines the worker kept (and its "starting")
    qtbot.addWidget(logs)
    logs.resize(1100, 500)
    logs.show()
    logs.show_service("worker-main")
    pane = logs.pane("worker-main")
    assert logs.tabs.currentWidget() is pane
    assert [logs.tabs.tabText(i) for i in range(logs.tabs.count())] == ["All", "broker", "worker main"]
    replayed = plains(pane.model)
    assert replayed == shown(worker.history)  # ANSI stripped: no escape left
    assert replayed[0].startswith("[celerydesk] starting at nice 5:") and "main@test ready." in replayed[1]
    assert not any("\x1b" in line for line in replayed) and "slow 7" in replayed[1 + 8]

    go.touch()  # batch two, followed live
    qtbot.waitUntil(lambda: worker.state == ProcessState.EXITED, timeout=30000)
    qtbot.waitUntil(lambda: "exited with code 0" in plains(pane.model)[-1], timeout=5000)
    lines = plains(pane.model)
    assert lines == shown(worker.history)
    numbers = [int(line.rsplit(" ", 1)[1]) for line in lines if line.startswith("[2026") and "received" in line]
    assert numbers == sorted(set(numbers)) and len(numbers) == 70  # in order, none twice
    assert plains(logs.combined_pane().model) == lines  # one service: "All" is the same
    bar = pane.view.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.value() == bar.maximum() > 0)  # followed to the last line


def test_capacity_is_never_exceeded_and_old_lines_leave_in_chunks(qtbot, tmp_path, owned):
    stack = owned(scripted_stack(tmp_path, 3000))
    logs = QtLogsWidget(stack, capacity=500)
    qtbot.addWidget(logs)
    model = logs.pane("worker-main").model
    seen = {"max_rows": 0, "removed": []}
    model.rowsInserted.connect(lambda *_: seen.__setitem__("max_rows", max(seen["max_rows"], model.rowCount())))
    model.rowsAboutToBeRemoved.connect(
        lambda _p, first, last: seen["removed"].append((last - first + 1, model.rowCount())))
    worker = stack.services["worker-main"]
    run_to_end(qtbot, worker)
    qtbot.waitUntil(lambda: "exited with code 0" in plains(model)[-1], timeout=5000)

    total = 1 + 1 + 3000 * LINES_PER_10 // 10 + 1  # starting, ready, the lines, exited
    assert model.appended_total == total
    assert seen["max_rows"] <= 500 and model.rowCount() <= 500
    assert plains(model) == shown(list(worker.history)[-model.rowCount():])
    # In chunks, never line by line (unless one batch replaced all there was).
    assert seen["removed"] and all(count >= 500 // 20 or count == rows for count, rows in seen["removed"])
    assert logs.combined_pane().model.rowCount() <= 500


def test_many_tiny_chunks_become_one_insertion(qtbot, tmp_path, owned):
    proc = owned(scripted_process(tmp_path, 200))
    run_to_end(qtbot, proc)
    feed = owned(LogFeed(capacity=100))
    model = feed.model(proc.key)
    inserts = []
    model.rowsInserted.connect(lambda _p, first, last: inserts.append(last - first + 1))
    with qtbot.waitSignal(feed.flushed, timeout=5000):
        for entry in proc.history:  # one line per chunk, as an unbuffered child sends them
            feed.add_lines(proc.key, [entry])
    assert len(inserts) == 1 and model.rowCount() == 100
    assert plains(model) == shown(list(proc.history)[-100:])


# -- filters --------------------------------------------------------------------------------------

def test_search_level_and_task_filters_also_apply_to_new_lines(qtbot, tmp_path, owned, pane_of):
    go = tmp_path / "go"
    proc = owned(scripted_process(tmp_path, 20, str(go)))
    feed = owned(LogFeed())
    proc.linesReceived.connect(feed.add_lines)
    pane = pane_of(feed.model(proc.key))
    proc.start()
    qtbot.waitUntil(lambda: pane.model.rowCount() == 1 + 1 + 22, timeout=30000)

    pane.set_min_level(ERROR)  # the error lines and their tracebacks
    shown = plains(pane.model)
    assert [pane.model.record(r)[LEVEL] for r in range(pane.model.rowCount())] == [ERROR] * len(shown)
    assert len(shown) == 2 * 3 and shown[1] == "Traceback (most recent call last):"
    assert pane.level_box.currentData() == ERROR

    pane.set_min_level(WARNING)
    pane.set_search("SLOW")  # case-insensitive
    assert [line.rsplit(" ", 1)[1] for line in plains(pane.model)] == ["7", "17"]

    pane.set_search("")
    pane.set_min_level(0)
    pane.set_task_filter(T1)
    assert pane.task_chip.isVisible()
    assert all(T1 in line for line in plains(pane.model)) and len(plains(pane.model)) == 8

    go.touch()  # new lines arrive while filtered: only T1's show
    qtbot.waitUntil(lambda: proc.state == ProcessState.EXITED, timeout=30000)
    qtbot.waitUntil(lambda: feed.pending_count() == 0 and len(plains(pane.model)) == 16, timeout=5000)
    assert all(T1 in line for line in plains(pane.model))

    pane.clear_filters()
    assert not pane.task_chip.isVisible() and not pane.model.is_filtered()
    assert len(plains(pane.model)) == pane.model.stored_count() == 2 + 40 * LINES_PER_10 // 10 + 1


def test_clicking_a_task_id_filters_on_it_and_the_chip_clears_it(qtbot, tmp_path, owned, pane_of):
    proc = owned(scripted_process(tmp_path, 30))
    feed = owned(LogFeed())
    proc.linesReceived.connect(feed.add_lines)
    pane = pane_of(feed.model(proc.key))
    run_to_end(qtbot, proc)
    qtbot.waitUntil(lambda: feed.pending_count() == 0 and pane.model.rowCount() > 30)
    row = output_row(pane.model, lambda line: T2 in line)
    clicked = []
    pane.taskIdClicked.connect(clicked.append)
    click_task_id(qtbot, pane, row, T2)
    assert clicked == [T2]
    assert pane.model.task_id == T2 and pane.task_chip.isVisible()
    assert plains(pane.model) and all(T2 in line for line in plains(pane.model))
    assert pane.view.selectionModel().selectedRows() == []  # a link click does not select

    qtbot.mouseClick(pane.task_chip, Qt.MouseButton.LeftButton)
    assert pane.model.task_id == "" and not pane.model.is_filtered() and not pane.task_chip.isVisible()


def click_task_id(qtbot, pane, row: int, task_id: str) -> None:
    index = pane.model.index(row, 0)
    pane.view.scrollTo(index)
    plain = pane.model.record(row)[PLAIN]
    rect = pane.view.visualRect(index)
    delegate = pane.view.delegate
    x = delegate.text_left(rect) + delegate.advance(plain[:plain.index(task_id) + 4])
    assert pane.view.task_id_at(QPoint(int(x), rect.center().y())) == task_id
    qtbot.mouseClick(pane.view.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(int(x), rect.center().y()))


# -- follow / pause, copy, colours, open ----------------------------------------------------------

def test_pause_holds_the_view_still_and_the_bottom_resumes_following(qtbot, tmp_path, owned, pane_of):
    go = tmp_path / "go"
    proc = owned(scripted_process(tmp_path, 1000, str(go)))
    feed = owned(LogFeed(capacity=1500))
    proc.linesReceived.connect(feed.add_lines)
    pane = pane_of(feed.model(proc.key), height=300)
    bar = pane.view.verticalScrollBar()
    proc.start()
    qtbot.waitUntil(lambda: pane.model.rowCount() >= 1 + 1 + 1100, timeout=30000)
    qtbot.waitUntil(lambda: bar.value() == bar.maximum() > 0)
    assert pane.following() and pane.follow_button.isChecked()

    with qtbot.waitSignal(pane.followChanged, timeout=2000):
        for _ in range(5):
            bar.triggerAction(QAbstractSlider.SliderAction.SliderPageStepSub)  # the user scrolls up
    assert not pane.following() and pane.follow_button.text() == "Paused"
    top_line = pane.model.record(bar.value())[PLAIN]
    # The current line is among the oldest (as after clicking one, then scrolling down):
    # when it is dropped, Qt moves the current index and would scroll to it.
    pane.view.setAutoScroll(False)
    pane.view.selectionModel().setCurrentIndex(pane.model.index(0, 0), QItemSelectionModel.SelectionFlag.NoUpdate)
    pane.view.setAutoScroll(True)
    assert pane.model.record(bar.value())[PLAIN] == top_line

    go.touch()  # 1100 more lines: beyond capacity, so the oldest leave while we look
    qtbot.waitUntil(lambda: proc.state == ProcessState.EXITED, timeout=30000)
    qtbot.waitUntil(lambda: "exited with code 0" in plains(pane.model)[-1], timeout=5000)
    assert pane.model.appended_total > pane.model.capacity
    assert pane.model.record(bar.value())[PLAIN] == top_line  # still the line the user reads
    assert bar.value() < bar.maximum()

    with qtbot.waitSignal(pane.followChanged, timeout=2000):
        bar.triggerAction(QAbstractSlider.SliderAction.SliderToMaximum)  # back at the end
    assert pane.following() and pane.follow_button.isChecked()

    pane.follow_button.click()  # the toggle pauses too, and back
    assert not pane.following()
    pane.follow_button.click()
    assert pane.following() and bar.value() == bar.maximum()


def test_ctrl_c_copies_the_selected_lines_as_plain_text(qtbot, tmp_path, owned, pane_of):
    proc = owned(scripted_process(tmp_path, 10))
    feed = owned(LogFeed())
    proc.linesReceived.connect(feed.add_lines)
    pane = pane_of(feed.model(proc.key))
    combined = pane_of(feed.combined)
    run_to_end(qtbot, proc)
    qtbot.waitUntil(lambda: feed.pending_count() == 0 and pane.model.rowCount() == 2 + 11 + 1)

    for view_pane in (pane, combined):
        model = view_pane.model
        selection = QItemSelection(model.index(8, 0), model.index(10, 0))
        view_pane.view.selectionModel().select(selection, QItemSelectionModel.SelectionFlag.ClearAndSelect)
        view_pane.view.setFocus()
        qtbot.keyClick(view_pane.view, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
        copied = QGuiApplication.clipboard().text()
        lines = shown(list(proc.history)[8:11])
        prefix = f"{proc.key} | " if model.combined else ""
        assert copied == "\n".join(prefix + line for line in lines)
    assert "\x1b" not in copied and "slow 7" in copied


def colour_hits(pane, row: int, color) -> int:
    """Pixels of ``row`` on screen close to ``color`` (glyph edges are antialiased)."""
    rect = pane.view.visualRect(pane.model.index(row, 0))
    image = pane.view.viewport().grab(rect).toImage()
    hits = 0
    for y in range(image.height()):
        for x in range(0, min(image.width(), 700)):
            c = image.pixelColor(x, y)
            if abs(c.red() - color.red()) + abs(c.green() - color.green()) + abs(c.blue() - color.blue()) < 60:
                hits += 1
    return hits


def test_levels_are_painted_in_their_colours(qtbot, tmp_path, owned, pane_of):
    proc = owned(scripted_process(tmp_path, 10))
    feed = owned(LogFeed())
    proc.linesReceived.connect(feed.add_lines)
    pane = pane_of(feed.model(proc.key), height=500)
    run_to_end(qtbot, proc)
    qtbot.waitUntil(lambda: feed.pending_count() == 0 and pane.model.rowCount() == 14)
    error_row = output_row(pane.model, lambda line: "ERROR/" in line)
    info_row = output_row(pane.model, lambda line: "ready." in line)
    model = pane.model
    assert model.index(error_row, 0).data(Qt.ItemDataRole.ForegroundRole) == defs.LEVEL_COLORS["ERROR"]
    assert model.index(info_row, 0).data(model.LevelRole) == INFO
    error, warning = defs.LEVEL_COLORS["ERROR"], defs.LEVEL_COLORS["WARNING"]
    assert colour_hits(pane, error_row, error) > 20
    assert colour_hits(pane, error_row + 1, error) > 20  # the traceback line, too
    assert colour_hits(pane, info_row, error) == colour_hits(pane, info_row, warning) == 0
    assert colour_hits(pane, info_row, pane.palette().text().color()) > 20


class UrlCatcher(QObject):
    def __init__(self):
        super().__init__()
        self.urls: list[QUrl] = []

    @Slot(QUrl)
    def open(self, url: QUrl) -> None:
        self.urls.append(url)


def test_open_log_file_opens_the_service_log(qtbot, tmp_path, owned, pane_of):
    catcher = UrlCatcher()
    QDesktopServices.setUrlHandler("file", catcher, "open")
    try:
        feed = owned(LogFeed())
        pane = pane_of(feed.model("worker-fake"), tmp_path / "worker-fake.log")
        assert pane.open_button.isEnabled()
        qtbot.mouseClick(pane.open_button, Qt.MouseButton.LeftButton)
        assert [url.toLocalFile() for url in catcher.urls] == [str(tmp_path / "worker-fake.log")]
        assert not pane_of(feed.combined).open_button.isEnabled()
    finally:
        QDesktopServices.unsetUrlHandler("file")


# -- against real services ------------------------------------------------------------------------

@pytest.mark.slow
def test_the_broker_tab_shows_its_lines_once_the_stack_builds_it(qtbot, tmp_path, owned):
    from celerydesk.services.stack import StackController

    stack = owned(StackController(make_workspace(tmp_path, beat=False, flower=False)))
    logs = QtLogsWidget(stack)
    qtbot.addWidget(logs)
    # The broker has a tab before its service object exists (it is built at start) ...
    assert logs.keys() == ["broker", "worker-main"] and logs.tabs.tabText(1) == "broker"
    model = logs.pane("broker").model
    assert "broker" not in stack.services and model.rowCount() == 0
    try:
        with qtbot.waitSignal(stack.stackReady, timeout=60000):
            stack.start_all(only=set())  # the broker alone: a real redis-server
        # ... and shows its lines once it is built (servicesChanged) and started.
        assert logs.keys() == ["broker", "worker-main"] and logs.pane("broker").model is model
        qtbot.waitUntil(lambda: any("Ready to accept connections" in line for line in plains(model)), timeout=10000)
        ready = output_row(model, lambda line: "Ready to accept connections" in line)
        assert model.record(ready)[LEVEL] == INFO  # redis-server's "*"
        assert logs.pane("broker").log_path() == stack.runtime.log_path("broker")
    finally:
        stop_stack(qtbot, stack)


@pytest.mark.slow
def test_a_real_worker_ready_line_task_lines_and_a_task_id_click(qtbot, tmp_path, owned):
    from celery import Celery

    stack = owned(start_stack(qtbot, make_workspace(tmp_path, beat=False, flower=False)))
    try:
        logs = QtLogsWidget(stack)  # after the start: the worker's lines so far are replayed
        qtbot.addWidget(logs)
        logs.resize(1200, 600)
        logs.show()
        logs.show_service("worker-main")
        pane = logs.pane("worker-main")
        ready = output_row(pane.model, lambda line: "main@" in line and line.endswith("ready."))
        assert pane.model.record(ready)[LEVEL] == INFO
        pane.view.scrollTo(pane.model.index(ready, 0))
        assert colour_hits(pane, ready, pane.palette().text().color()) > 20
        assert colour_hits(pane, ready, defs.LEVEL_COLORS["ERROR"]) == 0

        app = Celery("log-pane-test", broker=stack.broker_url(), backend=stack.broker_url(), set_as_current=False)
        task_id = app.send_task("celerydesk.sample.tasks.add", args=[2, 3]).id
        app.send_task("celerydesk.sample.tasks.add", args=[4, 5])
        qtbot.waitUntil(lambda: sum(task_id in line for line in plains(pane.model)) >= 2, timeout=30000)
        app.close()
        row = output_row(pane.model, lambda line: f"[{task_id}] received" in line)
        click_task_id(qtbot, pane, row, task_id)
        shown = plains(pane.model)
        assert pane.task_chip.isVisible() and all(task_id in line for line in shown)
        assert any("received" in line for line in shown) and any("succeeded" in line for line in shown)
        assert "broker" in logs.keys()
    finally:
        stop_stack(qtbot, stack)
