"""The services table: one row per service with its state badge, pid, uptime, restarts and
Start / Stop / Restart buttons.

``ServiceTableModel`` reflects the stack controller (rows are its enabled services, including
the broker before its kind is known); ``QtServiceTable`` shows it, painting the state as a
coloured badge and keeping one small button strip per row. Buttons call the controller, never
a process.
"""

from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QPainter
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QStyledItemDelegate,
                               QTableView, QToolButton, QVBoxLayout, QWidget)

from celerydesk.core.states import RUNNING_STATES, ProcessState
from celerydesk.ui import defs

COLUMNS = ("Service", "State", "PID", "Uptime", "Restarts", "")
SERVICE, STATE, PID, UPTIME, RESTARTS, ACTIONS = range(len(COLUMNS))
StateRole = Qt.ItemDataRole.UserRole + 1
KeyRole = Qt.ItemDataRole.UserRole + 2


def format_uptime(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


class ServiceTableModel(QAbstractTableModel):
    def __init__(self, stack, parent=None):
        super().__init__(parent)
        self.stack = stack
        self.keys = stack.enabled_keys()
        stack.serviceStateChanged.connect(self._on_changed)
        stack.serviceDetailsChanged.connect(self._on_changed)
        # Uptime moves every second; repaint only that column, only while something runs.
        self._clock = QTimer(self, interval=1000)
        self._clock.timeout.connect(self._tick)
        self._clock.start()

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.keys)

    def columnCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index: QModelIndex, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        key = self.keys[index.row()]
        service = self.stack.services.get(key)
        state = self.stack.state(key)
        column = index.column()
        if role == KeyRole:
            return key
        if role == StateRole:
            return state
        if role == Qt.ItemDataRole.ToolTipRole and column in (SERVICE, STATE) and service is not None:
            return service.supervision.message or None
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if column == SERVICE:
            return self.stack.label(key)
        if column == STATE:
            return state.name
        if service is None:
            return ""
        if column == PID:
            return str(service.pid) if service.pid else ""
        if column == UPTIME:
            return format_uptime(service.supervision.uptime()) if state in RUNNING_STATES else ""
        if column == RESTARTS:
            return str(service.supervision.restarts)
        return None

    def row_of(self, key: str) -> int:
        return self.keys.index(key)

    def _on_changed(self, key: str, *_):
        if key in self.keys:
            row = self.keys.index(key)
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))

    def _tick(self) -> None:
        if any(self.stack.state(k) in RUNNING_STATES for k in self.keys):
            self.dataChanged.emit(self.index(0, UPTIME), self.index(len(self.keys) - 1, UPTIME))


class StateBadgeDelegate(QStyledItemDelegate):
    """Paints the state as a rounded, coloured badge; BACKOFF and FATAL stand out."""

    def paint(self, painter: QPainter, option, index) -> None:
        state = index.data(StateRole)
        if state is None:
            return super().paint(painter, option, index)
        self.initStyleOption(option, index)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        text = state.name
        metrics = option.fontMetrics
        width = metrics.horizontalAdvance(text) + 2 * defs.SPACING + 2
        height = metrics.height() + 4
        rect = QRectF(option.rect.left() + defs.SMALL, option.rect.center().y() - height / 2 + 1, width, height)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(defs.STATE_COLORS[state])
        painter.drawRoundedRect(rect, height / 2, height / 2)
        painter.setPen(Qt.GlobalColor.white)
        font = option.font
        font.setBold(state in (ProcessState.BACKOFF, ProcessState.FATAL, ProcessState.EXITED))
        painter.setFont(font)
        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
        painter.restore()

    def sizeHint(self, option, index) -> QSize:
        size = super().sizeHint(option, index)
        return QSize(size.width() + 3 * defs.SPACING, size.height() + 6)


class QtServiceTable(QWidget):
    """The table plus a Start / Stop / Restart strip on each row."""

    selectedServiceChanged = Signal(str)

    def __init__(self, stack, parent=None):
        super().__init__(parent)
        self.stack = stack
        self.model = ServiceTableModel(stack, self)
        self.view = QTableView(self)
        self.view.setModel(self.model)
        self.view.setItemDelegateForColumn(STATE, StateBadgeDelegate(self.view))
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.verticalHeader().hide()
        self.view.setShowGrid(False)
        self.view.setAlternatingRowColors(True)
        header = self.view.horizontalHeader()
        header.setSectionResizeMode(SERVICE, QHeaderView.ResizeMode.Stretch)
        for column in (STATE, PID, UPTIME, RESTARTS, ACTIONS):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.buttons: dict[str, dict[str, QToolButton]] = {}
        for row, key in enumerate(self.model.keys):
            self.view.setIndexWidget(self.model.index(row, ACTIONS), self._button_strip(key))
            self._update_buttons(key)
        self.view.verticalHeader().setDefaultSectionSize(self.view.verticalHeader().defaultSectionSize() + 8)
        # The user's choice of row (a click, the arrow keys), not the current index Qt gives the
        # first row when the table takes the focus: that would switch the logs away from "All".
        self.view.selectionModel().selectionChanged.connect(self._on_selection_changed)
        # Bound methods, not lambdas: Qt drops the connection when this widget is deleted.
        stack.serviceStateChanged.connect(self._update_buttons)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view)
        visible_rows = min(len(self.model.keys), 8)
        self.view.setMinimumHeight(header.sizeHint().height() +
                                   visible_rows * self.view.verticalHeader().defaultSectionSize() + 4)

    def _on_selection_changed(self, selected, _deselected) -> None:
        rows = sorted({index.row() for index in selected.indexes()})
        if rows:
            self.selectedServiceChanged.emit(self.model.keys[rows[0]])

    def _button_strip(self, key: str) -> QWidget:
        strip = QWidget()
        layout = QHBoxLayout(strip)
        layout.setContentsMargins(defs.SMALL, 0, defs.SMALL, 0)
        layout.setSpacing(defs.SMALL)
        label = self.stack.label(key)
        buttons = {}
        for action, slot in (("Start", self.stack.start_service), ("Stop", self.stack.stop_service),
                             ("Restart", self.stack.restart_service)):
            button = QToolButton(strip)
            button.setText(action)
            button.setToolTip(f"{action} {label}")
            button.setObjectName(f"{action.lower()}-{key}")
            button.clicked.connect(lambda _=False, s=slot, k=key: s(k))
            layout.addWidget(button)
            buttons[action] = button
        self.buttons[key] = buttons
        return strip

    def _update_buttons(self, key: str, *_) -> None:
        if key not in self.buttons:
            return
        state = self.stack.state(key)
        running = state in RUNNING_STATES
        self.buttons[key]["Start"].setEnabled(not running and state != ProcessState.STOPPING)
        self.buttons[key]["Stop"].setEnabled(running)
        self.buttons[key]["Restart"].setEnabled(state != ProcessState.STOPPING)

    def selected_key(self) -> str | None:
        index = self.view.currentIndex()
        return self.model.keys[index.row()] if index.isValid() else None

    def install_shortcuts(self, window) -> None:
        """Row shortcuts act on the selected service."""
        from PySide6.QtGui import QShortcut

        for sequence, slot in (("Ctrl+R", self.stack.restart_service), ("Ctrl+.", self.stack.stop_service),
                               ("Ctrl+Return", self.stack.start_service)):
            shortcut = QShortcut(QKeySequence(sequence), window)
            shortcut.activated.connect(lambda s=slot: self.selected_key() and s(self.selected_key()))
