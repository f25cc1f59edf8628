"""The workers table: every worker the events show, this stack's or remote, online or offline,
with its counts, its memory and CPU, its pool, and where those figures come from.

This stack's workers (matched by pid and this machine's name) are measured here: the window's
``ResourceMonitor`` samples each one's process tree (the worker and its pool processes) every
2 s, and the table shows the figures with their sparklines. A worker of this stack that has sent
no event yet (the event connection is down, or it is starting) still has its row. Other workers
are on other machines, or were started by someone else: the table shows what they answer to
``inspect stats`` (the window's ``RemoteWorkerStats``): the peak memory of their main process
and their pool, and says so in the last column.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import Optional

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

from celerydesk.core import commands
from celerydesk.core.states import ProcessState
from celerydesk.core.worker_resources import RemoteStats, TreeUsage, format_bytes, format_percent
from celerydesk.ui.service_table import resources_tip
from celerydesk.ui.sparkline import SeriesRole, SparklineDelegate

COLUMNS = ["Worker", "Where", "Status", "Active", "Processed", "Memory", "CPU", "Pool", "Figures from"]
NAME, WHERE, STATUS, ACTIVE, PROCESSED, MEMORY, CPU, POOL, SOURCE = range(len(COLUMNS))
HERE, REMOTE = "this stack", "remote"


def read_only_table(table: QTableWidget) -> QTableWidget:
    table.verticalHeader().hide()
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.horizontalHeader().setStretchLastSection(True)
    return table


@dataclass
class WorkerRow:
    name: str  # the hostname, or the service's label before the worker's first event
    where: str  # HERE or REMOTE
    status: str
    active: Optional[int] = None
    processed: Optional[int] = None
    key: Optional[str] = None  # this stack's service key
    usage: Optional[TreeUsage] = None  # measured here
    history: list = field(default_factory=list)  # TreeUsage samples, oldest first
    remote: Optional[RemoteStats] = None  # what it said about itself
    pool: str = ""
    source: str = ""


def worker_rows(stack, store, resources, stats, this_host: Optional[str] = None) -> list[WorkerRow]:
    """The table's rows: the event store's workers, then this stack's workers it has not seen
    (stopped, starting, or running but not heard from yet)."""
    this_host = this_host or socket.gethostname()
    ours = {s.pid: key for key, s in stack.services.items() if s.kind == commands.WORKER and s.pid}
    configs = {commands.worker_key(w.name): w for w in stack.ws.workers}  # the stack's, running or not
    rows, seen = [], set()
    for w in sorted(store.workers.values() if store is not None else (), key=lambda w: w.hostname):
        # One of our children: its pid and this machine's name (a pid alone may repeat elsewhere).
        key = ours.get(w.pid) if w.hostname.rpartition("@")[2] == this_host else None
        row = WorkerRow(w.hostname, HERE if key else REMOTE, "online" if w.alive() else "offline",
                        w.active, w.processed, key)
        if key:
            seen.add(key)
        rows.append(row)
    for key in sorted(set(configs) - seen):
        state = stack.state(key)
        status = "running, no events yet" if state == ProcessState.RUNNING else state.name.lower()
        rows.append(WorkerRow(stack.label(key), HERE, status, key=key))
    for row in rows:
        if row.key:
            _measured_here(row, resources, configs.get(row.key))
        else:
            _reported(row, stats)
    return rows


def _measured_here(row: WorkerRow, resources, config) -> None:
    row.usage = resources.latest.get(row.key) if resources is not None else None
    row.history = resources.history(row.key) if resources is not None else []
    pool = config.pool if config is not None else ""
    if row.usage is not None and pool == "prefork":
        row.pool = f"prefork, {processes(row.usage.processes - 1)}"
    elif config is not None:
        row.pool = f"{pool} ×{config.concurrency}"
    counted = f", {processes(row.usage.processes)}" if row.usage is not None else ""
    row.source = f"measured here (psutil{counted})"


def _reported(row: WorkerRow, stats) -> None:
    row.remote = stats.latest.get(row.name) if stats is not None else None
    if row.remote is not None:
        r = row.remote
        size = processes(r.pool_processes) if r.pool_processes is not None else f"×{r.max_concurrency or '?'}"
        row.pool = f"{r.pool}, {size}" if r.pool else size
        row.source = "inspect stats (peak memory of its main process)"
    elif stats is not None and stats.error:
        row.source = f"inspect stats failed: {stats.error}"
    else:
        row.source = "inspect stats: no answer yet"


class QtWorkersList(QTableWidget):
    def __init__(self, context, parent=None):
        super().__init__(0, len(COLUMNS), parent)
        self.stack = context.stack
        self.store = context.event_monitor().store
        self.resources = context.resources
        self.stats = context.worker_stats
        self._rows: list[WorkerRow] = []
        self.setHorizontalHeaderLabels(COLUMNS)
        read_only_table(self)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setWordWrap(False)
        self.setItemDelegateForColumn(MEMORY, SparklineDelegate(min_span=10e6, sample_text="peak 999.9 MB", parent=self))
        self.setItemDelegateForColumn(CPU, SparklineDelegate(min_span=10.0, sample_text="100 %", parent=self))
        header = self.horizontalHeader()
        for column in range(len(COLUMNS) - 1):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)

    def refresh(self) -> None:
        self._rows = worker_rows(self.stack, self.store, self.resources, self.stats)
        self.setRowCount(len(self._rows))
        for r, row in enumerate(self._rows):
            for column, text in enumerate(_texts(row)):
                item = self.item(r, column)
                if item is None:
                    item = QTableWidgetItem()
                    self.setItem(r, column, item)
                item.setText(text)
            self._set_figures(r, row)

    def _set_figures(self, r: int, row: WorkerRow) -> None:
        memory, cpu = self.item(r, MEMORY), self.item(r, CPU)
        if row.usage is not None:
            memory.setData(SeriesRole, [u.rss_bytes for u in row.history])
            cpu.setData(SeriesRole, [u.cpu_percent for u in row.history if u.cpu_percent is not None])
            tip = resources_tip(row.name, row.key, row.usage.processes)
        else:
            memory.setData(SeriesRole, None)
            cpu.setData(SeriesRole, None)
            tip = ("The peak resident memory (rusage maxrss) of the worker's main process, as it answers to "
                   "inspect stats; its pool processes are not in it. It reports no CPU percentage."
                   if row.remote is not None else "")
        for item in (memory, cpu, self.item(r, SOURCE)):
            item.setToolTip(tip)
        for column in (ACTIVE, PROCESSED, MEMORY, CPU):
            self.item(r, column).setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

    def worker_rows(self) -> list[WorkerRow]:
        return list(self._rows)

    def selected(self) -> Optional[WorkerRow]:
        """The row of the selected worker, if one is selected."""
        rows = self.selectionModel().selectedRows()
        r = rows[0].row() if rows else -1
        return self._rows[r] if 0 <= r < len(self._rows) else None

    def rows(self) -> list[tuple[str, str, str]]:
        """(hostname, where, status) of each row."""
        return [(row.name, row.where, row.status) for row in self._rows]


def _texts(row: WorkerRow) -> tuple:
    if row.usage is not None:
        memory, cpu = format_bytes(row.usage.rss_bytes), format_percent(row.usage.cpu_percent)
    elif row.remote is not None and row.remote.max_rss_bytes is not None:
        memory, cpu = f"peak {format_bytes(row.remote.max_rss_bytes)}", "–"
    else:
        memory = cpu = ""
    return (row.name, row.where, row.status, _count(row.active), _count(row.processed), memory, cpu, row.pool,
            row.source)


def processes(count: int) -> str:
    return f"{count} process" if count == 1 else f"{count} processes"


def _count(value: Optional[int]) -> str:
    return "" if value is None else str(value)
