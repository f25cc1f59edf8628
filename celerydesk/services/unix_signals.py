"""SIGINT/SIGTERM/SIGHUP delivered into the Qt event loop as a signal.

Python runs signal handlers only between bytecodes, and the Qt loop is C++: a handler could
wait until the next Python callback. The wakeup fd, watched by a socket notifier, wakes the
loop at once.
"""

from __future__ import annotations

import signal
import socket

from PySide6.QtCore import QObject, QSocketNotifier, Signal

WATCHED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class SignalWatcher(QObject):
    received = Signal(int)  # the signal number

    def __init__(self, parent=None):
        super().__init__(parent)
        self._read, self._write = socket.socketpair()
        for s in (self._read, self._write):
            s.setblocking(False)
        self._previous_fd = signal.set_wakeup_fd(self._write.fileno())
        self._previous = {signum: signal.signal(signum, lambda *_: None) for signum in WATCHED}
        self._notifier = QSocketNotifier(self._read.fileno(), QSocketNotifier.Type.Read, self)
        self._notifier.activated.connect(self._drain)

    def _drain(self) -> None:
        try:
            data = self._read.recv(64)
        except BlockingIOError:
            return
        for signum in data:
            self.received.emit(signum)

    def close(self) -> None:
        """Give the process its previous handlers back."""
        self._notifier.setEnabled(False)
        signal.set_wakeup_fd(self._previous_fd)
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._read.close()
        self._write.close()
