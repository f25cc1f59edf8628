"""The log pane: one tab per service plus "All", live, coloured, searchable, bounded.

:class:`QtLogsWidget` is what the main window embeds: built from a StackController, it replays
each service's kept ``history``, then follows ``stack.linesReceived`` (Frescobaldi's job log:
replay, then follow). :class:`QtLogPane` is one tab: a toolbar (search, minimum level, the
task-id chip, follow/pause, copy, open the log file) over a list view.

Smooth under a flood because nothing here is per line: rows have one uniform height, so the
view asks the delegate to paint only the rows on screen; colours, ANSI spans and task-id
positions are worked out for those rows only, at paint time, and cached; lines reach the model
in per-frame batches (``ui.log_model.LogFeed``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional, Union

from PySide6.QtCore import QModelIndex, QPoint, QPointF, QRect, QRectF, QSize, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QFont, QFontMetricsF, QGuiApplication, QKeySequence, QPainter
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QTableView,
                               QStyle, QStyledItemDelegate, QStyleOptionViewItem, QTabWidget, QToolButton,
                               QVBoxLayout, QWidget)

from celerydesk.core.logparse import DEBUG, ERROR, INFO, LEVEL_NAMES, WARNING, CRITICAL, ansi_spans, task_id_spans
from celerydesk.ui import defs
from celerydesk.ui.log_model import CHANNEL, KEY, LEVEL, PLAIN, SYSTEM, TEXT, LogFeed, LogModel

PAD = 4  # pixels left of the text
LEVEL_CHOICES = [("All levels", 0), ("Debug and up", DEBUG), ("Info and up", INFO),
                 ("Warnings and up", WARNING), ("Errors and up", ERROR), ("Critical only", CRITICAL)]
PathSource = Union[None, Path, Callable[[], Path]]


class LogDelegate(QStyledItemDelegate):
    """Paints one line: level colour, ANSI colours, task ids as links, a service tag when combined."""

    CACHE_SIZE = 1024  # a few screenfuls

    def __init__(self, view: "LogLinesView"):
        super().__init__(view)
        self.view = view
        self._cache: dict[str, tuple] = {}  # text -> (ANSI spans or None, task-id spans)
        self.set_font(view.font())

    def set_font(self, font: QFont) -> None:
        self.font = QFont(font)
        self.bold = QFont(font)
        self.bold.setBold(True)
        self.metrics = QFontMetricsF(self.font)
        self.char_width = self.metrics.horizontalAdvance("M")
        self.row_height = int(self.metrics.height()) + 2

    def advance(self, text: str) -> float:
        # A monospaced font: ASCII needs no measuring (measuring costs as much as drawing).
        return len(text) * self.char_width if text.isascii() else self.metrics.horizontalAdvance(text)

    def tag_width(self) -> int:
        """Width of the service tag column of a combined pane (the longest key, and a gap)."""
        model = self.view.model()
        if not model.combined:
            return 0
        return int(self.char_width * (max(map(len, model.sources), default=6) + 2))

    def sizeHint(self, option, index) -> QSize:
        # Every row alike (the view's sections are fixed): as wide as the longest line.
        chars = min(self.view.model().max_chars, defs.LOG_MAX_PAINTED_CHARS)
        return QSize(self.tag_width() + PAD * 2 + int(self.char_width * chars) + 1, self.row_height)

    def parts(self, text: str, plain: str) -> tuple:
        """ANSI spans (None for a line without escapes) and task-id spans, computed once per line."""
        found = self._cache.get(text)
        if found is None:
            if len(self._cache) >= self.CACHE_SIZE:
                self._cache.clear()  # rows on screen are re-parsed on the next paint: cheap
            spans = tuple(ansi_spans(text)) if ("\x1b" in text or "\r" in text) else None
            # Tuples, not lists: Python stops tracking a tuple of plain values, so cached
            # entries do not pile up for (costly, ~30 ms in a PySide process) full collections.
            found = self._cache[text] = (spans, tuple(task_id_spans(plain)))
        return found

    def text_left(self, rect: QRect) -> int:
        return rect.left() + PAD + self.tag_width()

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        model = self.view.model()
        record = model.record(index.row())
        rect = option.rect
        palette = option.palette
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        background = palette.base().color()  # colours made for a light one are adjusted to it
        if selected:
            painter.fillRect(rect, palette.highlight())
            base = palette.highlightedText().color()
        elif record[CHANNEL] == SYSTEM:
            base = defs.readable(defs.SYSTEM_LINE_COLOR, background)
        else:
            level = defs.LEVEL_COLORS.get(LEVEL_NAMES.get(record[LEVEL], "INFO"))
            base = defs.readable(level, background) if level is not None else palette.text().color()
        painter.setFont(self.font)
        metrics = self.metrics
        baseline = rect.top() + (rect.height() - metrics.height()) / 2 + metrics.ascent()
        if model.combined:
            painter.setPen(base if selected else defs.readable(self.view.tag_color(record[KEY]), background))
            painter.drawText(QPointF(rect.left() + PAD, baseline), record[KEY])
        left = self.text_left(rect)
        plain = record[PLAIN][:defs.LOG_MAX_PAINTED_CHARS]
        spans, ids = self.parts(record[TEXT], record[PLAIN])
        if ids and ids[-1][1] > len(plain):
            ids = tuple((start, end) for start, end in ids if end <= len(plain))
        link = base if selected else defs.readable(defs.TASK_ID_COLOR, background)
        if spans is None:  # the common case: one colour, task ids as links
            self._paint_plain(painter, left, baseline, plain, ids, base, link)
        else:
            self._paint_ansi(painter, rect, left, baseline, spans, base, selected, background)
            painter.setPen(link)
            for start, end in ids:  # escapes are gone from plain: its offsets are the painted ones
                x = left + self.advance(plain[:start])
                painter.drawLine(QPointF(x, baseline + 2), QPointF(x + self.advance(plain[start:end]), baseline + 2))

    def _paint_plain(self, painter: QPainter, left: float, baseline: float, plain: str, ids, base, link) -> None:
        # Only the columns inside the viewport are drawn (a narrow pane shows part of a line).
        lo, hi = 0, len(plain)
        if plain.isascii():
            lo = max(0, int(-left / self.char_width) - 1)
            hi = min(hi, int((self.view.viewport().width() - left) / self.char_width) + 2)
        pos = lo
        for start, end in ids + ((hi, hi),):
            start, end = max(start, lo), min(end, hi)
            if start > pos:
                painter.setPen(base)
                painter.drawText(QPointF(left + self.advance(plain[:pos]), baseline), plain[pos:start])
            if end > start:
                x = left + self.advance(plain[:start])
                painter.setPen(link)
                painter.drawText(QPointF(x, baseline), plain[start:end])
                painter.drawLine(QPointF(x, baseline + 2), QPointF(x + self.advance(plain[start:end]), baseline + 2))
            pos = max(pos, end)

    def _paint_ansi(self, painter: QPainter, rect: QRect, x: float, baseline: float, spans, base, selected,
                    background) -> None:
        for chunk, style in spans:
            width = self.advance(chunk)
            if style.bg is not None and not selected:
                painter.fillRect(QRectF(x, rect.top(), width, rect.height()), defs.ansi_color(style.bg))
            painter.setFont(self.bold if style.bold else self.font)
            if selected or style.fg is None:
                pen = base
            else:  # on its own background the program chose both colours; on the pane's, it did not
                fg = defs.ansi_color(style.fg)
                pen = fg if style.bg is not None else defs.readable(fg, background)
            painter.setPen(pen)
            painter.drawText(QPointF(x, baseline), chunk)
            x += width

    def task_id_at(self, index: QModelIndex, rect: QRect, x: int) -> Optional[str]:
        record = self.view.model().record(index.row())
        plain = record[PLAIN]
        _, ids = self.parts(record[TEXT], plain)
        left = self.text_left(rect)
        for start, end in ids:
            x0 = left + self.advance(plain[:start])
            if x0 <= x < x0 + self.advance(plain[start:end]):
                return plain[start:end]
        return None


class LogLinesView(QTableView):
    """A one-column QTableView of log lines: task ids clickable, user scrolling reported.

    A table, not a QListView: QListView lays out every row again on each insertion (its
    ``uniformItemSizes`` only saves the size queries), calling the Python model once per row;
    the flood benchmark ran at ~6k lines/s with it, ~47k with this (50,000 lines each). A
    table with fixed-size header sections never walks its rows: it paints those on screen.
    """

    taskIdClicked = Signal(str)
    userScrolled = Signal()  # by key, wheel or scroll bar: follow or pause from where it ended
    copyRequested = Signal()  # Ctrl+C: all selected lines, not only the current one as Qt would

    def __init__(self, model: LogModel, parent=None):
        super().__init__(parent)
        self.setFont(defs.monospace_font())
        self._tag_colors: dict[str, object] = {}
        self.setModel(model)
        self.delegate = LogDelegate(self)
        self.setItemDelegate(self.delegate)
        rows = self.verticalHeader()
        rows.hide()
        rows.setMinimumSectionSize(1)
        rows.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)  # uniform rows: no per-row sizing
        rows.setDefaultSectionSize(self.delegate.row_height)
        columns = self.horizontalHeader()
        columns.hide()
        columns.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.setShowGrid(False)
        self.setCornerButtonEnabled(False)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerItem)  # value = top row
        self.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setWordWrap(False)
        self.setMouseTracking(True)  # the hand cursor over task ids
        self._over_link = False
        self._width_for: tuple = ()
        for signal in (model.rowsInserted, model.modelReset):
            signal.connect(self._fit_width)
        # actionTriggered comes before the new position is applied: look once it is.
        self.verticalScrollBar().actionTriggered.connect(lambda _: QTimer.singleShot(0, self.userScrolled.emit))

    def tag_color(self, key: str):
        color = self._tag_colors.get(key)
        if color is None:
            color = self._tag_colors[key] = defs.service_tag_color(key)
        return color

    def _fit_width(self, *_) -> None:
        """The one column is as wide as the longest line (or the view), for horizontal scrolling."""
        model = self.model()
        if model is None:  # resized before it has a model (during construction)
            return
        key = (model.max_chars, len(model.sources), self.viewport().width())
        if key != self._width_for:
            self._width_for = key
            self.setColumnWidth(0, max(self.delegate.sizeHint(None, None).width(), self.viewport().width()))

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit_width()

    def currentChanged(self, current: QModelIndex, previous: QModelIndex) -> None:
        # When the current line leaves with the oldest ones, Qt moves the current index to the
        # new first row and scrolls there: the reader would be thrown to the top.
        if not self.model().removing:
            super().currentChanged(current, previous)
            return
        self.setAutoScroll(False)
        try:
            super().currentChanged(current, previous)
        finally:
            self.setAutoScroll(True)

    def task_id_at(self, pos: QPoint) -> Optional[str]:
        index = self.indexAt(pos)
        if not index.isValid():
            return None
        return self.delegate.task_id_at(index, self.visualRect(index), pos.x())

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton and not event.modifiers():
            task_id = self.task_id_at(event.position().toPoint())
            if task_id:
                self.taskIdClicked.emit(task_id)
                return  # a link click does not select
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event) -> None:
        over_link = not event.buttons() and self.task_id_at(event.position().toPoint()) is not None
        if over_link != self._over_link:
            self._over_link = over_link
            self.viewport().setCursor(Qt.CursorShape.PointingHandCursor if over_link else Qt.CursorShape.ArrowCursor)
        super().mouseMoveEvent(event)

    def keyPressEvent(self, event) -> None:
        if event.matches(QKeySequence.StandardKey.Copy):
            self.copyRequested.emit()
            return
        super().keyPressEvent(event)
        self.userScrolled.emit()

    def wheelEvent(self, event) -> None:
        super().wheelEvent(event)
        self.userScrolled.emit()


class QtLogPane(QWidget):
    """One log tab: toolbar over a :class:`LogLinesView` of ``model``.

    ``log_path`` (a path, or a callable giving one) is what "Open log file" opens. Filters:
    ``set_search``, ``set_min_level``, ``set_task_filter``, ``clear_filters``; following:
    ``set_follow``, ``following``; ``copy_selection``, ``open_log_file``.
    """

    taskIdClicked = Signal(str)  # also applied as this pane's task filter
    followChanged = Signal(bool)

    def __init__(self, model: LogModel, log_path: PathSource = None, parent=None):
        super().__init__(parent)
        self.model = model
        self._log_path = log_path
        self._follow = True
        self.view = LogLinesView(model, self)
        self.view.taskIdClicked.connect(self._on_task_id_clicked)
        self.view.userScrolled.connect(self._on_user_scrolled)
        self.view.copyRequested.connect(self.copy_selection)
        self.view.verticalScrollBar().rangeChanged.connect(self._on_range_changed)
        model.rowsRemoved.connect(self._on_rows_removed)
        self._count_timer = QTimer(self, singleShot=True, interval=250)  # a counter need not run at frame rate
        self._count_timer.timeout.connect(self._update_count)
        for signal in (model.rowsInserted, model.rowsRemoved, model.modelReset):
            signal.connect(self._schedule_count)

        self.search_box = QLineEdit(self, placeholderText="Search", clearButtonEnabled=True)
        self._search_timer = QTimer(self, singleShot=True, interval=150)  # refilter once typing pauses
        self._search_timer.timeout.connect(lambda: self.set_search(self.search_box.text()))
        self.search_box.textChanged.connect(lambda _: self._search_timer.start())
        self.level_box = QComboBox(self)
        for label, level in LEVEL_CHOICES:
            self.level_box.addItem(label, level)
        self.level_box.currentIndexChanged.connect(lambda i: self.set_min_level(self.level_box.itemData(i)))
        self.task_chip = QToolButton(self, toolTip="Showing one task's lines; click to show all again")
        self.task_chip.clicked.connect(lambda: self.set_task_filter(""))
        self.task_chip.hide()
        self.count_label = QLabel(self)
        self.follow_button = QToolButton(self, text="Follow", checkable=True, checked=True,
                                         toolTip="Keep the newest line in view (scrolling up pauses)")
        self.follow_button.toggled.connect(self.set_follow)
        self.copy_button = QToolButton(self, text="Copy", toolTip="Copy the selected lines (Ctrl+C)")
        self.copy_button.clicked.connect(self.copy_selection)
        self.open_button = QToolButton(self, text="Open log file",
                                       toolTip="The full log on disk (this pane keeps only the newest lines)")
        self.open_button.clicked.connect(self.open_log_file)
        self.open_button.setEnabled(log_path is not None)

        bar = QHBoxLayout()
        bar.setSpacing(defs.SPACING)
        bar.addWidget(self.search_box, 1)
        for widget in (self.level_box, self.task_chip, self.count_label):
            bar.addWidget(widget)
        bar.addStretch(0)
        for widget in (self.follow_button, self.copy_button, self.open_button):
            bar.addWidget(widget)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, defs.SMALL, 0, 0)
        layout.setSpacing(defs.SMALL)
        layout.addLayout(bar)
        layout.addWidget(self.view, 1)
        self._update_count()

    # -- filters --------------------------------------------------------------------------------

    def set_search(self, text: str) -> None:
        if self.search_box.text() != text:
            self.search_box.setText(text)
        self._search_timer.stop()
        if text != self.model.search:
            self.model.set_filter(search=text)

    def set_min_level(self, level: int) -> None:
        self.level_box.setCurrentIndex(max(0, self.level_box.findData(level)))
        if level != self.model.min_level:
            self.model.set_filter(min_level=level)

    def set_task_filter(self, task_id: str) -> None:
        """Show only lines mentioning ``task_id`` ("" shows all again)."""
        self.task_chip.setText(f"task {task_id[:8]}…  ✕" if len(task_id) > 9 else f"task {task_id}  ✕")
        self.task_chip.setVisible(bool(task_id))
        if task_id != self.model.task_id:
            self.model.set_filter(task_id=task_id)

    def clear_filters(self) -> None:
        self.search_box.setText("")
        self.set_min_level(0)
        self.set_task_filter("")
        self.set_search("")

    def _on_task_id_clicked(self, task_id: str) -> None:
        self.set_task_filter(task_id)
        self.taskIdClicked.emit(task_id)

    # -- follow / pause -------------------------------------------------------------------------

    def following(self) -> bool:
        return self._follow

    def set_follow(self, follow: bool) -> None:
        if follow != self._follow:
            self._follow = follow
            self.follow_button.setChecked(follow)
            self.follow_button.setText("Follow" if follow else "Paused")
            self.followChanged.emit(follow)
        if follow:
            self.view.scrollToBottom()

    def _on_range_changed(self, _low: int, high: int) -> None:
        bar = self.view.verticalScrollBar()
        if self._follow and not bar.isSliderDown():  # never tug the handle out of the user's hand
            bar.setValue(high)

    def _on_user_scrolled(self) -> None:
        bar = self.view.verticalScrollBar()
        self.set_follow(bar.sliderPosition() >= bar.maximum())  # up pauses, back at the end follows

    def _on_rows_removed(self, _parent, first: int, last: int) -> None:
        # Old lines leaving the top would slide what a paused reader looks at: hold it still.
        if not self._follow and first == 0:
            bar = self.view.verticalScrollBar()
            bar.setValue(max(0, bar.value() - (last + 1)))

    def _schedule_count(self, *_) -> None:
        if not self._count_timer.isActive():
            self._count_timer.start()

    def _update_count(self) -> None:
        shown, held = self.model.rowCount(), self.model.stored_count()
        self.count_label.setText(f"{shown:,} of {held:,} lines" if self.model.is_filtered() else f"{held:,} lines")

    # -- copy, open -----------------------------------------------------------------------------

    def copy_selection(self) -> str:
        """Copy the selected lines (plain text, in order) to the clipboard; returns the text."""
        rows = sorted(index.row() for index in self.view.selectionModel().selectedIndexes())
        text = "\n".join(self.model.line_text(self.model.record(row)) for row in rows)
        if text:
            QGuiApplication.clipboard().setText(text)
        return text

    def log_path(self) -> Optional[Path]:
        source = self._log_path
        return source() if callable(source) else source

    def open_log_file(self) -> bool:
        path = self.log_path()
        if path is None:
            return False
        return QDesktopServices.openUrl(QUrl.fromLocalFile(str(path)))


class QtLogsWidget(QWidget):
    """A tab per service and one for all of them ("All" first), fed from a StackController.

    ``show_service(key)`` selects a service's tab (the services table calls it); ``pane(key)``
    and ``combined_pane()`` give the tabs; ``feed`` holds the models. ``stack`` needs ``services`` (key -> service with an optional ``history``), ``label(key)``,
    ``runtime.log_path(key)`` and ``runtime.logs_dir``, and the signals ``linesReceived`` and
    ``servicesChanged``.
    """

    ALL = "all"

    def __init__(self, stack, capacity: int = defs.LOG_CAPACITY, parent=None):
        super().__init__(parent)
        self.stack = stack
        self.feed = LogFeed(capacity, parent=self)
        self.tabs = QTabWidget(self)
        self.tabs.setDocumentMode(True)
        self._panes: dict[str, QtLogPane] = {}
        self._services: dict[str, object] = {}  # key -> the service object whose history we replayed
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tabs)
        logs_dir = getattr(stack.runtime, "logs_dir", None)
        self._panes[self.ALL] = QtLogPane(self.feed.combined, logs_dir, self)
        self.tabs.addTab(self._panes[self.ALL], "All")
        self._on_services_changed()  # replay what each service kept ...
        stack.linesReceived.connect(self.feed.add_lines)  # ... then follow
        stack.servicesChanged.connect(self._on_services_changed)

    def pane(self, key: str) -> QtLogPane:
        return self._panes[key]

    def combined_pane(self) -> QtLogPane:
        return self._panes[self.ALL]

    def keys(self) -> list[str]:
        """The services with a tab, in tab order."""
        order = {self.tabs.widget(i): i for i in range(self.tabs.count())}
        return sorted((key for key in self._panes if key != self.ALL), key=lambda key: order[self._panes[key]])

    def show_service(self, key: str) -> None:
        pane = self._panes.get(key)
        if pane is not None:
            self.tabs.setCurrentWidget(pane)

    def _on_services_changed(self) -> None:
        services = dict(self.stack.services)
        # The enabled services have a tab before they exist (the broker is built at start), so
        # the services table can show any of them; then the service objects as they come.
        enabled = getattr(self.stack, "enabled_keys", lambda: [])()
        wanted = list(dict.fromkeys([*enabled, *services]))
        for key in [k for k in self.keys() if k not in wanted]:
            pane = self._panes.pop(key)
            self.tabs.removeTab(self.tabs.indexOf(pane))
            pane.deleteLater()
            self._services.pop(key, None)
            self.feed.forget(key)
        for position, key in enumerate(wanted, start=1):
            if key not in self._panes:
                pane = self._panes[key] = QtLogPane(self.feed.model(key), self._path_of(key), self)
                self.tabs.insertTab(position, pane, self.stack.label(key))
            service = services.get(key)
            if service is not None and self._services.get(key) is not service:
                # A new object (the broker is rebuilt at start): show what it kept, then follow.
                self._services[key] = service
                self.feed.replay(key, getattr(service, "history", ()))

    def _path_of(self, key: str) -> Callable[[], Path]:
        return lambda: self.stack.runtime.log_path(key)
