"""The history on a full disk and in a read-only folder: a clear error, once, and nothing else stops.

Real faults on a real file system (tests/helpers/small_disk.py): a small tmpfs filled up
(SQLite's "database or disk is full"), and a tmpfs remounted read-only.
"""

from __future__ import annotations

import time
import uuid

import pytest

from celerydesk.core.history import sent
from celerydesk.core.history.queries import HistoryReader
from celerydesk.core.history.schema import HistoryFileError
from celerydesk.core.history.writer import HistoryWriter
from tests.helpers.history_checks import integrity
from tests.helpers.history_events import event_stream
from tests.helpers.small_disk import fill_up, small_tmpfs


@pytest.fixture
def small_disk(tmp_path):
    """A 3 MB tmpfs of our own; yields (folder, remount(options))."""
    folder = tmp_path / "disk"
    with small_tmpfs(folder) as remount:
        yield folder, remount


@pytest.fixture
def writer_on_small_disk(small_disk):
    """A started writer on the small disk, its reported errors in ``writer.errors``."""
    folder, _ = small_disk
    errors = []
    writer = HistoryWriter(folder / ".celerydesk", interval=0.02, on_error=errors.append)
    writer.errors = errors
    writer.start()
    try:
        yield writer
    finally:
        writer.close()


def test_a_full_disk_is_reported_once_and_the_history_goes_on_when_space_is_back(writer_on_small_disk):
    writer, errors = writer_on_small_disk, writer_on_small_disk.errors
    stream = event_stream(20_000, 1_796_000_000.0, seed=5)
    writer.submit(next(stream))
    assert writer.flush(30) and not errors
    filler = fill_up(writer.runtime_dir.parent)  # the disk fills up (with someone else's file)
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
    writer.close()
    assert integrity(writer.path) == "ok"
    assert HistoryReader(writer.runtime_dir).count() > 0


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


def test_stopping_on_a_full_disk_does_not_wait_on_writes_that_cannot_happen(writer_on_small_disk):
    writer, errors = writer_on_small_disk, writer_on_small_disk.errors
    fill_up(writer.runtime_dir.parent)
    for chunk in event_stream(5000, 1_796_000_000.0, seed=7):
        writer.submit(chunk)
    began = time.monotonic()
    writer.close(30)
    assert time.monotonic() - began < 30 and writer._thread is None
    assert len(errors) == 1 and writer.stats.lost > 0 and writer.pending == 0
    record = sent.sent_record(uuid.uuid4(), "n", [], {}, "call")
    assert sent.record_sent(sent.spool_dir(writer.runtime_dir), [record]) is False
    assert integrity(writer.path) == "ok"
