"""A small tmpfs of the test's own: a real full disk, and a real read-only folder (even for root).

Mounting needs root (CI runs as root); elsewhere the test skips, and fails under CELERYDESK_STRICT.
"""

from __future__ import annotations

import os
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from tests.helpers.strict import require


@contextmanager
def small_tmpfs(folder: Path, size: str = "3m") -> Iterator[Callable[[str], None]]:
    """Mount a tmpfs of ``size`` on ``folder`` (made if missing); yields remount(options), e.g. "ro"."""
    folder.mkdir(parents=True, exist_ok=True)
    mounted = os.geteuid() == 0 and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(folder)],
        capture_output=True).returncode == 0
    require(mounted, "mounting a small tmpfs needs root (a full disk and a read-only folder are made that way)")

    def remount(options: str) -> None:
        subprocess.run(["mount", "-o", f"remount,{options}", str(folder)], check=True)

    try:
        yield remount
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill_up(folder: Path) -> Path:
    """Write a file in ``folder`` until its disk is full; return it."""
    filler = folder / "filler"
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
        except OSError:
            pass
    return filler
