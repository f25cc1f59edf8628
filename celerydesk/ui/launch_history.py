"""The launch panel's history: the launcher's recent launches, newest first, with Run again
and Edit and run again (the panel decides when each may be pressed, and acts on them)."""

from __future__ import annotations

import time
from typing import Optional

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QGroupBox, QHBoxLayout, QListView, QListWidget, QListWidgetItem, QPushButton,
                               QVBoxLayout)

from celerydesk.services.launcher import Launch

LaunchRole = Qt.ItemDataRole.UserRole + 2


def _short(value, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def launch_line(launch: Launch) -> str:
    when = time.strftime("%H:%M:%S", time.localtime(launch.time))
    call = ", ".join([_short(a) for a in launch.args] + [f"{k}={_short(v)}" for k, v in launch.kwargs.items()])
    extra = launch.options.describe()
    outcome = f"{len(launch.ids)} sent" if launch.ok else f"failed: {launch.error}"
    return f"{when}  {launch.task.rsplit('.', 1)[-1]}({call})" + (f" [{extra}]" if extra else "") + f"  → {outcome}"


class QtLaunchHistory(QGroupBox):
    selectionChanged = Signal()
    runAgainClicked = Signal()
    editAgainClicked = Signal()

    def __init__(self, parent=None):
        super().__init__("History", parent)
        self.history_list = QListWidget()
        # A launch's line (its arguments, its options, its outcome) wraps rather than being cut.
        self.history_list.setWordWrap(True)
        self.history_list.setResizeMode(QListView.ResizeMode.Adjust)
        self.history_list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.history_list.currentItemChanged.connect(lambda *_: self.selectionChanged.emit())
        self.run_again_button = QPushButton("Run again", enabled=False)
        self.run_again_button.clicked.connect(self.runAgainClicked)
        self.edit_again_button = QPushButton("Edit and run again", enabled=False)
        self.edit_again_button.clicked.connect(self.editAgainClicked)
        layout = QVBoxLayout(self)
        layout.addWidget(self.history_list, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_again_button)
        buttons.addWidget(self.edit_again_button)
        buttons.addStretch(1)
        layout.addLayout(buttons)

    def show_launches(self, launches) -> None:
        self.history_list.clear()
        for launch in launches:
            item = QListWidgetItem(launch_line(launch))
            item.setData(LaunchRole, launch)
            item.setToolTip(launch.task + ("\n" + "\n".join(launch.ids[:5]) if launch.ids else ""))
            self.history_list.addItem(item)
        self.history_list.setCurrentRow(0)

    def selected_launch(self) -> Optional[Launch]:
        item = self.history_list.currentItem()
        return item.data(LaunchRole) if item is not None else None

    def enable(self, run_again: bool, edit_again: bool) -> None:
        self.run_again_button.setEnabled(run_again)
        self.edit_again_button.setEnabled(edit_again)
