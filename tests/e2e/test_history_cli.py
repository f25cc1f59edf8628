"""``celerydesk history`` on a store the real writer filled: list, JSON, filters, search, show, export.

No broker runs: the command reads the store alone. Errors (no store yet, a damaged file, a bad
``--since``, an unknown or ambiguous id, an export nobody can write) exit 2 with a message and
what to do, never a traceback.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from celerydesk.cli.history_cmd import parse_since
from celerydesk.cli.main import main
from celerydesk.core.errors import DeskError
from celerydesk.core.history import history_path, sent
from celerydesk.core.history.writer import HistoryWriter
from tests.core.test_history_store import task
from tests.helpers.stack import write_workspace

NOW = time.time()
LONG = "x" * 2990 + "-TAIL-OF-IT"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("history-cli")
    write_workspace(folder)
    runtime = folder / ".celerydesk"
    writer = HistoryWriter(runtime, interval=0.02)
    writer.start()
    events = []
    for i in range(30):
        events += task(f"{i:02d}aa0000-0000-4000-8000-000000000000", NOW - 7200 + i * 200,
                       name=("shop.billing.tasks.charge", "shop.mail.tasks.send")[i % 2],
                       state="failed" if i % 3 == 0 else "succeeded",
                       result="ValueError('card declined')" if i % 3 == 0 else f"'receipt-{i}'")
    events += task("root0000-0000-4000-8000-000000000000", NOW - 60, name="shop.tasks.pipeline")
    events += task("kid00000-0000-4000-8000-000000000000", NOW - 50, name="shop.tasks.step",
                   parent="root0000-0000-4000-8000-000000000000", root="root0000-0000-4000-8000-000000000000",
                   args=repr((LONG[:1000],))[:-3] + "...'")
    sent.record_sent(sent.spool_dir(runtime), [sent.sent_record("kid00000-0000-4000-8000-000000000000",
                                                                "shop.tasks.step", [LONG], {"n": 1}, "call")])
    writer.submit(events)
    deadline = time.monotonic() + 10
    while writer.flush(10) and sent.pending_files(sent.spool_dir(runtime)) and time.monotonic() < deadline:
        time.sleep(0.05)
    writer.close()
    return folder


def cli(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "celerydesk", *args], capture_output=True, text=True, timeout=60,
                          cwd=cwd)


def test_history_json_newest_first_with_the_documented_fields(workspace):
    done = cli("history", "-w", str(workspace), "--json", "--limit", "5")
    assert done.returncode == 0, done.stderr
    tasks = json.loads(done.stdout)
    assert [t["id"][:5] for t in tasks] == ["kid00", "root0", "29aa0", "28aa0", "27aa0"]
    for key in ("id", "name", "state", "args", "kwargs", "result", "exception", "worker", "queue", "sent_at",
                "received_at", "started_at", "finished_at", "runtime", "retries", "parent_id", "root_id"):
        assert key in tasks[0], key
    kid = tasks[0]
    assert kid["args_json"] == [LONG] and kid["kwargs_json"] == {"n": 1} and kid["sent_by"] == "call"
    assert kid["parent_id"] == kid["root_id"] == tasks[1]["id"]
    stamp = datetime.fromisoformat(kid["sent_at"])
    assert stamp.utcoffset().total_seconds() == 0 and abs(stamp.timestamp() - (NOW - 50)) < 0.001
    assert tasks[1]["eta"] is None and tasks[1]["args_json"] is None


def test_history_filters_and_search(workspace):
    done = cli("history", "-w", str(workspace), "--json", "--state", "FAILURE", "--task", "charge", "--since", "1h")
    tasks = json.loads(done.stdout)
    assert tasks and all(t["state"] == "FAILURE" and t["name"] == "shop.billing.tasks.charge" for t in tasks)
    assert all(datetime.fromisoformat(t["sent_at"]).timestamp() >= NOW - 3600 - 5 for t in tasks)
    done = cli("history", "-w", str(workspace), "--json", "--search", "xx-TAIL-OF-IT")
    assert [t["id"][:5] for t in json.loads(done.stdout)] == ["kid00"]  # past celery's 1,024 characters
    done = cli("history", "-w", str(workspace), "--search", "card declined", "--worker", "main", "--limit", "3")
    lines = done.stdout.splitlines()
    assert done.returncode == 0 and len(lines) == 5 and "FAILURE" in lines[0] and "of 10 task(s)" in lines[-1]


def test_history_show_with_timeline_and_family(workspace):
    done = cli("history", "show", "kid0", "-w", str(workspace), "--json")
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert shown["task"]["id"].startswith("kid0") and [t["state"] for t in shown["timeline"]] == \
        ["SENT", "RECEIVED", "STARTED", "SUCCESS"]
    assert shown["family"]["root"].startswith("root") and shown["family"]["tree"]["children"][0]["id"].startswith("kid")
    done = cli("history", "-w", str(workspace), "show", "root")
    assert done.returncode == 0 and "timeline" in done.stdout and "← this task" in done.stdout
    assert "└─ kid00000  step  SUCCESS" in done.stdout


def test_history_export_csv_and_json_with_filters(workspace, tmp_path):
    target = tmp_path / "failures.csv"
    done = cli("history", "export", "-o", str(target), "--state", "failure", "-w", str(workspace))
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(target.open(encoding="utf-8")))
    assert len(rows) == 10 and {r["state"] for r in rows} == {"FAILURE"} and rows[0]["exception"]
    target = tmp_path / "all.json"
    done = cli("history", "-w", str(workspace), "export", "-o", str(target))
    exported = json.loads(target.read_text())
    assert done.returncode == 0 and len(exported) == 32 and "wrote 32 task(s)" in done.stderr
    assert exported[0]["args_json"] == [LONG]
    done = cli("history", "-w", str(workspace), "export", "-o", "-", "--format", "csv", "--task", "step")
    assert len(list(csv.DictReader(done.stdout.splitlines()))) == 1


@pytest.mark.parametrize("argv, message, hint", [
    (["--since", "last tuesday"], "neither a duration nor an ISO 8601 time", "2h30m"),
    (["--state", "DONE"], "not a task state", "SUCCESS"),
    (["--limit", "0"], "--limit must be at least 1", "--limit 100"),
    (["show", "zzz"], "no task 'zzz' in the history", "give the id"),
    (["show", "0"], "starts more than one task id", "more of the id"),
])
def test_bad_input_says_what_is_wrong_and_what_to_do(workspace, capsys, argv, message, hint):
    assert main(["history", "-w", str(workspace), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and hint in err and "Traceback" not in err


def test_export_to_a_folder_that_does_not_exist(workspace, capsys, tmp_path):
    assert main(["history", "-w", str(workspace), "export", "-o", str(tmp_path / "no" / "such" / "x.json")]) == 2
    err = capsys.readouterr().err
    assert "cannot write" in err and "choose a folder" in err
    assert not list(tmp_path.glob("**/.x.json*"))


def test_no_store_yet_and_a_damaged_one(tmp_path, capsys):
    write_workspace(tmp_path)
    assert main(["history", "-w", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no task history yet" in err and "celerydesk up" in err
    (tmp_path / ".celerydesk").mkdir(exist_ok=True)
    history_path(tmp_path / ".celerydesk").write_bytes(b"garbage" * 1000)
    done = cli("history", "-w", str(tmp_path), "--json")
    assert done.returncode == 2 and "is damaged" in done.stderr and "mv " in done.stderr
    assert "Traceback" not in done.stderr


def test_since_takes_durations_and_iso_times():
    assert parse_since("90s", 1000.0) == 910.0
    assert parse_since("1h30m", 10_000.0) == 10_000.0 - 5400
    assert parse_since("2d", 200_000.0) == 200_000.0 - 172_800
    assert parse_since("2026-12-06T18:00:00Z", 0) == 1796580000.0
    assert parse_since("2026-12-06T19:00:00+01:00", 0) == 1796580000.0
    assert parse_since("2026-12-06T18:00", 0) == datetime(2026, 12, 6, 18, 0).timestamp()  # local time
    for bad in ("", "5", "5 minutes", "1x"):
        with pytest.raises(DeskError):
            parse_since(bad, 0)
