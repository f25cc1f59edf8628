"""The launch panel's task list: the project's tasks first, celery's own only when asked for,
a filter as you type, and Refresh (the panel reads the project again). The list is as wide as
its longest name (up to ``MAX_LIST_WIDTH``): task names are long, and it is how one tells them apart."""

from __future__ import annotations

from typing import Optional

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QHBoxLayout, QLineEdit, QListWidget, QListWidgetItem, QPushButton,
                               QVBoxLayout, QWidget)

NameRole = Qt.ItemDataRole.UserRole + 1
MAX_LIST_WIDTH = 480  # px: beyond it the list scrolls sideways, and the form keeps its room


class QtTaskPicker(QWidget):
    taskChosen = Signal(str)  # the user picked another task in the list
    refreshClicked = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.tasks: dict = {}
        self.filter_edit = QLineEdit(placeholderText="Filter tasks…", clearButtonEnabled=True)
        self.filter_edit.textChanged.connect(self._apply_filter)
        self.show_internal = QCheckBox("Show celery's internal tasks")
        self.show_internal.toggled.connect(self._fill)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(self.refreshClicked)
        self.task_list = QListWidget()
        self.task_list.currentItemChanged.connect(self._on_item)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        top = QHBoxLayout()
        top.addWidget(self.filter_edit, 1)
        top.addWidget(self.refresh_button)
        layout.addLayout(top)
        layout.addWidget(self.show_internal)
        layout.addWidget(self.task_list, 1)

    def set_tasks(self, tasks: dict) -> None:
        """``{name: TaskInfo}``; the list is refilled (the panel selects its task again)."""
        self.tasks = tasks
        self._fill()

    def _fill(self) -> None:
        current = self.current_name()
        self.task_list.blockSignals(True)
        self.task_list.clear()
        # The project's tasks first, celery's own after them, and only when asked for.
        for task in sorted(self.tasks.values(), key=lambda t: (t.internal, t.name)):
            if task.internal and not self.show_internal.isChecked():
                continue
            item = QListWidgetItem(task.name)
            item.setData(NameRole, task.name)
            item.setToolTip(f"{task.name}{task.signature()}")
            if task.internal:
                item.setForeground(self.palette().placeholderText())  # celery's own: muted
            self.task_list.addItem(item)
        self.task_list.blockSignals(False)
        self._fit_names()
        self._apply_filter(self.filter_edit.text())
        if current is not None:
            self.select(current)

    def _fit_names(self) -> None:
        names = (self.task_list.item(r).text() for r in range(self.task_list.count()))
        widest = max(map(self.task_list.fontMetrics().horizontalAdvance, names), default=0)
        chrome = 2 * self.task_list.frameWidth() + self.task_list.verticalScrollBar().sizeHint().width() + 16
        self.task_list.setMinimumWidth(min(widest + chrome, MAX_LIST_WIDTH))

    def _apply_filter(self, text: str) -> None:
        words = text.lower().split()
        for row in range(self.task_list.count()):
            item = self.task_list.item(row)
            item.setHidden(not all(w in item.text().lower() for w in words))

    def task_names(self, visible_only: bool = True) -> list[str]:
        items = (self.task_list.item(r) for r in range(self.task_list.count()))
        return [i.data(NameRole) for i in items if not (visible_only and i.isHidden())]

    def current_name(self) -> Optional[str]:
        item = self.task_list.currentItem()
        return item.data(NameRole) if item is not None else None

    def select(self, name: str) -> bool:
        """Make ``name`` the list's current row (celery's own tasks shown if it is one); quietly."""
        task = self.tasks.get(name)
        if task is None:
            return False
        if task.internal and not self.show_internal.isChecked():
            self.show_internal.setChecked(True)  # refills the list
        for row in range(self.task_list.count()):
            if self.task_list.item(row).data(NameRole) == name:
                self.task_list.blockSignals(True)
                self.task_list.setCurrentRow(row)
                self.task_list.blockSignals(False)
                return True
        return False

    def _on_item(self, item: Optional[QListWidgetItem], _previous=None) -> None:
        if item is not None:
            self.taskChosen.emit(item.data(NameRole))
