"""The window's Queues panel: every queue with its waiting messages and consumers, and, in the
Queues tab, the messages of the selected queue with Delete and Move.

The queues come from the window's one queue poll (``context.depths``); the Tasks page shows the
compact form (the table and Purge), the Queues tab the whole (``messages=True``). Messages are
read through the broker service: on Redis at once and again as the queue changes (reading takes
nothing), on RabbitMQ only when the user presses Peek, since there a peek takes the messages
and gives them back marked redelivered. Purge, Delete and Move each ask first and each go
through one method here, then through the broker service's one method for it.
"""

from __future__ import annotations

from typing import Optional

from PySide6.QtWidgets import (QHBoxLayout, QInputDialog, QLabel, QMessageBox, QPushButton, QSplitter,
                               QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)
from PySide6.QtCore import Qt

from celerydesk.ui.queue_messages import QtQueueMessages
from celerydesk.ui.read_only import QtReadOnlyGuard, read_only_reason
from celerydesk.ui.workers_list import read_only_table

PEEK_COUNT = 50
_REDIS_NOTE = "The next {n} messages a worker gets, read without taking them."
_AMQP_NOTE = ("Peek takes the next {n} messages and gives them back at once, in their order; "
              "RabbitMQ then marks them redelivered.")


class QtQueuesPanel(QWidget):
    def __init__(self, context, parent=None, messages: bool = False):
        super().__init__(parent)
        self.broker = context.broker
        self.depths = context.depths
        self._stats: dict = {}
        self._queue: Optional[str] = None  # whose messages are shown
        columns = ["Queue", "Waiting", "Consumers"] if messages else ["Queue", "Waiting"]
        self.table = read_only_table(QTableWidget(0, len(columns), self))
        self.table.setHorizontalHeaderLabels(columns)
        self.purge_button = QPushButton("Purge queue…", self)
        self.purge_button.clicked.connect(self._on_purge)
        self.note = QLabel(self)  # why some queues may be missing (RabbitMQ without its management API)
        self.note.setWordWrap(True)
        self.note.setVisible(False)
        top = QWidget(self)
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(self.table, 1)
        top_layout.addWidget(self.note)
        top_layout.addWidget(self.purge_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.messages: Optional[QtQueueMessages] = None
        if messages:
            split = QSplitter(Qt.Orientation.Vertical, self)
            split.addWidget(top)
            split.addWidget(self._build_messages())
            split.setStretchFactor(0, 1)
            split.setStretchFactor(1, 2)  # the messages have more to show
            layout.addWidget(split)
            self.table.itemSelectionChanged.connect(self._on_queue_selected)
            self.broker.messageRemoved.connect(self._on_changed)
        else:
            layout.addWidget(top)
        self.depths.statsChanged.connect(self.show_stats)
        self.depths.noteChanged.connect(self._show_note)
        self.broker.purged.connect(self._on_changed)
        # Purge, delete and move change the stack: not in a read-only environment (peek is allowed).
        self.read_only_guard = QtReadOnlyGuard(self.broker, self)
        self.read_only_guard.hold(self.purge_button)
        if self.messages is not None:
            self.read_only_guard.follow(self._enable_buttons)
        self._show_note(self.depths.note)
        if self.depths.stats:
            self.show_stats(self.depths.stats)

    def _build_messages(self) -> QWidget:
        box = QWidget(self)
        self.messages_title = QLabel("Select a queue to see its messages.", box)
        self.messages_note = QLabel("", box)
        self.messages_note.setWordWrap(True)
        self.messages = QtQueueMessages(box)
        self.peek_button = QPushButton("Peek", box)
        self.peek_button.clicked.connect(self.peek)
        self.delete_button = QPushButton("Delete message…", box)
        self.delete_button.clicked.connect(self._on_delete)
        self.move_button = QPushButton("Move to queue…", box)
        self.move_button.clicked.connect(self._on_move)
        buttons = QHBoxLayout()
        for button in (self.peek_button, self.delete_button, self.move_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.messages_title)
        layout.addWidget(self.messages_note)
        layout.addWidget(self.messages, 1)
        layout.addLayout(buttons)
        self.messages.itemSelectionChanged.connect(self._enable_buttons)
        self._enable_buttons()
        return box

    # -- the queues ---------------------------------------------------------------------------------

    def show_stats(self, stats: dict) -> None:
        selected = self.selected_queue()
        self._stats = stats
        self.table.setRowCount(len(stats))
        wide = self.table.columnCount() > 2
        for row, (queue, s) in enumerate(sorted(stats.items())):
            self.table.setItem(row, 0, QTableWidgetItem(queue))
            self.table.setItem(row, 1, QTableWidgetItem(str(s.messages)))
            if wide:
                self.table.setItem(row, 2, QTableWidgetItem("" if s.consumers is None else str(s.consumers)))
            if queue == selected:
                self.table.selectRow(row)
        if wide:  # Redis does not count consumers: no empty column then
            self.table.setColumnHidden(2, all(s.consumers is None for s in stats.values()))
        if self.messages is not None and self._queue in stats and self._reads_freely():
            shown = len(self.messages.messages)
            if shown != min(stats[self._queue].messages, PEEK_COUNT):  # it changed: read it again
                self.peek()

    def _show_note(self, note: str) -> None:
        self.note.setText(note)
        self.note.setVisible(bool(note))

    def selected_queue(self) -> Optional[str]:
        row = self.table.currentRow()
        item = self.table.item(row, 0) if row >= 0 and self.table.selectionModel().hasSelection() else None
        return item.text() if item is not None else None

    # -- the messages of one queue ------------------------------------------------------------------

    def _reads_freely(self) -> bool:
        """Reading takes nothing (Redis): the list can follow the queue by itself."""
        return self.broker.client.is_redis

    def _on_queue_selected(self) -> None:
        queue = self.selected_queue()
        if queue is None or queue == self._queue:
            return
        self._queue = queue
        self.messages.show_messages([])
        note = _REDIS_NOTE if self._reads_freely() else _AMQP_NOTE
        self.messages_title.setText(f"Messages waiting in {queue}")
        self.messages_note.setText(note.format(n=PEEK_COUNT))
        self._enable_buttons()
        if self._reads_freely():
            self.peek()

    def peek(self) -> None:
        queue = self._queue
        if queue is None:
            return
        self.broker.peek(queue, PEEK_COUNT, lambda found, error: self._on_peeked(queue, found, error), owner=self)

    def _on_peeked(self, queue: str, found, error) -> None:
        if error is None and queue == self._queue:
            self.messages.show_messages(found)
            self._enable_buttons()

    def _enable_buttons(self) -> None:
        chosen = self.messages.selected() is not None
        read_only = read_only_reason(self.broker)
        self.peek_button.setEnabled(self._queue is not None)
        for button in (self.delete_button, self.move_button):
            button.setEnabled(chosen and read_only is None)
            button.setToolTip(read_only or "")

    def _on_changed(self, queue: str, *_rest) -> None:
        self.depths.poll()
        if self.messages is not None and queue == self._queue:
            self.peek()

    # -- the changing actions: each asks first, then goes through the broker service ------------------

    def _on_purge(self) -> None:
        queue = self.selected_queue()
        if queue is None:
            return
        waiting = self._stats[queue].messages if queue in self._stats else 0
        answer = QMessageBox.question(self, "Purge queue",
                                      f"Delete the {waiting} waiting messages of {queue!r}? "
                                      f"They cannot be brought back.")
        if answer == QMessageBox.StandardButton.Yes:
            self.broker.purge(queue)

    def _on_delete(self) -> None:
        message = self.messages.selected()
        if message is None or message.id is None:
            return
        answer = QMessageBox.question(self, "Delete message",
                                      f"Delete {message.task}[{message.id}] from {message.queue!r}? "
                                      "The task will not run, and the message cannot be brought back.")
        if answer == QMessageBox.StandardButton.Yes:
            self.broker.delete_message(message.queue, message.id)

    def _on_move(self) -> None:
        message = self.messages.selected()
        if message is None or message.id is None:
            return
        others = [q for q in sorted(self._stats) if q != message.queue]
        to, ok = QInputDialog.getItem(self, "Move message", f"Move {message.task}[{message.id}] to the end of queue:",
                                      others, 0, True)
        to = to.strip()
        if not ok or not to or to == message.queue:
            return
        answer = QMessageBox.question(self, "Move message",
                                      f"Move {message.task}[{message.id}] from {message.queue!r} to the end of {to!r}?")
        if answer == QMessageBox.StandardButton.Yes:
            self.broker.move_message(message.queue, message.id, to)
