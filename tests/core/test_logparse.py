"""Log lines read without Qt (celerydesk/core/logparse.py).

Covered: the level of celery (MainProcess, ForkPoolWorker-N, Beat), redis-server (``.``, ``-``,
``*``, ``#``), tornado/Flower and bare logging lines; continuation lines (a traceback, a
banner) inheriting the level of the line before, per parser, across batches; ANSI-coloured
lines parsed by their text; celerydesk's own lines; task ids (uuids anywhere, custom ids where
celery's task format puts them, none in a timestamp); ANSI SGR sequences to spans (16, 256 and
RGB colours, bold, reset, non-SGR escapes dropped) and stripped text; carriage returns.
"""

from __future__ import annotations

import pytest

from celerydesk.core.logparse import (CRITICAL, DEBUG, ERROR, INFO, PLAIN, WARNING, LineParser, Style, ansi_spans,
                                      apply_sgr, header_level, strip_ansi, system_level, task_id_spans, task_ids)

TID = "6dc24a0a-a2e6-482d-8b8a-eb6d1d1d6333"


@pytest.mark.parametrize("line, level", [
    ("[2026-11-25 12:00:00,123: INFO/MainProcess] main@host ready.", INFO),
    (f"[2026-11-25 12:00:00,123: INFO/MainProcess] Task playground.tasks.add[{TID}] received", INFO),
    ("[2026-11-25 12:00:00,123: WARNING/ForkPoolWorker-1] hello from a task", WARNING),
    ("[2026-11-25 12:00:00,123: ERROR/ForkPoolWorker-12] Task x[1] raised unexpected: ValueError()", ERROR),
    ("[2026-11-25 12:00:00,123: CRITICAL/MainProcess] Unrecoverable error", CRITICAL),
    ("[2026-11-25 12:00:00,123: DEBUG/Beat] beat: Waking up in 5.00 seconds.", DEBUG),
    ("[2026-11-25 12:00:00,123: INFO/Beat] beat: Starting...", INFO),
    ("812:M 25 Nov 2026 12:00:00.123 * Ready to accept connections tcp", INFO),
    ("812:C 25 Nov 2026 12:00:00.123 # oO0OoO0OoO0Oo Redis is starting oO0OoO0OoO0Oo", WARNING),
    ("812:M 25 Nov 2026 12:00:00.123 - Accepted 127.0.0.1:50000", DEBUG),
    ("812:M 25 Nov 2026 12:00:00.123 . 0 clients connected", DEBUG),
    ("812:M 05 Nov 2026 12:00:00.123 # Warning: no config file specified", WARNING),
    ("[I 251125 12:00:00 command:168] Visit me at http://127.0.0.1:5555", INFO),
    ("[W 251125 12:00:00 control:44] 'stats' inspect method failed", WARNING),
    ("[E 251125 12:00:00 web:2239] 500 GET /api/workers (127.0.0.1) 3.21ms", ERROR),
    ("WARNING:kombu.connection:No hostname was supplied", WARNING),
    ("Traceback (most recent call last):", ERROR),
    ("/venv/lib/python3.11/site-packages/celery/platforms.py:893: SecurityWarning: You're running the worker "
     "with superuser privileges", WARNING),
    ("/app/tasks.py:3: DeprecationWarning: old", WARNING),
])
def test_header_levels(line, level):
    assert header_level(line) == level
    assert LineParser().parse([line])[1] == [level]


@pytest.mark.parametrize("line", [
    '  File "/app/tasks.py", line 3, in add',
    "ValueError: boom",
    " -------------- main@host v5.4.0 (opalescent)",
    "",
    "[2026-11-25] not celery's header",
    "12:00:00 INFO something",
    "a sentence about tasks.py:3: Warning: not at the start",
])
def test_continuation_lines_declare_no_level(line):
    assert header_level(line) is None


def test_a_traceback_takes_the_level_of_the_error_above_it_then_the_next_header_wins():
    lines = [
        "[2026-11-25 12:00:00,001: INFO/MainProcess] Task t[a] received",
        "[2026-11-25 12:00:00,002: ERROR/ForkPoolWorker-1] Task t[a] raised unexpected: ValueError('x')",
        "Traceback (most recent call last):",
        '  File "/app/tasks.py", line 3, in add',
        "    raise ValueError('x')",
        "ValueError: x",
        "[2026-11-25 12:00:00,003: INFO/MainProcess] Task t[b] received",
        "a print without a header",
    ]
    plains, levels = LineParser().parse(lines)
    assert plains == lines
    assert levels == [INFO, ERROR, ERROR, ERROR, ERROR, ERROR, INFO, INFO]


def test_inheritance_carries_across_batches_of_one_parser_only():
    parser = LineParser()
    parser.parse(["[2026-11-25 12:00:00,002: WARNING/MainProcess] careful"])
    assert parser.parse(["  continued"])[1] == [WARNING]
    assert LineParser().parse(["  continued"])[1] == [INFO]  # a fresh stream starts at INFO
    assert LineParser(level=DEBUG).parse(["  continued"])[1] == [DEBUG]


def test_coloured_lines_are_parsed_by_what_they_show():
    line = "\x1b[1;31m[2026-11-25 12:00:00,017: ERROR/ForkPoolWorker-2] boom\x1b[0m"
    plains, levels = LineParser().parse(["plain first", line])
    assert plains == ["plain first", "[2026-11-25 12:00:00,017: ERROR/ForkPoolWorker-2] boom"]
    assert levels == [INFO, ERROR]


def test_an_empty_batch():
    assert LineParser().parse([]) == ([], [])


def test_celerydesk_own_lines():
    assert system_level("[celerydesk] starting: python -m celery worker") == INFO
    assert system_level("[celerydesk] pid 42 exited with code 0") == INFO
    assert system_level("[celerydesk] pid 42 exited with code 1") == WARNING
    assert system_level("[celerydesk] pid 42 was killed by a signal") == WARNING
    assert system_level("[celerydesk] cannot start: /nope does not exist") == WARNING


# -- task ids -------------------------------------------------------------------------------------

def test_task_ids_where_celery_writes_them_and_anywhere():
    received = f"[2026-11-25 12:00:00,123: INFO/MainProcess] Task playground.tasks.add[{TID}] received"
    assert task_ids(received) == [TID]
    start, end = task_id_spans(received)[0]
    assert received[start:end] == TID and received[end] == "]"
    inside = f"[2026-11-25 12:00:00,123: WARNING/ForkPoolWorker-1] playground.tasks.add[{TID}]: hello"
    assert task_ids(inside) == [TID]
    other = "f2e9a1c0-0000-4000-8000-00000000abcd"
    assert task_ids(f"chord {TID} waits for {other.upper()}") == [TID, other.upper()]


def test_custom_task_ids_only_where_celery_puts_them():
    assert task_ids("[2026-11-25 12:00:00,123: INFO/MainProcess] Task tasks.add[my-id-7] received") == ["my-id-7"]
    assert task_ids("[2026-11-25 12:00:00,123: INFO/ForkPoolWorker-1] tasks.add[my-id-7]: working") == ["my-id-7"]
    assert task_ids("args[0] is not a task, nor is [2026-11-25 12:00:00,123: INFO/MainProcess]") == []
    assert task_ids(f"x{TID}y") == []  # part of a longer word


# -- ANSI -----------------------------------------------------------------------------------------

def test_sgr_spans():
    spans = ansi_spans("\x1b[1;31mERROR\x1b[0m plain \x1b[32mgreen\x1b[39m default")
    assert spans == [
        ("ERROR", Style(fg=1, bold=True)),
        (" plain ", PLAIN),
        ("green", Style(fg=2)),
        (" default", PLAIN),
    ]


@pytest.mark.parametrize("params, style", [
    ("", PLAIN),
    ("0", PLAIN),
    ("91", Style(fg=9)),
    ("44", Style(bg=4)),
    ("103", Style(bg=11)),
    ("38;5;208", Style(fg=208)),
    ("48;2;10;20;30", Style(bg=(10, 20, 30))),
    ("38:2::1:2:3", Style(fg=(1, 2, 3))),
    ("1;3;4;7", Style(bold=True, italic=True, underline=True, inverse=True)),
    ("38;5", PLAIN),  # malformed: ignored
])
def test_sgr_parameters(params, style):
    assert apply_sgr(PLAIN, params) == style


def test_sgr_turn_offs():
    style = apply_sgr(PLAIN, "1;2;3;4;7;31;41")
    assert apply_sgr(style, "22;23;24;27;39;49") == PLAIN


def test_other_escapes_are_dropped_and_stripping_matches_the_spans():
    text = "\x1b]0;title\x07\x1b[2K\x1b[33mwarn\x1b[0m done\x1b(B"
    assert strip_ansi(text) == "warn done"
    assert "".join(chunk for chunk, _ in ansi_spans(text)) == "warn done"


def test_carriage_returns_keep_what_overwrote_the_line():
    assert strip_ansi("10%\r50%\r100%") == "100%"
    assert strip_ansi("done\r\r") == "done"
    assert ansi_spans("10%\r\x1b[32m100%") == [("100%", Style(fg=2))]
    assert LineParser().parse(["a\rb", "c"])[0] == ["b", "c"]


def test_a_line_without_escapes_is_one_span():
    assert ansi_spans("plain") == [("plain", PLAIN)]
    assert ansi_spans("") == []


def test_likely_cause_finds_why_a_program_did_not_start():
    from celerydesk.core.logparse import likely_cause

    celery_bad_app = [
        "[celerydesk] starting: python -m celery -A shopp worker",
        "Usage: python -m celery [OPTIONS] COMMAND [ARGS]...",
        "Try 'python -m celery --help' for help.",
        "",
        "Error: Invalid value for '-A' / '--app': ",
        "Unable to load celery application.",
        "The module shopp was not found.",
        "[celerydesk] pid 12 exited with code 2",
    ]
    assert likely_cause(celery_bad_app) == "Unable to load celery application. The module shopp was not found."
    traceback = ["Traceback (most recent call last):", '  File "x.py", line 1, in <module>',
                 "\x1b[31mModuleNotFoundError: No module named 'django'\x1b[0m"]
    assert likely_cause(traceback) == "ModuleNotFoundError: No module named 'django'"
    assert likely_cause(["[2026-11-25 10:00:00,000: CRITICAL/MainProcess] Unrecoverable error: X", "done"]) == \
        "[2026-11-25 10:00:00,000: CRITICAL/MainProcess] Unrecoverable error: X done"
    assert likely_cause(["all fine", "[celerydesk] pid 3 exited with code 1"]) is None
    assert likely_cause([]) is None
