"""The services' states in one line, for every page: a coloured dot, the name and the state of each.

The window keeps the full services table on its first page; this strip, in the toolbar, keeps
their state in view while another page has the width. A service that needs attention (BACKOFF,
EXITED, FATAL) is in bold. Clicking a service asks for it (``serviceClicked``): the window shows
its row and its log. Services that do not fit are counted in a last item ("+2 more").
"""

from __future__ import annotations

from typing import Optional

from PySide6.QtCore import QPointF, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QFont, QFontMetrics, QPainter
from PySide6.QtWidgets import QSizePolicy, QWidget

from celerydesk.core.states import ProcessState
from celerydesk.ui import defs

DOT = 9  # px
LOUD_STATES = (ProcessState.BACKOFF, ProcessState.EXITED, ProcessState.FATAL)
MORE = "__more__"


class QtStateStrip(QWidget):
    serviceClicked = Signal(str)  # a service's key, or "" for the "+N more" item

    def __init__(self, stack, parent=None):
        super().__init__(parent)
        self.stack = stack
        self._items: list[tuple[str, QRect]] = []  # (key or MORE, where it was painted)
        self.setMouseTracking(True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        stack.serviceStateChanged.connect(self._on_changed)
        stack.servicesChanged.connect(self._on_changed)
        self._on_changed()

    # -- what it shows ------------------------------------------------------------------------------

    def entries(self) -> list[tuple[str, str, ProcessState]]:
        """(key, text, state) of every service, in the stack's order."""
        return [(key, f"{self.stack.label(key)} {self.stack.state(key).name.lower()}", self.stack.state(key))
                for key in self.stack.enabled_keys()]

    def text(self) -> str:
        """The states as one line of text (for tests and screen readers)."""
        return ", ".join(text for _key, text, _state in self.entries())

    def _on_changed(self, *_) -> None:
        self.setToolTip("Click a service for its row and its log.\n" + "\n".join(t for _k, t, _s in self.entries()))
        self.setAccessibleDescription(self.text())
        self.updateGeometry()
        self.update()

    # -- painting -------------------------------------------------------------------------------------

    def _font(self, state: ProcessState) -> QFont:
        font = QFont(self.font())
        font.setBold(state in LOUD_STATES)
        return font

    def _width(self, text: str, state: ProcessState) -> int:
        return DOT + defs.SMALL + QFontMetrics(self._font(state)).horizontalAdvance(text) + 2 * defs.SPACING

    def sizeHint(self) -> QSize:
        width = sum(self._width(text, state) for _key, text, state in self.entries())
        return QSize(width + defs.MARGIN, self.fontMetrics().height() + 2 * defs.SMALL)

    def minimumSizeHint(self) -> QSize:
        return QSize(self._width("+9 more", ProcessState.STOPPED) * 2, self.fontMetrics().height() + 2 * defs.SMALL)

    def paintEvent(self, _event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        entries = self.entries()
        self._items = []
        x, height = defs.MARGIN, self.height()
        more_width = self._width(f"+{len(entries)} more", ProcessState.STOPPED)
        for index, (key, text, state) in enumerate(entries):
            width = self._width(text, state)
            last = index == len(entries) - 1
            if x + width > self.width() - (0 if last else more_width):
                self._paint_item(painter, x, height, f"+{len(entries) - index} more", None)
                self._items.append((MORE, QRect(x, 0, more_width, height)))
                break
            self._paint_item(painter, x, height, text, state)
            self._items.append((key, QRect(x, 0, width, height)))
            x += width
        painter.end()

    def _paint_item(self, painter: QPainter, x: int, height: int, text: str, state: Optional[ProcessState]) -> None:
        if state is not None:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(defs.STATE_COLORS[state])
            painter.drawEllipse(QRectF(x, (height - DOT) / 2, DOT, DOT))
        painter.setFont(self._font(state or ProcessState.STOPPED))
        painter.setPen(self.palette().windowText().color())
        metrics = painter.fontMetrics()
        baseline = (height - metrics.height()) / 2 + metrics.ascent()
        painter.drawText(QPointF(x + DOT + defs.SMALL, baseline), text)

    # -- clicks ---------------------------------------------------------------------------------------

    def key_at(self, x: int) -> Optional[str]:
        for key, rect in self._items:
            if rect.left() <= x < rect.right():
                return "" if key == MORE else key
        return None

    def mouseMoveEvent(self, event) -> None:
        over = self.key_at(int(event.position().x())) is not None
        self.setCursor(Qt.CursorShape.PointingHandCursor if over else Qt.CursorShape.ArrowCursor)

    def mouseReleaseEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            key = self.key_at(int(event.position().x()))
            if key is not None:
                self.serviceClicked.emit(key)
