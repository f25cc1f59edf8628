"""The window's pages and what switches between them: a sidebar, a menu and a shortcut per page.

Each page has the whole width of the window beside the sidebar. The sidebar lists the pages with
their shortcut; the same switches are QActions (one checkable group, for the View menu), so the
shortcuts work wherever the focus is in the window. A page is usually a ``QtLazyTab``: showing it
the first time builds it.
"""

from __future__ import annotations

from typing import Optional

from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QAction, QActionGroup, QColor, QKeySequence, QPainter
from PySide6.QtWidgets import (QAbstractItemView, QFrame, QHBoxLayout, QListWidget, QListWidgetItem,
                               QStackedWidget, QStyle, QStyledItemDelegate, QWidget)

from celerydesk.ui import defs

KeyRole = Qt.ItemDataRole.UserRole + 1
ShortcutRole = Qt.ItemDataRole.UserRole + 2
BadgeRole = Qt.ItemDataRole.UserRole + 3  # a count to show on the entry (unseen alerts), or None
BADGE_COLOR = QColor("#c0392b")


class _ShortcutDelegate(QStyledItemDelegate):
    """A sidebar entry: its title, a badge with a count after it when there is one, and its
    shortcut at the right in the placeholder colour."""

    def paint(self, painter: QPainter, option, index) -> None:
        super().paint(painter, option, index)
        badge = index.data(BadgeRole)
        if badge:
            self._paint_badge(painter, option, index, badge)
        shortcut = index.data(ShortcutRole)
        if not shortcut:
            return
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        painter.save()
        painter.setPen(option.palette.highlightedText().color() if selected else option.palette.placeholderText().color())
        rect = option.rect.adjusted(0, 0, -2 * defs.MARGIN, 0)
        painter.drawText(rect, int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter), shortcut)
        painter.restore()

    @staticmethod
    def _paint_badge(painter: QPainter, option, index, count: int) -> None:
        text = str(count) if count < 100 else "99+"
        metrics = option.fontMetrics
        title_end = option.rect.left() + defs.MARGIN + metrics.horizontalAdvance(index.data() or "")
        height = metrics.height()
        width = max(height, metrics.horizontalAdvance(text) + height // 2)
        rect = QRectF(title_end + defs.MARGIN, option.rect.center().y() - height / 2 + 1, width, height)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(BADGE_COLOR)
        painter.drawRoundedRect(rect, height / 2, height / 2)
        painter.setPen(QColor("white"))
        painter.drawText(rect, int(Qt.AlignmentFlag.AlignCenter), text)
        painter.restore()

    def sizeHint(self, option, index) -> QSize:
        size = super().sizeHint(option, index)
        shortcut = index.data(ShortcutRole) or ""
        width = size.width() + option.fontMetrics.horizontalAdvance(shortcut) + 4 * defs.MARGIN
        return QSize(width, size.height() + defs.SPACING)


class QtPageSwitcher(QWidget):
    pageChanged = Signal(str)  # the key of the page now shown

    def __init__(self, parent=None):
        super().__init__(parent)
        self.sidebar = QListWidget(self)
        self.sidebar.setObjectName("page-sidebar")
        self.sidebar.setItemDelegate(_ShortcutDelegate(self.sidebar))
        self.sidebar.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.sidebar.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.sidebar.setFrameShape(QFrame.Shape.NoFrame)
        self.sidebar.setStyleSheet(f"QListWidget::item {{ padding: {defs.SMALL}px {defs.MARGIN}px; }}")
        self.sidebar.setFocusPolicy(Qt.FocusPolicy.TabFocus)  # clicks do not steal the focus from a page
        # The window's colour, not a list's base: it reads as the frame of the pages, not as content.
        self.sidebar.setBackgroundRole(self.backgroundRole())
        self.sidebar.viewport().setAutoFillBackground(False)
        self.sidebar.currentRowChanged.connect(self._on_row)
        self.pages = QStackedWidget(self)
        self.action_group = QActionGroup(self)
        self.action_group.setExclusive(True)
        self._keys: list[str] = []
        self._actions: dict[str, QAction] = {}
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.sidebar)
        separator = QFrame(self)
        separator.setFrameShape(QFrame.Shape.VLine)
        separator.setFrameShadow(QFrame.Shadow.Sunken)
        layout.addWidget(separator)
        layout.addWidget(self.pages, 1)

    def add_page(self, key: str, title: str, shortcut: str, widget: QWidget) -> QAction:
        """Add ``widget`` as the page ``key``; the returned action shows it (``shortcut``)."""
        sequence = QKeySequence(shortcut)
        shown = sequence.toString(QKeySequence.SequenceFormat.NativeText)
        item = QListWidgetItem(title)
        item.setData(KeyRole, key)
        item.setData(ShortcutRole, shown)
        item.setToolTip(f"{title} ({shown})")
        self.sidebar.addItem(item)
        self.pages.addWidget(widget)
        self._keys.append(key)
        action = QAction(title, self, checkable=True, shortcut=sequence)
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.triggered.connect(lambda _checked=False, k=key: self.show_page(k))
        self.action_group.addAction(action)
        self._actions[key] = action
        self.sidebar.setFixedWidth(self.sidebar.sizeHintForColumn(0) + 2 * self.sidebar.frameWidth())
        if len(self._keys) == 1:
            self.show_page(key)
        return action

    def show_page(self, key: str) -> QWidget:
        """Show the page ``key`` (built now if it is a lazy page seen for the first time)."""
        row = self._keys.index(key)
        if self.sidebar.currentRow() != row:
            self.sidebar.setCurrentRow(row)  # -> _on_row
        return self.pages.widget(row)

    def set_badge(self, key: str, count: int, tip: str = "") -> None:
        """Show ``count`` on the page's sidebar entry (0: none), and ``tip`` in its tooltip."""
        item = self.sidebar.item(self._keys.index(key))
        item.setData(BadgeRole, count or None)
        title, shortcut = item.text(), item.data(ShortcutRole)
        item.setToolTip(f"{title} ({shortcut})" + (f": {tip}" if count and tip else ""))

    def badge(self, key: str) -> int:
        return self.sidebar.item(self._keys.index(key)).data(BadgeRole) or 0

    def current_key(self) -> Optional[str]:
        row = self.pages.currentIndex()
        return self._keys[row] if row >= 0 else None

    def page(self, key: str) -> QWidget:
        return self.pages.widget(self._keys.index(key))

    def action(self, key: str) -> QAction:
        return self._actions[key]

    def keys(self) -> list[str]:
        return list(self._keys)

    def _on_row(self, row: int) -> None:
        if row < 0:
            return
        key = self._keys[row]
        self.pages.setCurrentIndex(row)
        self._actions[key].setChecked(True)
        self.pageChanged.emit(key)
