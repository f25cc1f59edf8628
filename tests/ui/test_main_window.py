"""The main window's pages (celerydesk/ui/main_window.py, ui/pages.py, ui/state_strip.py).

The services table is there at once; the log panes and the Tasks page come right after the
first paint (or after a second when the window is never painted), in that order, and the window
says so with ``panelsBuilt``; every other page is built when it is first shown, by its sidebar
entry, its shortcut or its View menu item. The services table's current row, picked before the
logs exist, is the log tab they open on; the state strip in the toolbar shows every service's
state and leads to its row and log.
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication

from celerydesk.services.context import DeskContext
from celerydesk.ui.main_window import PAGES, QtMainWindow
from tests.helpers.stack import make_workspace

LAZY_PAGES = ["dashboard", "launch", "schedules", "queues", "workers", "flower"]


def built(window) -> dict[str, bool]:
    return {key: getattr(window, f"{key}_tab").widget is not None for key in LAZY_PAGES + ["logs", "tasks"]}


@pytest.fixture
def window(qtbot, tmp_path):
    from celerydesk.services.stack import StackController

    stack = StackController(make_workspace(tmp_path, beat=False, flower=False))
    window = QtMainWindow(DeskContext(stack, parent=stack))
    qtbot.addWidget(window)
    yield window
    window.shutdown()
    # Deleted now, with the widgets, rather than whenever the garbage collector gets to it.
    stack.deleteLater()


def test_the_panes_come_after_the_first_paint_in_order_and_no_other_page(qtbot, window):
    order = []
    for name in [f"{key}_tab" for key in LAZY_PAGES + ["logs", "tasks"]]:
        getattr(window, name).built.connect(lambda _w, n=name: order.append(n))
    assert window.services.model.keys == ["broker", "worker-main"]
    assert not any(built(window).values())
    with qtbot.waitSignal(window.panelsBuilt, timeout=5000):
        window.show()
    assert order == ["logs_tab", "tasks_tab"]
    assert window.logs is window.logs_tab.widget and window.logs.keys() == ["broker", "worker-main"]
    assert window.pages.current_key() == "services"
    # Pages not shown are not built, however long the window has been up.
    qtbot.wait(300)
    assert [key for key in LAZY_PAGES if built(window)[key]] == []


def test_each_page_is_built_when_first_shown_by_sidebar_shortcut_or_menu(qtbot, window):
    with qtbot.waitSignal(window.panelsBuilt, timeout=5000):
        window.show()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5000)
    sidebar = window.pages.sidebar
    # The sidebar: a click on "Dashboard" builds and shows it, and nothing else.
    row = [key for key, _t, _s in PAGES].index("dashboard")
    qtbot.mouseClick(sidebar.viewport(), Qt.MouseButton.LeftButton, pos=sidebar.visualItemRect(sidebar.item(row)).center())
    assert window.pages.current_key() == "dashboard" and window.dashboard_tab.widget.isVisible()
    assert "Tasks per" in window.dashboard.throughput.title.text()
    assert [key for key in LAZY_PAGES if built(window)[key]] == ["dashboard"]
    # Its shortcut: Ctrl+7 is Workers, wherever the focus is in the window.
    window.services.view.setFocus()
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_7, Qt.KeyboardModifier.ControlModifier)
    assert window.pages.current_key() == "workers" and built(window)["workers"]
    assert sidebar.currentRow() == [key for key, _t, _s in PAGES].index("workers")
    # The View menu lists every page with its shortcut; its items switch too.
    view = next(a.menu() for a in window.menuBar().actions() if a.text() == "&View")
    items = {a.text(): a.shortcut().toString() for a in view.actions()}
    assert items == {title: shortcut for _k, title, shortcut in PAGES}
    next(a for a in view.actions() if a.text() == "Queues").trigger()
    assert window.pages.current_key() == "queues" and built(window)["queues"]
    assert [key for key in LAZY_PAGES if not built(window)[key]] == ["launch", "schedules", "flower"]
    # Ctrl+1 comes back to the services and their logs.
    qtbot.keyClick(QApplication.focusWidget() or window, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    assert window.pages.current_key() == "services" and window.logs.isVisible()


def test_the_state_strip_shows_every_service_and_leads_to_its_log(qtbot, window):
    with qtbot.waitSignal(window.panelsBuilt, timeout=5000):
        window.show()
    strip = window.state_strip
    assert strip.isVisible() and strip.text() == "broker stopped, worker main stopped"
    window.show_page("workers")
    assert strip.isVisible()  # on every page
    qtbot.waitUntil(lambda: len(strip._items) == 2, timeout=5000)
    worker_item = strip._items[1][1]
    qtbot.mouseClick(strip, Qt.MouseButton.LeftButton, pos=QPoint(worker_item.center().x(), strip.height() // 2))
    assert window.pages.current_key() == "services"
    assert window.services.selected_key() == "worker-main"
    assert window.logs.tabs.currentWidget() is window.logs.pane("worker-main")


def test_the_services_table_is_as_tall_as_its_rows(qtbot, window):
    window.resize(1280, 800)
    with qtbot.waitSignal(window.panelsBuilt, timeout=5000):
        window.show()
    view = window.services.view
    rows = view.verticalHeader().length()
    assert view.height() == view.horizontalHeader().height() + rows + 2 * view.frameWidth()
    # No stretched Service column: as wide as "worker main", the buttons' cell takes the rest.
    header = view.horizontalHeader()
    assert header.sectionSize(0) < 4 * view.fontMetrics().horizontalAdvance("worker main")
    assert window.logs.height() > 400  # the logs get what the table does not need


def test_the_selected_service_is_the_log_tab_shown(qtbot, window):
    window.services.view.selectRow(1)  # before the logs exist
    assert window.logs_tab.widget is None
    with qtbot.waitSignal(window.panelsBuilt, timeout=5000):
        window.show()
    assert window.logs.tabs.currentWidget() is window.logs.pane("worker-main")
    window.services.view.selectRow(0)  # and after
    assert window.logs.tabs.currentWidget() is window.logs.pane("broker")


def test_the_table_taking_the_focus_does_not_switch_the_logs_away_from_all(qtbot, window):
    with qtbot.waitSignal(window.panelsBuilt, timeout=5000):
        window.show()
    all_pane = window.logs.tabs.currentWidget()
    window.services.view.setFocus()  # Qt makes the first row current, without selecting it
    qtbot.wait(50)
    assert window.services.view.currentIndex().isValid()
    assert window.logs.tabs.currentWidget() is all_pane
    qtbot.keyClick(window.services.view, Qt.Key.Key_Down)  # the user moving does switch
    assert window.logs.tabs.currentWidget() is not all_pane


def test_a_window_never_painted_builds_its_panes_anyway(qtbot, window):
    with qtbot.waitSignal(window.panelsBuilt, timeout=5000):
        pass  # not shown: the fallback timer builds them
    assert window.logs_tab.widget is not None and window.tasks_tab.widget is not None


def test_asking_for_a_pane_builds_it_at_once(window):
    assert window.logs_tab.widget is None
    assert window.logs.keys() == ["broker", "worker-main"]
    assert window.flower.stack is window.stack


def test_the_status_bar_shows_the_broker_without_its_password(qtbot, tmp_path):
    from celerydesk.services.stack import StackController

    ws = make_workspace(tmp_path, mode="external", beat=False, flower=False,
                        broker={"url": "redis://:s3cret@127.0.0.1:6399/0"})
    stack = StackController(ws)
    window = QtMainWindow(DeskContext(stack, parent=stack))
    qtbot.addWidget(window)
    try:
        text = window.broker_label.text()
        assert "redis://:***@127.0.0.1:6399/0" in text and "s3cret" not in text
    finally:
        window.shutdown()
        stack.deleteLater()
