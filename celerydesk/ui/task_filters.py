"""The Tasks page's filter row: state, task and worker choices, a search box, and how many
tasks the monitor keeps. It sets the table model's filters; the page keeps the selection."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QLineEdit, QSpinBox, QWidget

from celerydesk.core.task_store import STATES

ALL = "(all)"


class QtTaskFilters(QWidget):
    filtersChanged = Signal()  # the model was refiltered
    capacityChanged = Signal(int)

    def __init__(self, model, store, parent=None):
        super().__init__(parent)
        self.model = model
        self.store = store
        self.state_filter, self.name_filter, self.worker_filter = QComboBox(self), QComboBox(self), QComboBox(self)
        self.state_filter.addItems([ALL, *STATES])
        for combo, key in ((self.state_filter, "state"), (self.name_filter, "name"), (self.worker_filter, "worker")):
            combo.setProperty("filter_key", key)
            combo.currentTextChanged.connect(self._on_filter_changed)
        self.search = QLineEdit(self, placeholderText="search id, name, args, result ...")
        self.search.textChanged.connect(self._on_search)
        self.capacity = QSpinBox(self, minimum=100, maximum=1_000_000, singleStep=1000, value=store.capacity)
        self.capacity.setToolTip("How many recent tasks are kept")
        self.capacity.valueChanged.connect(self.capacityChanged)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        for label, widget in (("State", self.state_filter), ("Task", self.name_filter),
                              ("Worker", self.worker_filter), ("", self.search), ("Keep", self.capacity)):
            if label:
                row.addWidget(QLabel(label, self))
            row.addWidget(widget, 1 if widget is self.search else 0)

    def refresh_choices(self) -> None:
        """Task names and workers seen so far become choices (the current one stays chosen)."""
        for combo, values in ((self.name_filter, self.store.names()), (self.worker_filter, sorted(self.store.workers))):
            if combo.count() != len(values) + 1:
                current = combo.currentText()
                combo.blockSignals(True)
                combo.clear()
                combo.addItems([ALL, *values])
                combo.setCurrentText(current)
                combo.blockSignals(False)

    def _on_filter_changed(self, text: str) -> None:
        self.model.set_filter(self.sender().property("filter_key"), None if text == ALL else text)
        self.filtersChanged.emit()

    def _on_search(self, text: str) -> None:
        self.model.set_filter("search", text)
        self.filtersChanged.emit()
