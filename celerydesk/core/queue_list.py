"""Which queues a workspace's queue list shows, and what is known of each.

A queue is listed when any of these names it (its ``sources``):

- ``workspace``: a ``[[workers]]`` table consumes it, or it is celery's default (``celery``);
- ``app``: the app's ``task_queues`` and its tasks' routes, as introspection reports them;
- ``workers``: a running worker consumes it (``inspect active_queues``), ours or not;
- ``broker``: the broker holds it (Redis: its bindings and lists; RabbitMQ: its management API);
- ``history``: tasks were seen going to it (the task history's queue names).

Each row has the messages waiting and, where the broker reports them, its consumers, plus the
workers that said they consume it. No Qt: the CLI calls it, and the window's depth poll uses
``workspace_queues``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Iterable, Mapping, Optional

WORKSPACE, APP, WORKERS, BROKER, HISTORY = "workspace", "app", "workers", "broker", "history"


@dataclass
class QueueRow:
    name: str
    messages: int
    consumers: Optional[int]  # None where the broker does not say (Redis)
    workers: list[str] = field(default_factory=list)  # those that said they consume it
    sources: list[str] = field(default_factory=list)

    def as_json(self) -> dict:
        return asdict(self)


def workspace_queues(ws) -> set[str]:
    """The queues a workspace's workers consume, and celery's default one."""
    return {q for w in ws.workers for q in w.queues} | {"celery"}


def app_queues(introspection) -> set[str]:
    """The app's configured queues and its tasks' routes (``core.introspection``'s answer)."""
    names = set(introspection.app.get("queues") or ())
    default = introspection.app.get("default_queue")
    if default:
        names.add(default)
    names.update(task.queue for task in introspection.tasks.values() if task.queue)
    return names


def consumers_by_queue(active_queues: Mapping[str, list]) -> dict[str, list[str]]:
    """``inspect active_queues``'s answer, ``{worker: [{"name": queue, ...}]}``, turned around."""
    out: dict[str, list[str]] = {}
    for worker, queues in active_queues.items():
        for queue in queues or ():
            name = queue.get("name") if isinstance(queue, dict) else None
            if name:
                out.setdefault(name, []).append(worker)
    return {name: sorted(workers) for name, workers in out.items()}


def build_rows(named: Mapping[str, Iterable[str]], stats: Mapping, listed: Mapping,
               consumers: Mapping[str, list[str]]) -> list[QueueRow]:
    """The rows, by name. ``named``: source -> queue names; ``stats``: the counts of those
    names; ``listed``: the broker's own list with its counts; ``consumers``: queue -> workers."""
    sources: dict[str, list[str]] = {}
    for source, names in named.items():
        for name in names:
            sources.setdefault(name, []).append(source)
    for name in listed:
        sources.setdefault(name, []).append(BROKER)
    for name in consumers:
        if WORKERS not in sources.setdefault(name, []):
            sources[name].append(WORKERS)
    rows = []
    for name in sorted(sources):
        counts = listed.get(name) or stats.get(name)
        rows.append(QueueRow(name, counts.messages if counts else 0, counts.consumers if counts else None,
                             list(consumers.get(name, [])), sources[name]))
    return rows
