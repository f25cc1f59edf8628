"""The one door to a broker: send, revoke, inspect and control, queues and the messages in them.

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

Queues: on Redis through ``core.redis_queues`` (one pipeline, priority sub-queues included;
looking never consumes), on AMQP through ``core.amqp_queues`` (a passive ``queue_declare`` for
counts; peek, delete and move as that module explains), and RabbitMQ's management API
(``core.rabbitmq_api``) to list every queue.

Read-only environments (``core.environment``): a client made with ``read_only=True`` refuses
every method that changes the remote stack (send, send_batches, revoke, purge, delete_message,
move_message, and ``control`` with any command celery does not list as an inspect command:
pool grow/shrink, autoscale, rate and time limits, add/cancel consumer, shutdown) with
``ReadOnlyEnvironment``, before it connects or sends anything. Looking stays allowed: ping,
inspect, depths, the queue list, and peek (on Redis it reads without consuming; on RabbitMQ it
takes each message and gives it back with requeue, which is allowed too, since no message is
lost or changed, though a message given back can change places in the queue: see
``core.amqp_queues``). This is the one guard: the CLI and the window both reach the broker
through this class. ``read_only`` is a plain attribute, so a window unlocked for its session
sets it to False.
"""

from __future__ import annotations

import re
import threading
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import Iterator, Optional, Sequence, Union
from urllib.parse import urlparse

from celerydesk.core import redis_queues
from celerydesk.core.broker_errors import answers, broker_error
from celerydesk.core.brokers import ManagementApi, is_amqp
from celerydesk.core.environment import ReadOnlyEnvironment
from celerydesk.core.errors import DeskError
from celerydesk.core.queue_messages import QueueMessage
from celerydesk.core.urls import shown_url

BATCH_COPIES = 200  # copies per batch of publishes (one Redis pipeline), and between cancel checks
REDIS_SCHEMES = ("redis", "rediss", "unix")
PEEK_LIMIT = 1000  # messages one peek may show
MANAGEMENT_RETRY_S = 60.0  # a guessed management API that did not answer is asked again after this
_INTERNAL_QUEUE = re.compile(
    r"^celeryev\.|\.pidbox$|^celerydesk\.monitor\.|^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def internal_queue(name: str) -> bool:
    """Celery's own plumbing: event queues, control (pidbox) queues, the rpc:// backend's reply
    queues (named by a uuid), and celerydesk's monitor queues. Not shown among the queues."""
    return bool(_INTERNAL_QUEUE.search(name))


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
                 management: Optional[ManagementApi] = None, sent_spool: Optional[str] = None,
                 read_only: bool = False, environment: str = "", unlock_hint: str = ""):
        """``management``: RabbitMQ's management API, to list every queue (``Workspace.management_api``).
        ``sent_spool``: the folder where what it sends is recorded for the history (``history.sent``).
        ``read_only``: refuse every change to the remote stack (see the module's docstring), naming
        ``environment`` and saying how to unlock (``unlock_hint``, else a general one)."""
        self.url = url
        self.read_only = read_only
        self.environment = environment or shown_url(url)
        self.unlock_hint = unlock_hint
        self.backend = backend
        self.start_hint = start_hint
        self.management = management
        self.sent_spool = sent_spool
        self._management_failed: Optional[tuple[float, str]] = None  # (when, the note) of a guess that failed
        self._app = None
        self._redis = None
        self._lock = threading.Lock()
        self._kept = None  # the kombu connection counts and purges reuse (a window polls every 2 s)
        self._kept_lock = threading.Lock()

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
        with self._kept_lock:
            kept, self._kept = self._kept, None
        if kept is not None:
            kept.release()
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

    def refuse_if_read_only(self, action: str) -> None:
        """Raise ``ReadOnlyEnvironment`` (nothing sent) if this client may not ``action``."""
        if self.read_only:
            raise ReadOnlyEnvironment(self.environment, action, self.unlock_hint)

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
        self.refuse_if_read_only(f"send {name}")
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
        """Send ``options.copies`` copies (see :meth:`_send_batches`); refused at once, before the
        first batch is asked for, in a read-only environment."""
        self.refuse_if_read_only(f"send {name}")
        return self._send_batches(name, args, kwargs, options, sent_events, via)

    def _send_batches(self, name: str, args: Sequence, kwargs: Optional[dict], options: SendOptions,
                      sent_events: bool, via: str) -> Iterator[list[str]]:
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
        self.refuse_if_read_only(("terminate" if terminate else "revoke") + " tasks")
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
                reply: bool = True, limit: Optional[int] = None, **arguments) -> list[dict]:
        """Broadcast a control command (``pool_grow``, ``rate_limit``, ``add_consumer``...);
        the replies, ``[{worker: answer}]``, when ``reply`` (once ``limit`` answered, if given).
        In a read-only environment only celery's inspect commands (which change nothing) go out."""
        if self.read_only and not _inspect_command(command):
            self.refuse_if_read_only(f"send {command} to the workers")
        app = self.app
        with self._errors(f"sending {command} to the workers"):
            return app.control.broadcast(command, arguments=arguments, destination=destination,
                                         reply=reply, timeout=timeout, limit=limit) or []

    def control_worker(self, worker: str, command: str, *, timeout: float = 3.0, reply: bool = True,
                       **arguments) -> str:
        """Send a control command to the one worker named ``worker``; what it answered (its
        ``ok`` text). Raises DeskError when it answers with an error, or not at all within
        ``timeout``. Without ``reply`` (``shutdown``, which a worker does not answer) it only sends.
        Every change ``core.worker_actions`` makes to a running worker goes through here."""
        replies = self.control(command, destination=[worker], timeout=timeout, reply=reply,
                               limit=1 if reply else None, **arguments)
        if not reply:
            return ""
        answer = next((r[worker] for r in replies if isinstance(r, dict) and worker in r), None)
        if answer is None:
            raise DeskError(f"{worker} did not answer {command} within {timeout:g} s: nothing is known to have changed",
                            hint="see which workers answer: celerydesk workers")
        if isinstance(answer, dict) and "error" in answer:
            raise DeskError(f"{worker} refused {command}: {answer['error']}")
        return str(answer.get("ok", "")) if isinstance(answer, dict) else str(answer)

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
            from celerydesk.core import amqp_queues

            with self._kept_connection() as conn:
                return {q: QueueStats(*counts) for q, counts in amqp_queues.declared_stats(conn, names).items()}

    def broker_queues(self) -> tuple[dict[str, QueueStats], Optional[str]]:
        """Every queue the broker itself can name, with its counts (Celery's own plumbing left
        out), and a note when it cannot name them all: AMQP cannot list queues, so on RabbitMQ
        this is the management API's list, and without it nothing."""
        with self._errors("listing the broker's queues"):
            if self.is_redis:
                client = self._redis_client()
                names = sorted(q for q in redis_queues.known_queues(client) if not internal_queue(q))
                return {q: QueueStats(n) for q, n in redis_queues.queue_depths(client, names).items()}, None
        if not is_amqp(self.url):
            return {}, "this broker cannot list its queues: only those named by the workspace and the app are shown"
        from celerydesk.core import rabbitmq_api

        if self.management is None:
            return {}, ("RabbitMQ's management API is off: only the queues named by the workspace, the app and "
                        "the workers are shown")
        failed = self._management_failed
        if failed is not None and time.monotonic() - failed[0] < MANAGEMENT_RETRY_S:
            return {}, failed[1]  # a guess that failed is not tried at every poll
        try:
            listed = rabbitmq_api.queue_names(self.management, rabbitmq_api.vhost_of(self.url))
        except rabbitmq_api.ManagementUnavailable as exc:
            where = "" if self.management.explicit else " (set [broker] management_url if it is elsewhere)"
            note = (f"RabbitMQ's management API {exc}{where}: only the queues named by the workspace, "
                    "the app and the workers are shown")
            self._management_failed = (time.monotonic(), note) if not self.management.explicit else None
            return {}, note
        self._management_failed = None
        # The API's counts lag up to its statistics interval (5 s): the names come from it, the
        # counts from AMQP, as for every other queue.
        return self.queue_stats(sorted(q for q in listed if not internal_queue(q))), None

    def peek(self, queue: str, limit: int = 10) -> list[QueueMessage]:
        """The first ``limit`` messages a worker would get from ``queue``, without consuming them
        (on RabbitMQ: taken and given back, see ``core.amqp_queues``)."""
        limit = max(1, min(int(limit), PEEK_LIMIT))
        with self._errors(f"peeking into {queue}"):
            if self.is_redis:
                return redis_queues.peek(self._redis_client(), queue, limit)
            from celerydesk.core import amqp_queues

            with self._amqp_connection() as conn:
                return amqp_queues.peek(conn, queue, limit)

    # The changing actions on queues: each refused in a read-only environment.

    def purge(self, queue: str) -> int:
        """Delete every waiting message of ``queue`` (its priority lists too); how many went."""
        self.refuse_if_read_only(f"purge {queue}")
        with self._errors(f"purging {queue}"):
            if self.is_redis:
                return redis_queues.purge_queue(self._redis_client(), queue)
            from celerydesk.core import amqp_queues

            with self._kept_connection() as conn:
                return amqp_queues.purge(conn, queue)

    def delete_message(self, queue: str, task_id: str) -> QueueMessage:
        """Delete the waiting message of task ``task_id`` from ``queue``; what was deleted."""
        self.refuse_if_read_only(f"delete messages from {queue}")
        return self._take(queue, task_id, None)

    def move_message(self, queue: str, task_id: str, to: str) -> QueueMessage:
        """Move the waiting message of task ``task_id`` from ``queue`` to the end of ``to``."""
        self.refuse_if_read_only(f"move messages from {queue}")
        if to == queue:
            raise DeskError(f"the message is in {queue!r} already", hint="name another queue with --to")
        return self._take(queue, task_id, to)

    def _take(self, queue: str, task_id: str, to: Optional[str]) -> QueueMessage:
        action = f"moving {task_id} from {queue} to {to}" if to else f"deleting {task_id} from {queue}"
        with self._errors(action):
            if self.is_redis:
                client = self._redis_client()
                found = redis_queues.find(client, queue, task_id)
                done = found is not None and (redis_queues.move(client, found, to) if to
                                              else redis_queues.delete(client, found))
            else:
                from celerydesk.core import amqp_queues

                with self._amqp_connection() as conn:
                    found = done = amqp_queues.take(conn, queue, task_id, to)
        if not done:
            raise DeskError(f"no message of task {task_id} is waiting in {queue!r}",
                            hint=f"a worker may have taken it (revoke it instead), or see what waits: "
                                 f"celerydesk queues peek {queue}")
        return found

    def _redis_client(self):
        """One redis-py client for the fast path, kept: its pool outlives each poll."""
        with self._lock:
            if self._redis is None:
                import redis

                self._redis = redis.Redis.from_url(self.url, socket_timeout=2, socket_connect_timeout=2)
            return self._redis

    @contextmanager
    def _kept_connection(self):
        """One connection kept for the quick, frequent calls (counts, purge), one caller at a time:
        a connection per poll would log three lines in RabbitMQ's log every two seconds. After a
        failure it is dropped, and the next call connects again."""
        with self._kept_lock:
            if self._kept is None:
                conn = self.app.connection_for_write()
                conn.ensure_connection(max_retries=1)
                self._kept = conn
            try:
                yield self._kept
            except Exception:
                broken, self._kept = self._kept, None
                broken.release()
                raise

    @contextmanager
    def _amqp_connection(self):
        """A connection of its own for peek, delete and move (they hold messages while they run)."""
        if not is_amqp(self.url):
            raise DeskError(f"looking into queues works on Redis and RabbitMQ brokers, not {self.url.split(':')[0]}://",
                            hint="celerydesk queues lists their depths")
        with self.app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1)
            yield conn


def _inspect_command(command: str) -> bool:
    """Whether celery registers ``command`` as an inspect command (ping, stats, active...): one
    that reads a worker's state and changes nothing. Unknown commands count as changes."""
    from celery.worker.control import Panel  # here: only a read-only client's control needs it

    meta = Panel.meta.get(command)
    return meta is not None and meta.type == "inspect"


def new_task_id() -> str:
    """A task id made before sending: the caller knows it before the broker does."""
    import uuid  # here: the window's first paint does not need it

    return str(uuid.uuid4())


def _batch(producer, copies: int):
    """Publishes of up to ``copies`` messages grouped into one flush, where kombu can batch them."""
    batch = getattr(producer, "batch", None)  # kombu >= 5.7
    if batch is None or not getattr(producer, "supports_batch_publish", False):
        return nullcontext()
    # Room for every command of the copies (an LPUSH, plus a PEXPIRE per priority list when the
    # queue expires, plus the task-sent event): no flush happens before the batch ends, so the
    # ids added after it are sent.
    return batch(max_size=copies * 14)
