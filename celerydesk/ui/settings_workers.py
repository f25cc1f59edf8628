"""The Workers page of the settings dialog: one row per ``[[workers]]`` table.

Rows remember the name the worker had in the file, so a rename edits that table (its comments
and unknown keys stay) and a removed row removes exactly that table. New rows are appended,
so the rows and the file's tables stay in the same order and a validation problem about
``[[workers]] #N`` points at row N.
"""

from __future__ import annotations

import re
from typing import Optional

from PySide6.QtCore import QEvent
from PySide6.QtWidgets import (QHeaderView, QLineEdit, QPushButton, QSpinBox, QTableWidget,
                               QVBoxLayout, QWidget)

from celerydesk.core import limits
from celerydesk.core.workspace import LOG_LEVELS, POOLS, WorkerConfig
from celerydesk.core.workspace_edit import WorkspaceDocument
from celerydesk.ui.settings_pages import buttons_row, combo, hint_label

NAME, CONCURRENCY, POOL, QUEUES, LOGLEVEL = range(5)
COLUMNS = ("Name", "Concurrency", "Pool", "Queues", "Log level")
KEYS = ("name", "concurrency", "pool", "queues", "loglevel")
_PROBLEM = re.compile(r'^\[\[workers\]\] #(\d+)(?: "[^"]*")?(?: (\w+))?')


class QtWorkersPage(QWidget):
    """Add, remove and edit workers: name, concurrency, pool, queues (comma-separated), log level."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(QUEUES, QHeaderView.ResizeMode.Stretch)
        self.add_button, self.remove_button = QPushButton("Add worker"), QPushButton("Remove worker")
        self.add_button.clicked.connect(lambda: self.add_row(self._free_name(), WorkerConfig(), None))
        self.remove_button.clicked.connect(self._remove_current)
        layout = QVBoxLayout(self)
        layout.addWidget(hint_label("One `celery worker` process per row. Queues are comma-separated; "
                                    "a worker needs at least one."))
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons_row(self.add_button, self.remove_button))
        self._initial: list = []
        self._originals: list[Optional[str]] = []  # per row: the worker's name in the file, None if new

    # -- rows ------------------------------------------------------------------------------------

    def load(self, doc: WorkspaceDocument) -> None:
        self.table.setRowCount(0)
        self._originals = []
        workers = doc.workers()
        defaults = WorkerConfig()
        self._initial = []
        for worker in workers:
            name = worker.get("name", "")
            config = WorkerConfig(**{k: worker[k] for k in KEYS[1:] if k in worker and _shown(k, worker[k])})
            self.add_row(str(name), config, name)
            # What the file holds, not what the row shows: a value the row could not show (a
            # concurrency of 0) differs from the row, so OK writes what the user saw.
            self._initial.append((name, {"name": name, **{k: worker.get(k, getattr(defaults, k)) for k in KEYS[1:]}}))
        if not workers:  # the file names none: the loader runs one default worker, shown as new
            self.add_row(defaults.name, defaults, None)
            self._initial = self.rows()

    def add_row(self, name: str, config: WorkerConfig, original: Optional[str]) -> None:
        row = self.table.rowCount()
        self.table.insertRow(row)
        self._originals.append(original)
        concurrency = QSpinBox()
        # The widest range of any pool: OK checks the row's own pool's with the loader's rules.
        concurrency.setRange(1, int(max(bounds.high for bounds in limits.CONCURRENCY.values())))
        concurrency.setValue(config.concurrency)
        cells = {NAME: QLineEdit(name), CONCURRENCY: concurrency, POOL: combo(POOLS, config.pool),
                 QUEUES: QLineEdit(", ".join(config.queues)), LOGLEVEL: combo(LOG_LEVELS, config.loglevel)}
        for column, widget in cells.items():
            if isinstance(widget, QLineEdit):
                widget.setFrame(False)  # inside a table cell a frame doubles the grid line
            widget.installEventFilter(self)
            self.table.setCellWidget(row, column, widget)
        self.table.setRowHeight(row, max(self.table.rowHeight(row), concurrency.sizeHint().height() + 2))
        self.remove_button.setEnabled(self.table.rowCount() > 1)
        if original is None and self.isVisible():
            cells[NAME].setFocus()
            cells[NAME].selectAll()

    def eventFilter(self, watched, event) -> bool:
        # Typing in a cell's widget does not make its row current: do it, so the row is
        # highlighted and "Remove worker" removes the row the user was editing.
        if event.type() == QEvent.Type.FocusIn:
            for row in range(self.table.rowCount()):
                for column in range(len(COLUMNS)):
                    if self.table.cellWidget(row, column) is watched:
                        self.table.setCurrentCell(row, column)
        return False

    def _remove_current(self) -> None:
        row = self.table.currentRow()
        row = row if row >= 0 else self.table.rowCount() - 1
        if self.table.rowCount() > 1:  # with none the loader runs a default worker: keep one, visibly
            self.table.removeRow(row)
            del self._originals[row]
        self.remove_button.setEnabled(self.table.rowCount() > 1)

    def _free_name(self) -> str:
        names = {self.cell(r, NAME).text().strip() for r in range(self.table.rowCount())}
        return next(f"worker{i}" for i in range(2, 1000) if f"worker{i}" not in names)

    def cell(self, row: int, column: int) -> QWidget:
        return self.table.cellWidget(row, column)

    def rows(self) -> list:
        """(original name, {key: value}) per row, values as the file would hold them."""
        result = []
        for row in range(self.table.rowCount()):
            queues = [q.strip() for q in self.cell(row, QUEUES).text().split(",") if q.strip()]
            values = {"name": self.cell(row, NAME).text().strip(), "concurrency": self.cell(row, CONCURRENCY).value(),
                      "pool": self.cell(row, POOL).currentText(), "queues": queues,
                      "loglevel": self.cell(row, LOGLEVEL).currentText()}
            result.append((self._originals[row], values))
        return result

    # -- the dialog's protocol -----------------------------------------------------------------------

    def form_problems(self) -> list[str]:
        problems, seen = [], set()
        for index, (_original, values) in enumerate(self.rows(), 1):
            if values["name"] in seen:
                problems.append(f'[[workers]] #{index} "{values["name"]}" name: another worker is already '
                                f'called {values["name"]!r}; names must be unique')
            seen.add(values["name"])
        return problems

    def apply(self, doc: WorkspaceDocument) -> None:
        rows = self.rows()
        if rows == self._initial:
            return
        initial = {original: values for original, values in self._initial if original is not None}
        kept = {original for original, _ in rows if original is not None}
        for name in initial:
            if name not in kept:
                doc.remove_worker(name)
        # Only what changed, so keys the file never named (pool = "prefork") are not added.
        changes = {original: {k: v for k, v in values.items() if v != initial[original][k]}
                   for original, values in rows if original is not None}
        doc.update_workers({name: change for name, change in changes.items() if change})
        defaults = WorkerConfig()
        for original, values in rows:
            if original is None:
                doc.add_worker(values["name"], **{k: v for k, v in values.items() if k != "name" and (
                    k in ("concurrency", "queues") or v != getattr(defaults, k))})

    def widget_for(self, problem: str) -> Optional[QWidget]:
        match = _PROBLEM.match(problem)
        if not match or not 0 < int(match.group(1)) <= self.table.rowCount():
            return self.table if problem.startswith(("[[workers]]", "workers")) else None
        key = match.group(2)
        column = KEYS.index(key) if key in KEYS else NAME
        return self.cell(int(match.group(1)) - 1, column)


def _shown(key: str, value) -> bool:
    """Whether a value from the file can be shown in its cell (a wrong type shows the default;
    validation reports it, and an untouched cell is not written back)."""
    if key == "concurrency":
        return isinstance(value, int) and not isinstance(value, bool) and value >= 1
    if key == "queues":
        return isinstance(value, list) and all(isinstance(q, str) for q in value)
    return isinstance(value, str)
