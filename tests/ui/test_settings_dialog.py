"""The settings dialog, the recent list and new workspaces (celerydesk/ui/settings_dialog.py,
settings_*.py, workspaces.py), offscreen with pytest-qt, on real workspace files in tmp_path.

Covered: OK writes what was changed and keeps the file's comments (the services' CPU priority
only once changed); refused values (two workers
with one name, Flower on the broker's port) are listed and outlined, the tab shown, the file
untouched and the edits kept; Cancel writes nothing; a file changed on disk is not silently
overwritten; the interpreter check against celerydesk's own interpreter (celery's version),
against a venv without celery (the pip line) and with an app that does not import; the recent
list in a QSettings of the test's own; new workspace from a Django-like folder, an existing
one and a broken one; the Open dialog taking a folder.
"""

from __future__ import annotations

import difflib
import shutil
import sys
from pathlib import Path

import celery
import pytest
from PySide6.QtCore import QCoreApplication, QSettings, Qt
from PySide6.QtWidgets import QDialog

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from celerydesk.services.interpreter_check import InterpreterCheck
from celerydesk.ui.settings_dialog import QtSettingsDialog
from celerydesk.ui.settings_workers import CONCURRENCY, NAME, QUEUES
from celerydesk.ui.workspaces import (MAX_RECENT, QtWorkspaceFileDialog, add_recent, new_workspace,
                                      recent_workspaces, remove_recent)

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "celerydesk" / "sample" / "celerydesk.toml"


@pytest.fixture(autouse=True)
def private_qsettings(tmp_path):
    """Any QSettings() made during a test reads and writes a file under tmp_path, never the user's."""
    saved = QCoreApplication.organizationName(), QCoreApplication.applicationName()
    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(fmt, QSettings.Scope.UserScope, str(tmp_path / "qsettings"))
    QCoreApplication.setOrganizationName("celerydesk-tests")
    QCoreApplication.setApplicationName("celerydesk-tests")
    yield
    QCoreApplication.setOrganizationName(saved[0])
    QCoreApplication.setApplicationName(saved[1])


@pytest.fixture
def workspace_file(tmp_path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    path = folder / "celerydesk.toml"
    shutil.copy(SAMPLE, path)
    return path


@pytest.fixture
def dialog(qtbot, workspace_file):
    dialog = QtSettingsDialog(str(workspace_file), InterpreterCheck())
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    return dialog


def comment_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.lstrip().startswith("#")]


def press_ok(qtbot, dialog) -> None:
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)


def assert_refused(dialog, before: bytes, path: Path, text: str, tab: str) -> None:
    assert dialog.isVisible() and dialog.result() != QDialog.DialogCode.Accepted
    assert not dialog.banner.isHidden() and text in dialog.banner.text()
    assert path.read_bytes() == before
    assert dialog.tabs.tabText(dialog.tabs.currentIndex()) == tab
    assert dialog.problem_widgets(), "the field at fault is outlined"


# -- OK, refusals, Cancel -------------------------------------------------------------------------


def test_ok_writes_the_changes_and_keeps_the_comments(qtbot, dialog, workspace_file):
    before = workspace_file.read_text()
    dialog.broker_page.port.setValue(6391)
    workers = dialog.workers_page
    qtbot.mouseClick(workers.add_button, Qt.MouseButton.LeftButton)
    workers.cell(1, NAME).clear()
    qtbot.keyClicks(workers.cell(1, NAME), "fast")
    workers.cell(1, CONCURRENCY).setValue(4)
    workers.cell(1, QUEUES).setText("video, celery")
    workers.cell(0, CONCURRENCY).setValue(3)
    dialog.env_page.add_variable("DJANGO_SETTINGS_MODULE", "storefront.settings")
    with qtbot.waitSignal(dialog.saved, timeout=5000) as saved:
        press_ok(qtbot, dialog)
    assert saved.args == [str(workspace_file)]
    assert dialog.result() == QDialog.DialogCode.Accepted and not dialog.isVisible()
    after = workspace_file.read_text()
    data = tomllib.loads(after)
    assert data["broker"]["port"] == 6391
    assert data["workers"] == [{"name": "main", "concurrency": 3, "queues": ["celery"]},
                               {"name": "fast", "concurrency": 4, "queues": ["video", "celery"]}]
    assert data["project"]["env"] == {"DJANGO_SETTINGS_MODULE": "storefront.settings"}
    assert "nice" not in data["project"]  # left at its default: not written
    assert comment_lines(after) == comment_lines(before)
    removed = [line for line in difflib.ndiff(before.splitlines(), after.splitlines()) if line.startswith("- ")]
    assert removed == ["- port = 6390", "- concurrency = 2"]  # nothing else of the file was rewritten


def test_the_services_cpu_priority_is_saved_only_when_changed_and_read_back(qtbot, dialog, workspace_file):
    assert dialog.project_page.nice.value() == 5  # the default, not written in the sample's file
    dialog.project_page.nice.setValue(0)
    with qtbot.waitSignal(dialog.saved, timeout=5000):
        press_ok(qtbot, dialog)
    assert tomllib.loads(workspace_file.read_text())["project"]["nice"] == 0
    again = QtSettingsDialog(str(workspace_file), InterpreterCheck())
    qtbot.addWidget(again)
    assert again.project_page.nice.value() == 0


def test_a_nice_of_true_is_shown_as_the_default_and_rewritten(qtbot, workspace_file):
    workspace_file.write_text(workspace_file.read_text().replace('app = "celerydesk.sample"',
                                                                 'app = "celerydesk.sample"\nnice = true'))
    dialog = QtSettingsDialog(str(workspace_file), InterpreterCheck())
    qtbot.addWidget(dialog)
    assert dialog.project_page.nice.value() == 5
    dialog.project_page.nice.setValue(1)  # equal to true, but an int: written all the same
    with qtbot.waitSignal(dialog.saved, timeout=5000):
        press_ok(qtbot, dialog)
    value = tomllib.loads(workspace_file.read_text())["project"]["nice"]
    assert value == 1 and not isinstance(value, bool)


def test_two_workers_with_one_name_are_refused_and_the_edits_kept(qtbot, dialog, workspace_file):
    before = workspace_file.read_bytes()
    dialog.broker_page.port.setValue(6391)
    workers = dialog.workers_page
    qtbot.mouseClick(workers.add_button, Qt.MouseButton.LeftButton)
    workers.cell(1, NAME).setText("main")
    press_ok(qtbot, dialog)
    assert_refused(dialog, before, workspace_file, "names must be unique", "Workers")
    assert workers.cell(1, NAME) in dialog.problem_widgets()
    assert dialog.broker_page.port.value() == 6391 and workers.cell(1, NAME).text() == "main"
    workers.cell(1, NAME).setText("second")  # fixed: OK now saves, and clears the outline
    with qtbot.waitSignal(dialog.saved, timeout=5000):
        press_ok(qtbot, dialog)
    assert [w["name"] for w in tomllib.loads(workspace_file.read_text())["workers"]] == ["main", "second"]
    assert dialog.problem_widgets() == []


def test_flower_on_the_brokers_port_is_refused(qtbot, dialog, workspace_file):
    before = workspace_file.read_bytes()
    dialog.services_page.flower_port.setValue(6390)  # the sample's broker port
    press_ok(qtbot, dialog)
    assert_refused(dialog, before, workspace_file, "also the broker&#x27;s port", "Beat && Flower")
    assert dialog.problem_widgets() == [dialog.services_page.flower_port]
    assert "also the broker's port" in dialog.services_page.flower_port.toolTip()


def test_a_validation_problem_outside_the_form_is_listed(qtbot, dialog, workspace_file):
    before = workspace_file.read_bytes()
    dialog.project_page.python.setText("/nowhere/bin/python")
    press_ok(qtbot, dialog)
    assert_refused(dialog, before, workspace_file, "was not found", "Project")
    assert dialog.problem_widgets() == [dialog.project_page.python]


def test_cancel_writes_nothing(qtbot, dialog, workspace_file):
    before, mtime = workspace_file.read_bytes(), workspace_file.stat().st_mtime_ns
    dialog.broker_page.port.setValue(6391)
    dialog.services_page.beat.setChecked(False)
    with qtbot.assertNotEmitted(dialog.saved):
        qtbot.mouseClick(dialog.button_box.button(dialog.button_box.StandardButton.Cancel), Qt.MouseButton.LeftButton)
    assert dialog.result() == QDialog.DialogCode.Rejected
    assert workspace_file.read_bytes() == before and workspace_file.stat().st_mtime_ns == mtime


def test_ok_without_changes_writes_nothing(qtbot, dialog, workspace_file):
    mtime = workspace_file.stat().st_mtime_ns
    with qtbot.assertNotEmitted(dialog.saved):
        press_ok(qtbot, dialog)
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert workspace_file.stat().st_mtime_ns == mtime and workspace_file.read_text() == SAMPLE.read_text()


def test_a_file_changed_on_disk_meanwhile_is_overwritten_only_when_asked(qtbot, dialog, workspace_file):
    theirs = workspace_file.read_text().replace("concurrency = 2", "concurrency = 7")
    workspace_file.write_text(theirs)
    dialog.broker_page.port.setValue(6391)
    press_ok(qtbot, dialog)
    assert "changed on disk" in dialog.banner.text() and dialog.ok_button.text() == "Overwrite"
    assert workspace_file.read_text() == theirs and dialog.isVisible()
    with qtbot.waitSignal(dialog.saved, timeout=5000):
        press_ok(qtbot, dialog)
    assert tomllib.loads(workspace_file.read_text())["broker"]["port"] == 6391


def test_broker_fields_follow_the_mode(dialog):
    page = dialog.broker_page
    assert page.mode.currentText() == "local" and not page.url.isEnabled() and not page.image.isEnabled()
    page.mode.setCurrentText("external")
    assert page.url.isEnabled() and not page.port.isEnabled()
    page.mode.setCurrentText("docker")
    assert page.image.isEnabled() and not page.url.isEnabled()


def test_an_external_broker_without_url_is_refused_then_saved_with_one(qtbot, dialog, workspace_file):
    before = workspace_file.read_bytes()
    dialog.broker_page.mode.setCurrentText("external")
    press_ok(qtbot, dialog)
    assert_refused(dialog, before, workspace_file, "needs a url", "Broker")
    dialog.broker_page.url.setText("redis://127.0.0.1:6399/0")
    with qtbot.waitSignal(dialog.saved, timeout=5000):
        press_ok(qtbot, dialog)
    broker = tomllib.loads(workspace_file.read_text())["broker"]
    assert broker == {"mode": "external", "port": 6390, "url": "redis://127.0.0.1:6399/0"}


# -- the interpreter check ---------------------------------------------------------------------------


def run_check(qtbot, dialog) -> str:
    page = dialog.project_page
    qtbot.mouseClick(page.check_button, Qt.MouseButton.LeftButton)
    assert page.checking  # the answer comes later: the GUI thread is not blocked
    qtbot.waitUntil(lambda: not page.checking, timeout=120000)
    return page.status.text()


def test_check_of_celerydesks_interpreter_shows_celerys_version(qtbot, dialog):
    dialog.project_page.python.setText(sys.executable)
    text = run_check(qtbot, dialog)
    assert text.startswith("✓") and f"celery {celery.__version__}" in text
    assert "the app 'celerydesk.sample' imports" in text


def test_check_of_a_venv_without_celery_shows_the_pip_line(qtbot, dialog):
    from tests.helpers.project_venv import VenvBuildError, bare_venv

    try:
        python = bare_venv()
    except VenvBuildError as exc:
        pytest.skip(f"cannot build the bare venv: {exc}")
    dialog.project_page.python.setText(str(python))
    text = run_check(qtbot, dialog)
    assert text.startswith("✗") and "cannot import celery" in text
    assert f"{python} -m pip install 'celery[redis]'" in text


def test_check_of_an_app_that_does_not_import_says_why(qtbot, dialog):
    dialog.project_page.python.setText(sys.executable)
    dialog.project_page.app.setText("no_such_project")
    text = run_check(qtbot, dialog)
    assert text.startswith("✗") and "No module named 'no_such_project'" in text
    assert "the value of `celery -A`" in text


# -- recent workspaces ----------------------------------------------------------------------------------


def test_recent_list_is_most_recent_first_capped_and_drops_missing_files(tmp_path):
    settings = QSettings(str(tmp_path / "recent.ini"), QSettings.Format.IniFormat)
    files = []
    for i in range(MAX_RECENT + 2):
        folder = tmp_path / f"p{i}"
        folder.mkdir()
        (folder / "celerydesk.toml").write_text('[project]\napp = "x"\n')
        files.append(folder / "celerydesk.toml")
        add_recent(folder if i % 2 else files[-1], settings)  # a folder means its workspace file
    assert recent_workspaces(settings) == files[::-1][:MAX_RECENT]
    add_recent(files[5], settings)
    assert recent_workspaces(settings)[:2] == [files[5], files[-1]]
    assert recent_workspaces(settings).count(files[5]) == 1
    files[-1].unlink()
    assert files[-1] not in recent_workspaces(settings)
    remove_recent(files[5], settings)
    assert files[5] not in recent_workspaces(settings)
    reread = QSettings(str(tmp_path / "recent.ini"), QSettings.Format.IniFormat)
    assert recent_workspaces(reread) == recent_workspaces(settings)  # kept on disk


def test_recent_list_default_settings_stay_in_the_tests_folder(tmp_path, workspace_file):
    add_recent(workspace_file)  # the default QSettings(): redirected by the fixture
    assert recent_workspaces() == [workspace_file]
    assert list((tmp_path / "qsettings").rglob("*")), "written under tmp_path, not the user's settings"
    assert recent_workspaces(QSettings(str(tmp_path / "other.ini"), QSettings.Format.IniFormat)) == []


# -- new and open ---------------------------------------------------------------------------------------


def test_new_workspace_guesses_a_django_app_and_uses_the_projects_venv(tmp_path):
    folder = tmp_path / "shop"
    (folder / "storefront").mkdir(parents=True)
    (folder / "storefront" / "celery.py").write_text("")
    (folder / "storefront" / "settings.py").write_text("")
    (folder / ".venv" / "bin").mkdir(parents=True)
    (folder / ".venv" / "bin" / "python").symlink_to(sys.executable)
    guesses, told = [], []
    path = new_workspace(None, folder, ask_app=lambda guess: guesses.append(guess) or guess,
                         inform=lambda title, text: told.append(text))
    assert guesses == ["storefront"] and told == []
    assert path == folder / "celerydesk.toml"
    assert tomllib.loads(path.read_text())["project"] == {"app": "storefront", "python": ".venv/bin/python"}
    # A second time: the folder has a workspace, which is opened, not replaced.
    before = path.read_text()
    assert new_workspace(None, folder, ask_app=lambda g: pytest.fail("asked again"),
                         inform=lambda title, text: told.append(text)) == path
    assert path.read_text() == before and "already has" in told[-1]
    assert new_workspace(None, tmp_path / "other", ask_app=lambda g: None, inform=told.append) is None


def test_new_workspace_keeps_a_broken_file_aside_and_says_where(tmp_path):
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "celerydesk.toml").write_text("[project\n")
    told = []
    path = new_workspace(None, folder, ask_app=lambda guess: "tasks", inform=lambda title, text: told.append(text))
    backups = list(folder.glob("celerydesk.toml.broken-*"))
    assert len(backups) == 1 and backups[0].read_text() == "[project\n"
    assert str(backups[0]) in told[0]
    assert tomllib.loads(path.read_text())["project"]["app"] == "tasks"


def test_open_dialog_takes_a_folder_that_has_a_workspace(qtbot, tmp_path, workspace_file):
    file_dialog = QtWorkspaceFileDialog(None, str(tmp_path))
    qtbot.addWidget(file_dialog)
    file_dialog.selectFile(str(workspace_file.parent))
    file_dialog.accept()
    assert file_dialog.chosen == workspace_file
    assert file_dialog.result() == QDialog.DialogCode.Accepted


def test_remove_worker_removes_the_row_being_edited_and_keeps_one(qtbot, dialog, workspace_file):
    workers = dialog.workers_page
    dialog.tabs.setCurrentWidget(workers)
    qtbot.mouseClick(workers.add_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(workers.add_button, Qt.MouseButton.LeftButton)
    assert [workers.cell(r, NAME).text() for r in range(3)] == ["main", "worker2", "worker3"]
    workers.cell(1, QUEUES).setFocus()  # editing worker2's queues
    qtbot.waitUntil(lambda: workers.table.currentRow() == 1)
    qtbot.mouseClick(workers.remove_button, Qt.MouseButton.LeftButton)
    assert [workers.cell(r, NAME).text() for r in range(2)] == ["main", "worker3"]
    workers.cell(0, NAME).setFocus()
    qtbot.waitUntil(lambda: workers.table.currentRow() == 0)
    qtbot.mouseClick(workers.remove_button, Qt.MouseButton.LeftButton)
    assert workers.table.rowCount() == 1 and not workers.remove_button.isEnabled()
    with qtbot.waitSignal(dialog.saved, timeout=5000):
        press_ok(qtbot, dialog)
    text = workspace_file.read_text()
    assert [w["name"] for w in tomllib.loads(text)["workers"]] == ["worker3"]
    assert "# One [[workers]] table per worker process" in text  # the array's introduction stays
