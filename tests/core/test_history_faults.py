"""The history on a full disk and in a read-only folder: a clear error, once, and nothing else stops.

Real faults on a real file system: a small tmpfs filled up (SQLite's "database or disk is
full"), and a tmpfs remounted read-only. Mounting needs root (CI runs
as root); elsewhere these tests skip, and fail under CELERYDESK_STRICT.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid

import pytest

from celerydesk.core.history import history_path
from celerydesk.core.history.queries import HistoryReader
from celerydesk.core.history.schema import HistoryFileError
from celerydesk.core.history.writer import HistoryWriter
from tests.helpers.history_checks import integrity
from tests.helpers.history_events import event_stream
from tests.helpers.strict import require


@pytest.fixture
def small_disk(tmp_path):
    """A 3 MB tmpfs of our own; yields (folder, remount(options))."""
    folder = tmp_path / "disk"
    folder.mkdir()
    mounted = os.geteuid() == 0 and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(folder)], capture_output=True).returncode == 0
    require(mounted, "mounting a small tmpfs needs root (a full disk and a read-only folder are made that way)")

    def remount(options: str) -> None:
        subprocess.run(["mount", "-o", f"remount,{options}", str(folder)], check=True)

    try:
        yield folder, remount
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def wait_for(predicate, timeout=30.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.02)
    return predicate()


def test_a_full_disk_is_reported_once_and_the_history_goes_on_when_space_is_back(small_disk):
    folder, _ = small_disk
    runtime = folder / ".celerydesk"
    errors = []
    writer = HistoryWriter(runtime, interval=0.02, on_error=errors.append)
    writer.start()
    try:
        stream = event_stream(20_000, 1_796_000_000.0, seed=5)
        writer.submit(next(stream))
        assert writer.flush(30) and not errors
        filler = folder / "filler"
        with open(filler, "wb") as f:  # the disk fills up (with someone else's file)
            try:
                while True:
                    f.write(b"\0" * 65536)
            except OSError:
                pass
        for chunk in stream:
            writer.submit(chunk)  # never raises, never blocks
            if writer.stats.lost > 5000:
                break
        assert writer.flush(60)
        assert len(errors) == 1 and writer.stats.lost > 0, (errors, writer.stats)
        assert "disk holding the task history" in str(errors[0]) and "free some space" in errors[0].hint
        filler.unlink()  # space is back: batches commit again
        before = writer.stats.batches
        writer.submit(next(event_stream(10, 1_797_000_000.0, seed=6)))
        assert writer.flush(30) and writer.stats.batches > before and len(errors) == 1
    finally:
        writer.close()
    assert integrity(history_path(runtime)) == "ok"
    assert HistoryReader(runtime).count() > 0


def test_a_read_only_folder_refuses_to_start_and_still_reads(small_disk):
    folder, remount = small_disk
    runtime = folder / ".celerydesk"
    writer = HistoryWriter(runtime, interval=0.02)
    writer.start()
    writer.submit(next(event_stream(50, 1_796_000_000.0)))
    assert writer.flush(10)
    writer.close()
    remount("ro")
    with pytest.raises(HistoryFileError) as refused:
        HistoryWriter(runtime).start()
    assert "cannot be written" in str(refused.value) and "writable" in refused.value.hint
    with pytest.raises(HistoryFileError):
        HistoryWriter(folder / "elsewhere" / ".celerydesk").start()  # not even the folder can be made
    assert HistoryReader(runtime).count() == 50  # a read-only copy of a history is still read


def test_stopping_on_a_full_disk_does_not_wait_on_writes_that_cannot_happen(small_disk):
    folder, _ = small_disk
    runtime = folder / ".celerydesk"
    errors = []
    writer = HistoryWriter(runtime, interval=0.02, on_error=errors.append)
    writer.start()
    with open(folder / "filler", "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
        except OSError:
            pass
    for chunk in event_stream(5000, 1_796_000_000.0, seed=7):
        writer.submit(chunk)
    began = time.monotonic()
    writer.close(30)
    assert time.monotonic() - began < 30 and writer._thread is None
    assert len(errors) == 1 and writer.stats.lost > 0 and writer.pending == 0
    from celerydesk.core.history import sent

    assert sent.record_sent(sent.spool_dir(runtime), [sent.sent_record(uuid.uuid4(), "n", [], {}, "call")]) is False
    assert integrity(history_path(runtime)) == "ok"
