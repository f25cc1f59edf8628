"""Queues on an AMQP broker (RabbitMQ): counts, purge, and the messages in a queue, over AMQP 0-9-1.

Counts come from a passive ``queue.declare``, which answers with the queue's messages and
consumers (and fails, 404, for a queue that does not exist). AMQP cannot list queues, nor read
a message without taking it; ``core.rabbitmq_api`` lists them where the management API answers.

**Peek** takes up to N messages with ``basic.get`` (not acknowledged), then gives them all back
with one ``basic.nack`` (requeue), on one channel, within milliseconds. RabbitMQ puts requeued
messages back at their original positions in a classic queue, so the order is kept, with two
effects: they come back marked *redelivered* (the task sees ``delivery_info["redelivered"]``;
with ``worker_deduplicate_successful_tasks`` celery then asks the result backend whether it ran
already), and while they are held, a worker consuming the queue may get the messages behind them
first. A quorum queue of a RabbitMQ before 4.3 counts each peek as a delivery towards its
delivery limit.

**Delete and move** look for the task's message the same way, holding the messages before it,
and then, in one AMQP transaction (``tx.select`` … ``tx.commit``): move publishes a copy (the
same body, headers and properties) to the other queue through the default exchange; both
acknowledge the message and give the others back. Until the commit nothing has happened; if
anything fails before it (the connection drops, celerydesk is killed), the broker itself puts
every message it handed out back, unchanged, so nothing is lost and nothing is published. The
commit applies the publish and the acknowledgement together; a crash of the broker in the
middle of a commit is the one case RabbitMQ does not make atomic across two queues. The other
queue must exist (a worker consuming it declares it): a copy sent to a queue that does not
exist would be dropped.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Optional

from celerydesk.core.errors import DeskError
from celerydesk.core.queue_messages import QueueMessage, from_amqp

SCAN_LIMIT = 10_000  # messages held at most while looking for one (each is held in memory)


def _close_quietly(channel) -> None:
    try:
        channel.close()
    except Exception:  # already closed by the broker
        pass


@contextmanager
def _channel(conn) -> Iterator:
    channel = conn.channel()
    try:
        yield channel
    finally:
        _close_quietly(channel)


def declared_stats(conn, names: list[str]) -> dict[str, tuple[int, int]]:
    """``{queue: (messages, consumers)}`` by a passive declare each; (0, 0) for a queue that does
    not exist (nothing waits in it)."""
    out = {}
    channel = conn.channel()
    try:
        for name in names:
            try:
                ok = channel.queue_declare(queue=name, passive=True)
                out[name] = (int(ok.message_count), int(ok.consumer_count))
            except conn.channel_errors:  # 404: not declared (yet)
                out[name] = (0, 0)
                channel = conn.channel()  # AMQP closes a channel on any error
    finally:
        _close_quietly(channel)
    return out


def purge(conn, queue: str) -> int:
    with _channel(conn) as channel:
        try:
            return channel.queue_purge(queue) or 0
        except conn.channel_errors:  # no such queue: nothing waits in it
            return 0


def _require(conn, channel, queue: str) -> int:
    """The queue's message count; a DeskError when it does not exist."""
    try:
        return int(channel.queue_declare(queue=queue, passive=True).message_count)
    except conn.channel_errors:
        raise DeskError(f"there is no queue named {queue!r} on the broker",
                        hint="`celerydesk queues` lists the queues") from None


def _give_back(channel, held: list) -> None:
    """Requeue everything taken, with one ``basic.nack`` (multiple, requeue): RabbitMQ's "not
    processed", which, unlike ``basic.reject``, a quorum queue of RabbitMQ 4.3 and later does
    not count towards its delivery limit. (py-amqp has no method for it: the frame is sent as is.)"""
    if held:
        from amqp import spec

        channel.send_method(spec.Basic.Nack, "Lbb", (held[-1].delivery_tag, True, True))


def peek(conn, queue: str, limit: int) -> list[QueueMessage]:
    """The first ``limit`` messages, taken and given back (see the module's docstring)."""
    with _channel(conn) as channel:
        _require(conn, channel, queue)
        held = []
        for _ in range(limit):
            message = channel.basic_get(queue=queue, no_ack=False)
            if message is None:
                break
            held.append(message)
        _give_back(channel, held)
        return [from_amqp(message, queue, position) for position, message in enumerate(held)]


def take(conn, queue: str, task_id: str, to: Optional[str] = None) -> Optional[QueueMessage]:
    """Delete task ``task_id``'s waiting message from ``queue`` or, with ``to``, move it there;
    the message, or None when it is not waiting there (see the module's docstring)."""
    import amqp

    with _channel(conn) as channel:
        waiting = _require(conn, channel, queue)
        if to is not None:
            _require(conn, channel, to)
        channel.tx_select()
        held, found = [], None
        for position in range(min(waiting, SCAN_LIMIT)):
            message = channel.basic_get(queue=queue, no_ack=False)
            if message is None:
                break
            shown = from_amqp(message, queue, position)
            if shown.id == task_id:
                found = (message, shown)
                break
            held.append(message)
        if found is not None:
            message, shown = found
            if to is not None:
                channel.basic_publish(amqp.Message(message.body, **message.properties), exchange="", routing_key=to)
            channel.basic_ack(message.delivery_tag)
        _give_back(channel, held)
        channel.tx_commit()
        if found is None and waiting > SCAN_LIMIT:
            raise DeskError(f"task {task_id} is not among the first {SCAN_LIMIT:,} messages of {queue!r}",
                            hint="only that many are looked at; purge or let workers drain the queue first")
        return found[1] if found is not None else None
