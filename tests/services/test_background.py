"""services/background.py: outcomes come back on the Qt thread, and nothing of the caller's
is ever freed on a worker thread (a Qt object destroyed there leaves its socket notifiers
behind, and the event loop then spins on "Invalid socket ... disabling..." forever)."""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject

from celerydesk.services.background import post, run_in_background


class Owner(QObject):
    def __init__(self, deaths: list):
        super().__init__()
        self._deaths = deaths

    def __del__(self):
        self._deaths.append(threading.current_thread().name)


def test_outcomes_and_errors_arrive_on_the_qt_thread(qtbot):
    owner, got = QObject(), []
    run_in_background(lambda: 6 * 7, lambda result, error: got.append((result, error,
                      threading.current_thread() is threading.main_thread())), owner)

    def fail():
        raise ValueError("no")

    run_in_background(fail, lambda result, error: got.append((result, type(error), True)), owner)
    qtbot.waitUntil(lambda: len(got) == 2, timeout=5000)
    assert sorted(got, key=str) == sorted([(42, None, True), (None, ValueError, True)], key=str)


def test_a_caller_let_go_of_while_its_call_runs_is_freed_on_the_qt_thread(qtbot):
    deaths: list = []
    calls = 200
    for _ in range(calls):
        owner = Owner(deaths)
        run_in_background(lambda o=owner: o, lambda result, error: None, owner)
        del owner  # the caller forgets it while the worker may still run with it
        qtbot.wait(1)  # the Qt thread takes the outcome as soon as it is there
    qtbot.waitUntil(lambda: len(deaths) == calls, timeout=20000)
    assert set(deaths) == {threading.main_thread().name}


def test_post_from_another_thread_runs_on_the_qt_thread_unless_the_owner_is_gone(qtbot):
    owner, gone, ran = QObject(), QObject(), []
    gone.deleteLater()
    qtbot.wait(10)  # deleted: its calls are dropped

    def from_worker():
        post(owner, lambda: ran.append(threading.current_thread() is threading.main_thread()))
        post(gone, lambda: ran.append("must not run"))

    worker = threading.Thread(target=from_worker)
    worker.start()
    worker.join()
    qtbot.waitUntil(lambda: bool(ran), timeout=5000)
    qtbot.wait(50)
    assert ran == [True]
