"""A workspace with two alert rules (and comments around them, which edits must keep)."""

from __future__ import annotations

from pathlib import Path

from tests.helpers.stack import write_workspace

RULES = """
# Alerts: who gets woken up, and why.
[[alerts]]
name = "video-failed"     # the one the support team asked for
when = "task-failed"
task = "process_video"

[[alerts]]
name = "backlog"
when = "queue-depth"
queue = "celery"
above = 100
for = 60
# The end of the file.
"""


def workspace_with_alerts(folder: Path, rules: str = RULES) -> Path:
    """A workspace file (local broker, no beat, no Flower) ending with ``rules``."""
    path = write_workspace(folder, beat=False, flower=False)
    path.write_text(path.read_text() + rules)
    return path
