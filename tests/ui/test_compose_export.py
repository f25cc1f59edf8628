"""Workspace ▸ Export docker-compose.yml… (celerydesk/ui/compose_export.py and its menu action).

Covered: writing to a given path and reporting the next steps; the save dialog offered on
docker-compose.yml in the project folder (the dialog itself is replaced: it is Qt's, not the
thing under test), cancelling it writes nothing; an unreadable workspace and an unwritable path
are reported, not raised; the main window's menu action runs the export.
"""

from __future__ import annotations

from PySide6.QtWidgets import QFileDialog, QMessageBox

from celerydesk.services.context import DeskContext
from celerydesk.ui import compose_export
from celerydesk.ui.compose_export import export_compose
from tests.helpers.stack import make_workspace


def test_exports_to_a_given_path_and_reports(qtbot, tmp_path):
    ws = make_workspace(tmp_path / "shop")
    told = []
    target = tmp_path / "shop" / "stack.yml"
    assert export_compose(None, ws.path, path=target, inform=lambda *a: told.append(a)) == target
    assert target.read_text().startswith("# docker compose file")
    (title, text, ok), = told
    assert ok and title == "Export docker-compose.yml"
    assert str(target) in text and "redis, worker-main, beat, flower" in text
    assert "compose-flower.env" in text and "Dockerfile" in text


def test_save_dialog_offers_the_project_folder(qtbot, tmp_path, monkeypatch):
    ws = make_workspace(tmp_path / "shop", flower=False)
    asked = []

    def fake_dialog(parent, caption, start, filters):
        asked.append(start)
        return str(tmp_path / "shop" / "docker-compose.yml"), filters

    monkeypatch.setattr(QFileDialog, "getSaveFileName", fake_dialog)
    told = []
    written = export_compose(None, ws.path, inform=lambda *a: told.append(a))
    assert asked == [str(ws.root / "docker-compose.yml")]
    assert written == ws.root / "docker-compose.yml" and written.exists()
    assert told[0][2] is True and "Flower's login" not in told[0][1]

    # The dialog asked before replacing, so an existing file is replaced.
    written.write_text("old\n")
    assert export_compose(None, ws.path, inform=lambda *a: None) == written
    assert written.read_text().startswith("# docker compose file")


def test_cancelled_dialog_writes_nothing(qtbot, tmp_path, monkeypatch):
    ws = make_workspace(tmp_path / "shop")
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a: ("", ""))
    told = []
    assert export_compose(None, ws.path, inform=lambda *a: told.append(a)) is None
    assert told == [] and not (ws.root / "docker-compose.yml").exists()


def test_errors_are_reported_not_raised(qtbot, tmp_path):
    told = []
    assert export_compose(None, tmp_path / "nowhere", path=tmp_path / "x.yml", inform=lambda *a: told.append(a)) is None
    assert told[-1][2] is False and "no workspace file here" in told[-1][1]
    ws = make_workspace(tmp_path / "shop")
    assert export_compose(None, ws.path, path=tmp_path / "missing" / "x.yml", inform=lambda *a: told.append(a)) is None
    assert told[-1][2] is False and "is not a folder" in told[-1][1]


def test_main_window_menu_action_exports(qtbot, tmp_path, monkeypatch):
    from celerydesk.services.stack import StackController
    from celerydesk.ui.main_window import QtMainWindow

    ws = make_workspace(tmp_path / "shop", beat=False, flower=False)
    stack = StackController(ws)
    window = QtMainWindow(DeskContext(stack, parent=stack))
    qtbot.addWidget(window)
    target = tmp_path / "shop" / "docker-compose.yml"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a: (str(target), ""))
    shown = []
    monkeypatch.setattr(QMessageBox, "information", lambda parent, title, text: shown.append((parent, text)))
    workspace_menu = window.menuBar().actions()[0].menu()
    action = next(a for a in workspace_menu.actions() if a.text() == "Export docker-compose.yml…")
    action.trigger()
    assert target.exists()
    assert shown and shown[0][0] is window and str(target) in shown[0][1]
    assert compose_export.TITLE == "Export docker-compose.yml"
