"""How a Redis broker keeps celery's queues: depths, purge, the queues it holds, and the messages in them.

Kombu's Redis transport keeps a queue as a list named after it, plus one list per priority
step (``name\\x06\\x163``, ``\\x166``, ``\\x169``) when priorities are used. A message is pushed
on the left (LPUSH) and a worker pops from the right (BRPOP), going through the lists in that
order: the queue's own (priorities 0-2) first, then 3, 6 and 9. So the next message to be
delivered is the rightmost of the first list that holds one. Every function takes a redis-py
client (``BrokerClient`` keeps one per broker).

Looking never consumes: peek reads the lists (LRANGE). Delete and move change one message
atomically on the server: delete is ``LREM key 1 <the message's exact bytes>``; move is a Lua
script that does that LREM and, only if it removed the message, the LPUSH onto the other queue,
as one step (Redis runs a script whole, nothing in between). A message a worker took meanwhile
is simply not found: nothing is lost, nothing is delivered twice.
"""

from __future__ import annotations

from typing import Iterator, Optional

from celerydesk.core.queue_messages import QueueMessage, from_redis, redis_envelope_moved

PRIORITY_SEPARATOR = "\x06\x16"
PRIORITY_STEPS = (3, 6, 9)
BINDINGS = "_kombu.binding."  # a set per exchange: "routing_key\x06\x16pattern\x06\x16queue"
PAGE = 500  # list elements read per round trip while looking for a message
_MOVE = """
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 1 then
  redis.call('LPUSH', KEYS[2], ARGV[2])
  return 1
end
return 0
"""


def queue_keys(queue: str) -> list[str]:
    """The lists holding ``queue``'s messages, in delivery order: its own, then one per priority step."""
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


def known_queues(client, scan_limit: int = 100_000) -> set[str]:
    """The queues this Redis holds: those bound to an exchange (a worker or a sender declared
    them), and every list that holds a kombu message (the first ``scan_limit`` keys looked at)."""
    names: set[str] = set()
    for key in client.scan_iter(match=f"{BINDINGS}*", count=1000):
        for member in client.smembers(key):
            names.add(member.decode("utf-8", "replace").split(PRIORITY_SEPARATOR)[-1])
    lists = []
    for seen, key in enumerate(client.scan_iter(count=1000, _type="list")):
        if seen >= scan_limit:
            break
        lists.append(key.decode("utf-8", "replace"))
    pipe = client.pipeline(transaction=False)
    for key in lists:
        pipe.lindex(key, -1)
    for key, last in zip(lists, pipe.execute()):
        if last and last.startswith(b'{"body"'):
            names.add(key.split(PRIORITY_SEPARATOR)[0])
    names.discard("")
    return names


def peek(client, queue: str, limit: int) -> list[QueueMessage]:
    """The first ``limit`` messages to be delivered, read without consuming them."""
    keys = queue_keys(queue)
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.lrange(key, -limit, -1)
    out: list[QueueMessage] = []
    for key, raws in zip(keys, pipe.execute()):
        for raw in reversed(raws):  # the rightmost is delivered first
            if len(out) == limit:
                return out
            out.append(from_redis(raw, queue, len(out), key))
    return out


def _walk(client, queue: str) -> Iterator[tuple[str, bytes, int]]:
    """Every message of ``queue`` with its delivery position, a page at a time.

    Read from the left (newest) end: a worker pops on the right, which moves no left index, so
    no message is skipped while the queue changes (one pushed meanwhile may be read twice)."""
    before = 0  # messages in the lists delivered before this one
    for key in queue_keys(queue):
        start = 0
        while True:
            pipe = client.pipeline(transaction=False)
            pipe.llen(key)
            pipe.lrange(key, start, start + PAGE - 1)
            length, page = pipe.execute()
            for index, raw in enumerate(page, start):
                yield key, raw, before + length - 1 - index
            if len(page) < PAGE:
                before += length
                break
            start += PAGE


def find(client, queue: str, task_id: str) -> Optional[QueueMessage]:
    """The waiting message of task ``task_id`` in ``queue``, or None."""
    needle = task_id.encode()
    for key, raw, position in _walk(client, queue):
        if needle in raw:  # cheap first; then the id itself, not an argument that holds it
            message = from_redis(raw, queue, position, key)
            if message.id == task_id:
                return message
    return None


def delete(client, message: QueueMessage) -> bool:
    """Remove this one message (its exact bytes); False when it was no longer there."""
    key, raw = message.location
    return client.lrem(key, 1, raw) == 1


def move(client, message: QueueMessage, to: str) -> bool:
    """Move this one message to queue ``to`` (the list of its priority step), in one atomic step;
    False when it was no longer there (and then nothing was pushed)."""
    key, raw = message.location
    step = key[len(message.queue):]  # "" or the priority list's suffix
    return client.eval(_MOVE, 2, key, to + step, raw, redis_envelope_moved(raw, to)) == 1
