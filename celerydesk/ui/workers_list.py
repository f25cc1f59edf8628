"""The Tasks page's workers list: every worker the events show, this stack's or remote, online
or offline, with its active and processed counts."""

from __future__ import annotations

import socket

from PySide6.QtWidgets import QAbstractItemView, QTableWidget, QTableWidgetItem

from celerydesk.core import commands

COLUMNS = ["Worker", "Where", "Status", "Active", "Processed"]


def read_only_table(table: QTableWidget) -> QTableWidget:
    table.verticalHeader().hide()
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.horizontalHeader().setStretchLastSection(True)
    return table


class QtWorkersList(QTableWidget):
    def __init__(self, stack, store, parent=None):
        super().__init__(0, len(COLUMNS), parent)
        self.stack = stack
        self.store = store
        self.setHorizontalHeaderLabels(COLUMNS)
        read_only_table(self)

    def refresh(self) -> None:
        own_pids = {s.pid for s in self.stack.services.values()
                    if getattr(s, "kind", None) == commands.WORKER and s.pid}
        workers = sorted(self.store.workers.values(), key=lambda w: w.hostname)
        this_host = socket.gethostname()
        self.setRowCount(len(workers))
        for row, w in enumerate(workers):
            # One of our children: its pid and this machine's name (a pid alone may repeat elsewhere).
            ours = w.pid in own_pids and w.hostname.rpartition("@")[2] == this_host
            where = "this stack" if ours else "remote"
            status = "online" if w.alive() else "offline"
            for column, text in enumerate((w.hostname, where, status, w.active, w.processed)):
                self.setItem(row, column, QTableWidgetItem("" if text is None else str(text)))

    def rows(self) -> list[tuple[str, str, str]]:
        """(hostname, where, status) of each row."""
        return [tuple(self.item(r, c).text() for c in range(3)) for r in range(self.rowCount())]
