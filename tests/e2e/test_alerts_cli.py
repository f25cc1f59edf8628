"""``celerydesk alerts list`` and ``alerts fired`` on a workspace and a history the real writer
filled (no broker runs: the command reads the file alone); errors exit 2 with what to do."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from celerydesk.cli.main import main
from celerydesk.core.alerts.evaluator import Firing
from celerydesk.core.history.writer import HistoryWriter
from tests.helpers.alerts import workspace_with_alerts
from tests.helpers.stack import write_workspace



@pytest.fixture
def workspace(tmp_path) -> Path:
    return workspace_with_alerts(tmp_path)


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_list_shows_the_rules(workspace, capsys):
    code, out, _ = run(capsys, "alerts", "list", "-w", str(workspace))
    assert code == 0
    assert out.splitlines() == [
        "video-failed  task-failed     a task process_video fails",
        "backlog       queue-depth     queue celery holds more than 100 messages for 60 s",
    ]
    code, out, _ = run(capsys, "alerts", "list", "-w", str(workspace), "--json")
    assert json.loads(out)[1] == {"name": "backlog", "when": "queue-depth", "queue": "celery", "above": 100.0,
                                  "for": 60.0}


def test_fired_reads_the_history(workspace, capsys):
    writer = HistoryWriter(workspace.parent / ".celerydesk", interval=0.02)
    writer.start()
    now = time.time()
    writer.submit_alerts([Firing("video-failed", "task-failed", now - 7200, "x.process_video failed: boom (task t1)",
                                 task_id="t1", task="x.process_video"),
                          Firing("backlog", "queue-depth", now - 5, "queue celery has held ...", queue="celery")])
    assert writer.flush(10)
    writer.close()
    code, out, _ = run(capsys, "alerts", "fired", "-w", str(workspace), "--json")
    firings = json.loads(out)
    assert code == 0 and [f["rule"] for f in firings] == ["video-failed", "backlog"]
    assert firings[0]["task_id"] == "t1" and firings[0]["queue"] is None and firings[1]["queue"] == "celery"
    code, out, _ = run(capsys, "alerts", "fired", "-w", str(workspace), "--since", "1h")
    assert code == 0 and out.count("\n") == 1 and "backlog: queue celery" in out
    code, out, _ = run(capsys, "alerts", "fired", "-w", str(workspace), "--since", "2026-01-01T00:00Z", "--limit", "1")
    assert code == 0 and "backlog" in out and "video-failed" not in out


def test_errors_say_what_to_do(workspace, tmp_path, capsys):
    code, _, err = run(capsys, "alerts", "fired", "-w", str(workspace))
    assert code == 2 and "no task history yet" in err and "celerydesk up" in err
    code, _, err = run(capsys, "alerts", "fired", "-w", str(workspace), "--since", "yesterday")
    assert code == 2 and "neither a duration nor an ISO 8601 time" in err
    broken = tmp_path / "broken" / "celerydesk.toml"
    write_workspace(broken.parent)
    broken.write_text(broken.read_text() + '[[alerts]]\nname = "x"\nwhen = "queue-depth"\nqueue = "q"\nabove = -1\n')
    code, _, err = run(capsys, "alerts", "list", "-w", str(broken))
    assert code == 2 and '[[alerts]] #1 "x" above: must be from 0 to 100000000 messages, got -1' in err
    assert '[[alerts]] #1 "x" for: missing' in err and "Traceback" not in err
