"""Bytes to lines, and bounded log files (celerydesk/core/logtext.py).

Covered: LineSplitter with a multi-byte UTF-8 character split across feeds at every byte
boundary (and byte by byte), CRLF (also split between feeds), the unfinished last line kept
until flush(), invalid bytes replaced; RotatingLogFile rotation with a small max_bytes keeping
``backups`` files, newest lines in the main file, older ones in .1, .2, none lost in between.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from celerydesk.core.logtext import LineSplitter, RotatingLogFile

TEXT = "añ€😀z ready.\nsecond ✓\n"  # 1-, 2-, 3- and 4-byte characters
DATA = TEXT.encode("utf-8")
LINES = ["añ€😀z ready.", "second ✓"]


def feed_all(chunks: list[bytes]) -> list[str]:
    splitter = LineSplitter()
    out: list[str] = []
    for chunk in chunks:
        out += splitter.feed(chunk)
    return out + splitter.flush()


# -- LineSplitter ---------------------------------------------------------------------------------


@pytest.mark.parametrize("cut", range(len(DATA) + 1))
def test_a_character_split_at_any_byte_boundary_is_decoded_whole(cut):
    assert feed_all([DATA[:cut], DATA[cut:]]) == LINES


def test_every_pair_of_cuts_and_byte_by_byte():
    for i in range(len(DATA) + 1):
        for j in range(i, len(DATA) + 1):
            assert feed_all([DATA[:i], DATA[i:j], DATA[j:]]) == LINES, (i, j)
    assert feed_all([bytes([b]) for b in DATA]) == LINES


def test_lines_come_out_as_soon_as_they_end():
    splitter = LineSplitter()
    first = "€".encode()
    assert splitter.feed(first[:2]) == []
    assert splitter.feed(first[2:] + b"1\nhalf") == ["€1"]
    assert splitter.feed(b" line") == []  # kept, not emitted
    assert splitter.feed(b"\n") == ["half line"]
    assert splitter.flush() == []


def test_partial_last_line_is_kept_until_flush():
    splitter = LineSplitter()
    assert splitter.feed(b"one\ntw") == ["one"]
    assert splitter.feed(b"o") == []
    assert splitter.flush() == ["two"]
    assert splitter.flush() == []  # flushed once only
    assert splitter.feed(b"three\n") == ["three"]  # and the splitter is reusable


@pytest.mark.parametrize(
    "chunks, lines",
    [
        ([b"one\r\ntwo\r\n"], ["one", "two"]),
        ([b"one\r", b"\ntwo\r\n"], ["one", "two"]),  # CR and LF in different reads
        ([b"one\r\n", b"last\r"], ["one", "last"]),  # CR at the very end, flushed
        ([b"mixed\nends\r\n"], ["mixed", "ends"]),
        ([b"\n\r\n\n"], ["", "", ""]),  # empty lines are lines
        ([b"a\rb\n"], ["a\rb"]),  # a lone CR inside a line is content (progress bars)
    ],
)
def test_crlf(chunks, lines):
    assert feed_all(chunks) == lines


@pytest.mark.parametrize(
    "chunks, lines",
    [
        ([b"bad \xff byte\n"], ["bad \ufffd byte"]),
        ([b"\xc3(\n"], ["\ufffd("]),  # a lead byte followed by no continuation
        ([b"cut \xe2\x82"], ["cut \ufffd"]),  # a character cut off at the end of the stream
        ([b"\xed\xa0\x80\n"], ["\ufffd\ufffd\ufffd"]),  # an encoded surrogate is invalid UTF-8
        ([b"ok\n", b"\xf0\x9f", b"\x98\x80\n"], ["ok", "😀"]),
    ],
)
def test_invalid_bytes_are_replaced_not_raised(chunks, lines):
    assert feed_all(chunks) == lines


# -- RotatingLogFile --------------------------------------------------------------------------------


def numbered(n: int) -> str:
    return f"line {n:04d} " + "x" * 10  # 20 characters, 21 bytes with its newline


def read_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


def test_rotation_keeps_backups_newest_in_the_main_file(tmp_path):
    path = tmp_path / "logs" / "worker-main.log"
    log = RotatingLogFile(path, max_bytes=100, backups=2)
    for n in range(42):  # 21 bytes a line: a rotation every 5 lines, 2 lines left in the main file
        log.write_lines([numbered(n)])
    log.close()

    names = sorted(p.name for p in path.parent.iterdir())
    assert names == ["worker-main.log", "worker-main.log.1", "worker-main.log.2"]
    main, one, two = read_lines(path), read_lines(path.with_name("worker-main.log.1")), \
        read_lines(path.with_name("worker-main.log.2"))
    assert main and one and two
    assert main == [numbered(40), numbered(41)]  # newest in the main file
    # .2 then .1 then the main file: a contiguous, ordered tail of what was written
    kept = two + one + main
    first = int(kept[0].split()[1])
    assert kept == [numbered(n) for n in range(first, 42)]
    assert first > 0  # the oldest were dropped
    for rotated in (path.with_name("worker-main.log.1"), path.with_name("worker-main.log.2")):
        assert 100 <= rotated.stat().st_size < 100 + 21  # rotated on the chunk that crossed max_bytes


@pytest.mark.parametrize("backups", [1, 3])
def test_number_of_backups(tmp_path, backups):
    path = tmp_path / "svc.log"
    log = RotatingLogFile(path, max_bytes=50, backups=backups)
    for n in range(100):
        log.write_lines([numbered(n)])
    log.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["svc.log"] + [f"svc.log.{i}" for i in range(1, backups + 1)]


def test_a_chunk_of_several_lines_is_written_together(tmp_path):
    path = tmp_path / "svc.log"
    log = RotatingLogFile(path, max_bytes=1000)
    log.write_lines(["a", "b", "c"])
    log.write_lines([])
    assert path.read_text() == "a\nb\nc\n"  # flushed per chunk: readable before close
    log.close()


def test_reopening_appends_and_counts_what_is_there(tmp_path):
    path = tmp_path / "svc.log"
    path.write_text("x" * 90 + "\n")
    log = RotatingLogFile(path, max_bytes=100, backups=1)
    log.write_lines(["0123456789"])  # 91 + 11 bytes: crosses max_bytes
    log.close()
    assert path.with_name("svc.log.1").read_text() == "x" * 90 + "\n0123456789\n"
    assert path.read_text() == ""


def test_max_bytes_counts_bytes_of_non_ascii_lines(tmp_path):
    path = tmp_path / "svc.log"
    line = "é" * 20  # 40 bytes + newline, 21 characters
    log = RotatingLogFile(path, max_bytes=100, backups=1)
    for _ in range(10):
        log.write_lines([line])
    log.close()
    rotated = path.with_name("svc.log.1")
    assert rotated.exists()
    assert rotated.stat().st_size < 100 + 41  # at most one chunk past max_bytes


# -- a log that cannot be written: reported, never raised, resumed -----------------------------------


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_logs_are_private_also_when_an_older_one_was_not(tmp_path):
    old = tmp_path / "old.log"
    old.write_text("from before\n")
    old.chmod(0o644)
    for path in (old, tmp_path / "new.log"):
        log = RotatingLogFile(path)
        log.write_lines(["x"])
        log.close()
        assert path.stat().st_mode & 0o777 == 0o600


def test_a_full_disk_is_reported_not_raised_and_the_log_resumes_saying_what_is_missing(tmp_path):
    """/dev/full refuses every write with ENOSPC, as a full disk does; then the disk has room again."""
    import errno

    path = tmp_path / "worker-main.log"
    path.symlink_to("/dev/full")
    failures: list = []
    clock = FakeClock()
    log = RotatingLogFile(path, on_error=lambda p, exc: failures.append((p, exc.errno)), retry_s=5.0, clock=clock)
    log.write_lines(["one", "two"])  # must not raise
    assert failures == [(path, errno.ENOSPC)]
    log.write_lines(["three"])  # within retry_s: not tried again, not reported again
    clock.now += 5.0
    log.write_lines(["four"])  # tried again, still full: said again (WriteFailures says it once)
    assert failures == [(path, errno.ENOSPC)] * 2
    path.unlink()  # room again: the next try writes
    clock.now += 5.0
    log.write_lines(["five"])
    log.close()
    assert path.read_text() == "[celerydesk] 4 line(s) missing here: they could not be written\nfive\n"
    assert len(failures) == 2
