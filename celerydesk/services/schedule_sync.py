"""Keeps beat's schedule mirror in step with the workspace file while the stack runs.

Before beat starts, ``start()`` copies the live scheduler module next to the mirror and writes
the mirror (``core.schedule_mirror``). Then every change of ``celerydesk.toml`` — from the
schedule editor, ``celerydesk schedules ...`` or a text editor — rewrites the mirror, which
beat re-reads within a second. A QFileSystemWatcher gives the change at once; a 1 s poll of
the file's stamp backs it up, because editors replace the file (a new inode the watcher no
longer follows) and some filesystems send no events.

A workspace file that does not load is reported through ``message`` (once per distinct
problem) and left exactly as it is; beat keeps the schedules it had.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Optional

from PySide6.QtCore import QFileSystemWatcher, QObject, QTimer, Signal

from celerydesk.core import schedule_mirror
from celerydesk.core.schedule_mirror import MirrorResult


class ScheduleSync(QObject):
    message = Signal(str, str)  # level (info | warning | error), text: the stack's one channel
    mirrorWritten = Signal()

    def __init__(self, workspace_path: Path, runtime_dir: Path, parent=None, poll_ms: int = 1000):
        super().__init__(parent)
        self.workspace_path = Path(workspace_path)
        self.runtime_dir = Path(runtime_dir)
        self._stamp: Optional[tuple] = None
        self._reported: set[str] = set()  # problems already said, so a poll does not repeat them
        self._watcher = QFileSystemWatcher(self)
        self._watcher.fileChanged.connect(self._on_changed)
        self._watcher.directoryChanged.connect(self._on_changed)
        self._timer = QTimer(self)
        self._timer.setInterval(poll_ms)
        self._timer.timeout.connect(self._check)
        self.last_result: Optional[MirrorResult] = None
        # A mirror that cannot be written (a full disk): the stack reports it once, with its other
        # write failures; without a handler it is said here.
        self.on_write_error: Optional[Callable[[Path, OSError], None]] = None

    @property
    def running(self) -> bool:
        return self._timer.isActive()

    def start(self) -> Optional[MirrorResult]:
        """Install the scheduler module and write the mirror now (beat reads both at start)."""
        try:
            folder = schedule_mirror.install_scheduler_module(self.runtime_dir)
            os.chmod(folder, 0o700)  # inside the private runtime folder, private like it
        except OSError as exc:
            self.message.emit("error", f"cannot install beat's live scheduler in {self.runtime_dir}: {exc}")
            return None
        self._reported.clear()
        self._stamp = self._current_stamp()
        result = self._sync()
        for path in (str(self.workspace_path), str(self.workspace_path.parent)):
            if path not in self._watcher.files() + self._watcher.directories():
                self._watcher.addPath(path)
        self._timer.start()
        return result

    def stop(self) -> None:
        self._timer.stop()
        paths = self._watcher.files() + self._watcher.directories()
        if paths:
            self._watcher.removePaths(paths)

    def _current_stamp(self) -> Optional[tuple]:
        try:
            st = os.stat(self.workspace_path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def _on_changed(self, _path: str) -> None:
        # A replaced file drops out of the watcher: follow the new one.
        if self.running and str(self.workspace_path) not in self._watcher.files() and self.workspace_path.exists():
            self._watcher.addPath(str(self.workspace_path))
        self._check()

    def _check(self) -> None:
        if not self.running:
            return
        stamp = self._current_stamp()
        if stamp != self._stamp:
            self._stamp = stamp
            self._sync()

    def _sync(self) -> Optional[MirrorResult]:
        try:
            result = schedule_mirror.sync_mirror(self.workspace_path, self.runtime_dir)
        except OSError as exc:
            path = schedule_mirror.mirror_path(self.runtime_dir)
            if self.on_write_error is not None:
                self.on_write_error(path, exc)
            else:
                self.message.emit("error", f"schedules not updated: cannot write {path}: {exc.strerror or exc}")
            return None
        self.last_result = result
        said = set()
        if result.error:
            said.add(result.error)
            if result.error not in self._reported:
                self.message.emit("error", f"schedules not updated: {result.error}\n  beat keeps the schedules "
                                           f"it has; {self.workspace_path} was left as it is")
        for text in result.problems:
            said.add(text)
            if text not in self._reported:
                self.message.emit("warning", f"schedule left out of beat: {text}")
        for text in result.warnings:
            said.add(text)
            if text not in self._reported:
                self.message.emit("warning", text)
        self._reported = said  # a problem fixed and made again is said again
        if result.written:
            self.mirrorWritten.emit()
        return result
