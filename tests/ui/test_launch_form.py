"""The launch panel: the task picker, each editor, validation that blocks Send, the JSON error's
caret, the file picker, and real sends to a real stack of the sample app (results read back with
a bare Celery client; the sample app's result backend is its broker)."""

from __future__ import annotations

import hashlib

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QLineEdit, QPlainTextEdit, QPushButton

from celerydesk.core.introspection import Introspection, TaskInfo
from celerydesk.core.states import ProcessState
from celerydesk.services.context import DeskContext
from celerydesk.ui.launch_form import QtLaunchPanel
from tests.helpers.stack import make_workspace, start_stack, stop_stack

SAMPLE = "celerydesk.sample.tasks."


def make_panel(qtbot, stack):
    panel = QtLaunchPanel(DeskContext(stack, parent=stack))
    qtbot.addWidget(panel)
    panel.resize(1100, 700)
    panel.show()
    qtbot.waitUntil(lambda: bool(panel.tasks), timeout=60000)
    return panel


@pytest.fixture
def idle_panel(qtbot, tmp_path):
    from celerydesk.services.stack import StackController

    stack = StackController(make_workspace(tmp_path, beat=False, flower=False))
    yield make_panel(qtbot, stack)
    # Deleted now, with the widgets, rather than whenever the garbage collector gets to it.
    stack.deleteLater()


@pytest.fixture
def live(qtbot, tmp_path):
    stack = start_stack(qtbot, make_workspace(tmp_path, beat=False, flower=False))
    panel = make_panel(qtbot, stack)
    yield panel
    stop_stack(qtbot, stack)


def field_label(panel, name):
    editor = panel.editors[name]
    widget = editor if panel.form.labelForField(editor) else editor.parentWidget()
    return panel.form.labelForField(widget).text()


def result_client(panel):
    from celery import Celery

    url = panel.stack.broker_url()
    return Celery("test-results", broker=url, backend=url, set_as_current=False)


def send_and_wait(qtbot, panel):
    with qtbot.waitSignal(panel.launched, timeout=60000) as blocker:
        assert panel.send_button.isEnabled(), panel.reason_label.text()
        qtbot.mouseClick(panel.send_button, Qt.MouseButton.LeftButton)
    launch = blocker.args[0]
    assert launch.ok, launch.error
    return launch


def test_picker_lists_project_tasks_first_and_hides_celerys_own(idle_panel):
    panel = idle_panel
    names = panel.task_names()
    assert names == sorted(SAMPLE + n for n in ("add", "noop", "notify_customers", "process_video"))
    panel.picker.show_internal.setChecked(True)
    names = panel.task_names()
    assert names[:4] == sorted(SAMPLE + n for n in ("add", "noop", "notify_customers", "process_video"))
    assert len(names) > 4 and all(n.startswith("celery.") for n in names[4:])
    panel.picker.filter_edit.setText("VIDEO")
    assert panel.task_names() == [SAMPLE + "process_video"]
    panel.picker.show_internal.setChecked(False)
    panel.picker.filter_edit.clear()
    assert len(panel.task_names()) == 4


def test_editors_validation_and_the_json_caret(qtbot, idle_panel):
    panel = idle_panel
    task = TaskInfo.from_dict({"name": "proj.tasks.kitchen", "params": [
        {"name": "n", "kind": "positional_or_keyword", "annotation": "int"},
        {"name": "ratio", "kind": "positional_or_keyword", "annotation": "float", "default": 0.5},
        {"name": "flag", "kind": "positional_or_keyword", "annotation": "bool", "default": True},
        {"name": "label", "kind": "positional_or_keyword", "annotation": "str"},
        {"name": "items", "kind": "positional_or_keyword", "annotation": "list"},
    ]})
    panel.set_tasks(Introspection(app={}, tasks={task.name: task, **panel.tasks}, beat_schedule=[]))
    assert panel.task_names()[0] == SAMPLE + "add"  # sorted; the injected one is a project task too
    assert panel.select_task("proj.tasks.kitchen")
    ed = panel.editors
    assert isinstance(ed["n"], QLineEdit) and isinstance(ed["ratio"], QLineEdit)
    assert isinstance(ed["flag"], QCheckBox) and ed["flag"].isChecked()
    assert isinstance(ed["label"], QLineEdit) and isinstance(ed["items"], QPlainTextEdit)
    assert field_label(panel, "n") == "n *" and field_label(panel, "ratio") == "ratio"
    assert ed["ratio"].placeholderText() == "0.5"

    assert not panel.send_button.isEnabled() and panel.reason_label.text().startswith("n: required")
    qtbot.keyClicks(ed["n"], "12x")
    assert panel.error_labels["n"].isVisible() and "not a whole number" in panel.error_labels["n"].text()
    assert not panel.send_button.isEnabled()
    ed["n"].setText("12")
    ed["ratio"].setText("abc")
    assert "not a number" in panel.reason_label.text()
    ed["ratio"].clear()
    ed["label"].setText("hello")
    ed["items"].setPlainText('[1,\n 2 3]')
    error = panel.error_labels["items"].text().splitlines()
    assert error[0].startswith("line 2, column 4: Expecting ','")
    assert error[1] == " 2 3]" and error[2] == "   ^" and error[1][error[2].index("^")] == "3"
    selections = ed["items"].extraSelections()
    cursor = selections[0].cursor
    assert cursor.selectedText() == "3"  # the bad character is marked in the editor itself
    assert not panel.send_button.isEnabled()
    ed["items"].setPlainText("[1, 2, 3]")
    assert not panel.error_labels["items"].isVisible() and not ed["items"].extraSelections()
    # The form is good now: only the stopped broker holds Send back.
    assert panel._call == ([], {"n": 12, "flag": True, "label": "hello", "items": [1, 2, 3]})
    assert not panel.send_button.isEnabled() and "broker is not running" in panel.reason_label.text()


def test_wrong_arity_from_an_unreadable_default_is_refused(idle_panel):
    panel = idle_panel
    task = TaskInfo.from_dict({"name": "proj.tasks.posonly", "params": [
        {"name": "a", "kind": "positional_only", "default": "<object>", "default_is_repr": True},
        {"name": "b", "kind": "positional_only", "annotation": "int"}]})
    panel.set_tasks(Introspection(app={}, tasks={task.name: task}, beat_schedule=[]))
    panel.select_task(task.name)
    panel.editors["b"].setText("1")
    assert "'a' must be given" in panel.reason_label.text() and not panel.send_button.isEnabled()


def test_tailored_forms_send_and_return_results(qtbot, live, tmp_path):
    panel = live
    client = result_client(panel)

    panel.select_task(SAMPLE + "notify_customers")
    assert isinstance(panel.editors["message"], QPlainTextEdit)  # the tailored message editor
    assert field_label(panel, "message") == "message *"
    assert "message: required" in panel.reason_label.text()
    panel.editors["message"].setPlainText("Hello World")
    panel.editors["delay"].setText("0")
    launch = send_and_wait(qtbot, panel)
    assert launch.kwargs == {"message": "Hello World", "delay": 0.0} and len(launch.ids) == 1
    assert client.AsyncResult(launch.ids[0]).get(timeout=60) == "Sent 'Hello World' to 10000 customers"

    # process_video: the path comes from the "Choose file…" button's (non-native) dialog.
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"\x00frame" * 50000)
    panel.select_task(SAMPLE + "process_video")
    choose = panel.findChild(QPushButton, "choose-path")
    qtbot.mouseClick(choose, Qt.MouseButton.LeftButton)
    dialog = panel.file_dialog
    assert dialog is not None and dialog.isVisible()
    dialog.selectFile(str(video))
    dialog.accept()
    assert panel.editors["path"].text() == str(video)
    panel.editors["chunk_size"].setText("65536")
    launch = send_and_wait(qtbot, panel)
    result = client.AsyncResult(launch.ids[0]).get(timeout=60)
    assert result["sha256"] == hashlib.sha256(video.read_bytes()).hexdigest()
    assert result["bytes"] == video.stat().st_size and result["chunks"] == 5

    # History: newest first; run again sends the same call anew.
    assert panel.history.history_list.count() == 2
    panel.history.history_list.setCurrentRow(1)  # the notify_customers launch
    assert panel.history.run_again_button.isEnabled()
    with qtbot.waitSignal(panel.launched, timeout=60000) as blocker:
        qtbot.mouseClick(panel.history.run_again_button, Qt.MouseButton.LeftButton)
    again = blocker.args[0]
    assert again.task == SAMPLE + "notify_customers" and again.ids[0] != launch.ids[0]
    assert client.AsyncResult(again.ids[0]).get(timeout=60).startswith("Sent 'Hello World'")
    assert panel.history.history_list.count() == 3

    # Edit and run again: the form gets the launch back, to change and send.
    panel.history.history_list.setCurrentRow(1)  # the process_video launch
    qtbot.mouseClick(panel.history.edit_again_button, Qt.MouseButton.LeftButton)
    assert panel.current == SAMPLE + "process_video"
    assert panel.editors["path"].text() == str(video) and panel.editors["chunk_size"].text() == "65536"
    panel.editors["chunk_size"].setText("100000")
    edited = send_and_wait(qtbot, panel)
    assert client.AsyncResult(edited.ids[0]).get(timeout=60)["chunks"] == 3


def test_send_n_copies_and_options(qtbot, live):
    import redis

    panel = live
    stack = panel.stack
    # With the worker stopped the copies wait in the queue, where they can be counted.
    stack.stop_service("worker-main")
    qtbot.waitUntil(lambda: stack.state("worker-main") == ProcessState.STOPPED, timeout=60000)
    r = redis.Redis.from_url(stack.broker_url())
    before = r.llen("celery")
    panel.select_task(SAMPLE + "add")
    panel.editors["x"].setText("2")
    panel.editors["y"].setText("3")
    panel.options_box.copies_spin.setValue(250)
    launch = send_and_wait(qtbot, panel)
    assert len(launch.ids) == len(set(launch.ids)) == 250
    assert r.llen("celery") - before == 250
    assert panel.progress_bar.value() == 250

    # Options reach the message: another queue, a countdown, an expiry.
    panel.options_box.copies_spin.setValue(1)
    panel.options_box.queue_edit.setText("other")
    panel.options_box.timing_combo.setCurrentIndex(1)
    panel.options_box.countdown_spin.setValue(30)
    panel.options_box.expires_spin.setValue(600)
    launch = send_and_wait(qtbot, panel)
    assert r.llen("other") == 1
    import json

    headers = json.loads(r.lindex("other", 0))["headers"]
    assert headers["id"] == launch.ids[0] and headers["eta"] and headers["expires"]
    assert launch.options.describe().startswith("queue=other, countdown=30.0, expires=600.0")


def test_a_long_status_line_does_not_widen_the_window(qtbot, idle_panel):
    idle_panel.resize(900, 700)
    idle_panel.show()
    form_side = idle_panel.status_label.parentWidget().layout()  # what the window's minimum grows from
    before = form_side.minimumSize().width()
    long_name = "storefront.playground.tasks." + "very_long_task_name_" * 8
    idle_panel._status(f"Sent {long_name}[2f1c6a0e-63a3-4a4e-9c8e-31f4b1b2c0de].")
    idle_panel.doc_label.setText(long_name)
    idle_panel.reason_label.setText(long_name)
    qtbot.wait(10)
    assert form_side.minimumSize().width() <= before
    assert idle_panel.status_label.toolTip().startswith("Sent storefront.")  # the whole text, on hover
