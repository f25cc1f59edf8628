"""kill -9 of a real writer process in the middle of a flood: nothing committed is lost, the file is sound.

A child process runs the real HistoryWriter and floods it with task events (a deterministic
stream, as fast as it can make them), printing the running total of committed events after
each commit. Once it has committed a few batches it is killed with SIGKILL at a random
moment. Then:

- ``PRAGMA integrity_check`` is ok and the search index matches the rows;
- every event it reported committed is there, and the store holds exactly the first K events
  of the stream (each event is one timeline row; K is a batch boundary): what is lost is only
  what had not been committed yet: the batch being written, and what waited for the next one.
  The flood is 20,000 events a second, but the child holds back while a second's worth waits:
  on a loaded machine the writer falls behind such a flood, and what waits would grow with the
  load rather than tell anything about a kill. So each of the two is at most a second's worth;
- a new writer takes the lock the dead one held, and goes on.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from celerydesk.core.history import history_path
from celerydesk.core.history.queries import HistoryReader
from celerydesk.core.history.writer import HistoryWriter
from tests.helpers.history_checks import integrity, search_index_problems
from tests.helpers.history_events import event_stream

REPO = Path(__file__).resolve().parents[2]
START = 1_796_000_000.0
FLOOD_PER_S = 20_000  # events a second: five times what two prefork workers' no-op tasks make
CHUNK = 100
WAITING_AT_MOST = FLOOD_PER_S  # the child submits no more while this many events wait for the writer
CHILD = f"""
import os, sys, time
from pathlib import Path
from celerydesk.core.history.writer import HistoryWriter
from tests.helpers.history_events import event_stream

def committed(commit):
    os.write(1, b"committed %d %d\\n" % (writer.stats.events, commit.events))  # one write: whole lines

writer = HistoryWriter(Path(sys.argv[1]), interval=0.05, on_commit=committed)
writer.start()
submitted, began = 0, time.monotonic()
for chunk in event_stream(10**6, {START}, seed=11, chunk={CHUNK}):
    while writer.pending > {WAITING_AT_MOST}:
        time.sleep(0.005)
    writer.submit(chunk)
    submitted += len(chunk)
    os.write(1, b"submitted %d\\n" % submitted)
    time.sleep(max(0.0, began + submitted / {FLOOD_PER_S} - time.monotonic()))
"""


def flood_and_kill(runtime: Path, r: random.Random) -> tuple[int, int, list[int]]:
    """Run the flooding writer, kill -9 it mid-flood; (last submitted, last reported committed, all reported)."""
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(runtime)], cwd=REPO, stdout=subprocess.PIPE,
                             text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    reported, sizes, submitted = [], [], 0

    def read(line: str) -> None:
        nonlocal submitted
        word, *counts = line.split()
        if word == "committed":
            reported.append(int(counts[0]))
            sizes.append(int(counts[1]))
        else:
            submitted = int(counts[0])

    wanted = r.randrange(4, 12)
    try:
        for line in child.stdout:
            read(line)
            if len(reported) >= wanted:
                time.sleep(r.uniform(0, 0.05))  # somewhere within a batch
                break
    finally:
        child.send_signal(signal.SIGKILL)
        rest, _ = child.communicate(timeout=30)
    for line in rest.split("\n")[:-1]:  # what it printed before the signal landed (not a torn last line)
        read(line)
    assert child.returncode == -signal.SIGKILL
    return submitted, reported, sizes


def test_kill_9_mid_flood_loses_only_what_was_not_committed(tmp_path):
    r = random.Random()
    for attempt in range(3):
        runtime = tmp_path / f"run{attempt}" / ".celerydesk"
        submitted, reported, sizes = flood_and_kill(runtime, r)
        last_reported = reported[-1]
        path = history_path(runtime)
        assert integrity(path) == "ok"
        reader = HistoryReader(runtime)
        stored_events = reader.db.execute("SELECT count(*) FROM timeline").fetchone()[0]
        assert stored_events >= last_reported, "an event reported committed is missing"
        assert stored_events <= submitted
        assert stored_events in reported or stored_events > last_reported  # a whole batch (maybe not yet told)
        # lost: the batch being written when killed, and what waited for the next one
        lost = submitted - stored_events
        assert lost <= 2 * (WAITING_AT_MOST + CHUNK), (lost, sizes)
        prefix, ids = 0, []
        for chunk in event_stream(10**6, START, seed=11, chunk=CHUNK):
            for event in chunk:
                if prefix == stored_events:
                    break
                ids.append(event["uuid"])
                prefix += 1
            if prefix == stored_events:
                break
        stored_ids = {row[0] for row in reader.db.execute("SELECT id FROM tasks")}
        assert stored_ids == set(ids), "the store is not exactly the first events of the stream"
        assert search_index_problems(path) == []
        reader.close()
        print(f"run {attempt}: {len(reported)} batches committed (largest {max(sizes)} events), "
              f"{stored_events} events stored, {lost} handed over but not committed when killed")
    writer = HistoryWriter(runtime, interval=0.02)
    writer.start()  # the dead writer's lock went with it
    writer.submit(next(event_stream(10, START + 10**6, seed=12)))
    assert writer.flush(10)
    writer.close()
    assert integrity(history_path(runtime)) == "ok"
