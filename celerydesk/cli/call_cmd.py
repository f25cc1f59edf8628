"""``celerydesk call TASK``: send a task by name to the workspace's broker, optionally wait.

Arguments are parsed as JSON (never evaluated) and refused before anything is sent. The task
is sent by name with celerydesk's broker client: the project's code is never imported here. With
``--wait``, the result comes from the worker's task events (workers run with ``-E``), so it
works whatever result backend the project has, or none.

Before sending, the call is checked (``--no-check`` skips it): the name against the tasks the
running workers registered (when one answers) or else against the project's introspection, and
the arguments against the task's signature. A refused call sends nothing and exits 2.
"""

from __future__ import annotations

import json
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Optional

from celerydesk.cli.main import add_workspace_option, workspace_client
from celerydesk.core import limits
from celerydesk.core.errors import DeskError
from celerydesk.core.introspection import check_call, introspect, unknown_task_message
from celerydesk.core.workspace import load_workspace


def add_parser(sub) -> None:
    p = sub.add_parser("call", help="send a task by name; --wait prints its result")
    p.add_argument("task", help="the registered task name, e.g. playground.tasks.notify_customers")
    add_workspace_option(p)
    p.add_argument("--args", default="[]", metavar="JSON", help='positional arguments, a JSON array: \'["Hello"]\'')
    p.add_argument("--kwargs", default="{}", metavar="JSON", help='keyword arguments, a JSON object: \'{"delay": 2}\'')
    p.add_argument("--queue", "-Q", help="the queue to send to (default: the task's route, usually celery)")
    # Numbers are read as text and checked in run(): a bad one is a DeskError with its range.
    p.add_argument("--countdown", metavar="S",
                   help=f"run no earlier than S seconds from now ({limits.COUNTDOWN.text()})")
    p.add_argument("--wait", nargs="?", const="60", metavar="SECONDS",
                   help=f"wait for the result, at most SECONDS (default 60; {limits.WAIT.text()})")
    p.add_argument("--no-check", action="store_true",
                   help="send without checking the name and arguments against the workers and the project")
    p.set_defaults(func=run)


def parse_json_arg(text: str, option: str, expected: type) -> object:
    example = "'[\"Hello\", 3]'" if expected is list else "'{\"delay\": 2}'"
    try:
        value = limits.load_json(text)
    except json.JSONDecodeError as exc:
        pointer = " " * (exc.pos + 4) + "^"
        raise DeskError(f"{option} is not valid JSON: {exc.msg} at column {exc.colno}\n    {text}\n{pointer}",
                        hint=f"quote strings with double quotes, e.g. {option} {example}") from None
    except ValueError as exc:  # NaN or Infinity, or nested too deeply
        raise DeskError(f"{option} is not accepted: {exc}", hint=f"e.g. {option} {example}") from None
    if not isinstance(value, expected):
        kind = "array" if expected is list else "object"
        raise DeskError(f"{option} must be a JSON {kind}, got {type(value).__name__}: {text}",
                        hint="wrap a single value: --args '[\"Hello\"]'" if expected is list
                        else "give names: --kwargs '{\"delay\": 2}'")
    return value


def registered_on_workers(client, expected: int) -> Optional[tuple[set, list]]:
    """(task names, worker names) the running workers registered; None when none answers.

    ``limit`` returns as soon as the workspace's workers have all replied instead of always
    waiting out the timeout; celery leaves its own ``celery.*`` tasks out of these lists.
    """
    try:
        replies = client.registered(timeout=1.0, limit=expected or None)
    except DeskError:  # a broker that drops the connection: judged by the project instead
        return None
    if not replies:
        return None
    names: set = set()
    for tasks in replies.values():
        names.update(tasks or [])
    return names, sorted(replies)


def refuse_bad_call(ws, client, name: str, args: list, kwargs: dict) -> None:
    """Raise a DeskError saying what is wrong with the call, before anything is sent."""
    with ThreadPoolExecutor(1) as pool:
        # Loading the project (cached, else about a second) overlaps the workers' replies.
        project = pool.submit(introspect, ws)
        on_workers = registered_on_workers(client, len(ws.workers))
        try:
            found, load_error = project.result(), None
        except DeskError as exc:
            found, load_error = None, exc
    anyway = "--no-check sends it anyway"
    if on_workers is not None:
        names, workers = on_workers
        where = f"on the running workers ({', '.join(workers)})"
        # celery leaves its own tasks out of the workers' lists: those are judged by the project
        if name in names or name.startswith("celery."):
            pass
        elif found is not None and name in found.tasks:
            raise DeskError(f"not sent: task {name!r} is not registered {where}; it is in the project's "
                            "code, added after they started",
                            hint=f"restart the workers (stop `celerydesk up` and start it again); {anyway}")
        else:
            raise DeskError(f"not sent: {unknown_task_message(name, names, where)}",
                            hint=f"`celerydesk tasks` lists the project's tasks; {anyway}")
    elif found is None:
        raise DeskError(f"not sent: no worker answered and the project could not be loaded to check {name!r}: "
                        f"{load_error.message}", hint=f"{load_error.hint}; {anyway}")
    elif name not in found.tasks:
        where = f"in the project's app {found.app.get('main')!r}"
        raise DeskError(f"not sent: {unknown_task_message(name, found.tasks, where)}",
                        hint=f"`celerydesk tasks` lists the project's tasks; {anyway}")
    if found is None:
        print(f"celerydesk: the arguments were not checked (the project could not be loaded here: "
              f"{load_error.message.splitlines()[0]})", file=sys.stderr)
    elif name in found.tasks:
        problem = check_call(found.tasks, name, args, kwargs)
        if problem:
            raise DeskError(f"not sent: {problem}",
                            hint=f"its signature: {name}{found.tasks[name].signature()}; {anyway}")


def run(args) -> int:
    countdown = limits.number_option(args.countdown, "--countdown", limits.COUNTDOWN) \
        if args.countdown is not None else None
    wait = limits.number_option(args.wait, "--wait", limits.WAIT) if args.wait is not None else None
    task_args = parse_json_arg(args.args, "--args", list)
    task_kwargs = parse_json_arg(args.kwargs, "--kwargs", dict)
    ws = load_workspace(args.workspace)

    from celerydesk.cli.task_wait import ResultWaiter
    from celerydesk.core.broker_client import SendOptions, new_task_id

    client = workspace_client(ws, args.workspace)
    client.refuse_if_read_only(f"send {args.task}")  # before the checks ask the workers anything
    client.require_answer()
    if not args.no_check:
        refuse_bad_call(ws, client, args.task, task_args, task_kwargs)
    task_id = new_task_id()
    waiter = ResultWaiter.armed(client, task_id, client.start_hint) if wait is not None else None
    client.send(args.task, task_args, task_kwargs, SendOptions(queue=args.queue, countdown=countdown),
                task_id=task_id, via="call")
    print(f"sent {args.task}[{task_id}]", flush=True)
    if waiter is None:
        return 0
    return waiter.report(args.task, wait + (countdown or 0), args.queue)
