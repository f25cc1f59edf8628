"""Turning a child's byte stream into lines, and keeping its log file bounded.

A read from a pipe can end in the middle of a UTF-8 character or of a line, so each channel
has its own incremental decoder and keeps its unfinished line for the next read.
"""

from __future__ import annotations

import codecs
import os
from pathlib import Path


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
    """Appends lines to ``path``; past ``max_bytes`` it becomes ``path.1`` (and so on)."""

    def __init__(self, path: Path, max_bytes: int = 10 * 1024 * 1024, backups: int = 3):
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.backups = backups
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a", encoding="utf-8", buffering=1 << 16)
        self._size = self._file.tell()

    def write_lines(self, lines: list[str]) -> None:
        if not lines:
            return
        text = "\n".join(lines) + "\n"
        self._file.write(text)
        self._file.flush()  # one write per chunk read from the child: `logs --follow` sees it now
        self._size += len(text.encode("utf-8"))  # bytes, as max_bytes says, not characters
        if self._size >= self.max_bytes:
            self._rotate()

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    def _rotate(self) -> None:
        self._file.close()
        for i in range(self.backups - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{i}")
            if older.exists():
                os.replace(older, self.path.with_name(f"{self.path.name}.{i + 1}"))
        os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))
        self._file = open(self.path, "a", encoding="utf-8", buffering=1 << 16)
        self._size = 0
