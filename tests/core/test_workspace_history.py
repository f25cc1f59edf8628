"""The workspace's ``[history]`` table: retention of the task history, with validated bounds."""

from __future__ import annotations

import textwrap

import pytest

from celerydesk.core.errors import WorkspaceError
from celerydesk.core.workspace import HistoryConfig, load_workspace

BASE = """
[project]
app = "celerydesk.sample"
"""


def load(tmp_path, extra: str, top: str = ""):
    path = tmp_path / "celerydesk.toml"
    path.write_text(textwrap.dedent(top + BASE + extra), encoding="utf-8")
    return load_workspace(path)


def test_defaults_and_given_values(tmp_path):
    assert load(tmp_path, "").history == HistoryConfig(keep_days=30, max_tasks=2_000_000)
    ws = load(tmp_path, "[history]\nkeep_days = 7\nmax_tasks = 50000\n")
    assert (ws.history.keep_days, ws.history.max_tasks) == (7, 50_000) and not ws.warnings


@pytest.mark.parametrize("body, key", [
    ("keep_days = 0", "keep_days"),
    ("keep_days = 100000", "keep_days"),
    ("keep_days = 1.5", "keep_days"),
    ('keep_days = "30"', "keep_days"),
    ("max_tasks = 10", "max_tasks"),
    ("max_tasks = 1000000000000", "max_tasks"),
    ("max_tasks = true", "max_tasks"),
])
def test_out_of_bounds_or_mistyped_values_are_problems_naming_the_key(tmp_path, body, key):
    with pytest.raises(WorkspaceError) as info:
        load(tmp_path, f"[history]\n{body}\n")
    assert len(info.value.problems) == 1 and f"[history] {key}" in info.value.problems[0]


def test_unknown_keys_are_warnings_and_a_non_table_a_problem(tmp_path):
    ws = load(tmp_path, "[history]\nkeep = 3\n")
    assert any("[history] keep: unknown key" in w for w in ws.warnings)
    with pytest.raises(WorkspaceError) as info:
        load(tmp_path, "", top='history = "forever"\n')
    assert "[history]: must be a table" in info.value.problems[0]
