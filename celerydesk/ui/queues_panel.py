"""The Tasks page's queues: how many messages wait in each (from the window's one depth poll),
and Purge, after a confirmation, through the broker service."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QPushButton, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from celerydesk.ui.workers_list import read_only_table


class QtQueuesPanel(QWidget):
    def __init__(self, context, parent=None):
        super().__init__(parent)
        self.broker = context.broker
        self.depths = context.depths
        self._depths: dict[str, int] = {}
        self.table = read_only_table(QTableWidget(0, 2, self))
        self.table.setHorizontalHeaderLabels(["Queue", "Waiting"])
        self.purge_button = QPushButton("Purge queue…", self)
        self.purge_button.clicked.connect(self._on_purge)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.table)
        layout.addWidget(self.purge_button)
        self.depths.depthsChanged.connect(self.show_depths)
        self.broker.purged.connect(self._on_purged)
        if self.depths.latest:
            self.show_depths(self.depths.latest)

    def show_depths(self, depths: dict) -> None:
        self._depths = depths
        self.table.setRowCount(len(depths))
        for row, (queue, count) in enumerate(sorted(depths.items())):
            self.table.setItem(row, 0, QTableWidgetItem(queue))
            self.table.setItem(row, 1, QTableWidgetItem(str(count)))

    def selected_queue(self):
        row = self.table.currentRow()
        return self.table.item(row, 0).text() if row >= 0 else None

    def _on_purge(self) -> None:
        queue = self.selected_queue()
        if queue is None:
            return
        answer = QMessageBox.question(self, "Purge queue",
                                      f"Delete the {self._depths.get(queue, 0)} waiting messages of {queue!r}? "
                                      f"They cannot be brought back.")
        if answer == QMessageBox.StandardButton.Yes:
            self.broker.purge(queue)

    def _on_purged(self, _queue: str, _count: int) -> None:
        self.depths.poll()
