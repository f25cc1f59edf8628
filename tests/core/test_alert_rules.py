"""``[[alerts]]`` in the workspace file (core/alerts/rules.py): each kind loads with its keys, and
each mistake is a problem naming the table and the key, all reported at once."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from celerydesk.core.alerts.rules import AlertRule
from celerydesk.core.errors import WorkspaceError
from celerydesk.core.workspace import load_workspace

HEAD = '[project]\napp = "celerydesk.sample"\n'


def load(folder: Path, alerts: str):
    path = folder / "celerydesk.toml"
    path.write_text(HEAD + textwrap.dedent(alerts), encoding="utf-8")
    return load_workspace(path)


def problems(folder: Path, alerts: str) -> list[str]:
    with pytest.raises(WorkspaceError) as info:
        load(folder, alerts)
    return info.value.problems


def test_every_kind_loads(tmp_path):
    ws = load(tmp_path, """
        [[alerts]]
        name = "failed"
        when = "task-failed"
        task = "*.process_video"
        [[alerts]]
        name = "slow"
        when = "task-slow"
        task = "notify_customers"
        above = 30
        [[alerts]]
        name = "backlog"
        when = "queue-depth"
        queue = "celery"
        above = 100
        for = 60
        [[alerts]]
        name = "gone"
        when = "worker-offline"
        worker = "main@*"
        for = 30
        [[alerts]]
        name = "rate"
        when = "failure-rate"
        task = "*"
        above = 0.25
        window = 300
    """)
    assert ws.alerts == [
        AlertRule("failed", "task-failed", task="*.process_video"),
        AlertRule("slow", "task-slow", task="notify_customers", above=30.0),
        AlertRule("backlog", "queue-depth", queue="celery", above=100.0, for_s=60.0),
        AlertRule("gone", "worker-offline", worker="main@*", for_s=30.0),
        AlertRule("rate", "failure-rate", task="*", above=0.25, window=300.0),
    ]
    assert ws.alerts[2].table() == {"name": "backlog", "when": "queue-depth", "queue": "celery", "above": 100.0,
                                    "for": 60.0}
    assert "more than 25%" in ws.alerts[4].describe()


def test_no_alerts_is_an_empty_list(tmp_path):
    assert load(tmp_path, "").alerts == []


def test_each_mistake_names_the_table_and_the_key(tmp_path):
    found = problems(tmp_path, """
        [[alerts]]
        when = "task-failed"
        task = "x"
        [[alerts]]
        name = "kind"
        when = "task-exploded"
        [[alerts]]
        name = "missing"
        when = "queue-depth"
        queue = "celery"
        [[alerts]]
        name = "rate"
        when = "failure-rate"
        task = "*"
        above = 1.5
        window = 0
        [[alerts]]
        name = "rate"
        when = "task-failed"
        task = "x"
        above = 3
        [[alerts]]
        name = "typed"
        when = "worker-offline"
        worker = 3
        for = "a minute"
        [[alerts]]
        name = "forever"
        when = "queue-depth"
        queue = "celery"
        above = inf
        for = -1
    """)
    expected = [
        "[[alerts]] #1 name: missing",
        "[[alerts]] #2 \"kind\" when: 'task-exploded' is not one of task-failed, task-slow, queue-depth",
        "[[alerts]] #3 \"missing\" above: missing; when = \"queue-depth\" needs above",
        "[[alerts]] #3 \"missing\" for: missing",
        "[[alerts]] #4 \"rate\" above: must be from 0 to 1, got 1.5",
        "[[alerts]] #4 \"rate\" window: must be from 1 to 604800 seconds, got 0",
        "[[alerts]] #5 \"rate\" name: used twice",
        "[[alerts]] #5 \"rate\" above: not used by when = \"task-failed\"",
        "[[alerts]] #6 \"typed\" worker: expected a string, got 3",
        "[[alerts]] #6 \"typed\" for: expected a number from 0 to 86400 seconds, got 'a minute'",
        "[[alerts]] #7 \"forever\" above: must be a finite number",
        "[[alerts]] #7 \"forever\" for: must be from 0 to 86400 seconds, got -1",
    ]
    for text in expected:
        assert any(p.startswith(text) for p in found), (text, found)
    assert len(found) == len(expected), found


def test_alerts_must_be_an_array_of_tables(tmp_path):
    path = tmp_path / "celerydesk.toml"
    path.write_text('alerts = "x"\n' + HEAD, encoding="utf-8")
    with pytest.raises(WorkspaceError) as info:
        load_workspace(path)
    assert info.value.problems == ["alerts: must be an array of tables, written [[alerts]]"]


def test_an_unknown_key_is_a_warning(tmp_path):
    ws = load(tmp_path, '[[alerts]]\nname = "a"\nwhen = "task-failed"\ntask = "x"\nchannel = "#ops"\n')
    assert any(w.startswith('[[alerts]] #1 "a" channel: unknown key') for w in ws.warnings)
