"""Guard for the PySide6 crash in DESIGN.md: 6.12.0 on Python < 3.12 drops a reference to None
on every call of a method returning None, and dies ("none_dealloc") after a few thousand.

The calls run in a subprocess, so a crash fails this test instead of killing pytest. Covered:
20,000 ``QLabel.setText`` and ``QPlainTextEdit.appendPlainText`` calls leave sys.getrefcount(None)
where it was (None is immortal from 3.12: there, surviving is the whole check), and the installed
PySide6 is not 6.12.0 on Python < 3.12.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata

CALLS = 20_000
SLACK = 300  # the interpreter itself takes and drops a few references to None meanwhile

PROBE = r"""
import json, os, sys
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from PySide6 import QtCore, QtWidgets
app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
label = QtWidgets.QLabel()
edit = QtWidgets.QPlainTextEdit()
calls = int(sys.argv[1])
result = {}
before = sys.getrefcount(None)
for _ in range(calls):
    label.setText("x")
result["setText"] = before - sys.getrefcount(None)
before = sys.getrefcount(None)
for _ in range(calls):
    edit.appendPlainText("x")
result["appendPlainText"] = before - sys.getrefcount(None)
print(json.dumps(result), flush=True)
"""


def test_none_returning_calls_do_not_leak_references_to_none():
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.run([sys.executable, "-c", PROBE, str(CALLS)], env=env, capture_output=True,
                          text=True, timeout=240)
    assert proc.returncode == 0, f"the PySide6 probe died ({proc.returncode}):\n{proc.stderr[-2000:]}"
    dropped = json.loads(proc.stdout.strip().splitlines()[-1])
    if sys.version_info < (3, 12):  # immortal None from 3.12 on: its refcount means nothing there
        for method, count in dropped.items():
            assert count < SLACK, f"{method}: {CALLS} calls dropped {count} references to None"


def test_the_crashing_pyside6_release_is_not_installed_on_old_pythons():
    version = metadata.version("PySide6")
    if sys.version_info < (3, 12):
        assert version != "6.12.0", f"PySide6 {version} on Python {sys.version.split()[0]} crashes (DESIGN.md)"
    assert version.startswith("6."), version
