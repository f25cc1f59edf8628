"""The window's environment: its colour band, its name, and locking and unlocking.

The band runs across the top of the window in the environment's colour (``[environment]
color``), saying which environment this is and whether it is read-only, so a window on
production never looks like one on dev. The Environment menu unlocks a read-only environment
for this window's session only, after the user types its name exactly (:class:`QtUnlockDialog`),
and locks it again; the workspace file is not changed. Locking goes through the broker
service (``BrokerService.set_read_only``), whose client is what refuses the changes.
"""

from __future__ import annotations

from typing import Callable, Optional

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QColor
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QLineEdit, QMenu, QVBoxLayout, QWidget

from celerydesk.ui import defs

NEUTRAL = "#5d6d7e"  # the band of a read-only environment that has no colour of its own


def _text_color(background: str) -> str:
    """Black or white, whichever reads better on ``background``."""
    return "#000000" if QColor(background).lightnessF() > 0.6 else "#ffffff"


class QtEnvironmentBand(QLabel):
    """A coloured line naming the environment and its lock; hidden for a plain workspace (no
    colour, not read-only)."""

    def __init__(self, ws, parent=None):
        super().__init__(parent)
        self.ws = ws
        self.setObjectName("environment-band")
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.setContentsMargins(defs.MARGIN, 2, defs.MARGIN, 2)
        self.setWordWrap(True)  # a narrow window (two side by side) still shows all of it

    def show_state(self, read_only: bool, unlocked: bool) -> None:
        color = self.ws.environment.color
        if color is None and not read_only and not unlocked:
            self.hide()
            return
        background = color or NEUTRAL
        self.setStyleSheet(f"#environment-band {{ background: {background}; color: {_text_color(background)};"
                           " font-weight: bold; }")
        parts = [self.ws.environment_name] + (["watching"] if self.ws.watch_only else [])
        if read_only:
            parts.append("read-only: changes are disabled (Environment ▸ Unlock…)")
        elif unlocked:
            parts.append("UNLOCKED in this window: changes reach its stack (Environment ▸ Lock again)")
        self.setText(" · ".join(parts))
        self.setToolTip("Sending, retrying, revoking, purging, moving or deleting messages and changing workers "
                        "are disabled while read-only" if read_only else "")
        self.show()


class QtUnlockDialog(QDialog):
    """Unlock only when the user types the environment's name, exactly."""

    def __init__(self, name: str, parent=None):
        super().__init__(parent)
        self.name = name
        self.setWindowTitle(f"Unlock {name}")
        text = QLabel(f"<b>{name}</b> is read-only. Unlocking allows this window to send, retry, revoke and "
                      f"purge on its stack, and to change its workers, until the window closes or you lock it "
                      f"again. The workspace file is not changed.<br><br>Type <b>{name}</b> to unlock:", self)
        text.setWordWrap(True)
        text.setTextFormat(Qt.TextFormat.RichText)
        self.edit = QLineEdit(self)
        self.edit.setPlaceholderText(name)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel, parent=self)
        self.unlock_button = self.buttons.addButton("Unlock", QDialogButtonBox.ButtonRole.AcceptRole)
        self.unlock_button.setEnabled(False)
        self.edit.textChanged.connect(lambda typed: self.unlock_button.setEnabled(typed == self.name))
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(text)
        layout.addWidget(self.edit)
        layout.addWidget(self.buttons)

    def accept(self) -> None:
        if self.edit.text() == self.name:  # the button is the only way in, but Return must not bypass it
            super().accept()


class EnvironmentControl(QObject):
    """The Environment menu's Unlock… and Lock again, and the state they show (band, title)."""

    changed = Signal()  # locked or unlocked

    def __init__(self, ws, broker, parent: QWidget,
                 ask_unlock: Optional[Callable[[QWidget, str], bool]] = None):
        """``ask_unlock(parent, name)``: whether the user typed the name (tests answer it)."""
        super().__init__(parent)
        self.ws = ws
        self.broker = broker
        self.parent_widget = parent
        self.unlocked = False  # unlocked by the user in this window (it was read-only)
        self._ask = ask_unlock or _ask_with_dialog
        self.unlock_action = QAction("&Unlock…", self, triggered=self.unlock,
                                     toolTip="Allow changes to this environment's stack in this window")
        self.lock_action = QAction("&Lock again", self, triggered=self.lock)
        broker.readOnlyChanged.connect(self._refresh)
        self._refresh()

    @property
    def read_only(self) -> bool:
        return self.broker.read_only

    def menu(self, parent: QWidget) -> QMenu:
        menu = QMenu("&Environment", parent)
        menu.addAction(self.unlock_action)
        menu.addAction(self.lock_action)
        return menu

    def unlock(self) -> bool:
        if not self.read_only or not self._ask(self.parent_widget, self.ws.environment_name):
            return False
        self.unlocked = True
        self.broker.set_read_only(False)
        return True

    def lock(self) -> None:
        self.broker.set_read_only(True)

    def _refresh(self, *_) -> None:
        self.unlock_action.setEnabled(self.read_only)
        self.lock_action.setEnabled(not self.read_only)
        self.changed.emit()


def _ask_with_dialog(parent: QWidget, name: str) -> bool:
    return QtUnlockDialog(name, parent).exec() == QDialog.DialogCode.Accepted
