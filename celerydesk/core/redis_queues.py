"""How a Redis broker keeps celery's queues: the fast path of depths and purge.

Kombu's Redis transport keeps a queue as a list named after it, plus one list per priority
step (``name\\x06\\x163``, ``\\x166``, ``\\x169``) when priorities are used. Both functions take
a redis-py client (``BrokerClient`` keeps one per broker) and cost one round trip.
"""

from __future__ import annotations

PRIORITY_SEPARATOR = "\x06\x16"
PRIORITY_STEPS = (3, 6, 9)


def queue_keys(queue: str) -> list[str]:
    """The lists holding ``queue``'s messages: its own, then one per priority step."""
    return [queue] + [f"{queue}{PRIORITY_SEPARATOR}{step}" for step in PRIORITY_STEPS]


def queue_depths(client, queues: list[str]) -> dict[str, int]:
    pipe = client.pipeline(transaction=False)
    for queue in queues:
        for key in queue_keys(queue):
            pipe.llen(key)
    counts = pipe.execute()
    per_queue = 1 + len(PRIORITY_STEPS)
    return {queue: sum(counts[i * per_queue:(i + 1) * per_queue]) for i, queue in enumerate(queues)}


def purge_queue(client, queue: str) -> int:
    """Delete every waiting message of ``queue``, its priority lists included; return how many."""
    keys = queue_keys(queue)
    pipe = client.pipeline(transaction=True)
    for key in keys:
        pipe.llen(key)
    pipe.delete(*keys)
    counts = pipe.execute()
    return sum(counts[:len(keys)])
