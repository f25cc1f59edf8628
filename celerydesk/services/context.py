"""What one window's widgets share, in one object handed to each of them (as git-cola's
``ApplicationContext`` is): the stack, the broker service, the launcher, the queue-depth poll,
the project's introspection, the interpreter check, the event monitor, the task history, the
alerts, and the processes' memory and CPU (``resources``; ``worker_stats`` for the workers
celerydesk did not start).

Widgets take the context in their constructor and build none of these: no widget makes a
broker client, a Celery app, a subprocess or a poller of its own. ``message`` is the one path
to the window's banner: the stack's messages and the broker service's come out of it.
The context is made per workspace (with its stack) and shut down with the window.
"""

from __future__ import annotations

from typing import Callable, Optional

from PySide6.QtCore import QObject, Signal

from celerydesk.core.broker_client import BrokerClient
from celerydesk.core.history.sent import spool_dir
from celerydesk.core.queue_list import app_queues
from celerydesk.services.broker import BrokerService
from celerydesk.services.interpreter_check import InterpreterCheck
from celerydesk.services.launcher import Launcher
from celerydesk.services.project_introspection import ProjectIntrospection
from celerydesk.services.queue_depths import QueueDepths
from celerydesk.services.worker_resources import RemoteWorkerStats, ResourceMonitor

MONITOR_CAPACITY = 10_000  # tasks the monitor keeps until the user sets another number


class DeskContext(QObject):
    message = Signal(str, str)  # level (info | warning | error), text: the banner's one source
    workspaceSaved = Signal(str)  # a page wrote the workspace file (its path): the next start must use it

    def __init__(self, stack, *, client: Optional[BrokerClient] = None,
                 introspect: Optional[Callable] = None, parent=None):
        """``client`` and ``introspect`` are for tests (a scripted client, a canned project);
        by default the stack's broker URL and the project's own interpreter."""
        super().__init__(parent)
        self.stack = stack
        start = None if stack.ws.broker.mode == "external" else "start the stack first (Start all, Ctrl+Shift+S)"
        # Every task the window sends is recorded with its exact arguments for the history.
        # A read-only environment's client refuses every change (core.environment).
        self.broker = BrokerService(client or BrokerClient(stack.broker_url(), start_hint=start,
                                                           management=stack.ws.management_api(),
                                                           sent_spool=spool_dir(stack.runtime.dir),
                                                           read_only=stack.ws.environment.read_only,
                                                           environment=stack.ws.environment_name), parent=self)
        self.launcher = Launcher(self.broker, parent=self)
        self.depths = QueueDepths(stack, self.broker, parent=self)
        self.introspection = ProjectIntrospection(stack.ws, introspect, parent=self)
        # The app's own queues (task_queues, its tasks' routes), once the project has been read.
        self.depths.add_source(lambda: app_queues(self.introspection.latest) if self.introspection.latest else ())
        self.interpreter = InterpreterCheck(parent=self)
        self.resources = ResourceMonitor(stack, parent=self)
        self.worker_stats = RemoteWorkerStats(self.broker, parent=self)
        self._monitor = None
        self._history = None
        self._alerts = None
        stack.message.connect(self.message)
        self.broker.message.connect(self.message)

    @property
    def history(self):
        """The workspace's task history (``services.history``), made on first use."""
        if self._history is None:
            from celerydesk.services.history import HistoryService  # here: not on the first paint's path

            self._history = HistoryService(self.stack.ws, parent=self, runtime_dir=self.stack.runtime.dir)
            self._history.message.connect(self.message)
            self.depths.depthsChanged.connect(self._history.record_depths)
        return self._history

    @property
    def alerts(self):
        """The workspace's alert rules evaluated over what this window watches (``services.alerts``),
        made on first use (with the event monitor: it is one of its sinks)."""
        if self._alerts is None:
            from celerydesk.services.alerts import AlertService  # here: not on the first paint's path

            self._alerts = AlertService(self.stack.ws.alerts, self.history, self.depths, self.stack,
                                        parent=self)
        return self._alerts

    @property
    def alerts_made(self) -> bool:
        return self._alerts is not None

    def event_monitor(self, capacity: int = MONITOR_CAPACITY):
        """The window's event monitor, made and started on first use (the Tasks page's build),
        with the history recording what it sees; ``capacity`` counts only then."""
        if self._monitor is None:
            from celerydesk.services.event_monitor import EventMonitor  # here: not on the first paint's path

            history = self.history
            history.start()
            self._monitor = EventMonitor(self.stack.broker_url(), capacity=capacity,
                                         sinks=[history.submit, self.alerts.submit], parent=self)
            self._monitor.start()
            store = self._monitor.store  # the depth poll also asks for the queues tasks went to
            self.depths.add_source(lambda: {r.queue for r in store.tasks.values() if r.queue})
        return self._monitor

    def shutdown(self) -> None:
        """Stop the threads and timers (the event consumer, the polls, the history's writer and
        reads); close the client."""
        self.depths.stop()
        if self._alerts is not None:
            self._alerts.stop()
        self.resources.stop()
        self.worker_stats.stop()
        if self._monitor is not None:
            self._monitor.stop()
        if self._history is not None:
            self._history.shutdown()
        self.broker.client.close()
