"""The test projects whose beat keeps its entries in a store, set up as a user would have them.

``shop_project()``: tests/projects/shop copied, with its SQLite database made by its own
migrations (``manage.py migrate``; a data migration seeds ``record-every-2s``).
``redbeat_project()``: tests/projects/redbeatapp copied. Both run in ``stores_venv()``, and both
record each run of their ``record(label)`` task as a line ``<unix time> <label>`` in
``runs.log`` in the project folder, which ``runs()`` reads.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Optional

from tests.helpers.project_venv import run_in_venv, stores_venv
from tests.helpers.stack import write_workspace

PROJECTS = Path(__file__).resolve().parents[1] / "projects"


def shop_project(folder: Path, schedules: str = "", **kwargs) -> Path:
    """The shop, migrated, with a workspace file (``schedules``: TOML appended); its path."""
    python = stores_venv()
    shutil.copytree(PROJECTS / "shop", folder)
    migrated = run_in_venv(python, "manage.py", "migrate", "-v0", cwd=folder, timeout=300)
    assert migrated.returncode == 0, migrated.stderr
    path = write_workspace(folder, app="shop", project={"python": str(python),
                                                        "env": {"DJANGO_SETTINGS_MODULE": "shop.settings"}}, **kwargs)
    path.write_text(path.read_text() + schedules)
    return path


def redbeat_project(folder: Path, schedules: str = "", **kwargs) -> Path:
    shutil.copytree(PROJECTS / "redbeatapp", folder)
    path = write_workspace(folder, app="tasks", project={"python": str(stores_venv())}, **kwargs)
    path.write_text(path.read_text() + schedules)
    return path


def django_shell(folder: Path, code: str) -> str:
    """Run ``code`` in the shop's ``manage.py shell``, as a developer (or the admin) would."""
    done = run_in_venv(stores_venv(), "manage.py", "shell", "-c", code, cwd=folder, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def add_redbeat_entry(folder: Path, broker_url: str, name: str, seconds: float, label: str) -> None:
    """What the application does: ``RedBeatSchedulerEntry(...).save()``."""
    done = run_in_venv(stores_venv(), "add_entry.py", name, str(seconds), label, cwd=folder,
                       env={"CELERY_BROKER_URL": broker_url}, timeout=120)
    assert done.returncode == 0, done.stderr


def runs(folder: Path, label: Optional[str] = None) -> list:
    """When each ``record(label)`` ran (unix times), in order."""
    try:
        lines = (folder / "runs.log").read_text().splitlines()
    except FileNotFoundError:
        return []
    out = []
    for line in lines:
        when, _, what = line.partition(" ")
        if label is None or what == label:
            out.append(float(when))
    return out
