"""The Tasks page's filter row: state, task, worker, queue, a time range and a search box.

It makes one ``TaskFilter`` (``core.history.queries``) of what is chosen and emits it with
``filterChanged``; the page hands it to the table's model, which filters in SQL (the history)
or in memory (the tasks of this session, when the history cannot be used). The search is
sent a moment after the last key (``SEARCH_DELAY_MS``), so a search runs for what was typed,
not for each letter. The task, worker and queue choices are given by the page
(``set_choices``): the names the history knows.
"""

from __future__ import annotations

import time
from typing import Optional

from PySide6.QtCore import QDateTime, QTimer, Signal
from PySide6.QtWidgets import QComboBox, QDateTimeEdit, QHBoxLayout, QLabel, QLineEdit, QVBoxLayout, QWidget

from celerydesk.core.history.queries import TaskFilter
from celerydesk.core.task_store import STATES

ALL = "(all)"
ANY_TIME = "any time"
BETWEEN = "between…"
RANGES = {ANY_TIME: None, "last 15 minutes": 900, "last hour": 3600, "last 24 hours": 86400,
          "last 7 days": 7 * 86400, BETWEEN: None}
SEARCH_DELAY_MS = 200
# What a "between…" range is on (TaskFilter.when): the Dashboard opens the page on the tasks
# that finished, or were retried, in the bucket clicked.
WHEN = {"first seen": "seen", "finished": "finished", "retried": "retried"}


class QtTaskFilters(QWidget):
    filterChanged = Signal(object)  # TaskFilter

    def __init__(self, parent=None):
        super().__init__(parent)
        self.state_filter, self.name_filter = QComboBox(self), QComboBox(self)
        self.worker_filter, self.queue_filter = QComboBox(self), QComboBox(self)
        self.state_filter.addItems([ALL, *STATES])
        for combo in (self.name_filter, self.worker_filter, self.queue_filter):
            combo.addItem(ALL)
            # Long task names would push the row wider than the tab: the list shows them whole.
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(10)
        for combo in (self.state_filter, self.name_filter, self.worker_filter, self.queue_filter):
            combo.currentTextChanged.connect(self._changed)
        self.time_filter = QComboBox(self)
        self.time_filter.addItems(list(RANGES))
        self.time_filter.currentTextChanged.connect(self._on_time_range)
        now = QDateTime.currentDateTime()
        self.since_edit = QDateTimeEdit(now.addSecs(-3600), self, calendarPopup=True, displayFormat="yyyy-MM-dd HH:mm")
        self.until_edit = QDateTimeEdit(now, self, calendarPopup=True, displayFormat="yyyy-MM-dd HH:mm")
        self.when_filter = QComboBox(self)
        self.when_filter.addItems(list(WHEN))
        self.when_filter.setToolTip("The time the range is on")
        self.when_filter.currentTextChanged.connect(self._changed)
        for edit in (self.since_edit, self.until_edit):
            edit.dateTimeChanged.connect(self._changed)
        for widget in (self.when_filter, self.since_edit, self.until_edit):
            widget.hide()
        self.search = QLineEdit(self, placeholderText="search id, name, args, result, exception …")
        self.search.setClearButtonEnabled(True)
        self._search_timer = QTimer(self, singleShot=True, interval=SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(self._changed)
        self.search.textChanged.connect(self._search_timer.start)
        self.search.returnPressed.connect(self._changed)
        # Two lines: the choices, then the search the width of the page (the Tasks tab may be narrow).
        choices, search = QHBoxLayout(), QHBoxLayout()
        for label, widget in (("State", self.state_filter), ("Task", self.name_filter),
                              ("Worker", self.worker_filter), ("Queue", self.queue_filter),
                              ("When", self.time_filter)):
            choices.addWidget(QLabel(label, self))
            choices.addWidget(widget)
        choices.addStretch(1)
        search.addWidget(self.search, 1)
        search.addWidget(self.when_filter)
        search.addWidget(self.since_edit)
        search.addWidget(self.until_edit)
        rows = QVBoxLayout(self)
        rows.setContentsMargins(0, 0, 0, 0)
        rows.addLayout(choices)
        rows.addLayout(search)
        self._current = TaskFilter()

    @property
    def current(self) -> TaskFilter:
        return self._current

    def task_filter(self, now: Optional[float] = None) -> TaskFilter:
        """What is chosen, as a filter (a range like "last hour" counts back from ``now``)."""
        now = time.time() if now is None else now
        since = until = None
        when = "seen"
        span = RANGES.get(self.time_filter.currentText())
        if span:
            since = now - span
        elif self.time_filter.currentText() == BETWEEN:
            since = self.since_edit.dateTime().toSecsSinceEpoch()
            until = self.until_edit.dateTime().toSecsSinceEpoch() + 60  # the minute shown, included
            when = WHEN[self.when_filter.currentText()]

        def chosen(combo: QComboBox) -> tuple:
            return () if combo.currentText() in (ALL, "") else (combo.currentText(),)

        return TaskFilter(states=chosen(self.state_filter), names=chosen(self.name_filter),
                          workers=chosen(self.worker_filter), queues=chosen(self.queue_filter),
                          since=since, until=until, search=self.search.text().strip(), when=when)

    def show_range(self, since: float, until: float, when: str, states: tuple = ()) -> None:
        """Filter on a range of whole minutes (``when``: seen, finished or retried) and the states
        given, everything else back to all: what the Dashboard's click asks for."""
        widgets = (self.state_filter, self.name_filter, self.worker_filter, self.queue_filter, self.time_filter,
                   self.when_filter, self.since_edit, self.until_edit, self.search)
        for widget in widgets:
            widget.blockSignals(True)
        for combo in (self.name_filter, self.worker_filter, self.queue_filter):
            combo.setCurrentText(ALL)
        self.state_filter.setCurrentText(states[0] if len(states) == 1 else ALL)
        self.time_filter.setCurrentText(BETWEEN)
        self.when_filter.setCurrentText(next(label for label, key in WHEN.items() if key == when))
        self.since_edit.setDateTime(QDateTime.fromSecsSinceEpoch(int(since)))
        self.until_edit.setDateTime(QDateTime.fromSecsSinceEpoch(int(until) - 60))  # shown: the last minute in
        self.search.clear()
        for widget in widgets:
            widget.blockSignals(False)
        self._on_time_range(BETWEEN)

    def set_choices(self, kind: str, values: list[str]) -> None:
        """The task names (``name``), workers (``worker``) or queues (``queue``) to choose from;
        the current choice stays chosen."""
        combo = {"name": self.name_filter, "worker": self.worker_filter, "queue": self.queue_filter}[kind]
        current = combo.currentText()
        wanted = [ALL, *values] if current in (ALL, *values) else [ALL, *values, current]
        if [combo.itemText(i) for i in range(combo.count())] == wanted:
            return
        combo.blockSignals(True)
        combo.clear()
        combo.addItems(wanted)
        combo.setCurrentText(current)
        combo.blockSignals(False)

    def _on_time_range(self, text: str) -> None:
        for widget in (self.when_filter, self.since_edit, self.until_edit):
            widget.setVisible(text == BETWEEN)
        self._changed()

    def _changed(self, *_) -> None:
        self._search_timer.stop()
        f = self.task_filter()
        if f != self._current:
            self._current = f
            self.filterChanged.emit(f)
