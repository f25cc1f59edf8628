"""A figure and its recent history in one table cell: a small line on the left, the value on the right.

``SparklineDelegate`` paints a cell whose model answers ``SeriesRole`` (the recent values, oldest
first) and ``DisplayRole`` (the value as text). The line is scaled to its own minimum and maximum,
widened to at least ``min_span`` so a steady figure draws a flat line rather than its noise: a
worker's memory creeping up over minutes shows, a few kilobytes up and down do not.
"""

from __future__ import annotations

from typing import Sequence

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QApplication, QStyle, QStyledItemDelegate, QStyleOptionViewItem

from celerydesk.ui import defs

SeriesRole = Qt.ItemDataRole.UserRole + 40
LINE_WIDTH = 64  # px of the line; the text takes the rest of the cell
LINE_COLOR = QColor("#2e86de")


def paint_sparkline(painter: QPainter, rect: QRectF, values: Sequence[float], color: QColor,
                    min_span: float) -> None:
    """The values as a line across ``rect``, the last one at its right edge, with a dot on it."""
    if len(values) < 2:
        return
    low, high = min(values), max(values)
    if high - low < min_span:
        middle = (high + low) / 2
        low, high = middle - min_span / 2, middle + min_span / 2
    step = rect.width() / (len(values) - 1)

    def point(i: int, value: float) -> QPointF:
        return QPointF(rect.left() + i * step, rect.bottom() - (value - low) / (high - low) * rect.height())

    path = QPainterPath(point(0, values[0]))
    for i, value in enumerate(values[1:], 1):
        path.lineTo(point(i, value))
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(QPen(color, 1.3))
    painter.setBrush(Qt.BrushStyle.NoBrush)
    painter.drawPath(path)
    painter.setBrush(color)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.drawEllipse(point(len(values) - 1, values[-1]), 1.8, 1.8)
    painter.restore()


class SparklineDelegate(QStyledItemDelegate):
    def __init__(self, min_span: float, sample_text: str = "9999 MB", parent=None):
        super().__init__(parent)
        self.min_span = min_span
        self.sample_text = sample_text  # the widest value expected: the column's width is set once

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index) -> None:
        self.initStyleOption(option, index)
        text = option.text
        option.text = ""
        style = option.widget.style() if option.widget is not None else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, option, painter, option.widget)  # background, selection
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        palette = option.palette
        text_color = palette.highlightedText().color() if selected else palette.text().color()
        rect = QRectF(option.rect).adjusted(defs.SMALL, defs.SMALL + 1, -defs.SMALL, -defs.SMALL - 1)
        values = index.data(SeriesRole) or ()
        if values:
            line = QRectF(rect.left(), rect.top(), min(LINE_WIDTH, rect.width() / 2), rect.height())
            color = text_color if selected else defs.readable(LINE_COLOR, palette.base().color())
            paint_sparkline(painter, line, values, color, self.min_span)
        painter.save()
        painter.setPen(text_color)
        painter.setFont(option.font)
        painter.drawText(rect, int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter), text)
        painter.restore()

    def sizeHint(self, option: QStyleOptionViewItem, index) -> QSize:
        size = super().sizeHint(option, index)
        return QSize(self.width(option), size.height())

    def width(self, option: QStyleOptionViewItem) -> int:
        return LINE_WIDTH + option.fontMetrics.horizontalAdvance(self.sample_text) + 4 * defs.SMALL + defs.SPACING
