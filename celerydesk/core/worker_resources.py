"""How much memory and CPU a worker uses: its whole process tree here, or what a remote one reports.

A prefork worker is a main process and its pool processes (children, which the pool replaces
as they exit). ``TreeSampler`` measures the tree under a root pid with psutil: the RSS of every
process in it, summed, and the CPU the tree used since the previous sample of the same root, as
a percentage of one core (as ``top`` shows it: a tree busy on two cores is at 200 %). The CPU
time of a tree is counted so that pool processes that exit are not lost: each process's own
user and system time plus its reaped children's (which the kernel adds to the parent when it
reaps them), so the total only grows.

A root is named by its pid and, when known, its create time (what celerydesk records when it
starts a process, in ``.celerydesk/processes.json``): a pid the system has given to another
process since is not measured.

Summed RSS counts pages a forked pool shares with its parent once per process, so it is an upper
bound of what the tree holds; it is what a user compares with ``ps`` and what grows with a leak.

Workers this machine does not run are measured by what they say about themselves: celery's
``inspect stats`` (``parse_stats``), whose ``rusage.maxrss`` is the peak RSS of the worker's main
process (kilobytes on Linux), not of its pool, and which has no CPU percentage.

No Qt here: the window samples from its own QtCore service; the command line (``celerydesk
workers``) calls ``local_worker_usage`` on the recorded pids.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Mapping, Optional

from celerydesk.core.commands import WORKER

SAMPLE_INTERVAL_S = 2.0  # how often the window samples; the command line takes one interval
CREATE_TIME_TOLERANCE_S = 0.05  # psutil's create time, read twice, agrees to the clock tick


@dataclass(frozen=True)
class TreeUsage:
    """One sample of a process tree."""

    pid: int  # the root
    rss_bytes: int  # every process of the tree, summed
    cpu_percent: Optional[float]  # since the previous sample of this root; None on the first
    processes: int  # the root and its descendants, alive when sampled
    cpu_seconds: float  # user + system of the tree so far, reaped children included

    def as_dict(self) -> dict:
        """The fields ``celerydesk workers --json`` reports for a local worker."""
        return {"where": "local", "pid": self.pid, "rss_bytes": self.rss_bytes,
                "cpu_percent": None if self.cpu_percent is None else round(self.cpu_percent, 1),
                "processes": self.processes}


@dataclass(frozen=True)
class RemoteStats:
    """What a worker's ``inspect stats`` reply says about its resources."""

    hostname: str
    max_rss_bytes: Optional[int]  # peak RSS of the main process (rusage.maxrss)
    pool: str  # "prefork", "threads", "solo", ... ("" if not said)
    pool_processes: Optional[int]  # processes the pool has now (prefork), else None
    max_concurrency: Optional[int]
    pid: Optional[int]

    def as_dict(self) -> dict:
        return {"where": "remote", "source": "inspect stats", "pid": self.pid,
                "max_rss_bytes": self.max_rss_bytes, "pool": self.pool,
                "pool_processes": self.pool_processes, "max_concurrency": self.max_concurrency}


class TreeSampler:
    """Samples process trees; keeps the previous CPU reading of each root for the next one.

    Not thread-safe: one caller at a time (the window's service runs one sample at a time).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._previous: dict[tuple[int, Optional[float]], tuple[float, float]] = {}  # root -> (at, cpu s)

    def sample(self, pid: int, create_time: Optional[float] = None) -> Optional[TreeUsage]:
        """The tree under ``pid`` now; None if no such process (or the pid is another process's now)."""
        import psutil  # here: the window's first paint does not need it

        root_key = (pid, create_time or None)
        try:
            root = psutil.Process(pid)
            if create_time and abs(root.create_time() - create_time) > CREATE_TIME_TOLERANCE_S:
                self._previous.pop(root_key, None)
                return None
            tree = [root] + root.children(recursive=True)
        except psutil.Error:
            self._previous.pop(root_key, None)
            return None
        rss = cpu = 0.0
        alive = 0
        for process in tree:
            try:
                with process.oneshot():
                    times = process.cpu_times()
                    rss += process.memory_info().rss
            except psutil.Error:  # a pool process that exited meanwhile: its time is its parent's now
                continue
            cpu += times.user + times.system + times.children_user + times.children_system
            alive += 1
        if alive == 0 or not root.is_running():
            self._previous.pop(root_key, None)
            return None
        now = self._clock()
        percent = None
        previous = self._previous.get(root_key)
        if previous is not None and now > previous[0]:
            # A pool process's time can be missing for a moment (exited, not yet reaped): never below 0.
            percent = max(0.0, (cpu - previous[1]) / (now - previous[0]) * 100.0)
        self._previous[root_key] = (now, max(cpu, previous[1]) if previous else cpu)
        return TreeUsage(pid, int(rss), percent, alive, cpu)

    def sample_all(self, roots: Mapping[str, tuple[int, Optional[float]]]) -> dict[str, TreeUsage]:
        """``{key: (pid, create_time)}`` -> ``{key: usage}`` for those that exist; roots no longer
        asked about are forgotten."""
        asked = {(pid, create_time or None) for pid, create_time in roots.values()}
        for stale in set(self._previous) - asked:
            del self._previous[stale]
        out = {}
        for key, (pid, create_time) in roots.items():
            usage = self.sample(pid, create_time)
            if usage is not None:
                out[key] = usage
        return out


def recorded_workers(records: Mapping) -> dict[str, tuple[int, Optional[float]]]:
    """The workers in a stack's process record (``Runtime.read_records()``): ``{key: (pid, create_time)}``."""
    out = {}
    processes = records.get("processes")
    for key, entry in (processes.items() if isinstance(processes, Mapping) else ()):
        if not key.startswith(f"{WORKER}-") or not isinstance(entry, Mapping):
            continue
        pid, create_time = entry.get("pid"), entry.get("create_time")
        if isinstance(pid, int) and pid > 0:
            out[key] = (pid, float(create_time) if isinstance(create_time, (int, float)) else None)
    return out


def local_worker_usage(records: Mapping, interval: float = 0.5,
                       sleep: Callable[[float], None] = time.sleep) -> dict[str, TreeUsage]:
    """The recorded workers' trees, measured twice ``interval`` apart (CPU % needs an interval):
    ``{key: TreeUsage}`` for those still running. For ``celerydesk workers``, without the window."""
    roots = recorded_workers(records)
    sampler = TreeSampler()
    sampler.sample_all(roots)
    if not roots:
        return {}
    sleep(interval)
    return sampler.sample_all(roots)


def parse_stats(replies: Mapping[str, object]) -> dict[str, RemoteStats]:
    """``inspect stats`` replies (``{hostname: stats}``) -> ``{hostname: RemoteStats}``; a reply
    that is not a mapping (an error) is left out, a field that is missing is None."""
    out = {}
    for hostname, stats in replies.items():
        if not isinstance(stats, Mapping):
            continue
        rusage = stats.get("rusage") if isinstance(stats.get("rusage"), Mapping) else {}
        pool = stats.get("pool") if isinstance(stats.get("pool"), Mapping) else {}
        maxrss = rusage.get("maxrss")
        processes = pool.get("processes")
        out[hostname] = RemoteStats(
            hostname=hostname,
            max_rss_bytes=int(maxrss) * 1024 if _is_count(maxrss) else None,  # ru_maxrss: KiB on Linux
            pool=_pool_name(pool.get("implementation")),
            pool_processes=len(processes) if isinstance(processes, list) else None,
            max_concurrency=pool.get("max-concurrency") if _is_count(pool.get("max-concurrency")) else None,
            pid=stats.get("pid") if _is_count(stats.get("pid")) else None,
        )
    return out


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _pool_name(implementation) -> str:
    """``celery.concurrency.prefork:TaskPool`` -> ``prefork``."""
    if not isinstance(implementation, str):
        return ""
    module = implementation.split(":", 1)[0]
    return module.rsplit(".", 1)[-1]


def format_bytes(count: Optional[float]) -> str:
    """``148 MB``, in decimal units (1 MB = 1,000,000 bytes); empty for None."""
    if count is None:
        return ""
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= size:
            return f"{count / size:.1f} {unit}" if count < 100 * size else f"{count / size:.0f} {unit}"
    return f"{int(count)} B"


def format_percent(value: Optional[float]) -> str:
    return "" if value is None else f"{value:.0f} %" if value >= 10 else f"{value:.1f} %"
