"""Changing a running worker, and keeping the change for a worker celerydesk starts.

Each action checks what it is given and what the worker can do first (a solo or threads pool
has a fixed size; a worker that autoscales takes a range, not a size; a queue it does not consume
cannot be cancelled), then sends one celery control command to that one worker through
``BrokerClient.control_worker`` (the one door a read-only guard covers), and reports what the
worker replied. Where celery replies before the change is made (the pool's processes start and
stop a moment later; a consumer is added on the worker's next loop), the action asks again until
it sees the change, and says so if it does not: a reply is never taken for the result.

``save_to_workspace`` writes a worker's concurrency, autoscale range or queues to its
``[[workers]]`` entry (``core.workspace_edit``: comments kept, atomic), so that the change
holds when the stack starts it again. Rate and time limits have no place in the workspace: they
last until the worker restarts.

No Qt: the CLI calls these directly, the window on its background pool.
"""

from __future__ import annotations

import re
import time
from typing import Callable, Optional

from celerydesk.core import limits
from celerydesk.core.errors import DeskError
from celerydesk.core.worker_list import WorkerFacts, facts_from_stats
from celerydesk.core.worker_resources import parse_stats

FIXED_POOLS = ("solo", "threads")  # celery cannot grow or shrink these once started
SETTLE_S = 10.0  # how long a change celery makes after its reply is waited for
RATE = re.compile(r"^(?:\d+(?:\.\d+)?)(?:/[smh])?$")
TIME_LIMIT = limits.Bounds(0.0, limits.DAY_S, "seconds")
Clock = Callable[[], float]


def check_rate(rate: str) -> str:
    """A rate celery takes: ``10/m``, ``2/h``, ``0.5/s``, ``100`` (per second); ``0`` lifts it."""
    rate = rate.strip()
    if not RATE.match(rate):
        raise DeskError(f"rate {rate!r}: expected a number of tasks per second, minute or hour, like 10/m",
                        hint="write N/s, N/m or N/h (N may have decimals, as 0.5/s); 0 lifts the limit")
    return rate


def check_time_limit(value: Optional[float], what: str) -> Optional[float]:
    if value is None:
        return None
    problem = limits.out_of_bounds(value, TIME_LIMIT)
    if problem:
        raise DeskError(f"{what}: {problem}", hint="give seconds, or leave it out for no limit")
    return float(value)


def worker_state(client, name: str, timeout: float = 2.0) -> WorkerFacts:
    """What one worker says of its pool, autoscale range and queues now."""
    stats = client.inspect("stats", timeout=timeout, destination=[name], limit=1)
    if name not in stats:
        raise DeskError(f"{name} did not answer within {timeout:g} s: nothing was sent to it",
                        hint="see which workers answer: celerydesk workers")
    facts = facts_from_stats(name, stats[name], parse_stats(stats).get(name))
    queues = client.inspect("active_queues", timeout=timeout, destination=[name], limit=1).get(name) or []
    facts.queues = [q["name"] for q in queues if isinstance(q, dict) and q.get("name")]
    return facts


def scale(client, name: str, size: int, settle: float = SETTLE_S, clock: Clock = time.monotonic) -> str:
    """Grow or shrink the pool of ``name`` to ``size`` processes (pool_grow / pool_shrink)."""
    bounds = limits.CONCURRENCY["prefork"]
    if not bounds.allows(size):
        raise DeskError(f"pool size {size}: must be {bounds.text()}")
    state = worker_state(client, name)
    if state.pool in FIXED_POOLS:
        raise DeskError(f"{name} runs the {state.pool} pool, whose size cannot change while it runs: nothing was sent",
                        hint="restart it with another concurrency (for a worker of this stack: `concurrency` in "
                             "its [[workers]] entry, then restart)")
    if state.autoscale:
        high, low = state.autoscale
        raise DeskError(f"{name} autoscales between {low} and {high} processes: its size follows the load",
                        hint=f"set the range instead: celerydesk workers autoscale {name} MAX MIN")
    current = state.concurrency
    if current is None:
        raise DeskError(f"{name} did not say how big its pool is: nothing was sent")
    if size == current:
        return f"{name}: the pool has {size} processes already"
    command = "pool_grow" if size > current else "pool_shrink"
    said = client.control_worker(name, command, n=abs(size - current))
    now = _wait_for(lambda: worker_state(client, name).concurrency, size, settle, clock)
    if now != size:
        raise DeskError(f"{name} answered {said!r}, but its pool has {now} processes after {settle:g} s, not {size}",
                        hint="a busy pool process is only stopped once idle: look again with celerydesk workers")
    return f"{name}: pool {'grown' if size > current else 'shrunk'} from {current} to {size} processes ({said})"


def autoscale(client, name: str, high: int, low: int) -> str:
    """Set the autoscale range of a worker started with ``--autoscale``."""
    bounds = limits.CONCURRENCY["prefork"]
    if not (0 <= low <= high and bounds.allows(high)):
        raise DeskError(f"autoscale {high} {low}: needs 0 <= MIN <= MAX and MAX {bounds.text()}")
    state = worker_state(client, name)
    if not state.autoscale:
        raise DeskError(f"{name} was started without --autoscale: it has no range to change; nothing was sent",
                        hint="for a worker of this stack, set autoscale = [MAX, MIN] in its [[workers]] entry and "
                             f"restart the stack; or change its size: celerydesk workers scale {name} N")
    return f"{name}: {client.control_worker(name, 'autoscale', max=high, min=low)}"


def rate_limit(client, name: str, task: str, rate: str) -> str:
    rate = check_rate(rate)
    return f"{name}: {task}: {client.control_worker(name, 'rate_limit', task_name=task, rate_limit=rate)}"


def time_limit(client, name: str, task: str, soft: Optional[float], hard: Optional[float]) -> str:
    soft, hard = check_time_limit(soft, "soft limit"), check_time_limit(hard, "hard limit")
    if soft is not None and hard is not None and soft > hard:
        raise DeskError(f"the soft limit ({soft:g} s) is above the hard limit ({hard:g} s)",
                        hint="the soft limit raises SoftTimeLimitExceeded in the task first: make it the smaller")
    said = client.control_worker(name, "time_limit", task_name=task, soft=soft, hard=hard)
    return f"{name}: {task}: {said} (soft {_seconds(soft)}, hard {_seconds(hard)})"


def consume(client, name: str, queue: str, settle: float = SETTLE_S, clock: Clock = time.monotonic) -> str:
    """Have ``name`` consume from ``queue`` too (add_consumer), and see that it does."""
    queue = _queue_name(queue)
    if queue in worker_state(client, name).queues:
        return f"{name} consumes from {queue} already"
    said = client.control_worker(name, "add_consumer", queue=queue)
    if not _wait_for(lambda: queue in worker_state(client, name).queues, True, settle, clock):
        raise DeskError(f"{name} answered {said!r}, but does not list {queue} among its queues after {settle:g} s")
    return f"{name}: {said}"


def cancel(client, name: str, queue: str, settle: float = SETTLE_S, clock: Clock = time.monotonic) -> str:
    """Have ``name`` stop consuming from ``queue`` (cancel_consumer), and see that it stopped."""
    queue = _queue_name(queue)
    queues = worker_state(client, name).queues
    if queue not in queues:
        raise DeskError(f"{name} does not consume from {queue!r}: nothing was sent",
                        hint=f"it consumes from: {', '.join(queues) or 'no queue'}")
    said = client.control_worker(name, "cancel_consumer", queue=queue)
    if not _wait_for(lambda: queue not in worker_state(client, name).queues, True, settle, clock):
        raise DeskError(f"{name} answered {said!r}, but still lists {queue} among its queues after {settle:g} s")
    return f"{name}: {said}"


def shutdown(client, name: str, settle: float = 30.0, clock: Clock = time.monotonic) -> str:
    """Ask ``name`` to shut down (warm: its running tasks finish first). A worker does not answer
    this command, so the answer is whether it still answers ping afterwards."""
    if name not in client.ping(timeout=2.0, destination=[name]):
        raise DeskError(f"{name} does not answer ping: nothing was sent",
                        hint="see which workers answer: celerydesk workers")
    client.control_worker(name, "shutdown", reply=False)
    gone = _wait_for(lambda: name not in client.ping(timeout=1.0, destination=[name]), True, settle, clock)
    if not gone:
        raise DeskError(f"{name} was asked to shut down and still answers after {settle:g} s",
                        hint="it finishes its running tasks first; look again with celerydesk workers")
    return f"{name} has shut down (it no longer answers ping)"


# -- keeping a change ---------------------------------------------------------------------------------


def save_to_workspace(path, worker: str, **changes) -> list[str]:
    """Write ``changes`` (concurrency, autoscale as (max, min) or None, queues) to the ``[[workers]]``
    entry called ``worker`` of the workspace file at ``path``; what changed, as ``key: old → new``
    (empty when the file already says so). Validated and written atomically, comments kept."""
    from celerydesk.core.workspace_edit import WorkspaceDocument  # here: only a save loads tomlkit

    doc = WorkspaceDocument.load(path)
    try:
        effective = doc.validate().worker(worker)  # what the file says, defaults included
    except KeyError:
        raise DeskError(f"the workspace has no [[workers]] entry called {worker!r}: nothing saved") from None
    values, said = {}, []
    for key, value in changes.items():
        old = getattr(effective, key)
        if _plain(old) != _plain(value):
            values[key] = None if value is None else _plain(value)
            said.append(f"{key}: {_shown(old)} → {_shown(value)}")
    if values:
        doc.update_worker(worker, **values)
        doc.save()
    return said


def live_settings(state: WorkerFacts) -> dict:
    """What of a running worker ``save_to_workspace`` keeps: its pool size (unless it autoscales),
    its autoscale range, its queues."""
    out: dict = {"autoscale": state.autoscale, "queues": list(state.queues)}
    if not state.autoscale and state.concurrency is not None:
        out["concurrency"] = state.concurrency
    return out


def _plain(value):
    return list(value) if isinstance(value, tuple) else value


def _shown(value) -> str:
    if value is None:
        return "none"
    return ", ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def _queue_name(queue: str) -> str:
    queue = queue.strip()
    if not queue:
        raise DeskError("no queue named", hint="give the queue's name")
    return queue


def _seconds(value: Optional[float]) -> str:
    return "none" if value is None else f"{value:g} s"


def _wait_for(read: Callable[[], object], wanted, settle: float, clock: Clock):
    """``read()`` until it gives ``wanted`` or ``settle`` seconds passed; its last value."""
    deadline = clock() + settle
    while True:
        value = read()
        if value == wanted or clock() >= deadline:
            return value
        time.sleep(0.3)
