"""`celerydesk call` refuses what cannot run, and sends nothing; what can run returns its result.

Refusals are proven by the queue's length on a real Redis (LLEN), with a control call that does
send. Without a worker, the name and arguments are checked against the project's introspection
(the storefront, in its own venv); with a running stack, the name is checked against what the
workers registered, so a task added to the code after they started is refused with a word to
restart them. Every storefront task, and the plain module app's, run through `--wait`.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from celerydesk.core.workspace import load_workspace
from tests.helpers.project_venv import storefront_venv
from tests.helpers.stack import UpProcess, write_workspace

PROJECTS = Path(__file__).resolve().parent.parent / "projects"
DJANGO_ENV = {"DJANGO_SETTINGS_MODULE": "storefront.settings"}


def call(workspace: Path, task: str, *extra: str, timeout=180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "celerydesk", "call", task, "-w", str(workspace), *extra],
                          capture_output=True, text=True, timeout=timeout)


def copy_storefront(tmp_path: Path) -> Path:
    project = tmp_path / "storefront"
    shutil.copytree(PROJECTS / "storefront", project)
    return project


@pytest.fixture
def idle_storefront(tmp_path, redis_server):
    """The storefront on a real Redis with no worker: checks go by the project's introspection."""
    project = copy_storefront(tmp_path)
    write_workspace(project, app="storefront", mode="external", broker={"url": redis_server},
                    project={"python": str(storefront_venv()), "env": DJANGO_ENV})
    return project, redis.Redis.from_url(redis_server)


def test_an_unregistered_name_is_refused_without_a_worker(idle_storefront):
    project, client = idle_storefront
    result = call(project, "playground.tasks.ad", "--args", "[1, 2]")
    assert result.returncode == 2
    assert ("not sent: no task named 'playground.tasks.ad' is registered in the project's app 'storefront'; "
            "did you mean 'playground.tasks.add'?") in result.stderr
    assert "celerydesk tasks" in result.stderr
    assert client.llen("celery") == 0


def test_a_wrong_arity_is_refused_and_says_so(idle_storefront):
    project, client = idle_storefront
    too_many = call(project, "playground.tasks.add", "--args", "[1, 2, 3]")
    assert too_many.returncode == 2
    assert ("not sent: wrong number of arguments: playground.tasks.add(x, y) takes 2 positional arguments "
            "(x, y) but 3 were given") in too_many.stderr
    missing = call(project, "playground.tasks.resize_image")
    assert missing.returncode == 2 and "is missing 1 required argument 'path'" in missing.stderr
    # keep_ratio is keyword-only: a third positional is one too many
    keyword_only = call(project, "playground.tasks.resize_image", "--args", '["/a.png", 100, false]')
    assert keyword_only.returncode == 2 and "takes 2 positional arguments (path, width)" in keyword_only.stderr
    assert "keep_ratio: bool = True" in keyword_only.stderr  # the signature, in the hint
    twice = call(project, "playground.tasks.add", "--args", "[1]", "--kwargs", '{"x": 2}')
    assert twice.returncode == 2 and "got two values for 'x'" in twice.stderr
    assert client.llen("celery") == 0


def test_an_unknown_keyword_is_refused(idle_storefront):
    project, client = idle_storefront
    result = call(project, "playground.tasks.resize_image", "--args", '["/a.png"]', "--kwargs", '{"keepratio": false}')
    assert result.returncode == 2
    assert "not sent: unknown keyword argument 'keepratio'" in result.stderr
    assert "did you mean 'keep_ratio'?" in result.stderr
    assert client.llen("celery") == 0


def test_malformed_json_is_refused_before_any_check(idle_storefront):
    project, client = idle_storefront
    result = call(project, "playground.tasks.add", "--args", "[1, 2")
    assert result.returncode == 2 and "--args is not valid JSON" in result.stderr
    assert client.llen("celery") == 0


def test_valid_calls_and_no_check_calls_are_sent(idle_storefront):
    project, client = idle_storefront
    good = call(project, "playground.tasks.resize_image", "--args", '["/a.png"]', "--kwargs", '{"keep_ratio": false}')
    assert good.returncode == 0, good.stderr
    assert client.llen("celery") == 1  # the control: a sent task is counted
    unchecked = call(project, "playground.tasks.add", "--args", "[1, 2, 3]", "--no-check")
    assert unchecked.returncode == 0, unchecked.stderr
    assert client.llen("celery") == 2


def test_an_unloadable_project_without_a_worker_refuses_with_the_reason(idle_storefront):
    project, client = idle_storefront
    with open(project / "playground" / "tasks.py", "a") as f:
        f.write("\n\ndef broken(:\n")
    result = call(project, "playground.tasks.add", "--args", "[1, 2]")
    assert result.returncode == 2
    assert "no worker answered and the project could not be loaded" in result.stderr
    assert "SyntaxError" in result.stderr and "--no-check" in result.stderr
    assert client.llen("celery") == 0


# -- against a running stack -------------------------------------------------------------------------


@pytest.mark.slow
def test_storefront_stack_checks_names_against_the_workers_and_runs_every_task(tmp_path):
    project = copy_storefront(tmp_path)
    path = write_workspace(project, app="storefront", beat=False, flower=False,
                           project={"python": str(storefront_venv()), "env": DJANGO_ENV})
    client = redis.Redis.from_url(load_workspace(path).broker_url())
    up = UpProcess(path)
    try:
        up.wait_for("stack ready", timeout=180)
        # A queue no worker consumes keeps what is sent to it: LLEN proves what was (not) sent.
        unknown = call(project, "playground.tasks.nope", "--queue", "nowhere")
        assert unknown.returncode == 2
        assert "not sent: no task named 'playground.tasks.nope' is registered on the running workers (main@" \
            in unknown.stderr
        arity = call(project, "playground.tasks.notify_customers", "--queue", "nowhere")
        assert arity.returncode == 2 and "is missing 1 required argument 'message'" in arity.stderr
        assert client.llen("nowhere") == 0
        control = call(project, "playground.tasks.add", "--args", "[1, 2]", "--queue", "nowhere")
        assert control.returncode == 0, control.stderr
        assert client.llen("nowhere") == 1

        # A task added after the workers started: in the code, not on the workers.
        with open(project / "playground" / "tasks.py", "a") as f:
            f.write("\n\n@shared_task\ndef refund(order_id):\n    return order_id\n")
        stale = call(project, "playground.tasks.refund", "--args", "[7]", "--queue", "nowhere")
        assert stale.returncode == 2
        assert "is not registered on the running workers" in stale.stderr and "added after they started" in stale.stderr
        assert "restart the workers" in stale.stderr
        assert client.llen("nowhere") == 1

        results = {}
        for task, extra in [
            ("playground.tasks.notify_customers", ["--args", '["Hello World"]']),
            ("playground.tasks.resize_image", ["--args", '["/img/cat.png", 320]', "--kwargs", '{"keep_ratio": false}']),
            ("playground.tasks.add", ["--kwargs", '{"x": 2, "y": 40}']),
            ("storefront.celery.debug_task", []),
        ]:
            done = call(project, task, *extra, "--wait", "60")
            assert done.returncode == 0, (task, done.stderr)
            results[task] = done.stdout.splitlines()[-1]
        # task events carry the result's repr; a string prints as itself
        assert results["playground.tasks.notify_customers"] == "notified customers: Hello World"
        assert "'path': '/img/cat.png', 'width': 320, 'keep_ratio': False" in results["playground.tasks.resize_image"]
        assert results["playground.tasks.add"] == "42"
        assert results["storefront.celery.debug_task"] == "None"
        up.signal(signal.SIGTERM)
        assert up.finish(timeout=90) == 0
    finally:
        up.kill()


@pytest.mark.slow
def test_plain_module_app_tasks_return_their_results(tmp_path):
    project = tmp_path / "plainapp"
    shutil.copytree(PROJECTS / "plainapp", project)
    path = write_workspace(tmp_path / "ws", app="tasks", beat=False, flower=False,
                           project={"workdir": str(project), "python": str(storefront_venv())})
    up = UpProcess(path)
    try:
        up.wait_for("stack ready", timeout=180)
        product = call(path, "tasks.multiply", "--args", "[6]", "--kwargs", '{"y": 7}', "--wait", "60")
        assert product.returncode == 0, product.stderr
        assert product.stdout.splitlines()[-1] == "42"
        hello = call(path, "tasks.whoami", "--kwargs", '{"greeting": "hi"}', "--wait", "60")
        assert hello.returncode == 0, hello.stderr
        assert "'greeting': 'hi'" in hello.stdout and "'name': 'tasks.whoami'" in hello.stdout
        refused = call(path, "tasks.whoami", "--args", '["hi", "extra"]')
        assert refused.returncode == 2 and "takes 1 positional argument (greeting) but 2 were given" in refused.stderr
        up.signal(signal.SIGTERM)
        assert up.finish(timeout=90) == 0
    finally:
        up.kill()
