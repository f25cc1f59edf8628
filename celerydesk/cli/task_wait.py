"""Waiting for a task's outcome from its events (``call --wait``, ``retry --wait``).

The waiter listens to the broker's task events before the task is sent (a quick task's events
may come before the send returns), so it works whatever result backend the project has, or
none (workers run with ``-E``). ``report`` prints the result (exit 0), or the exception and its
traceback (exit 1), or gives up after the time given (exit 3).
"""

from __future__ import annotations

import sys
import threading
from typing import Optional

from celerydesk.core.errors import DeskError

EXIT_FAILED, EXIT_TIMEOUT = 1, 3


def readable_result(text: Optional[str]) -> str:
    """A task-succeeded event carries the result's repr: a string shows without its quotes and
    escapes, anything else as it came. (ast.literal_eval only reads literals, never runs code.)"""
    import ast

    try:
        value = ast.literal_eval(text or "")
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return str(text)
    return value if isinstance(value, str) else str(text)


class ResultWaiter(threading.Thread):
    """Listens to task events for one task id; armed before the task is sent."""

    def __init__(self, app):
        super().__init__(daemon=True, name="celerydesk-call-wait")
        self.app = app
        self.task_id: Optional[str] = None
        self.listening = threading.Event()
        self.finished = threading.Event()
        self.event: Optional[dict] = None
        self.error: Optional[BaseException] = None

    def run(self) -> None:
        waiter = self

        def on_event(event: dict) -> None:
            if event.get("uuid") == waiter.task_id and event["type"] in (
                    "task-succeeded", "task-failed", "task-revoked", "task-rejected"):
                waiter.event = event
                waiter.finished.set()

        try:
            with self.app.connection_for_read() as conn:
                receiver = self.app.events.Receiver(conn, handlers={"*": on_event})
                original = receiver.on_consume_ready

                def on_ready(*a, **kw):
                    original(*a, **kw)
                    waiter.listening.set()

                receiver.on_consume_ready = on_ready
                receiver.should_stop = False
                for _ in receiver.consume(limit=None, timeout=None, wakeup=False):
                    if waiter.finished.is_set():
                        break
        except BaseException as exc:  # reported by the main thread
            self.error = exc
            self.listening.set()
            self.finished.set()

    @classmethod
    def armed(cls, client, task_id: str, start_hint: Optional[str] = None) -> "ResultWaiter":
        """A waiter listening for ``task_id`` (a DeskError when the events cannot be listened to)."""
        from celerydesk.core.broker_errors import broker_error

        waiter = cls(client.app)
        waiter.task_id = task_id
        waiter.start()
        if not waiter.listening.wait(10) or waiter.error:
            if waiter.error is not None:
                raise broker_error(waiter.error, client.url, start_hint)
            raise DeskError("could not listen for task events within 10 s", hint="is the broker overloaded?")
        return waiter

    def report(self, name: str, wait: float, queue: Optional[str] = None) -> int:
        """Print what became of the task within ``wait`` seconds; the exit code."""
        task_id = self.task_id
        if not self.finished.wait(wait):
            print(f"celerydesk: no result for {task_id} within {wait:g} s; is a worker consuming "
                  f"queue {queue or 'celery'} and is {name} registered on it? (celerydesk logs worker)",
                  file=sys.stderr)
            return EXIT_TIMEOUT
        event = self.event
        if event is None:  # the events' connection broke meanwhile
            raise DeskError(f"stopped hearing the broker's task events while waiting for {task_id}: {self.error}",
                            hint=f"`celerydesk history show {task_id}` says what became of it")
        if event["type"] == "task-succeeded":
            print(readable_result(event.get("result")))
            return 0
        if event["type"] == "task-failed":
            print(f"{name}[{task_id}] failed: {event.get('exception')}", file=sys.stderr)
            if event.get("traceback"):
                print(event["traceback"].rstrip(), file=sys.stderr)
            return EXIT_FAILED
        print(f"{name}[{task_id}] was {event['type'][5:]}", file=sys.stderr)
        return EXIT_FAILED
