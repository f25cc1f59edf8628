"""The stack of one workspace, with Qt: its services, processes, records and log files.

What to start, in which order, when to stop and what to kill is decided by a Qt-free machine
(core/stack_machine.py, which says how the stack starts and stops). This class reports to it
what happens (a request, a service's new state, a background check's answer, the deadline) and
carries out the effects it returns: starting and stopping services, background checks (the
preflight, the project's interpreter, the app's beat_scheduler), the signals. Stopping never
depends on a write: a log, the process record or a state file that cannot be written (a full
disk, a read-only folder) is reported once, and the stop goes on.
The window and ``celerydesk up`` both drive this one class; everything the user must read goes
out through ``message``, in words, in one place.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Optional

from PySide6.QtCore import QObject, QTimer, Signal

from celerydesk.core import commands
from celerydesk.core import stack_events as ev
from celerydesk.core.brokers import RABBITMQ
from celerydesk.core.commands import BEAT, BROKER, FLOWER
from celerydesk.core.errors import DeskError
from celerydesk.core.logtext import RotatingLogFile
from celerydesk.core.runtime import Runtime, WriteFailures
from celerydesk.core.stack_machine import StackMachine
from celerydesk.core.stack_records import StackRecords
from celerydesk.core.states import ProcessState, StackPhase
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


class StackController(QObject):
    serviceStateChanged = Signal(str, object)  # key, ProcessState
    serviceDetailsChanged = Signal(str)  # key: its pid or container changed
    linesReceived = Signal(str, object)  # key, [(text, channel)]: object, so PySide does not convert the list
    message = Signal(str, str)  # level (info | warning | error), text
    phaseChanged = Signal(object)  # StackPhase
    servicesChanged = Signal()  # the broker service was (re)built for the resolved mode
    stackReady = Signal()
    stackStopped = Signal()

    def __init__(self, workspace: Workspace, parent=None):
        super().__init__(parent)
        self.ws = workspace
        self.runtime = Runtime(workspace.runtime_dir)
        self.services: dict[str, Service] = {}
        self.mode: Optional[str] = None
        self.machine = StackMachine()
        self._phase = StackPhase.IDLE  # as carried out so far (the machine is ahead within a batch)
        self._events: deque = deque()  # reported while effects are being carried out: handled next
        self._dispatching = False
        self._log_files: dict[str, RotatingLogFile] = {}
        self._flower_credentials: tuple[str, str] = ("", "")
        # The app's beat scheduler, read from the project when the stack starts (beat waits for it).
        self.project_scheduler: Optional[ProjectScheduler] = None
        self._carried: dict[str, list] = {}  # log lines of a previous stack, for services not yet built
        self.write_failures = WriteFailures(lambda problem: self.message.emit("error", str(problem)))
        self.records = StackRecords(self.runtime, self.write_failures)
        self.last_stop_clean = True  # nothing had to be killed and every write succeeded
        self._deadline_timer = QTimer(self, singleShot=True)
        self._deadline_timer.timeout.connect(lambda: self._dispatch(ev.DeadlinePassed()))
        # Beat's schedule mirror follows the workspace file while the stack runs (live schedules).
        self.schedule_sync = ScheduleSync(workspace.path, self.runtime.dir, parent=self)
        self.schedule_sync.message.connect(self.message)
        self.schedule_sync.on_write_error = lambda path, exc: self.write_failures.note(path, exc, "beat's schedules")
        # Workers, beat and Flower exist from the start (their log history outlives restarts);
        # the broker's kind depends on the mode, resolved (auto) when the stack starts.
        self._build_project_services()

    # -- the public face --------------------------------------------------------------------------

    @property
    def phase(self) -> StackPhase:
        return self._phase

    @property
    def stop_margin_s(self) -> float:
        """Beyond the layers' own stop timeouts, before whatever still runs is killed regardless."""
        return self.machine.stop_margin

    @stop_margin_s.setter
    def stop_margin_s(self, seconds: float) -> None:
        self.machine.stop_margin = seconds

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
        self._dispatch(ev.StartRequested(frozenset(self.enabled_keys() if only is None else only)))

    def stop_all(self) -> None:
        self._dispatch(ev.StopRequested())

    def kill_all(self) -> None:
        """No more waiting: kill every child's process group now (a second Ctrl-C)."""
        self._dispatch(ev.KillRequested())

    def flower_credentials(self) -> tuple[str, str]:
        """The (user, password) Flower was started with: what a client must send."""
        return self._flower_credentials

    def start_service(self, key: str) -> None:
        self._dispatch(ev.ServiceStartRequested(key))

    def stop_service(self, key: str) -> None:
        if key in self.services:
            self.services[key].stop()

    def restart_service(self, key: str) -> None:
        self._dispatch(ev.ServiceRestartRequested(key))

    # -- the machine's events in, its effects out -------------------------------------------------

    def _dispatch(self, event) -> None:
        """Hand ``event`` to the machine and carry out its effects. What happens while they are
        carried out (a service's state changes as it is stopped) is handled after them, in order,
        so the machine never decides in the middle of its own list."""
        self._events.append(event)
        if self._dispatching:
            return
        self._dispatching = True
        try:
            while self._events:
                for effect in self.machine.handle(self._events.popleft()):
                    self._carry_out(effect)
        finally:
            self._dispatching = False
            self._arm_deadline()

    def _carry_out(self, effect) -> None:
        match effect:
            case ev.PrepareRun():
                self._prepare_run()
            case ev.RunPreflight():
                self.message.emit("info", f"checking {self.ws.path} ...")
                from celerydesk.core.preflight import run_preflight

                run_in_background(lambda: run_preflight(self.ws, self.runtime), self._on_preflight, self)
            case ev.ReadScheduler():
                from celerydesk.core import project_scheduler

                run_in_background(lambda: project_scheduler.for_workspace(self.ws), self._on_scheduler_read, self)
            case ev.UseBroker(mode):
                if mode != self.mode or BROKER not in self.services:
                    self.mode = mode
                    self._build_broker()
            case ev.CheckInterpreter():
                from celerydesk.core.preflight import check_project_interpreter

                run_in_background(lambda: check_project_interpreter(self.ws), self._on_interpreter_checked, self)
            case ev.AdoptScheduler(scheduler):
                self.project_scheduler = scheduler
                self.services[BEAT].replace_spec(commands.beat_spec(self.ws, self.broker_url(), self.runtime.dir,
                                                                    scheduler))
            case ev.StartService(key):
                self.services[key].start()
            case ev.StopService(key):
                self.services[key].stop()
            case ev.RestartService(key):
                self.services[key].restart()
            case ev.HoldAll():
                for service in self.services.values():
                    service.hold()
            case ev.KillAll():
                self._kill_services()
            case ev.Say(level, text):
                self.message.emit(level, text)
            case ev.SetPhase(phase):
                self._show_phase(phase)
            case ev.AnnounceReady():
                self.stackReady.emit()
            case ev.LeaveToReaper(keys):
                left = ", ".join(self.label(key) + (f" (pid {self.services[key].pid})"
                                                    if key in self.services and self.services[key].pid else "")
                                 for key in keys)
                self.message.emit("error", f"{left} did not end even when killed; leaving them to the reaper")
            case ev.FinishStop(forced):
                self._finish_stop(forced)
            case ev.EndRun():
                self._end_run()
            case ev.AnnounceStopped():
                self.stackStopped.emit()
            case _:
                raise TypeError(f"not an effect of the stack machine: {effect!r}")

    def _arm_deadline(self) -> None:
        deadline = self.machine.deadline
        if deadline is None:
            self._deadline_timer.stop()
        else:  # a millisecond late rather than early: an early timer would be ignored
            self._deadline_timer.start(max(0, int((deadline - self.machine.clock()) * 1000) + 1))

    def _show_phase(self, phase: StackPhase) -> None:
        if phase != self._phase:
            self._phase = phase
            self.phaseChanged.emit(phase)

    # -- starting ---------------------------------------------------------------------------------

    def _prepare_run(self) -> None:
        self.write_failures.reset()
        self.project_scheduler = None
        try:
            self.runtime.acquire_lock()
        except DeskError as exc:
            self._dispatch(ev.RunRefused((str(exc),)))
            return
        self.schedule_sync.start()  # before beat starts: it reads the mirror at once
        # Now rather than with the broker: the reaper's own start-up (a Python interpreter) then
        # runs beside the preflight instead of taking CPU from the services while they start.
        self.records.open()
        self._dispatch(ev.RunPrepared())

    def _on_preflight(self, result: Optional[PreflightResult], error: Optional[BaseException]) -> None:
        if error is not None:
            problem = error if isinstance(error, DeskError) else DeskError(masked(f"preflight failed: {error!r}"))
            self._dispatch(ev.PreflightFailed((str(problem),)))
            return
        for note in result.notes:
            self.message.emit("info", note)
        if result.problems:
            self._dispatch(ev.PreflightFailed(tuple(str(problem) for problem in result.problems)))
            return
        self._dispatch(ev.PreflightPassed(result.mode, f"broker: {result.mode} at {shown_url(self.broker_url())}"))

    def _on_interpreter_checked(self, info: Optional[InterpreterInfo], error: Optional[BaseException]) -> None:
        if error is not None:
            text = str(error) if isinstance(error, DeskError) else f"interpreter check failed: {error!r}"
            self._dispatch(ev.InterpreterChecked(False, text))
            return
        self._dispatch(ev.InterpreterChecked(True, f"project interpreter {self.ws.project.python}: "
                                                   f"Python {info.python}, celery {info.celery}, {info.client}"))

    def _on_scheduler_read(self, scheduler: Optional[ProjectScheduler], error: Optional[BaseException]) -> None:
        """Beat's command depends on the app's beat_scheduler: beat alone waits for the answer."""
        notes = ()
        if error is not None:
            from celerydesk.core.project_scheduler import STOCK_SCHEDULER

            text = error.message if isinstance(error, DeskError) else repr(error)
            notes = (("warning", f"beat: the app's beat_scheduler could not be read, so beat runs "
                                 f"celerydesk's live scheduler alone ({text})"),)
            scheduler = STOCK_SCHEDULER
        elif not scheduler.sends_workspace_schedules:
            notes = (("warning", scheduler.describe()),)
        elif scheduler.wrapped:
            notes = (("info", scheduler.describe()),)
        self._dispatch(ev.SchedulerRead(scheduler, notes))

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
            broker = self._make_process(self._local_broker_spec())
        self._connect(broker)
        self.services = {BROKER: broker, **self.services}  # the broker row comes first
        self.servicesChanged.emit()

    def _local_broker_spec(self) -> commands.ServiceSpec:
        if self.ws.broker.kind == RABBITMQ:
            from celerydesk.core.local_rabbitmq import local_rabbitmq_spec
            from celerydesk.core.ports import free_ports

            # Its inter-node port and its private epmd's: nothing outside the node uses them.
            return local_rabbitmq_spec(self.ws, self.runtime.rabbitmq_dir, *free_ports(2))
        return commands.local_broker_spec(self.ws, self.runtime.redis_dir)

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
        self.machine.add_service(service.key, service.kind, service.label, service.stop_timeout)
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
        self._dispatch(ev.ServiceChanged(key, state))

    # -- stopping ---------------------------------------------------------------------------------

    def _kill_services(self) -> None:
        for service in self.services.values():
            kill = getattr(service, "kill_now", None)
            if kill is not None:
                kill()
            else:  # a container or an external broker: its stop is as quick as it gets
                service.hold()
                service.stop()

    def _finish_stop(self, forced: bool) -> None:
        killed = [s for s in self.services.values() if getattr(s, "killed", False)]
        if not forced:
            for service in killed:
                self.message.emit("warning", f"{service.label} did not stop within its {service.stop_timeout:g} s "
                                             "stop timeout: its process group was killed")
        self.last_stop_clean = not forced and not self.write_failures.seen and not killed
        self.records.forget_processes()

    def _end_run(self) -> None:
        """Back to IDLE, whatever fails on the way: a stop always ends."""
        try:
            self.records.close()
            self.schedule_sync.stop()
        finally:
            self.runtime.release_lock()
            self._show_phase(StackPhase.IDLE)
            self.stackStopped.emit()

    # -- what the reaper and the runtime record must know -----------------------------------------

    def _on_container_started(self, container_id: str, what: str) -> None:
        self.message.emit("info", f"broker: {what}")
        self.records.container_started(container_id)
