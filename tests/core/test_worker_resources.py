"""Process-tree sampling (core/worker_resources.py) against real processes whose memory and CPU
the test sets: a root that starts children, each holding a given number of touched megabytes,
some of them busy. No mocks of psutil: the figures are the kernel's."""

from __future__ import annotations

import subprocess
import sys
import time

import psutil
import pytest

from celerydesk.core.worker_resources import (TreeSampler, format_bytes, local_worker_usage, parse_stats,
                                              recorded_workers)

MB = 1024 * 1024

# A script run as the root and as each of its children. argv: megabytes to hold, busy seconds
# (0: idle; -1: busy until killed), "exit" or "stay", then the children's "mb:busy[:exit]". It holds its
# memory (every page written), starts its children, says "ready" once they all did, burns CPU if
# asked, then exits if told to, else waits for its children (reaping them, as a pool's parent
# does) and sleeps until killed.
TREE = r"""
import subprocess, sys, time
mb, busy, then_exit = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3] == "exit"
held = bytearray(mb * 1024 * 1024)
held[::4096] = b"\x01" * len(range(0, len(held), 4096))
children = [subprocess.Popen([sys.executable, __file__, *(spec.split(":") + ["stay"])[:3]], stdout=subprocess.PIPE,
                             text=True) for spec in sys.argv[4:]]
for child in children:
    assert child.stdout.readline().strip() == "ready"
print("ready", flush=True)
end = time.process_time() + (1e9 if busy < 0 else busy)  # CPU seconds: a loaded machine gives fewer per second
while time.process_time() < end:
    pass
if then_exit:
    sys.exit(0)
for child in children:
    child.wait()
time.sleep(3600)
"""


@pytest.fixture
def trees(tmp_path):
    """``trees(mb, busy, *children)`` (children: ``"mb:busy[:exit]"``) starts a tree and returns its root's Popen; all are killed after."""
    script = tmp_path / "tree.py"
    script.write_text(TREE)
    started: list[subprocess.Popen] = []

    def start(mb: int, busy: float = 0, *children: str) -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, str(script), str(mb), str(busy), "stay", *children],
                                stdout=subprocess.PIPE, text=True, start_new_session=True)
        started.append(proc)
        assert proc.stdout.readline().strip() == "ready"
        return proc

    yield start
    for proc in started:
        try:
            processes = [psutil.Process(proc.pid)] + psutil.Process(proc.pid).children(recursive=True)
        except psutil.Error:
            processes = []
        for process in processes:
            try:
                process.kill()
            except psutil.Error:
                pass
        proc.wait(10)


def wait_for(predicate, timeout=30.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_the_tree_counts_every_process_and_the_memory_each_holds(trees):
    """A root holding 30 MB with two children holding 40 MB each: three processes, 110 MB and more."""
    root = trees(30, 0, "40:0", "40:0")
    usage = TreeSampler().sample(root.pid)
    assert usage.processes == 3
    assert usage.rss_bytes >= 110 * MB
    own = psutil.Process(root.pid).memory_info().rss
    assert usage.rss_bytes - own >= 80 * MB  # the children's memory is in it, not only the root's
    assert usage.cpu_percent is None  # no interval yet


def test_cpu_percent_is_over_the_interval_and_sees_a_busy_child(trees):
    idle, busy = trees(5, 0, "5:0"), trees(5, 0, "5:-1")  # a child that spins until killed
    sampler = TreeSampler()
    sampler.sample_all({"idle": (idle.pid, None), "busy": (busy.pid, None)})
    # The machine is shared: wait for a sample showing the spinning child, not for a set time.
    seen = {"idle": [], "busy": []}

    def busy_seen():
        time.sleep(1.0)
        for key, usage in sampler.sample_all({"idle": (idle.pid, None), "busy": (busy.pid, None)}).items():
            seen[key].append(usage.cpu_percent)
        return max(seen["busy"]) > 25

    wait_for(busy_seen, 30, "a sample with the busy child's CPU")
    assert min(seen["idle"]) < 10 < max(seen["busy"])


def test_the_cpu_time_of_a_child_that_exited_is_not_lost(trees):
    """A pool process that works, exits and is reaped: its time moves to its parent's account,
    so the tree's total never goes down (a CPU % that dropped below 0 would show it did)."""
    root = trees(5, 0, "5:1.5:exit")  # a child that spins 1.5 CPU seconds and exits; the root reaps it
    sampler = TreeSampler()
    first = sampler.sample(root.pid)
    wait_for(lambda: len(psutil.Process(root.pid).children()) == 0, 60, "the child to exit and be reaped")
    after = sampler.sample(root.pid)
    assert after.processes == 1
    assert after.cpu_seconds >= first.cpu_seconds
    assert after.cpu_seconds >= 1.0  # the child's 1.5 s of spinning (minus what came before the first sample)
    assert after.cpu_percent >= 0


def test_a_pid_that_is_another_process_now_is_not_measured(trees):
    root = trees(5)
    created = psutil.Process(root.pid).create_time()
    sampler = TreeSampler()
    assert sampler.sample(root.pid, created) is not None
    assert sampler.sample(root.pid, created - 100) is None  # the record says another process had it
    root.kill()
    root.wait(10)
    assert sampler.sample(root.pid, created) is None


def test_local_worker_usage_reads_the_stack_record(trees):
    worker, beat = trees(25, 0, "10:0"), trees(5)
    records = {"processes": {
        "worker-main": {"pid": worker.pid, "pgid": worker.pid, "create_time": psutil.Process(worker.pid).create_time()},
        "beat": {"pid": beat.pid, "pgid": beat.pid, "create_time": psutil.Process(beat.pid).create_time()},
        "worker-gone": {"pid": 999_999_999, "pgid": 1, "create_time": 1.0},
    }}
    assert set(recorded_workers(records)) == {"worker-main", "worker-gone"}
    usage = local_worker_usage(records, interval=0.2)
    assert set(usage) == {"worker-main"}
    figures = usage["worker-main"].as_dict()
    assert figures["where"] == "local" and figures["pid"] == worker.pid and figures["processes"] == 2
    assert figures["rss_bytes"] >= 35 * MB and figures["cpu_percent"] is not None
    assert local_worker_usage({}) == {} and local_worker_usage({"processes": "nonsense"}) == {}


def test_inspect_stats_replies_become_remote_figures():
    replies = {
        "w1@elsewhere": {"pid": 4242, "pool": {"implementation": "celery.concurrency.prefork:TaskPool",
                                               "max-concurrency": 4, "processes": [11, 12, 13, 14]},
                         "rusage": {"maxrss": 98_304, "utime": 1.5}},
        "w2@elsewhere": {"pool": {"implementation": "celery.concurrency.thread:TaskPool", "max-concurrency": 8}},
        "broken@elsewhere": "error: no such command",
    }
    stats = parse_stats(replies)
    assert set(stats) == {"w1@elsewhere", "w2@elsewhere"}
    w1, w2 = stats["w1@elsewhere"], stats["w2@elsewhere"]
    assert (w1.max_rss_bytes, w1.pool, w1.pool_processes, w1.max_concurrency, w1.pid) == (98_304 * 1024, "prefork", 4, 4, 4242)
    assert (w2.max_rss_bytes, w2.pool, w2.pool_processes, w2.max_concurrency) == (None, "thread", None, 8)
    assert w1.as_dict()["source"] == "inspect stats"


def test_format_bytes():
    assert [format_bytes(n) for n in (None, 512, 2_500, 148_200_000, 1_500_000_000)] == \
        ["", "512 B", "2.5 kB", "148 MB", "1.5 GB"]
