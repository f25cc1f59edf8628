"""``celerydesk call TASK``: send a task by name to the workspace's broker, optionally wait.

Arguments are parsed as JSON (never evaluated) and refused before anything is sent. The task
is sent by name with a bare Celery client: the project's code is never imported here. With
``--wait``, the result comes from the worker's task events (workers run with ``-E``), so it
works whatever result backend the project has, or none.
"""

from __future__ import annotations

import json
import sys
import threading
from typing import Optional

from celerydesk.cli.main import add_workspace_option
from celerydesk.core.errors import DeskError
from celerydesk.core.workspace import load_workspace

EXIT_FAILED, EXIT_BAD_INPUT, EXIT_TIMEOUT = 1, 2, 3


def add_parser(sub) -> None:
    p = sub.add_parser("call", help="send a task by name; --wait prints its result")
    p.add_argument("task", help="the registered task name, e.g. playground.tasks.notify_customers")
    add_workspace_option(p)
    p.add_argument("--args", default="[]", metavar="JSON", help='positional arguments, a JSON array: \'["Hello"]\'')
    p.add_argument("--kwargs", default="{}", metavar="JSON", help='keyword arguments, a JSON object: \'{"delay": 2}\'')
    p.add_argument("--queue", "-Q", help="the queue to send to (default: the task's route, usually celery)")
    p.add_argument("--countdown", type=float, metavar="S", help="run no earlier than S seconds from now")
    p.add_argument("--wait", type=float, nargs="?", const=60.0, metavar="SECONDS",
                   help="wait for the result, at most SECONDS (default 60)")
    p.set_defaults(func=run)


def parse_json_arg(text: str, option: str, expected: type) -> object:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        pointer = " " * (exc.pos + 4) + "^"
        raise DeskError(f"{option} is not valid JSON: {exc.msg} at column {exc.colno}\n    {text}\n{pointer}",
                        hint=f"quote strings with double quotes, e.g. {option} " +
                        ("'[\"Hello\", 3]'" if expected is list else "'{\"delay\": 2}'")) from None
    if not isinstance(value, expected):
        kind = "array" if expected is list else "object"
        raise DeskError(f"{option} must be a JSON {kind}, got {type(value).__name__}: {text}",
                        hint="wrap a single value: --args '[\"Hello\"]'" if expected is list
                        else "give names: --kwargs '{\"delay\": 2}'")
    return value


class _ResultWaiter(threading.Thread):
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


def run(args) -> int:
    task_args = parse_json_arg(args.args, "--args", list)
    task_kwargs = parse_json_arg(args.kwargs, "--kwargs", dict)
    ws = load_workspace(args.workspace)
    url = ws.broker_url()

    from celery import Celery

    from celerydesk.services.external_broker import broker_answers

    if not broker_answers(url, timeout=2.0):
        raise DeskError(f"the broker at {url} does not answer", hint="start the stack first: celerydesk up")
    app = Celery("celerydesk-call", broker=url, set_as_current=False)
    waiter = None
    if args.wait is not None:
        waiter = _ResultWaiter(app)
        waiter.start()
        if not waiter.listening.wait(10) or waiter.error:
            raise DeskError(f"could not listen for task events on {url}: {waiter.error}")
    options = {}
    if args.queue:
        options["queue"] = args.queue
    if args.countdown is not None:
        options["countdown"] = args.countdown
    result = app.send_task(args.task, args=task_args, kwargs=task_kwargs, **options)
    if waiter is not None:
        waiter.task_id = result.id
    print(f"sent {args.task}[{result.id}]", flush=True)
    if waiter is None:
        return 0
    if not waiter.finished.wait(args.wait + (args.countdown or 0)):
        print(f"celerydesk: no result for {result.id} within {args.wait:g} s; is a worker consuming "
              f"queue {args.queue or 'celery'} and is {args.task} registered on it? (celerydesk logs worker)",
              file=sys.stderr)
        return EXIT_TIMEOUT
    event = waiter.event
    if event["type"] == "task-succeeded":
        print(event.get("result"))
        return 0
    if event["type"] == "task-failed":
        print(f"{args.task}[{result.id}] failed: {event.get('exception')}", file=sys.stderr)
        if event.get("traceback"):
            print(event["traceback"].rstrip(), file=sys.stderr)
        return EXIT_FAILED
    print(f"{args.task}[{result.id}] was {event['type'][5:]}", file=sys.stderr)
    return EXIT_FAILED
