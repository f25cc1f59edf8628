"""The workspace's runtime folder (``.celerydesk/`` beside the workspace file).

It holds what a running stack leaves on disk: per-service logs, the local Redis data, Flower's
generated credentials (mode 0600), the record of started processes (pid *and* create time, so a
recycled pid is never mistaken for ours) and the lock that lets one celerydesk run the stack.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
from pathlib import Path
from typing import Optional

from celerydesk.core.errors import DeskError


def atomic_write(path: Path, text: str, mode: int = 0o644, durable: bool = True) -> None:
    """Write via a temporary file and rename, so readers never see half a file.

    ``durable`` also fsyncs before the rename, so the file survives a power cut. Files that only
    describe live processes skip it: a power cut ends those processes too, and an fsync costs
    5-10 ms on the path that starts the stack."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def hold_lock(path: Path) -> tuple[Optional[int], str]:
    """Take an exclusive lock on ``path`` for as long as this process keeps the descriptor open
    (the kernel drops it when the process dies, however it dies), and write our pid in it.
    Returns (descriptor, "") or, when another process holds it, (None, that process's pid)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 64).decode(errors="replace").strip() or "another process"
        os.close(fd)
        return None, holder
    os.ftruncate(fd, 0)
    os.write(fd, str(os.getpid()).encode())
    os.set_inheritable(fd, False)
    return fd, ""


class Runtime:
    def __init__(self, directory: Path):
        self.dir = Path(directory)
        self.logs_dir = self.dir / "logs"
        self.redis_dir = self.dir / "redis"
        self.state_file = self.dir / "processes.json"
        self.lock_file = self.dir / "stack.lock"
        self.credentials_file = self.dir / "flower-credentials.json"
        self._lock_fd: Optional[int] = None

    def ensure(self) -> "Runtime":
        for d in (self.dir, self.logs_dir, self.redis_dir):
            d.mkdir(parents=True, exist_ok=True)
        ignore = self.dir / ".gitignore"
        if not ignore.exists():
            ignore.write_text("# celerydesk runtime files: logs, broker data, credentials\n*\n")
        return self

    def log_path(self, service: str) -> Path:
        return self.logs_dir / f"{service}.log"

    # -- one stack per workspace ----------------------------------------------------------------

    def acquire_lock(self) -> None:
        """Hold an exclusive lock for as long as this process runs the stack."""
        self.ensure()
        fd, holder = hold_lock(self.lock_file)
        if fd is None:
            raise DeskError(
                f"this workspace's stack is already run by celerydesk (pid {holder})",
                hint="use that window or `celerydesk up`, or stop it first; two would start every service twice",
            )
        self._lock_fd = fd

    def release_lock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # -- Flower's credentials ---------------------------------------------------------------------

    def flower_credentials(self) -> tuple[str, str]:
        """Generated once per workspace, kept readable by the owner only."""
        self.ensure()
        try:
            data = json.loads(self.credentials_file.read_text())
            return data["user"], data["password"]
        except (OSError, ValueError, KeyError):
            pass
        user, password = "celerydesk", secrets.token_urlsafe(18)
        atomic_write(self.credentials_file, json.dumps({"user": user, "password": password}), mode=0o600)
        return user, password

    # -- the record of what we started ------------------------------------------------------------

    def read_records(self) -> dict:
        try:
            data = json.loads(self.state_file.read_text())
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def write_records(self, records: dict) -> None:
        self.ensure()
        # Written at every process start and exit; read_records copes with a missing file.
        atomic_write(self.state_file, json.dumps(records, indent=1, sort_keys=True), durable=False)
