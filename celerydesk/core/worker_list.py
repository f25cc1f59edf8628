"""Every worker on a broker, as ``celerydesk workers`` lists it: what each says about itself, and,
for the workers this workspace's stack started, their memory and CPU measured here.

A worker is *local* when it is one of the stack's own children: its ``inspect stats`` pid is a
pid the running stack recorded for a worker (``.celerydesk/processes.json``, which also holds
the create time, so a recycled pid is not taken for ours) and its node name ends with this
machine's name (a pid alone may repeat on another machine). Every other worker is *remote*:
started by someone else, here or elsewhere.

The figures come from three places, asked at once:
- ``inspect stats`` (pool, its processes, autoscale range, tasks processed, uptime, pid, the peak
  RSS of the main process), then ``active``, ``reserved``, ``scheduled`` and ``active_queues``
  of the workers that answered it;
- the workers' heartbeat events (every 2 s): the load average of their machine, which no inspect
  command gives;
- for local workers, two psutil samples of the worker's process tree (``core.worker_resources``):
  RSS of the worker and its pool processes, and CPU % over the interval between them.
"""

from __future__ import annotations

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Mapping, Optional

from celerydesk.core.commands import WORKER
from celerydesk.core.errors import DeskError
from celerydesk.core.worker_resources import RemoteStats, TreeUsage, local_worker_usage, parse_stats, recorded_workers

LOCAL, REMOTE = "local", "remote"
STATS_TIMEOUT_S = 1.0  # every worker that answers within this is listed
HEARTBEAT_WAIT_S = 2.5  # workers send a heartbeat every 2 s: one of each is waited for at most this long
CPU_INTERVAL_S = 0.5
LOCAL_SOURCE = "psutil: the worker's process tree (main and pool processes), measured here"
REMOTE_SOURCE = "inspect stats: rusage maxrss, the peak RSS of its main process (its pool not counted); no CPU %"


@dataclass
class WorkerFacts:
    name: str  # the node name, main@host
    where: str  # LOCAL or REMOTE
    pid: Optional[int] = None
    pool: str = ""
    concurrency: Optional[int] = None  # the pool's processes now (prefork), else its maximum
    autoscale: Optional[tuple[int, int]] = None  # (max, min) when it autoscales
    processed: Optional[int] = None
    active: Optional[int] = None
    reserved: Optional[int] = None
    scheduled: Optional[int] = None
    load: Optional[list[float]] = None  # 1, 5 and 15 minutes, from its heartbeat
    uptime: Optional[int] = None  # seconds
    queues: list[str] = field(default_factory=list)
    workspace_worker: Optional[str] = None  # its [[workers]] name, for a local one
    usage: Optional[TreeUsage] = None  # local: measured here
    remote: Optional[RemoteStats] = None  # what it said about its resources

    def as_json(self) -> dict:
        out = {"name": self.name, "where": self.where, "pid": self.pid, "pool": self.pool,
               "concurrency": self.concurrency,
               "autoscale": {"max": self.autoscale[0], "min": self.autoscale[1]} if self.autoscale else None,
               "processed": self.processed, "active": self.active, "reserved": self.reserved,
               "scheduled": self.scheduled, "load": self.load, "uptime": self.uptime, "queues": self.queues}
        if self.where == LOCAL:
            out.update(workspace_worker=self.workspace_worker, source=LOCAL_SOURCE,
                       rss_bytes=self.usage.rss_bytes if self.usage else None,
                       cpu_percent=None if self.usage is None or self.usage.cpu_percent is None
                       else round(self.usage.cpu_percent, 1),
                       processes=self.usage.processes if self.usage else None)
        else:
            out.update(source=REMOTE_SOURCE, rss_bytes=None, cpu_percent=None,
                       max_rss_bytes=self.remote.max_rss_bytes if self.remote else None)
        return out


def list_workers(client, records: Mapping, *, this_host: Optional[str] = None,
                 timeout: float = STATS_TIMEOUT_S, heartbeat_wait: float = HEARTBEAT_WAIT_S,
                 cpu_interval: float = CPU_INTERVAL_S) -> list[WorkerFacts]:
    """Every worker that answers ``inspect stats`` within ``timeout``, with all its figures, sorted
    by name; empty when none does. ``records`` is the stack's process record
    (``Runtime.read_records()``)."""
    loads = HeartbeatLoads(client.url)
    loads.start()
    started = time.monotonic()
    try:
        with ThreadPoolExecutor(1) as pool:
            measured = pool.submit(local_worker_usage, records, cpu_interval)
            workers = answering(client, records, this_host=this_host, timeout=timeout)
            details = _details(client, [w.name for w in workers], timeout) if workers else {}
            usage = measured.result()
        loads.wait_for({w.name for w in workers}, heartbeat_wait - (time.monotonic() - started))
    finally:
        loads.stop()
    for facts in workers:
        if facts.where == LOCAL:
            facts.usage = usage.get(f"{WORKER}-{facts.workspace_worker}")
        for what, replies in details.items():
            listed = replies.get(facts.name)
            if what == "active_queues":
                facts.queues = [q.get("name") for q in listed or () if isinstance(q, Mapping) and q.get("name")]
            elif isinstance(listed, list):
                setattr(facts, what, len(listed))
        facts.load = loads.latest.get(facts.name)
    return workers


def answering(client, records: Mapping, *, this_host: Optional[str] = None,
              timeout: float = STATS_TIMEOUT_S) -> list[WorkerFacts]:
    """The workers that answer ``inspect stats``, local or remote, with what that says, by name."""
    this_host = this_host or socket.gethostname()
    stats = client.inspect("stats", timeout=timeout)
    ours = {pid: key for key, (pid, _created) in recorded_workers(records).items()}
    reported = parse_stats(stats)
    out = []
    for name in sorted(stats):
        facts = facts_from_stats(name, stats[name] if isinstance(stats[name], Mapping) else {}, reported.get(name))
        key = ours.get(facts.pid) if name.rpartition("@")[2] == this_host else None
        if key is not None:
            facts.where, facts.workspace_worker = LOCAL, key.split("-", 1)[1]
        out.append(facts)
    return out


def find_worker(workers: list[WorkerFacts], name: str) -> WorkerFacts:
    """The worker called ``name``: its node name (main@host), or the part before the @ when only
    one worker has it."""
    exact = [w for w in workers if w.name == name]
    matches = exact or [w for w in workers if "@" not in name and w.name.split("@", 1)[0] == name]
    if len(matches) == 1:
        return matches[0]
    names = ", ".join(w.name for w in workers) or "none answers"
    if not matches:
        raise DeskError(f"no worker called {name!r} answers on this broker (workers: {names})",
                        hint="list them with: celerydesk workers")
    raise DeskError(f"{name!r} names {len(matches)} workers ({names})", hint="give the whole node name, NAME@HOST")


def facts_from_stats(name: str, raw: Mapping, reported: Optional[RemoteStats]) -> WorkerFacts:
    facts = WorkerFacts(name, REMOTE, remote=reported)
    if reported is not None:
        facts.pid, facts.pool = reported.pid, reported.pool
        facts.concurrency = reported.pool_processes if reported.pool_processes is not None else reported.max_concurrency
    scaler = raw.get("autoscaler")
    if isinstance(scaler, Mapping) and isinstance(scaler.get("max"), int) and isinstance(scaler.get("min"), int):
        facts.autoscale = (scaler["max"], scaler["min"])
    total = raw.get("total")
    if isinstance(total, Mapping):
        facts.processed = sum(n for n in total.values() if isinstance(n, int))
    if isinstance(raw.get("uptime"), (int, float)):
        facts.uptime = int(raw["uptime"])
    return facts


def _details(client, names: list[str], timeout: float) -> dict[str, dict]:
    """``active``, ``reserved``, ``scheduled`` and ``active_queues`` of the workers named; each
    returns as soon as all of them answered."""
    out = {}
    for what in ("active", "reserved", "scheduled", "active_queues"):
        try:
            out[what] = client.inspect(what, timeout=timeout, destination=names, limit=len(names))
        except DeskError:
            out[what] = {}  # unknown is shown as unknown, not as zero
    return out


class HeartbeatLoads:
    """The load average each worker's heartbeat carries, heard on the broker's event stream."""

    def __init__(self, url: str):
        from celerydesk.core.event_consumer import EventConsumer  # here: the actions never need it

        self.latest: dict[str, list[float]] = {}
        self._heard = threading.Condition()
        self._consumer = EventConsumer(url, sinks=[self._on_events])

    def start(self) -> None:
        self._consumer.start()

    def stop(self) -> None:
        self._consumer.stop()

    def _on_events(self, events: list) -> None:
        with self._heard:
            for event in events:
                load = event.get("loadavg")
                if event.get("type") in ("worker-heartbeat", "worker-online") and isinstance(load, list):
                    self.latest[str(event.get("hostname"))] = [round(float(x), 2) for x in load[:3]]
            self._heard.notify_all()

    def wait_for(self, names: set[str], timeout: float) -> None:
        """Until each of ``names`` was heard, for ``timeout`` seconds at most."""
        deadline = time.monotonic() + timeout
        with self._heard:
            while not names <= set(self.latest):
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self._heard.wait(left)
