"""The window's ssh tunnel to an external broker (``[broker] ssh``), kept up while it is open.

The tunnel's local port is chosen before ssh starts, so the workspace's broker URL points at it
at once (``Workspace.tunnel_url``) and the stack's broker probe simply waits for it to answer.
ssh is started without waiting (the window must not freeze on a slow bastion); a check every
``CHECK_MS`` notices when it has exited, says why in the banner (ssh's stderr, summarised) and
starts it again after ``RETRY_MS``.
"""

from __future__ import annotations

from typing import Optional

from PySide6.QtCore import QObject, QTimer, Signal

from celerydesk.core.errors import DeskError
from celerydesk.core.ssh_tunnel import SshTunnel

CHECK_MS = 1000
RETRY_MS = 10_000


class TunnelKeeper(QObject):
    message = Signal(str, str)  # level, text: for the window's banner

    def __init__(self, ws, parent=None):
        super().__init__(parent)
        self.tunnel = SshTunnel(ws.broker.url, ws.broker.ssh, ws.broker.ssh_config)
        ws.tunnel_url = self.tunnel.local_url
        self._timer = QTimer(self, interval=CHECK_MS)
        self._timer.timeout.connect(self._check)
        self._last: Optional[str] = None

    def start(self) -> None:
        self._launch()
        self._timer.start()

    def _launch(self) -> None:
        try:
            self.tunnel.start()
        except DeskError as exc:  # no ssh client at all: say so once, do not retry
            self._timer.stop()
            self.message.emit("error", str(exc))

    def _check(self) -> None:
        failed = self.tunnel.failure()
        if failed is None:
            return
        self.tunnel.close()
        if str(failed) != self._last:  # the same reason is said once, not at every retry
            self._last = str(failed)
            self.message.emit("error", f"{failed}\n  (trying again every {RETRY_MS // 1000} s)")
        self._timer.stop()
        QTimer.singleShot(RETRY_MS, self, self._restart)

    def _restart(self) -> None:
        self._launch()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()
        self.tunnel.close()
