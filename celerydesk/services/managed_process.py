"""One supervised child process (a worker, beat, Flower, a local redis-server).

Each child runs in its own session and process group, with a parent-death signal (through
util-linux ``setpriv``) so it dies with celerydesk even on SIGKILL; the reaper covers what it
spawns. Output is read in coalesced, bounded chunks (a flood costs a few reads per frame, none of
them long), decoded per channel incrementally, kept as a bounded ``(text, channel)``
history that a log view replays before following (Frescobaldi's job model), and appended to a
size-rotated log file. Stop sends the program's own shutdown signal (SIGTERM is celery's warm
shutdown), then kills the whole group after a grace period; when the main process exits, what
is left of its group is killed at once. Signals always go before the log line that tells of
them: a log that cannot be written (a full disk) must never keep a process from stopping.
"""

from __future__ import annotations

import collections
import os
import re
import shutil
import signal
import time
from typing import TYPE_CHECKING, Callable, Optional

from PySide6.QtCore import QProcess, QProcessEnvironment, QTimer, Signal

from celerydesk.core.commands import ServiceSpec
from celerydesk.core.logtext import LineSplitter, RotatingLogFile
from celerydesk.core.priority import niced_argv, set_session_nice
from celerydesk.core.states import ProcessState
from celerydesk.core.urls import shown_argv
from celerydesk.services.service import Service

if TYPE_CHECKING:  # imported where used: a window's first paint does not wait for it
    from celerydesk.services.probes import ReadinessPoller

STDOUT, STDERR, SYSTEM = "stdout", "stderr", "system"
# Output is read at most this often: a flood arrives in a few large chunks instead of a
# readyRead (and a relay down to the log pane) per pipe buffer. A quiet child's line is read
# at once; the delay applies only to output that follows within this time.
READ_INTERVAL_S = 0.010
# At most this much of a channel's output is read (decoded, split, logged, relayed) per turn of
# the event loop; a backlog is worked off over the next turns, so timers and painting go on
# between them (~1,500 worker lines, a few ms).
READ_CHUNK_BYTES = 128 * 1024
_CHANNELS = {STDOUT: QProcess.ProcessChannel.StandardOutput, STDERR: QProcess.ProcessChannel.StandardError}
_SETPRIV = shutil.which("setpriv")
# The kernel takes one session-nice change per 100 ms machine-wide (without CAP_SYS_ADMIN), and
# a stack starts its workers, beat and Flower together: enough turns for dozens of them.
SESSION_NICE_TRIES = 100


class ManagedProcess(Service):
    processStarted = Signal(str, int, float)  # key, pid, create time
    processEnded = Signal(str, int)  # key, pid

    def __init__(self, spec: ServiceSpec, log_file: Optional[RotatingLogFile] = None,
                 history_lines: int = 5000, clock: Callable[[], float] = time.monotonic, parent=None):
        super().__init__(spec.key, spec.label, spec.kind, spec.policy, clock, parent)
        self.spec = spec
        self.log_file = log_file
        self.history: collections.deque = collections.deque(maxlen=history_lines)
        self._process: Optional[QProcess] = None
        self._splitters: dict[str, LineSplitter] = {}
        self._pgid: Optional[int] = None
        self.create_time: Optional[float] = None  # of the running process: with its pid, who it is
        self._ready_re = re.compile(spec.readiness.pattern) if spec.readiness.kind == "log" else None
        self._poller: Optional[ReadinessPoller] = None
        self._kill_timer = QTimer(self, singleShot=True)
        self._kill_timer.timeout.connect(self._kill_group)
        self._read_timer = QTimer(self, singleShot=True)
        self._read_timer.timeout.connect(self._read_all)
        self._last_read = float("-inf")
        self.killed = False  # its last stop had to kill it: the stop was not clean

    @property
    def stop_timeout(self) -> float:
        return self.spec.stop_timeout

    def replace_spec(self, spec: ServiceSpec) -> None:
        """Run ``spec`` from the next start on (beat's command depends on the app's scheduler,
        known only once the project is read); the service keeps its history and signals."""
        self.spec = spec
        self._ready_re = re.compile(spec.readiness.pattern) if spec.readiness.kind == "log" else None

    # -- spawning -------------------------------------------------------------------------------

    def _spawn(self) -> None:
        program = self.spec.argv[0]
        if not (os.path.isfile(program) and os.access(program, os.X_OK)) and not shutil.which(program):
            self._system_line(f"cannot start: {program} does not exist or is not executable")
            self._apply(self.supervision.spawn_failed(f"{program} not found", permanent=True))
            return
        proc = QProcess(self)
        self.killed = False
        argv = niced_argv(self.spec.argv, self.spec.nice)
        at_nice = f" at nice {self.spec.nice}" if len(argv) > len(self.spec.argv) else ""
        if _SETPRIV:
            # setpriv execs the program in place (same pid) after setting PR_SET_PDEATHSIG.
            argv = [_SETPRIV, "--pdeathsig", "KILL", "--", *argv]
        proc.setProgram(argv[0])
        proc.setArguments(argv[1:])
        proc.setWorkingDirectory(str(self.spec.cwd))
        env = QProcessEnvironment()
        for name, value in self.spec.env.items():
            env.insert(name, value)
        proc.setProcessEnvironment(env)
        params = QProcess.UnixProcessParameters()
        params.flags = (
            QProcess.UnixProcessFlag.CreateNewSession  # own session and process group
            | QProcess.UnixProcessFlag.ResetSignalHandlers
            | QProcess.UnixProcessFlag.CloseFileDescriptors  # no inherited pipes (the reaper's!)
        )
        proc.setUnixProcessParameters(params)
        proc.readyReadStandardOutput.connect(self._on_output)
        proc.readyReadStandardError.connect(self._on_output)
        proc.started.connect(self._on_started)
        proc.finished.connect(self._on_finished)
        proc.errorOccurred.connect(self._on_error)
        self._splitters = {STDOUT: LineSplitter(), STDERR: LineSplitter()}
        self._process = proc
        self._system_line(f"starting{at_nice}: {shown_argv(self.spec.argv)}")
        # The child inherits the umask at fork, which start() does before it returns.
        previous_umask = os.umask(self.spec.umask) if self.spec.umask is not None else None
        try:
            proc.start()
        finally:
            if previous_umask is not None:
                os.umask(previous_umask)
        if self.spec.stdin is not None:  # buffered until the child runs; EOF ends what it reads
            proc.write(self.spec.stdin)
            proc.closeWriteChannel()

    def _on_started(self) -> None:
        pid = self._process.processId()
        self._pgid = pid
        import psutil  # here, not at the top: it costs the window's first paint ~20 ms

        try:
            create_time = psutil.Process(pid).create_time()
        except psutil.Error:
            create_time = 0.0
        self.create_time = create_time or None
        self.supervision.spawned(pid)
        self.processStarted.emit(self.key, pid, create_time)
        if self.spec.nice:
            self._set_session_nice(pid, tries_left=SESSION_NICE_TRIES)
        kind = self.spec.readiness.kind
        if kind == "uptime":
            self.supervision.ready_seen()
        elif kind != "log":
            from celerydesk.services.probes import ReadinessPoller, check_for

            self._poller = ReadinessPoller(check_for(self.spec.readiness), parent=self)
            self._poller.ready.connect(self._on_ready)
            self._poller.start()
        self._rearm()
        self.detailsChanged.emit(self.key)  # the pid is known now

    def _set_session_nice(self, pid: int, tries_left: int) -> None:
        """The child's session (autogroup) at the spec's nice value: see core/priority.py."""
        if self._process is None or self._process.processId() != pid:
            return  # it has exited (or been replaced) since
        try:
            set_session_nice(pid, self.spec.nice)
        except BlockingIOError:  # one change per 100 ms machine-wide without CAP_SYS_ADMIN
            if tries_left > 1:
                QTimer.singleShot(110, self, lambda: self._set_session_nice(pid, tries_left - 1))
            else:
                self._system_line("could not lower the CPU priority of its session: the kernel kept refusing")
        except OSError as exc:
            self._system_line(f"could not lower the CPU priority of its session: {exc}")

    def _on_ready(self) -> None:
        self._apply(self.supervision.ready_seen())

    def _on_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart and self.state in (ProcessState.STARTING, ProcessState.STOPPING):
            reason = self._process.errorString() if self._process else "failed to start"
            self._system_line(f"cannot start: {reason}")
            self._process = None
            self._apply(self.supervision.spawn_failed(reason, permanent=True))

    # -- output ---------------------------------------------------------------------------------

    def _on_output(self) -> None:
        """New output in QProcess's buffer: read it now, or with what follows within the interval."""
        if self._read_timer.isActive():
            return
        wait = self._last_read + READ_INTERVAL_S - time.monotonic()
        if wait <= 0:
            self._read_all()
        else:
            self._read_timer.start(int(wait * 1000) + 1)

    def _read_all(self) -> None:
        self._read_timer.stop()
        self._last_read = time.monotonic()
        more = self._read(STDOUT)
        more = self._read(STDERR) or more
        if more:
            self._read_timer.start(0)  # the rest at the next turn of the event loop

    def _drain(self) -> None:
        """Everything still in QProcess's buffers (the child has exited)."""
        self._read_timer.stop()
        while self._read(STDOUT) or self._read(STDERR):
            pass

    def _read(self, channel: str) -> bool:
        """Read and deliver up to READ_CHUNK_BYTES of a channel; True if more is waiting."""
        proc = self._process
        if proc is None:
            return False
        proc.setReadChannel(_CHANNELS[channel])
        data = bytes(proc.read(READ_CHUNK_BYTES))
        if data:
            self._deliver(channel, self._splitters[channel].feed(data))
        return self._process is proc and proc.bytesAvailable() > 0

    def _deliver(self, channel: str, lines: list[str]) -> None:
        if not lines:
            return
        entries = [(line, channel) for line in lines]
        self.history.extend(entries)
        if self.log_file is not None:
            self.log_file.write_lines(lines)
        if self._ready_re is not None and self.state == ProcessState.STARTING:
            if any(self._ready_re.search(line) for line in lines):
                self._on_ready()
        self.linesReceived.emit(self.key, entries)

    def _system_line(self, text: str) -> None:
        """A line of celerydesk's own about this service, kept and shown with its output."""
        line = f"[celerydesk] {text}"
        self.history.append((line, SYSTEM))
        if self.log_file is not None:
            self.log_file.write_lines([line])
            self.log_file.flush()
        self.linesReceived.emit(self.key, [(line, SYSTEM)])

    # -- stopping -------------------------------------------------------------------------------

    def _terminate(self) -> None:
        pid = self.supervision.pid
        if pid is None:  # spawned but not started yet: nothing to signal
            if self._process is not None:
                self._process.kill()
            return
        try:
            os.kill(pid, self.spec.stop_signal)
        except OSError:
            pass
        self._kill_timer.start(int(self.spec.stop_timeout * 1000))
        self._system_line(f"stopping: {signal.Signals(self.spec.stop_signal).name} to pid {pid}, "
                          f"killing the group after {self.spec.stop_timeout:g} s")

    def kill_now(self) -> None:
        """No grace period: the user asked twice, or the app is going away regardless."""
        self.hold()
        self.supervision.stop()  # STARTING/RUNNING -> STOPPING: its exit is then no crash
        self._rearm()
        if self._pgid is None and self._process is not None:
            self._process.kill()  # spawned, not started yet
        self._kill_group("killed at once, as asked")

    def _kill_group(self, why: str = "") -> None:
        if self._pgid is None:
            return
        running = self._process is not None and self._process.state() != QProcess.ProcessState.NotRunning
        try:
            os.killpg(self._pgid, signal.SIGKILL)
        except OSError:
            pass
        if running:
            self.killed = True
            self._system_line(f"{why or f'still running after {self.spec.stop_timeout:g} s'}: "
                              "killed its process group")

    def _on_finished(self, code: int, status: QProcess.ExitStatus) -> None:
        self._kill_timer.stop()
        if self._poller is not None:
            self._poller.stop()
            self._poller.deleteLater()
            self._poller = None
        self._drain()  # what is still in QProcess's buffers, then the unfinished lines
        for channel, splitter in self._splitters.items():
            self._deliver(channel, splitter.flush())
        pid, pgid = self.supervision.pid, self._pgid
        # Pool children and whatever else the program left in its group die with it.
        self._kill_group()
        self._pgid = None
        self.create_time = None
        if self.log_file is not None:
            self.log_file.flush()
        if status == QProcess.ExitStatus.CrashExit:
            description = "was killed by a signal"
            exit_code = -1
        else:
            description = f"exited with code {code}"
            exit_code = code
        self._system_line(f"pid {pid} {description}")
        proc, self._process = self._process, None
        if proc is not None:
            proc.deleteLater()
        if pid is not None:
            self.processEnded.emit(self.key, pgid or pid)
        self._apply(self.supervision.exited(exit_code, description))

    def wait_stopped(self, timeout_ms: int) -> bool:
        """Block until the process has exited (for shutdown paths with no event loop left)."""
        if self._process is None:
            return True
        return self._process.waitForFinished(timeout_ms)
