"""`celerydesk tasks` end to end: projects not written for celerydesk, in their own venv.

The storefront (Django, autodiscovered shared_tasks, a bound task with a keyword-only
parameter, a settings file pointing at RabbitMQ and a CELERY_BEAT_SCHEDULE) and the plain
module app are introspected from the storefront's venv, which has celery and Django but not
celerydesk. A project with a syntax error, or a Django project whose settings module is not
set, fails with its traceback and a hint. A task added to tasks.py is listed on the next call.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.project_venv import storefront_venv
from tests.helpers.stack import write_workspace

PROJECTS = Path(__file__).resolve().parent.parent / "projects"
DJANGO_ENV = {"DJANGO_SETTINGS_MODULE": "storefront.settings"}


def celerydesk(*args, timeout=180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "celerydesk", *args], capture_output=True, text=True,
                          timeout=timeout)


def tasks_json(workspace: Path, *extra: str) -> list:
    result = celerydesk("tasks", "-w", str(workspace), "--json", *extra)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def venv_python() -> Path:
    return storefront_venv()


@pytest.fixture
def storefront(tmp_path, venv_python):
    project = tmp_path / "storefront"
    shutil.copytree(PROJECTS / "storefront", project)
    write_workspace(project, app="storefront", project={"python": str(venv_python), "env": DJANGO_ENV})
    return project


@pytest.fixture
def plainapp(tmp_path, venv_python):
    """The plain module app, with a workspace of its own outside the project folder."""
    project = tmp_path / "plainapp"
    shutil.copytree(PROJECTS / "plainapp", project)
    return write_workspace(tmp_path / "ws", app="tasks",
                           project={"workdir": str(project), "python": str(venv_python)})


def by_name(tasks: list) -> dict:
    return {t["name"]: t for t in tasks}


def test_storefront_tasks_are_listed_with_their_parameters(storefront):
    tasks = by_name(tasks_json(storefront))
    assert sorted(tasks) == ["playground.tasks.add", "playground.tasks.notify_customers",
                             "playground.tasks.resize_image", "storefront.celery.debug_task"]
    resize = tasks["playground.tasks.resize_image"]
    assert resize["params"] == [
        {"name": "path", "kind": "positional_or_keyword", "annotation": "str"},
        {"name": "width", "kind": "positional_or_keyword", "default": 800, "annotation": "int"},
        {"name": "keep_ratio", "kind": "keyword_only", "default": True, "annotation": "bool"},
    ]  # no `self`: the task is bound
    assert resize["bound"] is True and resize["doc"].startswith("Resize the image at `path`")
    assert tasks["playground.tasks.notify_customers"]["params"] == [
        {"name": "message", "kind": "positional_or_keyword"}]
    assert tasks["playground.tasks.notify_customers"]["doc"].startswith("Email every customer")
    assert tasks["playground.tasks.add"]["params"] == [
        {"name": "x", "kind": "positional_or_keyword"}, {"name": "y", "kind": "positional_or_keyword"}]
    assert tasks["playground.tasks.add"]["doc"] is None
    assert tasks["storefront.celery.debug_task"]["params"] == []
    assert all(t["queue"] == "celery" and t["internal"] is False for t in tasks.values())

    everything = by_name(tasks_json(storefront, "--all"))
    assert everything["celery.backend_cleanup"]["internal"] is True
    assert set(tasks) < set(everything)


def test_storefront_beat_schedule_comes_from_its_settings(storefront):
    entries = {e["name"]: e for e in tasks_json(storefront, "--beat")}
    monday = entries["notify_customers"]
    assert monday["task"] == "playground.tasks.notify_customers" and monday["args"] == ["Hello World"]
    assert monday["source"] == "config"
    assert monday["schedule"] == {"type": "crontab", "cron": "30 7 * * 1", "minute": "30", "hour": "7",
                                  "day_of_month": "*", "month_of_year": "*", "day_of_week": "1"}
    assert entries["notify_customers_every_15_seconds"]["schedule"] == {"type": "interval", "seconds": 15.0}


def test_the_table_shows_signatures_and_hides_celerys_own_tasks(storefront):
    result = celerydesk("tasks", "-w", str(storefront))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "playground.tasks.resize_image(path: str, width: int = 800, *, keep_ratio: bool = True)" in out
    assert "    Email every customer a message" in out
    assert "celery.chord" not in out and "4 tasks in storefront" in out and "--all shows them" in out
    beat = celerydesk("tasks", "-w", str(storefront), "--beat")
    assert "notify_customers: playground.tasks.notify_customers(\"Hello World\")  cron 30 7 * * 1" in beat.stdout
    assert "every 15 s" in beat.stdout


def test_plain_module_app_tasks_are_listed(plainapp):
    tasks = by_name(tasks_json(plainapp))
    assert sorted(tasks) == ["tasks.multiply", "tasks.whoami"]
    assert tasks["tasks.multiply"]["params"] == [
        {"name": "x", "kind": "positional_or_keyword", "annotation": "int"},
        {"name": "y", "kind": "positional_or_keyword", "default": 2, "annotation": "int"},
    ]
    assert tasks["tasks.multiply"]["returns"] == "int"
    assert tasks["tasks.whoami"]["params"] == [
        {"name": "greeting", "kind": "positional_or_keyword", "default": "hello", "annotation": "str"}]
    assert tasks["tasks.whoami"]["bound"] is True
    assert tasks_json(plainapp, "--beat") == []


def test_a_syntax_error_is_reported_with_the_traceback_and_a_hint(storefront):
    with open(storefront / "playground" / "tasks.py", "a") as f:
        f.write("\n\ndef broken(:\n    pass\n")
    result = celerydesk("tasks", "-w", str(storefront), "--json")
    assert result.returncode != 0 and result.stdout == ""
    err = result.stderr
    assert "could not be loaded (SyntaxError" in err
    assert "playground/tasks.py\", line" in err and "def broken(:" in err  # the project's own lines
    assert "<frozen importlib" not in err  # not the import machinery's
    assert "→ fix the syntax error" in err


def test_a_django_project_without_its_settings_module_says_to_set_project_env(tmp_path, venv_python):
    project = tmp_path / "storefront"
    shutil.copytree(PROJECTS / "storefront", project)
    celery_py = project / "storefront" / "celery.py"
    celery_py.write_text(celery_py.read_text().replace(
        'os.environ.setdefault("DJANGO_SETTINGS_MODULE", "storefront.settings")', ""))
    write_workspace(project, app="storefront", project={"python": str(venv_python)})
    result = celerydesk("tasks", "-w", str(project))
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and "settings are not configured" in result.stderr
    assert '[project] env = { DJANGO_SETTINGS_MODULE = "storefront.settings" }' in result.stderr


def test_a_task_added_to_the_project_is_listed_next_time(storefront):
    assert "playground.tasks.refund" not in by_name(tasks_json(storefront))
    cache = storefront / ".celerydesk" / "introspection.json"
    assert cache.is_file()
    tasks_py = storefront / "playground" / "tasks.py"
    with open(tasks_py, "a") as f:
        f.write('\n\n@shared_task\ndef refund(order_id: int, *, reason: str = "customer asked"):\n'
                '    """Refund an order."""\n    return order_id\n')
    stat = tasks_py.stat()  # a coarse-mtime file system could keep the old mtime within a second
    os.utime(tasks_py, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))
    refund = by_name(tasks_json(storefront))["playground.tasks.refund"]
    assert refund["params"] == [
        {"name": "order_id", "kind": "positional_or_keyword", "annotation": "int"},
        {"name": "reason", "kind": "keyword_only", "default": "customer asked", "annotation": "str"},
    ]
    assert refund["doc"] == "Refund an order."
