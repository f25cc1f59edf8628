"""The services table: one row per service with its state badge, pid, uptime, restarts, memory
and CPU (with their sparklines), and Start / Stop / Restart buttons.

``ServiceTableModel`` reflects the stack controller (rows are its enabled services, including
the broker before its kind is known) and the window's ``ResourceMonitor`` (each running
process's tree: a worker with its pool processes); ``QtServiceTable`` shows it, painting the
state as a coloured badge and keeping one small button strip per row, every column as wide as
its content and the table as tall as its rows. Buttons call the controller, never a process.
"""

from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QPainter
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QSizePolicy, QStyledItemDelegate,
                               QStyleOptionViewItem, QTableView, QToolButton, QVBoxLayout, QWidget)

from celerydesk.core.commands import WORKER
from celerydesk.core.states import RUNNING_STATES, ProcessState, StackPhase
from celerydesk.core.worker_resources import SAMPLE_INTERVAL_S, format_bytes, format_percent
from celerydesk.ui import defs
from celerydesk.ui.sparkline import SeriesRole, SparklineDelegate

COLUMNS = ("Service", "State", "PID", "Uptime", "Restarts", "Memory", "CPU", "")
SERVICE, STATE, PID, UPTIME, RESTARTS, MEMORY, CPU, ACTIONS = range(len(COLUMNS))
MAX_VISIBLE_ROWS = 8  # more services than this scroll
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


def resources_tip(label: str, key: str, processes: int) -> str:
    what = "the worker and its pool processes" if key.startswith(f"{WORKER}-") else "the process and its children"
    return (f"{label}: the resident memory (RSS) of {processes} process(es), {what}, summed; CPU as a "
            f"percentage of one core. Sampled every {SAMPLE_INTERVAL_S:g} s; the line shows the last minutes.")


class ServiceTableModel(QAbstractTableModel):
    def __init__(self, stack, resources=None, parent=None):
        super().__init__(parent)
        self.stack = stack
        self.resources = resources  # a ResourceMonitor, or None: no memory and CPU shown
        self.keys = stack.enabled_keys()
        stack.serviceStateChanged.connect(self._on_changed)
        stack.serviceDetailsChanged.connect(self._on_changed)
        if resources is not None:
            resources.sampled.connect(self._on_sampled)
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
        if column in (MEMORY, CPU):
            return self._resource_data(key, column, role)
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

    def _resource_data(self, key: str, column: int, role):
        usage = self.resources.latest.get(key) if self.resources is not None else None
        if usage is None:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return format_bytes(usage.rss_bytes) if column == MEMORY else format_percent(usage.cpu_percent)
        if role == SeriesRole:
            history = self.resources.history(key)
            if column == MEMORY:
                return [u.rss_bytes for u in history]
            return [u.cpu_percent for u in history if u.cpu_percent is not None]
        if role == Qt.ItemDataRole.ToolTipRole:
            return resources_tip(self.stack.label(key), key, usage.processes)
        return None

    def row_of(self, key: str) -> int:
        return self.keys.index(key)

    def _on_sampled(self) -> None:
        if self.keys:
            self.dataChanged.emit(self.index(0, MEMORY), self.index(len(self.keys) - 1, CPU))

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

    def __init__(self, stack, resources=None, parent=None):
        super().__init__(parent)
        self.stack = stack
        self.model = ServiceTableModel(stack, resources, self)
        self.view = QTableView(self)
        self.view.setModel(self.model)
        self.view.setItemDelegateForColumn(STATE, StateBadgeDelegate(self.view))
        memory = SparklineDelegate(min_span=10e6, sample_text="999.9 MB", parent=self.view)  # 10 MB: a flat line
        cpu = SparklineDelegate(min_span=10.0, sample_text="100 %", parent=self.view)  # 10 points of a core
        self.view.setItemDelegateForColumn(MEMORY, memory)
        self.view.setItemDelegateForColumn(CPU, cpu)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.verticalHeader().hide()
        self.view.setShowGrid(False)
        self.view.setAlternatingRowColors(True)
        # Each column as wide as what it shows; what is left of the row goes to the buttons' cell,
        # whose strip keeps to its left. Memory and CPU have a fixed width, so that the columns do
        # not move as the figures change.
        header = self.view.horizontalHeader()
        for column in (SERVICE, STATE, PID, UPTIME, RESTARTS):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        option = QStyleOptionViewItem()
        option.initFrom(self.view)
        for column, delegate in ((MEMORY, memory), (CPU, cpu)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Fixed)
            header.resizeSection(column, delegate.width(option))
        header.setSectionResizeMode(ACTIONS, QHeaderView.ResizeMode.Stretch)
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
        if stack.ws.watch_only:  # "Watch again" follows the stack's phase
            stack.phaseChanged.connect(self._update_all_buttons)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view)
        # As tall as its rows (up to MAX_VISIBLE_ROWS), never taller: the logs below get the rest.
        visible_rows = max(1, min(len(self.model.keys), MAX_VISIBLE_ROWS))
        self.view.setFixedHeight(header.sizeHint().height() + 2 * self.view.frameWidth()
                                 + visible_rows * self.view.verticalHeader().defaultSectionSize())
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)

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
        actions = (("Start", self.stack.start_service), ("Stop", self.stack.stop_service),
                   ("Restart", self.stack.restart_service))
        if self.stack.ws.watch_only:  # its one row is the broker it watches: nothing to start or stop
            actions = (("Watch again", lambda _key: self.stack.start_all()),)
        for action, slot in actions:
            button = QToolButton(strip)
            button.setText(action)
            button.setToolTip(f"{action} {label}" if action != "Watch again" else
                              "Check the broker again, after it did not answer")
            button.setObjectName(f"{action.lower().replace(' ', '-')}-{key}")
            button.clicked.connect(lambda _=False, s=slot, k=key: s(k))
            layout.addWidget(button)
            buttons[action] = button
        layout.addStretch(1)  # the cell takes the row's spare width; the buttons stay together
        self.buttons[key] = buttons
        return strip

    def _update_buttons(self, key: str, *_) -> None:
        if key not in self.buttons:
            return
        state = self.stack.state(key)
        running = state in RUNNING_STATES
        if "Watch again" in self.buttons[key]:
            self.buttons[key]["Watch again"].setEnabled(self.stack.phase == StackPhase.IDLE)
            return
        self.buttons[key]["Start"].setEnabled(not running and state != ProcessState.STOPPING)
        self.buttons[key]["Stop"].setEnabled(running)
        self.buttons[key]["Restart"].setEnabled(state != ProcessState.STOPPING)

    def _update_all_buttons(self, *_) -> None:
        for key in self.buttons:
            self._update_buttons(key)

    def selected_key(self) -> str | None:
        index = self.view.currentIndex()
        return self.model.keys[index.row()] if index.isValid() else None

    def install_shortcuts(self, window) -> None:
        """Row shortcuts act on the selected service (none when the workspace only watches)."""
        from PySide6.QtGui import QShortcut

        if self.stack.ws.watch_only:
            return
        for sequence, slot in (("Ctrl+R", self.stack.restart_service), ("Ctrl+.", self.stack.stop_service),
                               ("Ctrl+Return", self.stack.start_service)):
            shortcut = QShortcut(QKeySequence(sequence), window)
            shortcut.activated.connect(lambda s=slot: self.selected_key() and s(self.selected_key()))
