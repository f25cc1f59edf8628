"""A managed process's output, read in coalesced, bounded chunks (services/managed_process.py).

Real child processes: a flood on stdout with lines on stderr, multi-byte characters split
across pipe writes, and a last line without its newline. Every line reaches ``linesReceived``,
the history and the log file, in order per channel; no chunk is more than one bounded read; a
quiet child's lines still arrive.
"""

from __future__ import annotations

import os
import re
import sys

from celerydesk.core.commands import WORKER, Readiness, ServiceSpec
from celerydesk.core.logtext import RotatingLogFile
from celerydesk.core.states import ProcessState
from celerydesk.core.supervision import Autorestart, RestartPolicy
from celerydesk.services.managed_process import READ_CHUNK_BYTES, STDERR, STDOUT, SYSTEM, ManagedProcess

FLOOD = r'''
import os, sys
n = int(sys.argv[1])
out = sys.stdout
for i in range(n):
    out.write(f"out {i} caf\u00e9 \u2603 " + "x" * (i % 50) + "\n")
    if i % 1000 == 0:
        out.flush()
        os.write(2, f"err {i}\n".encode())
out.write("no newline at the end")
'''

QUIET = r'''
import sys, time
for i in range(3):
    print(f"quiet {i}", flush=True)
    time.sleep(0.05)
'''


def process(tmp_path, script: str, *args: str) -> ManagedProcess:
    spec = ServiceSpec(key="worker-out", label="worker-out", kind=WORKER,
                       argv=[sys.executable, "-c", script, *args], cwd=tmp_path, env=dict(os.environ),
                       readiness=Readiness("uptime"), policy=RestartPolicy(autorestart=Autorestart.NEVER))
    return ManagedProcess(spec, RotatingLogFile(tmp_path / "worker-out.log"), history_lines=1_000_000)


def run(qtbot, proc: ManagedProcess) -> list[list]:
    chunks: list[list] = []
    proc.linesReceived.connect(lambda _key, entries: chunks.append(entries))
    proc.start()
    qtbot.waitUntil(lambda: proc.state in (ProcessState.EXITED, ProcessState.FATAL), timeout=60000)
    return chunks


def test_a_flood_arrives_whole_in_order_and_in_bounded_chunks(qtbot, tmp_path):
    n = 60_000
    proc = process(tmp_path, FLOOD, str(n))
    try:
        chunks = run(qtbot, proc)
        entries = [entry for chunk in chunks for entry in chunk]
        out = [text for text, channel in entries if channel == STDOUT]
        err = [text for text, channel in entries if channel == STDERR]
        expected = [f"out {i} café ☃ " + "x" * (i % 50) for i in range(n)] + ["no newline at the end"]
        assert out == expected
        assert err == [f"err {i}" for i in range(0, n, 1000)]
        assert list(proc.history) == entries  # the history is what was relayed
        # Coalesced: far fewer chunks than lines; bounded: none more than one read's worth.
        output_chunks = [c for c in chunks if c[0][1] != SYSTEM]
        assert len(output_chunks) < n / 50
        longest = max(sum(len(text.encode()) + 1 for text, _ in chunk) for chunk in output_chunks)
        assert longest <= READ_CHUNK_BYTES + 200  # plus the line a read ended inside
        proc.log_file.flush()
        logged = (tmp_path / "worker-out.log").read_text(encoding="utf-8").splitlines()
        # celerydesk's "starting: ..." line quotes the script: only the child's own lines.
        assert [line for line in logged if re.match(r"out \d|no newline at the end$", line)] == expected
    finally:
        proc.log_file.close()
        proc.deleteLater()


def test_a_quiet_child_s_lines_each_arrive(qtbot, tmp_path):
    proc = process(tmp_path, QUIET)
    try:
        chunks = run(qtbot, proc)
        out = [text for chunk in chunks for text, channel in chunk if channel == STDOUT]
        assert out == ["quiet 0", "quiet 1", "quiet 2"]
    finally:
        proc.log_file.close()
        proc.deleteLater()
