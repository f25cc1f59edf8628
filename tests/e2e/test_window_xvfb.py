"""The real window on a real X server (Xvfb): shown, started from the keyboard, SIGTERMed.

`celerydesk gui` runs as a child process with the xcb platform, as a user would start it; the
stack is started with the window's own shortcut (Ctrl+Shift+S, sent by xdotool), the Flower
tab must load Flower's page, a screenshot is taken from the X server, and SIGTERM must stop
the stack and leave no process behind. tests/frozen runs the same path on the frozen binary.
"""

from __future__ import annotations

import sys

import pytest

from tests.helpers.xvfb import running_xvfb, window_starts_stack_shows_flower_and_stops

pytestmark = [pytest.mark.xvfb, pytest.mark.slow]


@pytest.fixture
def display():
    yield from running_xvfb()


def test_window_starts_the_stack_shows_flower_and_sigterm_leaves_nothing(display, tmp_path):
    window_starts_stack_shows_flower_and_stops([sys.executable, "-m", "celerydesk"], tmp_path / "shop",
                                               display, "window-running.png")
