"""Driving the Workers page in tests: select a worker's row, wait for an action's reply."""

from __future__ import annotations

from tests.helpers.qt_wait import wait_for


def select_worker(panel, prefix: str, status: str = "online"):
    """Select the row of the worker whose name starts with ``prefix``, once it has that status."""
    wait_for(lambda: any(r.name.startswith(prefix) and r.status == status for r in panel.table.worker_rows()),
             60, f"{prefix} {status} in the table")
    r = next(i for i, row in enumerate(panel.table.worker_rows()) if row.name.startswith(prefix))
    panel.table.selectRow(r)
    return panel.table.worker_rows()[r]


def action_result(panel, timeout: float = 40) -> str:
    """The line under the actions once it holds a reply (✓) or a refusal (✗)."""
    return wait_for(lambda: panel.actions.result.text() if panel.actions.result.text()[:1] in "✓✗" else None,
                    timeout, "the worker's reply")
