"""Waiting on a condition while Qt's events are delivered: for fixtures that outlive one test
(pytest-qt's ``qtbot.waitUntil`` is per test)."""

from __future__ import annotations

import time


def wait_for(predicate, timeout: float = 30.0, what: str = "condition"):
    """Process Qt's events until ``predicate()`` is true; return its value. Fails after ``timeout``."""
    from PySide6.QtCore import QCoreApplication

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        QCoreApplication.processEvents()
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
