"""The workspace's runtime folder (``.celerydesk/`` beside the workspace file).

It holds what a running stack leaves on disk: per-service logs, the local Redis or RabbitMQ data, Flower's
generated credentials, the broker's generated password, the record of started processes (pid
*and* create time, so a recycled pid is never mistaken for ours) and the lock that lets one
celerydesk run the stack. The folder is the owner's alone (0700, its files 0600): logs hold
task arguments, and the credentials are secrets.

Writing here can fail while a stack runs (a full disk, a folder made read-only). The stack must
still stop: ``WriteFailures`` turns each kind of failure into one message saying what to do,
instead of an exception per line.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import secrets
from pathlib import Path
from typing import Callable, Optional

from celerydesk.core.errors import DeskError, StackAlreadyRunning

PRIVATE_DIR, PRIVATE_FILE = 0o700, 0o600


def write_problem(path: Path, exc: OSError, what: str = "") -> DeskError:
    """``exc`` from writing ``path``, as a sentence with what to do about it."""
    folder = Path(path).parent
    subject = f"cannot write {what or path}" + (f" ({path})" if what else "")
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return DeskError(f"{subject}: the disk is full" if exc.errno == errno.ENOSPC else f"{subject}: over quota",
                         hint=f"free some space where {folder} is (df -h {folder}); "
                              "the stack still runs and stops, but its logs and records are not kept meanwhile")
    if exc.errno == errno.EROFS:
        return DeskError(f"{subject}: the file system is read-only",
                         hint="put the workspace on a writable disk; the stack still stops when asked")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return DeskError(f"{subject}: permission denied",
                         hint=f"make {folder} writable by you (e.g. chown -R $USER {folder}; chmod u+rwx {folder})")
    return DeskError(f"{subject}: {exc.strerror or exc}", hint=f"check the disk and the folder {folder}")


class WriteFailures:
    """Failed writes under the runtime folder, each kind (errno) reported once per stack run."""

    def __init__(self, report: Callable[[DeskError], None]):
        self.report = report
        self.seen: set[Optional[int]] = set()

    def note(self, path: Path, exc: OSError, what: str = "") -> None:
        if exc.errno not in self.seen:
            self.seen.add(exc.errno)
            self.report(write_problem(path, exc, what))

    def reset(self) -> None:
        self.seen.clear()


def atomic_write(path: Path, text: str, mode: int = PRIVATE_FILE, durable: bool = True) -> None:
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
    Returns (descriptor, "") or, when another process holds it, (None, that process's pid).
    OSError when the file cannot be opened (a read-only folder)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, PRIVATE_FILE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 64).decode(errors="replace").strip() or "another process"
        os.close(fd)
        return None, holder
    try:  # who holds it, for the next one's message: a full disk may refuse; the lock still holds
        os.fchmod(fd, PRIVATE_FILE)
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
    except OSError:
        pass
    return fd, ""


class Runtime:
    def __init__(self, directory: Path):
        self.dir = Path(directory)
        self.logs_dir = self.dir / "logs"
        self.redis_dir = self.dir / "redis"
        self.rabbitmq_dir = self.dir / "rabbitmq"  # the local RabbitMQ's node (core/local_rabbitmq.py)
        self.state_file = self.dir / "processes.json"
        self.lock_file = self.dir / "stack.lock"
        self.credentials_file = self.dir / "flower-credentials.json"
        self.broker_password_file = self.dir / "broker-password"
        self._lock_fd: Optional[int] = None

    def ensure(self) -> "Runtime":
        """The folders, private (OSError if they cannot be made: see ``prepare``)."""
        for d in (self.dir, self.logs_dir, self.redis_dir):
            d.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
            st = d.stat()
            if st.st_mode & 0o077 and st.st_uid == os.getuid():  # made by an older celerydesk
                os.chmod(d, PRIVATE_DIR)
        ignore = self.dir / ".gitignore"
        if not ignore.exists():
            atomic_write(ignore, "# celerydesk runtime files: logs, broker data, credentials\n*\n")
        return self

    def prepare(self) -> "Runtime":
        """``ensure``, with a DeskError saying what to do when the folder cannot be written."""
        try:
            return self.ensure()
        except OSError as exc:
            raise write_problem(Path(exc.filename or self.dir), exc, "the runtime folder") from None

    def log_path(self, service: str) -> Path:
        return self.logs_dir / f"{service}.log"

    # -- one stack per workspace ----------------------------------------------------------------

    def acquire_lock(self) -> None:
        """Hold an exclusive lock for as long as this process runs the stack (held already: kept).

        StackAlreadyRunning when another process holds it; a DeskError when the folder cannot
        be written."""
        if self._lock_fd is not None:
            return
        self.prepare()
        try:
            fd, holder = hold_lock(self.lock_file)
        except OSError as exc:
            raise write_problem(self.lock_file, exc, "the stack's lock file") from None
        if fd is None:
            raise StackAlreadyRunning(
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
        try:
            data = json.loads(self.credentials_file.read_text())
            return data["user"], data["password"]
        except (OSError, ValueError, KeyError, TypeError):
            pass
        self.prepare()
        user, password = "celerydesk", secrets.token_urlsafe(18)
        try:
            atomic_write(self.credentials_file, json.dumps({"user": user, "password": password}))
        except OSError as exc:
            raise write_problem(self.credentials_file, exc, "Flower's credentials") from None
        return user, password

    # -- the broker's generated password ([broker] password = "generate") -----------------------

    def broker_password(self) -> str:
        """Generated once per workspace (URL-safe characters only), readable by the owner only."""
        try:
            password = self.broker_password_file.read_text().strip()
            if password:
                return password
        except OSError:
            pass
        self.prepare()
        password = secrets.token_urlsafe(24)
        try:
            atomic_write(self.broker_password_file, password + "\n")
        except OSError as exc:
            raise write_problem(self.broker_password_file, exc, "the broker's password") from None
        return password

    # -- the record of what we started ------------------------------------------------------------

    def read_records(self) -> dict:
        try:
            data = json.loads(self.state_file.read_text())
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def write_records(self, records: dict) -> None:
        """Raises OSError when it cannot be written: the caller decides whether that matters."""
        self.dir.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
        # Written at every process start and exit; read_records copes with a missing file.
        atomic_write(self.state_file, json.dumps(records, indent=1, sort_keys=True), durable=False)
