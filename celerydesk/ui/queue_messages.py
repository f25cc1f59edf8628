"""The messages waiting in one queue, as a table: the Queues panel's lower half.

Only shows what it is given (``show``); the panel asks the broker service for them. One row per
message, in delivery order: the next a worker gets first.
"""

from __future__ import annotations

from typing import Optional

from PySide6.QtWidgets import QAbstractItemView, QTableWidget, QTableWidgetItem

from celerydesk.ui.workers_list import read_only_table

COLUMNS = ["#", "Task", "Args", "Kwargs", "ETA", "Priority", "Retries", "Id"]  # the long id last


class QtQueueMessages(QTableWidget):
    def __init__(self, parent=None):
        super().__init__(0, len(COLUMNS), parent)
        self.setHorizontalHeaderLabels(COLUMNS)
        read_only_table(self)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.messages: list = []

    def show_messages(self, messages: list) -> None:
        selected = self.selected()
        self.messages = list(messages)
        self.setRowCount(len(self.messages))
        for row, m in enumerate(self.messages):
            cells = (m.position, m.task or "?", m.args, m.kwargs, m.eta or "",
                     "" if m.priority is None else m.priority, "" if m.retries is None else m.retries, m.id or "")
            for column, value in enumerate(cells):
                item = QTableWidgetItem(str(value))
                item.setToolTip(str(value))
                self.setItem(row, column, item)
        for column in range(len(COLUMNS) - 1):  # the last one stretches
            self.resizeColumnToContents(column)
            self.setColumnWidth(column, min(self.columnWidth(column), 320))
        if selected is not None:  # the same message stays selected across refreshes
            for row, m in enumerate(self.messages):
                if m.id == selected.id:
                    self.selectRow(row)

    def selected(self) -> Optional[object]:
        row = self.currentRow()
        return self.messages[row] if 0 <= row < len(self.messages) and self.selectionModel().hasSelection() else None

    def ids(self) -> list[str]:
        return [m.id for m in self.messages]
