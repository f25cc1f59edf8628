"""``celerydesk self-test`` from source: the same checks the frozen binary runs in CI."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers.stack import alive

pytestmark = pytest.mark.slow


def self_test(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "celerydesk", "self-test", *args], capture_output=True,
                          text=True, timeout=300)


def scratch_folder(output: str) -> Path:
    return Path(re.search(r"in (/\S+celerydesk-self-test-\w+)", output).group(1))


def test_passes_and_cleans_up():
    result = self_test()
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert "(from source)" in lines[0]
    assert [line.split(":")[0].strip() for line in lines[1:-1]] == [
        "ok   workspace", "ok   stack", "ok   notify_customers", "ok   process_video", "ok   beat",
        "ok   flower", "ok   stop"]
    assert lines[-1].startswith("self-test passed in ")
    assert not scratch_folder(result.stdout).exists()


def test_a_failure_says_what_and_keeps_the_logs_and_no_process():
    result = self_test("--timeout", "0.3")  # no stack comes up that fast
    folder = scratch_folder(result.stdout)
    try:
        assert result.returncode == 1, result.stdout
        assert "  FAIL no 'stack ready' within 0.3 s" in result.stdout
        assert "self-test FAILED" in result.stdout and str(folder) in result.stdout.splitlines()[-1]
        assert (folder / "celerydesk.toml").exists()  # kept, with whatever logs there were
        record = folder / ".celerydesk" / "processes.json"  # none if it failed before starting anything
        records = json.loads(record.read_text()).get("processes", {}) if record.exists() else {}
        pids = [rec["pid"] for rec in records.values()]
        deadline = time.monotonic() + 5
        while alive(pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not alive(pids)  # the stack was stopped all the same
    finally:
        shutil.rmtree(folder, ignore_errors=True)
