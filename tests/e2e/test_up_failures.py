"""`celerydesk up` when the stack cannot come up: it says why, in the program's own words, stops
what it started and exits non-zero instead of sitting there with dead services."""

from __future__ import annotations

import json

import pytest

from tests.helpers.stack import UpProcess, alive, write_workspace

pytestmark = pytest.mark.slow


def test_a_wrong_app_is_reported_with_celerys_reason_and_up_exits(tmp_path):
    path = write_workspace(tmp_path / "shop", app="shopp", beat=False, flower=False)
    up = UpProcess(path)
    try:
        line = up.wait_for("worker main failed", timeout=120)
        assert "The module shopp was not found" in line
        assert "worker-main.log" in line
        assert up.finish(timeout=60) == 1
        output = "\n".join(up.lines)
        assert "error: the stack did not come up" in output
        assert "broker: STOPPED" in output
        records = json.loads((tmp_path / "shop" / ".celerydesk" / "processes.json").read_text())
        assert not alive([rec["pid"] for rec in records.get("processes", {}).values()])
    finally:
        up.kill_group()
