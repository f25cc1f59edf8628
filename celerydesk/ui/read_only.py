"""Controls that change the remote stack, disabled while the environment is read-only.

The refusal itself is the broker client's (``core.broker_client``: nothing is sent however a
click gets there); this only makes it visible before the click: each such button is disabled,
with the reason as its tooltip, and comes back when the window is unlocked
(``BrokerService.readOnlyChanged``). A page either hands its always-available buttons to
:meth:`QtReadOnlyGuard.hold`, or, where a button has conditions of its own (a message chosen, a
task picked), asks :func:`read_only_reason` in its own update and re-runs it through
:meth:`QtReadOnlyGuard.follow`.
"""

from __future__ import annotations

from typing import Callable, Optional

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QWidget


def read_only_reason(broker) -> Optional[str]:
    """Why a change is disabled (the environment is read-only), or None."""
    client = broker.client
    if not client.read_only:
        return None
    return (f"{client.environment!r} is read-only: this would change its stack. "
            f"To allow it for this window: Environment ▸ Unlock… (type {client.environment!r})")


class QtReadOnlyGuard(QObject):
    """Keeps the buttons it holds disabled while ``broker`` is read-only."""

    def __init__(self, broker, parent: QObject):
        super().__init__(parent)
        self.broker = broker
        self._held: list[tuple[QWidget, str]] = []  # (widget, its own tooltip)
        self._refreshes: list[Callable[[], None]] = []
        broker.readOnlyChanged.connect(self._apply)

    def hold(self, *widgets: QWidget) -> None:
        for widget in widgets:
            self._held.append((widget, widget.toolTip()))
        self._apply()

    def follow(self, refresh: Callable[[], None]) -> None:
        """Run ``refresh`` (a page's own button update, which asks ``read_only_reason``) on each change."""
        self._refreshes.append(refresh)

    def _apply(self, *_):
        reason = read_only_reason(self.broker)
        for widget, tip in self._held:
            widget.setEnabled(reason is None)
            widget.setToolTip(reason or tip)
        for refresh in self._refreshes:
            refresh()
