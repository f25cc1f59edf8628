"""Widget tests: QtWebEngine's start-up needs, and widgets deleted at the end of their test.

``pytest_configure`` of a conftest runs when the conftest is loaded, during collection, which
is before any test (in any folder of the session) asks for the ``qapp`` fixture.
"""

from __future__ import annotations

import pytest


def pytest_configure(config):
    from celerydesk.ui.webengine_setup import prepare_webengine

    prepare_webengine()


@pytest.fixture(autouse=True)
def _delete_closed_widgets():
    """Delete what pytest-qt closed with ``deleteLater`` before the next test starts.

    ``processEvents`` never runs deferred deletes, so a closed widget would live on until some
    later test spins an event loop, or until exit, where QtWebEngine deletes its profiles
    before a surviving page ("Release of profile requested but WebEnginePage still not deleted").
    pytest-qt closes the widgets before fixtures are torn down, so this runs after it.
    """
    yield
    from PySide6.QtCore import QCoreApplication, QEvent

    if QCoreApplication.instance() is not None:
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
