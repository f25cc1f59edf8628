"""What a running stack leaves where others find it: the reaper's list and the process record.

The reaper (a child of celerydesk's) is told each process group and container as it starts
and ends, so it kills what is left if celerydesk dies. The record in ``.celerydesk/`` lets the
next start find leftovers of a celerydesk that died. Neither may ever stop the stack: a record
that cannot be written (a full disk, a read-only folder) goes to ``WriteFailures``, said once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional

from celerydesk.core.reaper import ReaperClient
from celerydesk.core.runtime import Runtime, WriteFailures
from celerydesk.core.selfcmd import self_command


class StackRecords:
    def __init__(self, runtime: Runtime, failures: WriteFailures):
        self.runtime = runtime
        self.failures = failures
        self._reaper: Optional[ReaperClient] = None

    def open(self) -> None:
        """Start the reaper (at the start of a stack: its own start-up runs beside the preflight)."""
        self._reaper = ReaperClient(self_command("celerydesk.core.reaper", "_reaper"))

    @property
    def reaper_pid(self) -> Optional[int]:
        return self._reaper.pid if self._reaper is not None else None

    def close(self) -> None:
        """The stack has stopped: the reaper leaves, killing whatever is still registered."""
        if self._reaper is not None:
            self._reaper.close()
            self._reaper = None

    def process_started(self, key: str, pid: int, create_time: float) -> None:
        if self._reaper is not None:
            self._reaper.register_group(pid, pid, create_time)
        self._update(lambda records: records.setdefault("processes", {}).__setitem__(
            key, {"pid": pid, "pgid": pid, "create_time": create_time}))

    def process_ended(self, key: str, pgid: int) -> None:
        if self._reaper is not None:
            self._reaper.unregister_group(pgid)
        self._update(lambda records: records.get("processes", {}).pop(key, None))

    def container_started(self, container_id: str) -> None:
        if self._reaper is not None:
            self._reaper.register_container(container_id)
        # For the user's eyes: the next start finds the container by its label.
        self._update(lambda records: records.__setitem__("container", container_id))

    def container_gone(self, container_id: str) -> None:
        if self._reaper is not None:
            self._reaper.unregister_container(container_id)

    def forget_processes(self) -> None:
        self._update(lambda records: records.pop("processes", None))

    def _update(self, change: Callable[[dict], object]) -> None:
        records = self.runtime.read_records()
        change(records)
        try:
            self.runtime.write_records(records)
        except OSError as exc:
            self.failures.note(Path(exc.filename or self.runtime.state_file), exc, "the process record")
