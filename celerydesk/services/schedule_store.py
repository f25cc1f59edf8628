"""The project's store of periodic tasks, kept open for the window: an agent in its interpreter.

Loading a Django project costs a second, too much every few seconds, so the window keeps one
``store_script.py --serve`` running in the project's interpreter (``core/schedule_store.py``
builds its command) and talks to it in JSON lines: it asks for the listing every
``poll_ms`` (the agent answers ``unchanged`` unless django-celery-beat's change stamp, the
rows' run times, or RedBeat's entries moved), so a row changed in the Django admin or an
entry saved by the application shows within seconds; edits from the editor and the table go
through the same agent (``request``), i.e. through the project's own models and API.

The agent lives as long as this object: it stops when its standard input closes (this
object's ``stop()``, or celerydesk's end, even a kill). If it exits on its own (the project
failed to load, the database went away) the error is reported through ``failed`` and it is
started again after a pause.
"""

from __future__ import annotations

import collections
import json
from typing import Callable, Optional

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, QTimer, Signal

from celerydesk.core import schedule_store
from celerydesk.core.errors import DeskError
from celerydesk.core.workspace import Workspace

POLL_MS = 2000
RESTART_MS = 5000
Reply = Callable[[Optional[dict], Optional[DeskError]], None]


class ScheduleStoreAgent(QObject):
    """``entries``: the store's entries as the script lists them (None until the first answer);
    ``entriesChanged()`` when they change; ``failed(text)`` when reading fails ("" once it works)."""

    entriesChanged = Signal()
    failed = Signal(str)

    def __init__(self, ws: Workspace, source: str, parent=None, poll_ms: int = POLL_MS):
        super().__init__(parent)
        self.ws, self.source = ws, source
        self.entries: Optional[list] = None
        self.error = ""
        self._process: Optional[QProcess] = None
        self._buffer = b""
        self._stderr: collections.deque = collections.deque(maxlen=20)
        self._pending: dict[int, Reply] = {}
        self._next_id = 0
        self._token: Optional[str] = None
        self._listing = False
        self._stopped = True
        self._poll = QTimer(self, interval=poll_ms)
        self._poll.timeout.connect(self.refresh)
        self._restart = QTimer(self, singleShot=True, interval=RESTART_MS)
        self._restart.timeout.connect(self._spawn)

    # -- the public face --------------------------------------------------------------------------

    def start(self) -> None:
        self._stopped = False
        self._spawn()
        self._poll.start()

    def stop(self) -> None:
        self._stopped = True
        self._poll.stop()
        self._restart.stop()
        process, self._process = self._process, None
        if process is not None:
            process.closeWriteChannel()  # the agent's loop ends at the end of its input
            if not process.waitForFinished(3000):
                process.kill()
                process.waitForFinished(1000)
        self._fail_pending(DeskError("the store's agent was stopped"))

    def request(self, payload: dict, reply: Reply) -> None:
        """Send ``payload``; ``reply(answer, None)`` or ``reply(None, DeskError)`` later."""
        if self._process is None or self._process.state() == QProcess.ProcessState.NotRunning:
            reply(None, DeskError(self.error or "the project's store cannot be reached now"))
            return
        self._next_id += 1
        self._pending[self._next_id] = reply
        line = json.dumps(dict(payload, id=self._next_id)) + "\n"
        self._process.write(line.encode("utf-8"))

    def refresh(self) -> None:
        """Ask for the listing now (it is asked for every few seconds anyway)."""
        if self._listing or self._process is None:
            return
        self._listing = True
        self.request({"op": "list", "token": self._token}, self._on_listing)

    # -- the process ----------------------------------------------------------------------------------

    def _spawn(self) -> None:
        if self._stopped:
            return
        argv = schedule_store.command(self.ws, self.source, "--serve")
        process = QProcess(self)
        env = QProcessEnvironment()
        for name, value in schedule_store.environment(self.ws).items():
            env.insert(name, value)
        process.setProcessEnvironment(env)
        process.setWorkingDirectory(str(self.ws.project.workdir))
        process.readyReadStandardOutput.connect(self._read)
        process.readyReadStandardError.connect(
            lambda: self._stderr.extend(bytes(process.readAllStandardError()).decode("utf-8", "replace").splitlines()))
        process.finished.connect(lambda code, _status, p=process: self._on_finished(p, code))
        self._process, self._buffer, self._listing = process, b"", False
        process.start(argv[0], argv[1:])

    def _read(self) -> None:
        process = self.sender()
        if process is not self._process:
            return
        self._buffer += bytes(process.readAllStandardOutput())
        *lines, self._buffer = self._buffer.split(b"\n")
        for raw in lines:
            line = raw.decode("utf-8", "replace")
            if not line.startswith(schedule_store.MARKER):
                continue
            try:
                answer, error = schedule_store.parse_answer(line, self.source), None
            except DeskError as exc:
                answer, error = None, exc
            request_id = json.loads(line[len(schedule_store.MARKER):]).get("id")
            reply = self._pending.pop(request_id, None)
            if reply is None and error is not None:  # the project did not load: no request gets an answer
                self._set_error(f"{error}" + (f"\n  → {error.hint}" if error.hint else ""))
            elif reply is not None:
                reply(answer, error)

    def _on_finished(self, process: QProcess, code: int) -> None:
        if process is not self._process:
            return
        self._process = None
        tail = "\n".join(list(self._stderr)[-5:])
        self._fail_pending(DeskError(f"the project's store agent exited (code {code})"))
        if not self._stopped:
            if not self.error:
                self._set_error(f"reading {schedule_store.STORE_WORDS[self.source]} stopped (exit code {code})"
                                + (f":\n{tail}" if tail else ""))
            self._restart.start()

    def _fail_pending(self, error: DeskError) -> None:
        pending, self._pending = self._pending, {}
        self._listing = False
        for reply in pending.values():
            reply(None, error)

    # -- answers --------------------------------------------------------------------------------------

    def _on_listing(self, answer: Optional[dict], error: Optional[DeskError]) -> None:
        self._listing = False
        if error is not None:
            self._set_error(f"{error}" + (f"\n  → {error.hint}" if error.hint else ""))
            return
        self._set_error("")
        self._token = answer.get("token")
        if not answer.get("unchanged"):
            self.entries = list(answer.get("entries") or [])
            self.entriesChanged.emit()

    def _set_error(self, text: str) -> None:
        if text != self.error:
            self.error = text
            self.failed.emit(text)
