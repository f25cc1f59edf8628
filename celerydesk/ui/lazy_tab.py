"""A page that builds its real widget the first time it is shown.

The window's first paint should not wait for panels nobody has looked at yet: their imports,
their introspection of the project, their threads. Until then the page is an empty widget.
With ``build_on_show=False`` the page stays empty when shown too, until ``ensure()`` is called:
for panes that are on screen from the start but may appear a moment after the first paint.
"""

from __future__ import annotations

from typing import Callable, Optional

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QVBoxLayout, QWidget


class QtLazyTab(QWidget):
    built = Signal(QWidget)

    def __init__(self, factory: Callable[[QWidget], QWidget], parent=None, *, build_on_show: bool = True,
                 margin: int = 0):
        super().__init__(parent)
        self._factory = factory
        self._build_on_show = build_on_show
        self.widget: Optional[QWidget] = None
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(margin, margin, margin, margin)

    def ensure(self) -> QWidget:
        """The real widget, built now if it was not yet."""
        if self.widget is None:
            self.widget = self._factory(self)
            self._layout.addWidget(self.widget)
            if self.isVisible():  # shown now, not at the next turn of the event loop
                self.widget.show()
            self.built.emit(self.widget)
        return self.widget

    def showEvent(self, event) -> None:
        if self._build_on_show:
            self.ensure()
        super().showEvent(event)
