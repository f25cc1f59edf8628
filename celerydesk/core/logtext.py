"""Turning a child's byte stream into lines, and keeping its log file bounded and private.

A read from a pipe can end in the middle of a UTF-8 character or of a line, so each channel
has its own incremental decoder and keeps its unfinished line for the next read.
"""

from __future__ import annotations

import codecs
import os
import stat
import time
from pathlib import Path
from typing import Callable, Optional


class LineSplitter:
    def __init__(self):
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._partial = ""

    def feed(self, data: bytes) -> list[str]:
        text = self._partial + self._decoder.decode(data)
        lines = text.split("\n")
        self._partial = lines.pop()
        if "\r" not in text:  # the usual case: no per-line pass over a flood
            return lines
        return [line.rstrip("\r") for line in lines]

    def flush(self) -> list[str]:
        text = self._partial + self._decoder.decode(b"", final=True)
        self._partial = ""
        return [text.rstrip("\r")] if text else []


class RotatingLogFile:
    """Appends lines to ``path`` (mode 0600); past ``max_bytes`` it becomes ``path.1`` (and so on).

    A write that fails (a full disk, a folder made read-only) never raises: the service it logs
    must go on, and above all be stoppable. The failure goes to ``on_error(path, exc)`` and the
    lines are dropped; writing is tried again ``retry_s`` later, and the file then says how many
    lines it is missing. Each chunk is one unbuffered write, so ``logs --follow`` sees it at once
    and a failed write leaves nothing half-buffered to fail again later. The file is opened at the
    first write, so a failure is reported to whoever listens by then.
    """

    def __init__(self, path: Path, max_bytes: int = 10 * 1024 * 1024, backups: int = 3,
                 on_error: Optional[Callable[[Path, OSError], None]] = None, retry_s: float = 5.0,
                 clock: Callable[[], float] = time.monotonic):
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.backups = backups
        self.on_error = on_error
        self.retry_s = retry_s
        self.clock = clock
        self._fd: Optional[int] = None
        self._size = 0
        self._failed_at: Optional[float] = None
        self._dropped = 0  # lines not written since the last failure

    def write_lines(self, lines: list[str]) -> None:
        if not lines:
            return
        if self._failed_at is not None and self.clock() - self._failed_at < self.retry_s:
            self._dropped += len(lines)
            return
        self._attempt(lambda: self._write(lines), len(lines))

    def flush(self) -> None:
        """Nothing is buffered: kept for callers that mark the end of a burst."""

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _attempt(self, action: Callable[[], None], lines: int) -> None:
        try:
            action()
        except OSError as exc:
            self._failed_at = self.clock()
            self._dropped += lines
            self.close()
            if self.on_error is not None:
                self.on_error(self.path, exc)
        else:
            self._failed_at = None

    def _open(self) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        st = os.fstat(fd)
        if stat.S_ISREG(st.st_mode) and st.st_mode & 0o077:  # an older celerydesk's, readable by everyone
            os.fchmod(fd, 0o600)
        self._fd, self._size = fd, st.st_size

    def _write(self, lines: list[str]) -> None:
        if self._fd is None:
            self._open()
        if self._dropped:
            lines = [f"[celerydesk] {self._dropped} line(s) missing here: they could not be written"] + lines
        data = ("\n".join(lines) + "\n").encode("utf-8", errors="replace")
        view = memoryview(data)
        while view:  # a full disk may take part of it, then refuse the rest with ENOSPC
            view = view[os.write(self._fd, view):]
        self._dropped = 0
        self._size += len(data)  # bytes, as max_bytes says, not characters
        if self._size >= self.max_bytes:
            self._rotate()

    def _rotate(self) -> None:
        self.close()
        for i in range(self.backups - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{i}")
            if older.exists():
                os.replace(older, self.path.with_name(f"{self.path.name}.{i + 1}"))
        os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))
        self._open()
