"""What QtWebEngine needs before the QApplication exists, apart from the Flower view itself.

A module of its own so that ``create_application`` can call it without importing the Flower
view (its widgets cost the window's first paint; the view is built after it).
"""

from __future__ import annotations

import os

from PySide6.QtCore import QCoreApplication, Qt


def prepare_webengine() -> None:
    """Set what QtWebEngine needs before the QApplication is created; call it first in main().

    An explicit call rather than an import-time side effect: the module may be imported after
    the QApplication exists (too late for the attribute), and importing should not change the
    process environment behind the caller's back.
    """
    # QtWebEngine shares OpenGL contexts with the widgets; the attribute is read only when the
    # QCoreApplication is constructed.
    if QCoreApplication.instance() is None:
        QCoreApplication.setAttribute(Qt.ApplicationAttribute.AA_ShareOpenGLContexts)
    # Chromium refuses to start its sandboxed helpers as root; as a normal user the sandbox
    # stays on. Read when the web engine first starts, so before the first view is enough,
    # but setting it here keeps every start-up requirement in one call.
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        flags = os.environ.get("QTWEBENGINE_CHROMIUM_FLAGS", "")
        if "--no-sandbox" not in flags.split():
            os.environ["QTWEBENGINE_CHROMIUM_FLAGS"] = f"{flags} --no-sandbox".strip()
