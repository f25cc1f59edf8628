"""A scripted broker client for widget tests: a real in-process object with ``BrokerClient``'s
interface, whose queues, workers and failures a test sets, and which records every call.

Hand it to ``DeskContext(stack, client=FakeBrokerClient())``: the window's services run their
calls on it, off the GUI thread as they would on a real broker. It keeps what was sent (the
messages' task, arguments and options), answers depths from its own queues, and raises a
``DeskError`` made as the real client would (``call_error``) for the methods told to fail.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Iterator, Optional, Sequence

from celerydesk.core.broker_client import BATCH_COPIES, QueueStats, SendOptions, call_error, new_task_id
from celerydesk.core.urls import shown_url


@dataclass
class Call:
    method: str
    args: tuple
    thread: str  # the thread's name: the GUI thread must never be one


@dataclass
class Sent:
    task_id: str
    name: str
    args: list
    kwargs: dict
    options: SendOptions = field(default_factory=SendOptions)
    via: str = "call"  # who sent it, as the real client records it for the history


class FakeBrokerClient:
    def __init__(self, url: str = "redis://:fake-pw@127.0.0.1:6399/0", start_hint: str = "start the stack first"):
        self.url = url
        self.backend = None
        self.start_hint = start_hint
        self.read_only = False  # as a real client of a workspace that is not read-only
        self.environment = "fake"
        self.up = True  # False: answers() is False, require_answer raises as the real one
        self.queues: dict[str, int] = {}  # messages waiting, per queue
        self.workers: dict[str, list[str]] = {}  # registered task names, per worker
        self.sent: list[Sent] = []
        self.calls: list[Call] = []
        self.failing: dict[str, BaseException] = {}  # method -> what it raises (until cleared)
        self._lock = threading.Lock()

    # -- scripting --------------------------------------------------------------------------

    def fail(self, method: str, exc: Optional[BaseException] = None) -> None:
        """From now on ``method`` fails as the real client does when the broker refuses."""
        self.failing[method] = exc or ConnectionRefusedError(111, "Connection refused")

    def heal(self, method: str) -> None:
        self.failing.pop(method, None)

    def count(self, method: str) -> int:
        with self._lock:
            return sum(call.method == method for call in self.calls)

    def _record(self, method: str, *args) -> None:
        with self._lock:
            self.calls.append(Call(method, args, threading.current_thread().name))
            exc = self.failing.get(method)
        if exc is not None:
            raise call_error(self.url, f"{method} (scripted)", exc, self.start_hint)

    # -- the client's interface ---------------------------------------------------------------

    @property
    def shown_url(self) -> str:
        return shown_url(self.url)

    @property
    def is_redis(self) -> bool:
        return self.url.startswith("redis")

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *_exc) -> None:
        pass

    def answers(self, timeout: float = 2.0) -> bool:
        self._record("answers")
        return self.up

    def require_answer(self, timeout: float = 2.0) -> None:
        if not self.answers(timeout):
            raise call_error(self.url, "asking", ConnectionRefusedError(111, "Connection refused"), self.start_hint)

    def send(self, name: str, args: Sequence = (), kwargs: Optional[dict] = None,
             options: SendOptions = SendOptions(), task_id: Optional[str] = None, via: str = "call",
             record: bool = True) -> str:
        self._record("send", name)
        sent = Sent(task_id or new_task_id(), name, list(args), dict(kwargs or {}), options, via)
        with self._lock:
            self.sent.append(sent)
            queue = options.queue or "celery"
            self.queues[queue] = self.queues.get(queue, 0) + 1
        return sent.task_id

    def record_sent(self, task_ids, name, args, kwargs, via, queue=None) -> bool:
        return False  # no spool: the widget tests read what was sent from ``sent``

    def send_batches(self, name: str, args: Sequence = (), kwargs: Optional[dict] = None,
                     options: SendOptions = SendOptions(), sent_events: bool = True,
                     via: str = "launch") -> Iterator[list[str]]:
        total, done = max(1, options.copies), 0
        while done < total:
            batch = [self.send(name, args, kwargs, options, via=via) for _ in range(min(BATCH_COPIES, total - done))]
            done += len(batch)
            yield batch

    def revoke(self, task_ids, terminate: bool = False, signal: str = "SIGTERM") -> None:
        self._record("revoke", task_ids, terminate)

    def ping(self, timeout: float = 1.0, destination=None) -> list[str]:
        self._record("ping")
        return sorted(self.workers)

    def inspect(self, method: str, timeout: float = 1.0, destination=None, limit=None, **arguments) -> dict:
        self._record("inspect", method)
        return dict(self.workers) if method == "registered" else {}

    def registered(self, timeout: float = 1.0, limit: Optional[int] = None) -> dict[str, list[str]]:
        self._record("registered")
        return {worker: list(names) for worker, names in self.workers.items()}

    def control(self, command: str, *, destination=None, timeout: float = 1.0, reply: bool = True,
                **arguments) -> list[dict]:
        self._record("control", command, arguments)
        return [{worker: {"ok": command}} for worker in self.workers] if reply else []

    def depths(self, queues: Sequence[str]) -> dict[str, int]:
        return {name: stats.messages for name, stats in self.queue_stats(queues).items()}

    def queue_stats(self, queues: Sequence[str]) -> dict[str, QueueStats]:
        self._record("depths", tuple(queues))
        with self._lock:
            return {name: QueueStats(self.queues.get(name, 0)) for name in dict.fromkeys(queues)}

    def broker_queues(self) -> tuple[dict[str, QueueStats], Optional[str]]:
        """As a broker that cannot list its queues: the poll keeps to those it knows by name."""
        self._record("broker_queues")
        return {}, None

    def peek(self, queue: str, limit: int = 10) -> list:
        """No message bodies are kept here, only counts: nothing to show."""
        self._record("peek", queue, limit)
        return []

    def purge(self, queue: str) -> int:
        self._record("purge", queue)
        with self._lock:
            return self.queues.pop(queue, 0)
