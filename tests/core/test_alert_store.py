"""Alert firings in the history file (core/alerts/store.py, the writer's ``submit_alerts``): the
writer stores them, readers read them; a second celerydesk watching the same workspace (a reader)
does not store its own firings of the same rules."""

from __future__ import annotations

import time

from celerydesk.core.alerts.evaluator import Firing
from celerydesk.core.alerts.store import read_firings
from celerydesk.core.history.queries import HistoryReader
from celerydesk.core.history.recorder import READING, WRITING, HistoryRecorder
from celerydesk.core.history.schema import SCHEMA_VERSION, connect, schema_version


def firing(rule: str, at: float, **concerned) -> Firing:
    return Firing(rule, "task-failed", at, f"{rule} fired", **concerned)


def test_the_writer_stores_firings_and_a_reader_reads_them(tmp_path):
    writer = HistoryRecorder(tmp_path)
    assert writer.start() == WRITING
    other = HistoryRecorder(tmp_path, takeover_s=60)
    try:
        assert other.start() == READING
        now = time.time()
        assert writer.record_alerts([firing("video", now - 120, task_id="t1", task="x.process_video")])
        assert writer.record_alerts([Firing("backlog", "queue-depth", now, "queue parked ...", queue="parked")])
        assert not other.record_alerts([firing("video", now - 119, task_id="t1")])  # the writer stores its own
        assert writer.flush(10)
    finally:
        other.close(5)
        writer.close(5)
    reader = HistoryReader(tmp_path)
    try:
        everything = read_firings(reader.db)
        assert [(f["rule"], f["task_id"], f["queue"]) for f in everything] == [
            ("video", "t1", None), ("backlog", None, "parked")]
        assert everything[0]["at"].endswith("+00:00") and everything[0]["when"] == "task-failed"
        assert [f["rule"] for f in read_firings(reader.db, since=now - 60)] == ["backlog"]
        assert [f["rule"] for f in read_firings(reader.db, limit=1)] == ["backlog"]
    finally:
        reader.close()


def test_alerts_table_is_the_last_migration(tmp_path):
    recorder = HistoryRecorder(tmp_path)
    recorder.start()
    recorder.close(5)
    db = connect(tmp_path / "history.sqlite3", write=False)
    try:
        assert schema_version(db) == SCHEMA_VERSION
        columns = [row[1] for row in db.execute("PRAGMA table_info(alerts)")]
        assert columns == ["id", "at", "rule", "kind", "message", "task_id", "task", "queue", "worker"]
    finally:
        db.close()


def test_two_watchers_both_say_it_and_only_the_writer_stores_it(tmp_path):
    from celerydesk.core.alerts.rules import AlertRule
    from celerydesk.core.alerts.watch import AlertWatch

    rules = [AlertRule("video", "task-failed", task="process_video")]
    events = [{"type": "task-received", "uuid": "t1", "name": "x.process_video", "timestamp": time.time()},
              {"type": "task-failed", "uuid": "t1", "timestamp": time.time(), "exception": "boom"}]
    writing, reading = HistoryRecorder(tmp_path), HistoryRecorder(tmp_path, takeover_s=60)
    said: dict[str, list] = {"writing": [], "reading": []}
    try:
        assert writing.start() == WRITING and reading.start() == READING
        for name, recorder in (("writing", writing), ("reading", reading)):
            AlertWatch(rules, recorder, lambda level, text, n=name: said[n].append((level, text))).submit(events)
        assert writing.flush(10)
    finally:
        reading.close(5)
        writing.close(5)
    assert said["writing"] == [("alert", "video: x.process_video failed: boom (task t1)")]
    assert said["reading"] == [("alert", "video: x.process_video failed: boom (task t1) (not stored here: "
                                         "another celerydesk records this workspace's history)")]
    reader = HistoryReader(tmp_path)
    try:
        assert [f["task_id"] for f in read_firings(reader.db)] == ["t1"]
    finally:
        reader.close()
