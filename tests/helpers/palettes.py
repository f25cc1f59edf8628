"""A dark desktop, for tests and screenshots: Qt's Fusion style with a dark palette, as a dark
system theme gives an application (the offscreen and bare X platforms have no theme to ask).

``python -m tests.helpers.palettes dark ARGS...`` runs ``celerydesk ARGS...`` with it (the
screenshots script does, for the dark pictures).
"""

from __future__ import annotations

import sys

from PySide6.QtGui import QColor, QPalette

DARK = {
    QPalette.ColorRole.Window: "#2b2b2b", QPalette.ColorRole.WindowText: "#e6e6e6",
    QPalette.ColorRole.Base: "#1e1e1e", QPalette.ColorRole.AlternateBase: "#262626",
    QPalette.ColorRole.Text: "#e6e6e6", QPalette.ColorRole.Button: "#353535",
    QPalette.ColorRole.ButtonText: "#e6e6e6", QPalette.ColorRole.ToolTipBase: "#353535",
    QPalette.ColorRole.ToolTipText: "#e6e6e6", QPalette.ColorRole.Highlight: "#2e6eb5",
    QPalette.ColorRole.HighlightedText: "#ffffff", QPalette.ColorRole.PlaceholderText: "#8c8c8c",
    QPalette.ColorRole.Link: "#6aa9ff", QPalette.ColorRole.Mid: "#4a4a4a",
    QPalette.ColorRole.Light: "#454545", QPalette.ColorRole.Dark: "#1a1a1a",
    QPalette.ColorRole.Midlight: "#3a3a3a", QPalette.ColorRole.Shadow: "#000000",
    QPalette.ColorRole.BrightText: "#ff5555",
}


def dark_palette() -> QPalette:
    palette = QPalette()
    for role, color in DARK.items():
        palette.setColor(role, QColor(color))
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor("#7a7a7a"))
    return palette


def use_dark_palette(app) -> None:
    app.setStyle("Fusion")
    app.setPalette(dark_palette())


if __name__ == "__main__":
    from celerydesk.cli.main import main
    from celerydesk.ui.app import create_application

    if sys.argv[1:2] == ["dark"]:
        use_dark_palette(create_application())
        del sys.argv[1]
    sys.exit(main(sys.argv[1:]))
