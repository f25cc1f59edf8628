"""What a worker action checks before anything is sent, and what ``--save`` / "Save to workspace"
writes (``core/worker_actions.py``); ``[[workers]] autoscale`` read and passed to celery.

No broker here: the actions' conversations with real workers are in tests/e2e/test_workers_cli.py
and tests/ui/test_worker_actions_ui.py.
"""

from __future__ import annotations

import pytest

from celerydesk.core import worker_actions as act
from celerydesk.core.commands import worker_spec
from celerydesk.core.compose import render_compose
from celerydesk.core.errors import DeskError, WorkspaceError
from celerydesk.core.workspace import load_workspace
from celerydesk.core.worker_list import WorkerFacts, find_worker
from tests.helpers.stack import make_workspace, write_workspace


@pytest.mark.parametrize("rate", ["10/m", "2/h", "0.5/s", "100", "0", " 10/m "])
def test_rates_celery_takes(rate):
    assert act.check_rate(rate) == rate.strip()


@pytest.mark.parametrize("rate", ["10/x", "ten", "", "/m", "-1/m", "10/m/s", "1e3"])
def test_rates_refused_with_what_to_write(rate):
    with pytest.raises(DeskError) as raised:
        act.check_rate(rate)
    assert "like 10/m" in raised.value.message and "N/s, N/m or N/h" in raised.value.hint


def test_time_limits_are_bounded_and_soft_below_hard():
    with pytest.raises(DeskError, match="soft limit: "):
        act.check_time_limit(float("inf"), "soft limit")
    with pytest.raises(DeskError, match="hard limit: "):
        act.check_time_limit(-1, "hard limit")
    assert act.check_time_limit(None, "soft limit") is None

    class NoBroker:  # the order is refused before any worker is asked
        def __getattr__(self, name):
            raise AssertionError(f"{name} called")

    with pytest.raises(DeskError, match=r"the soft limit \(20 s\) is above the hard limit \(10 s\)"):
        act.time_limit(NoBroker(), "main@host", "t", 20, 10)
    with pytest.raises(DeskError, match="pool size 0: must be from 1 to 256"):
        act.scale(NoBroker(), "main@host", 0)
    with pytest.raises(DeskError, match="autoscale 2 3: needs 0 <= MIN <= MAX"):
        act.autoscale(NoBroker(), "main@host", 2, 3)


def test_a_save_changes_only_the_worker_entry_and_keeps_the_comments(tmp_path):
    path = write_workspace(tmp_path, workers=[{"name": "main"}, {"name": "io", "concurrency": 4, "pool": "threads"}])
    path.write_text("# ours: do not lose\n" + path.read_text().replace("[[workers]]\nname = \"main\"",
                                                                       "[[workers]]  # the default worker\nname = \"main\""))
    said = act.save_to_workspace(path, "main", concurrency=3, autoscale=None, queues=["celery", "extra"])
    assert said == ["concurrency: 2 → 3", "queues: celery → celery, extra"]  # the defaults count as what it said
    text = path.read_text()
    assert text.startswith("# ours: do not lose\n") and "[[workers]]  # the default worker" in text
    ws = load_workspace(path)
    assert (ws.worker("main").concurrency, ws.worker("main").queues) == (3, ["celery", "extra"])
    assert ws.worker("io").concurrency == 4
    assert act.save_to_workspace(path, "main", concurrency=3, queues=["celery", "extra"]) == []  # says so already

    assert act.save_to_workspace(path, "main", autoscale=(6, 2)) == ["autoscale: none → 6, 2"]
    assert load_workspace(path).worker("main").autoscale == (6, 2)
    with pytest.raises(WorkspaceError, match="only the prefork pool can autoscale"):
        act.save_to_workspace(path, "io", autoscale=(6, 2))
    assert load_workspace(path).worker("io").autoscale is None  # nothing written
    with pytest.raises(DeskError, match="no \\[\\[workers\\]\\] entry called 'gone'"):
        act.save_to_workspace(path, "gone", concurrency=2)


def test_live_settings_keep_the_size_only_without_autoscale():
    fixed = WorkerFacts("a@h", "local", concurrency=3, queues=["celery"])
    assert act.live_settings(fixed) == {"autoscale": None, "queues": ["celery"], "concurrency": 3}
    scaling = WorkerFacts("a@h", "local", concurrency=5, autoscale=(8, 2), queues=["q"])
    assert act.live_settings(scaling) == {"autoscale": (8, 2), "queues": ["q"]}


def test_autoscale_in_the_workspace_reaches_celery_and_compose(tmp_path):
    ws = make_workspace(tmp_path, workers=[{"name": "main", "autoscale": [8, 2]}])
    assert ws.worker("main").autoscale == (8, 2)
    assert "--autoscale=8,2" in worker_spec(ws, ws.worker("main"), ws.broker_url()).argv
    assert "--autoscale=8,2" in render_compose(ws)
    plain = make_workspace(tmp_path / "plain")
    assert not any(a.startswith("--autoscale") for a in worker_spec(plain, plain.worker("main"), "redis://x").argv)


@pytest.mark.parametrize("workers, problem", [
    ([{"name": "main", "autoscale": [2, 8]}], "needs 0 <= min <= max"),
    ([{"name": "main", "autoscale": [8]}], "expected [max, min]"),
    ([{"name": "main", "autoscale": [True, 1]}], "expected [max, min]"),
    ([{"name": "main", "autoscale": [999, 1]}], "max from 1 to 256"),
    ([{"name": "main", "pool": "solo", "autoscale": [4, 1]}], "only the prefork pool can autoscale"),
])
def test_autoscale_refused(tmp_path, workers, problem):
    with pytest.raises(WorkspaceError) as raised:
        make_workspace(tmp_path, workers=workers)
    assert problem in raised.value.message


def test_a_worker_named_by_its_short_name_when_unique():
    workers = [WorkerFacts("main@a", "local"), WorkerFacts("main@b", "remote"), WorkerFacts("io@a", "local")]
    assert find_worker(workers, "io").name == "io@a"
    assert find_worker(workers, "main@b").name == "main@b"
    with pytest.raises(DeskError, match="'main' names 2 workers"):
        find_worker(workers, "main")
    with pytest.raises(DeskError, match="no worker called 'x' answers"):
        find_worker(workers, "x")
