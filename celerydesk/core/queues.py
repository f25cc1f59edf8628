"""How many messages wait in each queue of a Redis broker.

Kombu's Redis transport keeps a queue as a list named after it, plus one list per priority
step (``name\\x06\\x163``, ``\\x166``, ``\\x169``) when priorities are used.
"""

from __future__ import annotations

PRIORITY_SEPARATOR = "\x06\x16"
PRIORITY_STEPS = (3, 6, 9)


def queue_depths(url: str, queues: list[str], timeout: float = 1.0) -> dict[str, int]:
    import redis

    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        pipe = client.pipeline(transaction=False)
        for queue in queues:
            pipe.llen(queue)
            for step in PRIORITY_STEPS:
                pipe.llen(f"{queue}{PRIORITY_SEPARATOR}{step}")
        counts = pipe.execute()
    finally:
        client.close()
    per_queue = 1 + len(PRIORITY_STEPS)
    return {queue: sum(counts[i * per_queue:(i + 1) * per_queue]) for i, queue in enumerate(queues)}
