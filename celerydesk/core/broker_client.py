"""The one door to a broker: send, revoke, inspect and control, queue depths and purge.

A :class:`BrokerClient` is made for one broker URL and holds the one Celery app celerydesk
talks to it with, configured once: JSON only, and ``task_send_sent_event`` so that a task sent
from here shows in the monitor at once, before a worker receives it. The app is a bare client:
tasks are sent by name and the user's code is never imported. The window (through
``services.broker``), the CLI and the self-test all use this class; nothing else builds a
Celery app for a broker.

Every task sent through a client made with ``sent_spool`` (the workspace's
``.celerydesk/history-sent/``) is recorded there with its exact JSON arguments and who sent it
(``via``: call, launch, retry, run-now), for the history (``core/history/sent.py``): celery's
events carry only a repr cut at 1,024 characters. Recording never fails a send.

Blocking calls, safe from any thread (the window runs them on its background pool). Every
failure reaches the caller as a :class:`DeskError` whose text never holds the URL's password:
``call_error`` is the one place a broker's exception becomes words, with ``core.broker_errors``
naming the cause (a wrong password, a full disk, nothing listening, an unknown host).

Queue depths and purge take the Redis fast path where the broker is Redis (``core.queues``:
one pipeline, priority sub-queues included) and kombu's passive ``queue_declare`` and
``queue_purge`` elsewhere (AMQP reports messages and consumers that way).
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import Iterator, Optional, Sequence, Union
from urllib.parse import urlparse

from celerydesk.core import queues as redis_queues
from celerydesk.core.broker_errors import answers, broker_error
from celerydesk.core.errors import DeskError
from celerydesk.core.urls import shown_url

BATCH_COPIES = 200  # copies per batch of publishes (one Redis pipeline), and between cancel checks
REDIS_SCHEMES = ("redis", "rediss", "unix")


@dataclass(frozen=True)
class SendOptions:
    """What ``apply_async`` accepts besides the arguments; None means celery's default."""

    queue: Optional[str] = None
    countdown: Optional[float] = None  # seconds from now; exclusive with eta
    eta: Optional[datetime] = None  # timezone-aware
    expires: Optional[float] = None  # seconds after sending
    priority: Optional[int] = None  # 0-9 (Redis: 0 is the highest)
    copies: int = 1

    def send_options(self) -> dict:
        out: dict = {}
        if self.queue:
            out["queue"] = self.queue
        if self.eta is not None:
            out["eta"] = self.eta
        elif self.countdown:
            out["countdown"] = self.countdown
        if self.expires:
            out["expires"] = self.expires
        if self.priority is not None:
            out["priority"] = self.priority
        return out

    def describe(self) -> str:
        parts = [f"{k}={v.isoformat() if isinstance(v, datetime) else v}" for k, v in self.send_options().items()]
        if self.copies != 1:
            parts.append(f"×{self.copies}")
        return ", ".join(parts)


@dataclass(frozen=True)
class QueueStats:
    """A queue as the broker reports it; ``consumers`` is None where it does not say (Redis)."""

    messages: int
    consumers: Optional[int] = None


def call_error(url: str, action: str, exc: BaseException, start_hint: Optional[str] = None) -> DeskError:
    """``exc``, raised while ``action`` talked to the broker at ``url``, as a DeskError: the cause
    named by ``core.broker_errors`` (no password in it), after what was being done.
    ``start_hint`` is the advice when nothing listens (``celerydesk up -w W``)."""
    if isinstance(exc, DeskError):
        return exc
    named = broker_error(exc, url, start_hint)
    return DeskError(f"{action}: {named.message}", hint=named.hint)


class _SilentDispatcher:
    """An event dispatcher that publishes nothing: copies sent without a task-sent event each."""

    def publish(self, *_args, **_kwargs) -> None:
        return None


class BrokerClient:
    """A Celery client for one broker URL (and, for results, an optional backend URL).
    ``start_hint`` is what its errors advise when nothing listens at the URL."""

    def __init__(self, url: str, backend: Optional[str] = None, start_hint: Optional[str] = None,
                 sent_spool: Optional[str] = None):
        self.url = url
        self.backend = backend
        self.start_hint = start_hint
        self.sent_spool = sent_spool
        self._app = None
        self._redis = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"BrokerClient({shown_url(self.url)!r})"

    # -- what it is -------------------------------------------------------------------------

    @property
    def shown_url(self) -> str:
        return shown_url(self.url)

    @property
    def is_redis(self) -> bool:
        return urlparse(self.url).scheme in REDIS_SCHEMES

    @property
    def app(self):
        """The Celery app, made on first use. For what this class does not wrap (celery's event
        receiver, for one); send and control through the methods below."""
        with self._lock:
            if self._app is None:
                from celery import Celery

                app = Celery("celerydesk", broker=self.url, backend=self.backend, set_as_current=False)
                app.conf.update(task_serializer="json", result_serializer="json", accept_content=["json"],
                                task_send_sent_event=True, broker_connection_retry_on_startup=False)
                self._app = app
            return self._app

    def close(self) -> None:
        with self._lock:
            app, client, self._app, self._redis = self._app, self._redis, None, None
        if app is not None:
            app.close()
        if client is not None:
            client.close()

    def __enter__(self) -> "BrokerClient":
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    @contextmanager
    def _errors(self, action: str):
        try:
            yield
        except DeskError:
            raise
        except Exception as exc:
            raise call_error(self.url, action, exc, self.start_hint) from None

    # -- reachability ------------------------------------------------------------------------

    def answers(self, timeout: float = 2.0) -> bool:
        return answers(self.url, timeout) is None

    def require_answer(self, timeout: float = 2.0) -> None:
        """Raise what is wrong (``core.broker_errors``'s words) at once when the broker does not
        answer, rather than after kombu's retries."""
        trouble = answers(self.url, timeout)
        if trouble is not None:
            raise trouble.error(self.url, self.start_hint)

    # -- sending -----------------------------------------------------------------------------

    def send(self, name: str, args: Sequence = (), kwargs: Optional[dict] = None,
             options: SendOptions = SendOptions(), task_id: Optional[str] = None, via: str = "call",
             record: bool = True) -> str:
        """Send one task by name (with a task-sent event); its id (``task_id`` if given).
        Recorded for the history as sent ``via`` that path, unless ``record`` is False (a caller
        that records many at once: :meth:`record_sent`)."""
        app = self.app
        args, kwargs = list(args), dict(kwargs or {})
        with self._errors(f"sending {name}"):
            task_id = app.send_task(name, args=args, kwargs=kwargs, task_id=task_id, **options.send_options()).id
        if record:
            self.record_sent([task_id], name, args, kwargs, via, options.queue)
        return task_id

    def record_sent(self, task_ids: Sequence[str], name: str, args: Sequence, kwargs: dict, via: str,
                    queue: Optional[str] = None) -> bool:
        """Record sent tasks' exact arguments in the spool (one file); False if it could not be
        written (a full disk: the history then knows only celery's repr). Never raises."""
        if not self.sent_spool or not task_ids:
            return False
        from celerydesk.core.history import sent  # here: a client that records nothing never loads it

        return sent.record_sent(self.sent_spool, [sent.sent_record(i, name, args, kwargs, via, queue=queue)
                                                  for i in task_ids])

    def send_batches(self, name: str, args: Sequence = (), kwargs: Optional[dict] = None,
                     options: SendOptions = SendOptions(), sent_events: bool = True,
                     via: str = "launch") -> Iterator[list[str]]:
        """Send ``options.copies`` copies; yield the ids of each batch once it is on the broker.

        One producer (one connection, one channel) serves every copy: acquiring one per
        message costs more than the message. Where kombu batches publishes (Redis, in a
        pipeline) a batch of ``BATCH_COPIES`` is one round trip, and its ids are yielded once it
        is flushed, so the ids seen so far are known to be queued. Stopping the iteration stops
        the sending. ``sent_events=False`` leaves out the task-sent event of each copy: it is a
        second publish per copy (a quarter of the throughput on Redis). Each batch is recorded
        for the history (one spool file) once it is flushed.
        """
        app = self.app
        total = max(1, options.copies)
        send_options = options.send_options()
        if not sent_events:
            send_options["event_dispatcher"] = _SilentDispatcher()
        args, kwargs = list(args), dict(kwargs or {})
        sent = 0
        try:
            with app.producer_or_acquire() as producer:
                while sent < total:
                    count = min(BATCH_COPIES, total - sent)
                    ids = []
                    with _batch(producer, count):
                        for _ in range(count):
                            ids.append(app.send_task(name, args=args, kwargs=kwargs, producer=producer,
                                                     **send_options).id)
                            # Batched, a copy does no I/O, and the brief GIL releases it does make
                            # (uuid4's os.urandom) are too short for a waiting thread to get in: the
                            # GUI thread waited ~100 ms per batch. A sleep(0) lets it in (~1 µs).
                            time.sleep(0)
                    sent += len(ids)  # flushed: queued on the broker
                    self.record_sent(ids, name, args, kwargs, via, options.queue)
                    yield ids
        except Exception as exc:  # a broker gone mid-loop: what was yielded is sent
            raise call_error(self.url, f"sending {name} failed after {sent} of {total}", exc, self.start_hint) from None

    # -- control -----------------------------------------------------------------------------

    def revoke(self, task_ids: Union[str, Sequence[str]], terminate: bool = False, signal: str = "SIGTERM") -> None:
        """Revoke tasks (a broadcast: workers drop them, or kill them running with ``terminate``)."""
        ids = [task_ids] if isinstance(task_ids, str) else list(task_ids)
        app = self.app
        with self._errors("revoking " + (ids[0] if len(ids) == 1 else f"{len(ids)} tasks")):
            app.control.revoke(ids if len(ids) > 1 else ids[0], terminate=terminate, signal=signal)

    def ping(self, timeout: float = 1.0, destination: Optional[list[str]] = None) -> list[str]:
        """The names of the workers that answered."""
        app = self.app
        with self._errors("pinging the workers"):
            replies = app.control.ping(timeout=timeout, destination=destination) or []
        return [node for reply in replies for node in reply]

    def inspect(self, method: str, timeout: float = 1.0, destination: Optional[list[str]] = None,
                limit: Optional[int] = None, **arguments) -> dict:
        """``{worker: reply}`` of an inspect command (``registered``, ``active``, ``stats``...);
        empty when no worker answers within ``timeout``. ``limit`` returns once that many answered."""
        app = self.app
        with self._errors(f"asking the workers ({method})"):
            inspector = app.control.inspect(timeout=timeout, destination=destination, limit=limit)
            return getattr(inspector, method)(**arguments) or {}

    def registered(self, timeout: float = 1.0, limit: Optional[int] = None) -> dict[str, list[str]]:
        """Task names registered on each running worker (celery's own ``celery.*`` left out)."""
        return self.inspect("registered", timeout=timeout, limit=limit)

    def control(self, command: str, *, destination: Optional[list[str]] = None, timeout: float = 1.0,
                reply: bool = True, **arguments) -> list[dict]:
        """Broadcast a control command (``pool_grow``, ``rate_limit``, ``add_consumer``...);
        the replies, ``[{worker: answer}]``, when ``reply``."""
        app = self.app
        with self._errors(f"sending {command} to the workers"):
            return app.control.broadcast(command, arguments=arguments, destination=destination,
                                         reply=reply, timeout=timeout) or []

    def result(self, task_id: str):
        """Celery's AsyncResult for ``task_id``, read from the backend the client was made with."""
        if not self.backend:
            raise DeskError("no result backend: this client was made without one",
                            hint="make the client with backend=URL to read results")
        return self.app.AsyncResult(task_id)

    # -- queues ------------------------------------------------------------------------------

    def depths(self, queues: Sequence[str]) -> dict[str, int]:
        """How many messages wait in each queue (a queue the broker does not know has 0)."""
        return {name: stats.messages for name, stats in self.queue_stats(queues).items()}

    def queue_stats(self, queues: Sequence[str]) -> dict[str, QueueStats]:
        names = list(dict.fromkeys(queues))
        if not names:
            return {}
        with self._errors("reading queue depths"):
            if self.is_redis:
                return {q: QueueStats(n) for q, n in redis_queues.queue_depths(self._redis_client(), names).items()}
            return self._declared_stats(names)

    def purge(self, queue: str) -> int:
        """Delete every waiting message of ``queue`` (its priority lists too); how many went."""
        with self._errors(f"purging {queue}"):
            if self.is_redis:
                return redis_queues.purge_queue(self._redis_client(), queue)
            with self.app.connection_for_write() as conn:
                conn.ensure_connection(max_retries=1)
                try:
                    return conn.default_channel.queue_purge(queue) or 0
                except conn.channel_errors:  # no such queue: nothing waits in it
                    return 0

    def _redis_client(self):
        """One redis-py client for the fast path, kept: its pool outlives each poll."""
        with self._lock:
            if self._redis is None:
                import redis

                self._redis = redis.Redis.from_url(self.url, socket_timeout=2, socket_connect_timeout=2)
            return self._redis

    def _declared_stats(self, names: list[str]) -> dict[str, QueueStats]:
        """A passive declare per queue: AMQP answers with its message and consumer counts."""
        out = {}
        with self.app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1)
            channel = conn.channel()
            try:
                for name in names:
                    try:
                        ok = channel.queue_declare(queue=name, passive=True)
                        out[name] = QueueStats(int(ok.message_count), int(ok.consumer_count))
                    except conn.channel_errors:  # 404: not declared (yet), so nothing waits
                        out[name] = QueueStats(0, 0)
                        channel = conn.channel()  # AMQP closes a channel on any error
            finally:
                _close_quietly(channel)
        return out


def new_task_id() -> str:
    """A task id made before sending: the caller knows it before the broker does."""
    import uuid  # here: the window's first paint does not need it

    return str(uuid.uuid4())


def _close_quietly(channel) -> None:
    try:
        channel.close()
    except Exception:  # already closed by the broker
        pass


def _batch(producer, copies: int):
    """Publishes of up to ``copies`` messages grouped into one flush, where kombu can batch them."""
    batch = getattr(producer, "batch", None)  # kombu >= 5.7
    if batch is None or not getattr(producer, "supports_batch_publish", False):
        return nullcontext()
    # Room for every command of the copies (an LPUSH, plus a PEXPIRE per priority list when the
    # queue expires, plus the task-sent event): no flush happens before the batch ends, so the
    # ids added after it are sent.
    return batch(max_size=copies * 14)
