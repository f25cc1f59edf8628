"""The stack of one workspace: broker, workers, beat and Flower, started and stopped in order.

Start: preflight off the Qt thread (ports, engine, interpreter, leftovers), then the broker,
then workers, beat and Flower in parallel once the broker answers; beat also waits for the
app's beat_scheduler (read from the project beside the preflight), which decides its command
(core/project_scheduler.py). Stop: beat and Flower
first (nothing new is scheduled or watched), then the workers (warm: running tasks finish),
the broker last; from the moment it begins, nothing is restarted. A second request kills what
is left at once, and a deadline (every layer's stop timeout, plus a margin) kills it anyway.
Stopping never depends on a write: a log, the process record or a state file that cannot be
written (a full disk, a read-only folder) is reported once, and the stop goes on.
The window and ``celerydesk up`` both drive this one class; everything the user must read goes
out through ``message``, in words, in one place.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Optional

from PySide6.QtCore import QObject, QTimer, Signal

from celerydesk.core import commands
from celerydesk.core.commands import BEAT, BROKER, FLOWER, WORKER
from celerydesk.core.errors import DeskError
from celerydesk.core.logtext import RotatingLogFile
from celerydesk.core.runtime import Runtime, WriteFailures
from celerydesk.core.stack_records import StackRecords
from celerydesk.core.states import RUNNING_STATES, STOPPED_STATES, ProcessState
from celerydesk.core.urls import masked, shown_url
from celerydesk.core.workspace import Workspace
from celerydesk.services.background import run_in_background
from celerydesk.services.managed_process import ManagedProcess
from celerydesk.services.schedule_sync import ScheduleSync
from celerydesk.services.service import Service

if TYPE_CHECKING:  # imported where used: the window's first paint should not wait for them
    from celerydesk.core.interpreter import InterpreterInfo
    from celerydesk.core.project_scheduler import ProjectScheduler
    from celerydesk.core.preflight import PreflightResult

IDLE, PREFLIGHT, STARTING, RUNNING, STOPPING = "idle", "preflight", "starting", "running", "stopping"
STOP_LAYERS = ((BEAT, FLOWER), (WORKER,), (BROKER,))


class StackController(QObject):
    # Beyond the layers' own stop timeouts, before whatever still runs is killed regardless.
    stop_margin_s = 5.0

    serviceStateChanged = Signal(str, object)  # key, ProcessState
    serviceDetailsChanged = Signal(str)  # key: its pid or container changed
    linesReceived = Signal(str, object)  # key, [(text, channel)]: object, so PySide does not convert the list
    message = Signal(str, str)  # level (info | warning | error), text
    phaseChanged = Signal(str)
    servicesChanged = Signal()  # the broker service was (re)built for the resolved mode
    stackReady = Signal()
    stackStopped = Signal()

    def __init__(self, workspace: Workspace, parent=None):
        super().__init__(parent)
        self.ws = workspace
        self.runtime = Runtime(workspace.runtime_dir)
        self.services: dict[str, Service] = {}
        self.mode: Optional[str] = None
        self.phase = IDLE
        self._stop_requested = False
        self._waiting_for: set[str] = set()  # what must be ready before workers, beat and Flower
        self._log_files: dict[str, RotatingLogFile] = {}
        self._wanted: set[str] = set()  # the services this start brings up
        self._flower_credentials: tuple[str, str] = ("", "")
        # The app's beat scheduler, read from the project when the stack starts (beat waits for it).
        self.project_scheduler: Optional[ProjectScheduler] = None
        self._beat_waits = False
        self.started_at: Optional[float] = None
        self._carried: dict[str, list] = {}  # log lines of a previous stack, for services not yet built
        self.write_failures = WriteFailures(lambda problem: self.message.emit("error", str(problem)))
        self.records = StackRecords(self.runtime, self.write_failures)
        self._killing = False  # a second stop request, or the stop deadline: no more waiting
        self.last_stop_clean = True  # nothing had to be killed and every write succeeded
        self._stop_deadline = QTimer(self, singleShot=True)
        self._stop_deadline.timeout.connect(self._on_stop_overdue)
        # Beat's schedule mirror follows the workspace file while the stack runs (live schedules).
        self.schedule_sync = ScheduleSync(workspace.path, self.runtime.dir, parent=self)
        self.schedule_sync.message.connect(self.message)
        self.schedule_sync.on_write_error = lambda path, exc: self.write_failures.note(path, exc, "beat's schedules")
        # Workers, beat and Flower exist from the start (their log history outlives restarts);
        # the broker's kind depends on the mode, resolved (auto) when the stack starts.
        self._build_project_services()

    # -- the public face --------------------------------------------------------------------------

    def broker_url(self) -> str:
        return self.ws.broker_url()

    def enabled_keys(self) -> list[str]:
        keys = [BROKER] + [commands.worker_key(w.name) for w in self.ws.workers]
        if self.ws.beat.enabled:
            keys.append(BEAT)
        if self.ws.flower.enabled:
            keys.append(FLOWER)
        return keys

    def label(self, key: str) -> str:
        service = self.services.get(key)
        if service is not None:
            return service.label
        return "broker" if key == BROKER else key.replace("-", " ", 1)

    def state(self, key: str) -> ProcessState:
        service = self.services.get(key)
        return service.state if service is not None else ProcessState.STOPPED

    def start_all(self, only: Optional[set[str]] = None) -> None:
        """Start the stack; ``only`` limits it to those services (the broker always comes)."""
        if self.phase != IDLE:
            return
        self._wanted = set(self.enabled_keys()) if only is None else {BROKER, *only}
        self._stop_requested = False
        self._killing = False
        self.write_failures.reset()
        self.project_scheduler = None  # read again: the app's settings may have changed
        self._beat_waits = False
        self.started_at = time.monotonic()
        try:
            self.runtime.acquire_lock()
        except DeskError as exc:
            self._fail([exc])
            return
        self.schedule_sync.start()  # before beat starts: it reads the mirror at once
        if BEAT in self._wanted and BEAT in self.services:
            self._read_scheduler()  # beside the preflight, which mostly waits
        # Now rather than with the broker: the reaper's own start-up (a Python interpreter) then
        # runs beside the preflight instead of taking CPU from the services while they start.
        self.records.open()
        self._set_phase(PREFLIGHT)
        self.message.emit("info", f"checking {self.ws.path} ...")
        from celerydesk.core.preflight import run_preflight

        run_in_background(lambda: run_preflight(self.ws, self.runtime), self._on_preflight, self)

    def stop_all(self) -> None:
        if self.phase in (IDLE, STOPPING):
            if self.phase == IDLE:
                self.stackStopped.emit()
            return
        if self.phase == PREFLIGHT:
            self._stop_requested = True  # acted on when the preflight returns
            return
        self._begin_stopping()
        self._advance_stop()

    def kill_all(self) -> None:
        """No more waiting: kill every child's process group now (a second Ctrl-C)."""
        if self.phase == PREFLIGHT:
            self._stop_requested = True  # nothing runs yet; acted on when the preflight returns
            return
        if self.phase not in (IDLE, STOPPING):
            self._begin_stopping()
        self._killing = True
        if self.phase == STOPPING:  # what a SIGKILL does not end within the margin, the reaper ends
            self._stop_deadline.start(int(self.stop_margin_s * 1000))
        for service in self.services.values():
            kill = getattr(service, "kill_now", None)
            if kill is not None:
                kill()
            else:  # a container or an external broker: its stop is as quick as it gets
                service.hold()
                service.stop()
        self._advance_stop()

    def flower_credentials(self) -> tuple[str, str]:
        """The (user, password) Flower was started with: what a client must send."""
        return self._flower_credentials

    def start_service(self, key: str) -> None:
        if self.phase == IDLE:
            self.start_all(only={key})
        elif self.phase == PREFLIGHT or (self.phase == STARTING and self._waiting_for):
            self._wanted.add(key)  # started in order, once the broker and interpreter are good
        elif key == BEAT and self.project_scheduler is None:
            self._wanted.add(key)
            self._read_scheduler()  # started once the app's scheduler is known
        elif key in self.services:
            self._wanted.add(key)
            self.services[key].start()

    def stop_service(self, key: str) -> None:
        if key in self.services:
            self.services[key].stop()

    def restart_service(self, key: str) -> None:
        if self.phase == IDLE:
            self.start_all(only={key})
        elif key == BEAT and self.project_scheduler is None:
            self.start_service(key)
        elif key in self.services:
            self.services[key].restart()

    # -- starting ---------------------------------------------------------------------------------

    def _on_preflight(self, result: Optional[PreflightResult], error: Optional[BaseException]) -> None:
        if error is not None:
            self._fail([error if isinstance(error, DeskError) else DeskError(masked(f"preflight failed: {error!r}"))])
            return
        for note in result.notes:
            self.message.emit("info", note)
        if result.problems:
            self._fail(result.problems)
            return
        if self._stop_requested:
            self._finish_stop()
            return
        if result.mode != self.mode or BROKER not in self.services:
            self.mode = result.mode
            self._build_broker()
        from celerydesk.core.preflight import check_project_interpreter

        self._set_phase(STARTING)
        self.message.emit("info", f"broker: {self.mode} at {shown_url(self.broker_url())}")
        # The interpreter check costs a celery import: it runs while the broker starts.
        self._waiting_for = {BROKER, "interpreter"}
        run_in_background(lambda: check_project_interpreter(self.ws), self._on_interpreter_checked, self)
        self.services[BROKER].start()

    def _on_interpreter_checked(self, info: Optional[InterpreterInfo], error: Optional[BaseException]) -> None:
        if self.phase != STARTING:
            return
        if error is not None:
            self.message.emit("error", str(error) if isinstance(error, DeskError) else f"interpreter check failed: {error!r}")
            self.stop_all()  # only the broker runs: stop it, start nothing else
            return
        self.message.emit("info", f"project interpreter {self.ws.project.python}: "
                                  f"Python {info.python}, celery {info.celery}, redis {info.redis}")
        self._passed("interpreter")

    def _read_scheduler(self) -> None:
        """Beat's command depends on the app's beat_scheduler: beat alone waits for the answer."""
        if self._beat_waits:
            return
        self._beat_waits = True
        from celerydesk.core import project_scheduler

        run_in_background(lambda: project_scheduler.for_workspace(self.ws), self._on_scheduler_read, self)

    def _on_scheduler_read(self, scheduler: Optional[ProjectScheduler], error: Optional[BaseException]) -> None:
        if self.phase in (IDLE, STOPPING) or not self._beat_waits:
            return
        if error is not None:
            from celerydesk.core.project_scheduler import STOCK_SCHEDULER

            text = error.message if isinstance(error, DeskError) else repr(error)
            self.message.emit("warning", f"beat: the app's beat_scheduler could not be read, so beat runs "
                                         f"celerydesk's live scheduler alone ({text})")
            scheduler = STOCK_SCHEDULER
        elif not scheduler.sends_workspace_schedules:
            self.message.emit("warning", scheduler.describe())
        elif scheduler.wrapped:
            self.message.emit("info", scheduler.describe())
        self.project_scheduler = scheduler
        self.services[BEAT].replace_spec(commands.beat_spec(self.ws, self.broker_url(), self.runtime.dir, scheduler))
        self._beat_waits = False
        if self.phase in (STARTING, RUNNING) and not self._waiting_for and BEAT in self._wanted:
            self.services[BEAT].start()

    def _passed(self, gate: str) -> None:
        """Workers, beat and Flower start, in parallel, once the broker and interpreter are good
        (beat also once the app's scheduler is known)."""
        if gate not in self._waiting_for:
            return
        self._waiting_for.discard(gate)
        if not self._waiting_for:
            for service in self.services.values():
                if service.key != BROKER and service.key in self._wanted and not (
                        service.key == BEAT and self._beat_waits):
                    service.start()

    def _build_project_services(self) -> None:
        url = self.broker_url()
        for worker in self.ws.workers:
            self._add_process(commands.worker_spec(self.ws, worker, url))
        if self.ws.beat.enabled:
            self._add_process(commands.beat_spec(self.ws, url, self.runtime.dir))
        if self.ws.flower.enabled:
            self._flower_credentials = self.runtime.flower_credentials()
            self._add_process(commands.flower_spec(self.ws, url, self._flower_credentials, self.runtime.dir))

    def _build_broker(self) -> None:
        old = self.services.pop(BROKER, None)
        if old is not None:
            old.deleteLater()
        from celerydesk.services.docker_broker import DockerBroker
        from celerydesk.services.external_broker import ExternalBroker

        url = self.broker_url()
        if self.mode == "external":
            broker = ExternalBroker(url, parent=self)
        elif self.mode == "docker":
            broker = DockerBroker(self.ws, self._open_log(BROKER), parent=self)
            broker.containerStarted.connect(self._on_container_started)
            broker.containerGone.connect(self.records.container_gone)
        else:
            broker = self._make_process(commands.local_broker_spec(self.ws, self.runtime.redis_dir))
        self._connect(broker)
        self.services = {BROKER: broker, **self.services}  # the broker row comes first
        self.servicesChanged.emit()

    def _open_log(self, key: str) -> RotatingLogFile:
        if key not in self._log_files:
            self._log_files[key] = RotatingLogFile(
                self.runtime.log_path(key),
                on_error=lambda path, exc: self.write_failures.note(path, exc, f"the log {path.name}"))
        return self._log_files[key]

    def _make_process(self, spec: commands.ServiceSpec) -> ManagedProcess:
        spec.policy = commands.crash_limited(spec.policy, self.ws)
        proc = ManagedProcess(spec, self._open_log(spec.key), parent=self)
        proc.processStarted.connect(self.records.process_started)
        proc.processEnded.connect(self.records.process_ended)
        return proc

    def _add_process(self, spec: commands.ServiceSpec) -> None:
        proc = self._make_process(spec)
        self.services[proc.key] = proc
        self._connect(proc)

    def carry_history(self, previous: "StackController") -> None:
        """Open this stack's log panes with ``previous``'s lines (its workspace, reopened with new
        settings), as a service's restart keeps its history. Services built later (the broker, at
        start) take theirs when built."""
        self._carried = {key: list(getattr(service, "history", ())) for key, service in previous.services.items()}
        for service in self.services.values():
            self._take_carried(service)

    def _take_carried(self, service: Service) -> None:
        lines = self._carried.pop(service.key, None)
        if lines and hasattr(service, "history"):
            service.history.extend(lines)  # a new service's history is empty: the old lines come first

    def _connect(self, service: Service) -> None:
        self._take_carried(service)
        service.stateChanged.connect(self._on_state_changed)
        service.linesReceived.connect(self.linesReceived)
        service.detailsChanged.connect(self.serviceDetailsChanged)

    def _on_state_changed(self, key: str, state: ProcessState) -> None:
        self.serviceStateChanged.emit(key, state)
        service = self.services.get(key)
        if state == ProcessState.FATAL and service is not None:
            from celerydesk.core.logparse import likely_cause  # here: its regexes cost start-up time

            cause = likely_cause(text for text, _ in getattr(service, "history", ()))
            # An external broker has no log of ours: its URL is where to look.
            where = f"Its URL: {shown_url(self.broker_url())}" if key == BROKER and self.mode == "external" \
                else f"Its log: {self.runtime.log_path(key)}"
            self.message.emit("error", masked(f"{service.label} failed: {service.supervision.message}. "
                                              + (f"It said: {cause.rstrip('.')}. " if cause else "") + where))
        if self.phase == STARTING:
            if key == BROKER and state == ProcessState.RUNNING:
                self._passed(BROKER)
            elif key == BROKER and state == ProcessState.FATAL:
                self.message.emit("error", "the broker did not start, so nothing else was started")
                self.stop_all()  # leave the starting phase: `up` exits, the window shows it stopped
            if all(self.state(key) == ProcessState.RUNNING for key in self._wanted):
                self._set_phase(RUNNING)
                took = time.monotonic() - (self.started_at or time.monotonic())
                self.message.emit("info", f"stack ready in {took:.2f} s")
                self.stackReady.emit()
        elif self.phase == STOPPING:
            self._advance_stop()

    # -- stopping ---------------------------------------------------------------------------------

    def _begin_stopping(self) -> None:
        """From now on nothing restarts; the whole stop has a deadline."""
        self._set_phase(STOPPING)
        for service in self.services.values():
            service.hold()
        layers = [[s.stop_timeout for s in self.services.values() if s.kind in kinds] for kinds in STOP_LAYERS]
        self._stop_deadline.start(int((sum(max(layer) for layer in layers if layer) + self.stop_margin_s) * 1000))

    def _advance_stop(self) -> None:
        """Stop in layers; each layer starts once the one before has fully stopped (killing: all at once)."""
        if self.phase != STOPPING:
            return
        if not self._killing:
            for kinds in STOP_LAYERS:
                layer = [s for s in self.services.values() if s.kind in kinds]
                for service in layer:
                    if service.state in RUNNING_STATES:
                        service.stop()
                if any(s.state not in STOPPED_STATES for s in layer):
                    return
        if all(s.state in STOPPED_STATES for s in self.services.values()):
            self._finish_stop()

    def _on_stop_overdue(self) -> None:
        """The stop took longer than every layer's timeout: kill what is left; if even that does
        not end it (a process that ignores SIGKILL in uninterruptible sleep), finish anyway, and the
        reaper, told we are done, kills the groups still registered."""
        if self.phase != STOPPING:
            return
        if not self._killing:
            left = ", ".join(s.label for s in self.services.values() if s.state not in STOPPED_STATES)
            self.message.emit("error", f"the stop took too long ({left} still running): killing them now")
            self.kill_all()
            return
        left = ", ".join(s.label + (f" (pid {s.pid})" if s.pid else "") for s in self.services.values()
                         if s.state not in STOPPED_STATES)
        self.message.emit("error", f"{left} did not end even when killed; leaving them to the reaper")
        self._finish_stop()

    def _finish_stop(self) -> None:
        self._stop_deadline.stop()
        killed = [s for s in self.services.values() if getattr(s, "killed", False)]
        if not self._killing:
            for service in killed:
                self.message.emit("warning", f"{service.label} did not stop within its {service.stop_timeout:g} s "
                                             "stop timeout: its process group was killed")
        self.last_stop_clean = not self._killing and not self.write_failures.seen and not killed
        self.records.forget_processes()
        self._end()

    def _fail(self, problems: list[DeskError]) -> None:
        for problem in problems:
            self.message.emit("error", str(problem))
        self._end()

    def _end(self) -> None:
        """Back to IDLE, whatever fails on the way: a stop always ends."""
        try:
            self.records.close()
            self.schedule_sync.stop()
        finally:
            self.runtime.release_lock()
            self._set_phase(IDLE)
            self.stackStopped.emit()

    # -- what the reaper and the runtime record must know -----------------------------------------

    def _on_container_started(self, container_id: str, what: str) -> None:
        self.message.emit("info", f"broker: {what}")
        self.records.container_started(container_id)

    def _set_phase(self, phase: str) -> None:
        if phase != self.phase:
            self.phase = phase
            self.phaseChanged.emit(phase)
