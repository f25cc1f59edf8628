"""The launch panel's options: queue, when (now, a countdown, an ETA), expiry, priority and how
many copies; read as a ``SendOptions`` and set back from one (Edit and run again)."""

from __future__ import annotations

from datetime import datetime, timezone

from PySide6.QtCore import QDateTime
from PySide6.QtWidgets import (QComboBox, QDateTimeEdit, QDoubleSpinBox, QFormLayout, QGroupBox, QHBoxLayout,
                               QLineEdit, QSpinBox)

from celerydesk.core.broker_client import SendOptions

NOW, COUNTDOWN, ETA = range(3)


class QtLaunchOptions(QGroupBox):
    def __init__(self, parent=None):
        super().__init__("Options", parent)
        form = QFormLayout(self)
        self.queue_edit = QLineEdit(placeholderText="celery (the task's route)")
        self.timing_combo = QComboBox()
        self.timing_combo.addItems(["now", "after a countdown", "at a time (ETA)"])
        self.timing_combo.currentIndexChanged.connect(self._on_timing_changed)
        self.countdown_spin = QDoubleSpinBox(minimum=0.0, maximum=7 * 86400.0, decimals=1, suffix=" s", visible=False)
        self.eta_edit = QDateTimeEdit(QDateTime.currentDateTime().addSecs(60), calendarPopup=True, visible=False)
        self.eta_edit.setDisplayFormat("yyyy-MM-dd HH:mm:ss")
        timing = QHBoxLayout()
        for w in (self.timing_combo, self.countdown_spin, self.eta_edit):
            timing.addWidget(w)
        timing.addStretch(1)
        # 0 reads "never": a task that has waited longer than `expires` is revoked, not run.
        self.expires_spin = QDoubleSpinBox(minimum=0.0, maximum=30 * 86400.0, decimals=1, suffix=" s",
                                           specialValueText="never")
        # -1 reads "default": the message then carries no priority at all.
        self.priority_spin = QSpinBox(minimum=-1, maximum=9, value=-1, specialValueText="default")
        self.copies_spin = QSpinBox(minimum=1, maximum=1_000_000, value=1)
        form.addRow("Queue", self.queue_edit)
        form.addRow("When", timing)
        form.addRow("Expires after", self.expires_spin)
        form.addRow("Priority (0–9)", self.priority_spin)
        form.addRow("Send copies", self.copies_spin)

    def set_route(self, queue) -> None:
        """The selected task's own queue, shown as what an empty field means."""
        self.queue_edit.setPlaceholderText(f"{queue or 'celery'} (the task's route)")

    def _on_timing_changed(self, index: int) -> None:
        self.countdown_spin.setVisible(index == COUNTDOWN)
        self.eta_edit.setVisible(index == ETA)

    def options(self) -> SendOptions:
        timing = self.timing_combo.currentIndex()
        eta = None
        if timing == ETA:
            eta = datetime.fromtimestamp(self.eta_edit.dateTime().toSecsSinceEpoch(), tz=timezone.utc)
        return SendOptions(
            queue=self.queue_edit.text().strip() or None,
            countdown=self.countdown_spin.value() if timing == COUNTDOWN else None,
            eta=eta, expires=self.expires_spin.value() or None,
            priority=None if self.priority_spin.value() < 0 else self.priority_spin.value(),
            copies=self.copies_spin.value())

    def set_options(self, options: SendOptions) -> None:
        self.queue_edit.setText(options.queue or "")
        if options.eta is not None:
            self.timing_combo.setCurrentIndex(ETA)
            self.eta_edit.setDateTime(QDateTime.fromSecsSinceEpoch(int(options.eta.timestamp())))
        elif options.countdown:
            self.timing_combo.setCurrentIndex(COUNTDOWN)
            self.countdown_spin.setValue(options.countdown)
        else:
            self.timing_combo.setCurrentIndex(NOW)
        self.expires_spin.setValue(options.expires or 0.0)
        self.priority_spin.setValue(-1 if options.priority is None else options.priority)
        self.copies_spin.setValue(options.copies)
