"""The embedded Flower view against a real Flower: placeholder, lazy web view, credentials, restarts.

The stack is real (local redis-server, a worker, Flower with generated basic auth); the page is
a real QtWebEngine page rendered offscreen. A 401 answer would not contain Flower's dashboard,
so a loaded dashboard and a 200 from Flower's API via XHR prove the credentials were supplied.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QWidget

from celerydesk.core.commands import FLOWER
from celerydesk.core.states import ProcessState
from celerydesk.ui.flower_view import QtFlowerView
from tests.helpers.stack import make_workspace, start_stack, stop_stack

WAIT_MS = 60000  # two cores, other suites running beside this one: be patient


def web_engine_views(widget: QWidget) -> list[QWidget]:
    """QWebEngineViews under ``widget``, found by class name so this needs no QtWebEngine import."""
    return [w for w in widget.findChildren(QWidget) if w.metaObject().className() == "QWebEngineView"]


def run_js(qtbot, view: QtFlowerView, code: str):
    out: list = []
    view.web_view().page().runJavaScript(code, 0, out.append)
    qtbot.waitUntil(lambda: bool(out), timeout=WAIT_MS)
    return out[0]


def page_html(qtbot, view: QtFlowerView) -> str:
    out: list = []
    view.web_view().page().toHtml(out.append)
    qtbot.waitUntil(lambda: bool(out), timeout=WAIT_MS)
    return out[0]


def distinct_colours(image, step: int = 7) -> int:
    return len({image.pixel(x, y) for x in range(0, image.width(), step)
                for y in range(0, image.height(), step)})


@pytest.fixture
def idle_stack(tmp_path):
    from celerydesk.services.stack import StackController

    return StackController(make_workspace(tmp_path, beat=False))


def test_placeholder_while_stopped_and_no_web_view_before_flower_runs(qtbot, idle_stack):
    view = QtFlowerView(idle_stack)
    qtbot.addWidget(view)
    view.show()
    qtbot.waitExposed(view)
    assert not view.showing_page()
    assert "Flower is not running" in view.placeholder_text()
    assert view.start_button.isVisible() and view.start_button.isEnabled()
    assert not view.open_button.isEnabled()  # nothing to open yet
    assert view.web_view() is None and web_engine_views(view) == []


def test_disabled_flower_is_explained(qtbot, tmp_path):
    from celerydesk.services.stack import StackController

    stack = StackController(make_workspace(tmp_path, beat=False, flower=False))
    view = QtFlowerView(stack)
    qtbot.addWidget(view)
    view.show()
    assert "disabled" in view.placeholder_text() and "[flower]" in view.placeholder_text()
    assert not view.start_button.isVisible()
    assert view.web_view() is None


def test_qtwebengine_is_not_imported_until_the_page_is_needed(tmp_path):
    """A fresh interpreter: the window's Flower tab, shown with Flower down, loads no QtWebEngine."""
    ws_path = make_workspace(tmp_path, beat=False).path
    script = textwrap.dedent(f"""
        import json, os, sys
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        from celerydesk.ui.flower_view import QtFlowerView
        from celerydesk.ui.webengine_setup import prepare_webengine
        prepare_webengine()
        from PySide6.QtWidgets import QApplication
        app = QApplication([])
        from celerydesk.core.workspace import load_workspace
        from celerydesk.services.stack import StackController
        view = QtFlowerView(StackController(load_workspace({str(ws_path)!r})))
        view.show()
        app.processEvents()
        print(json.dumps(sorted(m for m in sys.modules if "WebEngine" in m)))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


@pytest.mark.slow
def test_embedded_flower_follows_the_service(qtbot, tmp_path):
    stack = start_stack(qtbot, make_workspace(tmp_path, beat=False))
    try:
        opened = []
        view = QtFlowerView(stack, open_url=opened.append)
        qtbot.addWidget(view)
        view.resize(1200, 800)
        # Flower runs, but the tab was never shown: no web view yet.
        assert stack.state(FLOWER) == ProcessState.RUNNING
        assert view.web_view() is None and web_engine_views(view) == []

        with qtbot.waitSignal(view.pageLoaded, timeout=WAIT_MS) as loaded:
            view.show()
        assert loaded.args == [True], view.placeholder_text()
        assert view.showing_page() and len(web_engine_views(view)) == 1
        assert view.web_view().page().profile().isOffTheRecord()
        assert "Flower" in run_js(qtbot, view, "document.title")
        assert "Workers" in page_html(qtbot, view)  # the dashboard, not a 401 page
        # Flower's API answers the page's own XHR too (its buttons and polling use it).
        status = run_js(qtbot, view, "var r = new XMLHttpRequest(); r.open('GET', '/api/workers', false);"
                                     " r.send(); r.status")
        assert int(status) == 200

        # Chromium paints asynchronously after the load: wait for a rendered frame of the page
        # itself (the toolbar alone has colours enough to fool a check on the whole widget).
        qtbot.waitUntil(lambda: distinct_colours(view.web_view().grab().toImage()) > 10, timeout=WAIT_MS)
        shot = tmp_path / "flower.png"
        assert view.grab().save(str(shot)) and shot.stat().st_size > 0

        qtbot.mouseClick(view.open_button, Qt.MouseButton.LeftButton)
        assert [u.toString() for u in opened] == [f"http://127.0.0.1:{stack.ws.flower.port}/"]
        user, password = stack.runtime.flower_credentials()
        view.copy_credentials("both")
        assert QGuiApplication.clipboard().text() == f"{user}:{password}"

        # A restart shows the placeholder while Flower is down, then reloads the page.
        seen = []
        stack.serviceStateChanged.connect(
            lambda key, state: key == FLOWER and seen.append((state, view.showing_page())))
        with qtbot.waitSignal(view.pageLoaded, timeout=WAIT_MS) as reloaded:
            stack.restart_service(FLOWER)
        assert reloaded.args == [True], view.placeholder_text()
        assert (ProcessState.STOPPED, False) in seen and seen[-1] == (ProcessState.RUNNING, False)
        assert view.showing_page()
        assert "Workers" in page_html(qtbot, view)

        # Stopped: the placeholder and its Start button; the button brings Flower back.
        stack.stop_service(FLOWER)
        qtbot.waitUntil(lambda: stack.state(FLOWER) == ProcessState.STOPPED, timeout=WAIT_MS)
        assert not view.showing_page()
        assert "Flower is not running" in view.placeholder_text()
        assert view.start_button.isVisible() and view.start_button.isEnabled()
        with qtbot.waitSignal(view.pageLoaded, timeout=WAIT_MS) as back:
            qtbot.mouseClick(view.start_button, Qt.MouseButton.LeftButton)
            qtbot.waitUntil(lambda: stack.state(FLOWER) == ProcessState.RUNNING, timeout=WAIT_MS)
        assert back.args == [True] and view.showing_page()
        assert len(web_engine_views(view)) == 1  # the same view, reloaded
    finally:
        stop_stack(qtbot, stack)


@pytest.mark.slow
def test_start_button_from_an_idle_stack_brings_up_flower_and_its_page(qtbot, idle_stack):
    view = QtFlowerView(idle_stack)
    qtbot.addWidget(view)
    view.resize(900, 600)
    view.show()
    try:
        with qtbot.waitSignal(view.pageLoaded, timeout=WAIT_MS * 2) as loaded:
            qtbot.mouseClick(view.start_button, Qt.MouseButton.LeftButton)  # the broker, then Flower
        assert loaded.args == [True], view.placeholder_text()
        assert idle_stack.state(FLOWER) == ProcessState.RUNNING
        assert view.showing_page() and "Flower" in run_js(qtbot, view, "document.title")
    finally:
        stop_stack(qtbot, idle_stack)
