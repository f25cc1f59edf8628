"""Editing the workspace file (celerydesk/core/workspace_edit.py, core/toml_layout.py). No Qt.

Covered: an untouched round trip is byte-identical and one edit of the commented sample is a
one-line diff; unknown keys and comments survive; each setter (scalars, env, workers,
schedules) writes where a person would; new tables land in contract order and never capture
a line; a refused validation, a conflict or a broken file leave the file as it was; a broken
file is moved aside only when asked, never over another backup; mode and symlinks survive a
save; the new-workspace template and the app guess; and a real child process saving in a
loop, SIGKILLed many times, always leaves a complete file.
"""

from __future__ import annotations

import difflib
import os
import random
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from celerydesk.core.errors import WorkspaceError
from celerydesk.core.workspace import parse_workspace
from celerydesk.core.workspace_edit import (
    BrokenWorkspaceFile,
    WorkspaceConflict,
    WorkspaceDocument,
    create_workspace,
    guess_app,
    move_broken_aside,
    new_workspace_text,
)

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "celerydesk" / "sample" / "celerydesk.toml"


@pytest.fixture
def sample(tmp_path) -> Path:
    path = tmp_path / "celerydesk.toml"
    shutil.copy(SAMPLE, path)
    return path


def write(folder: Path, text: str) -> Path:
    path = folder / "celerydesk.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def diff(before: str, after: str) -> list[str]:
    """Changed lines only, as ``-old`` / ``+new``."""
    return [line.rstrip("\n") for line in difflib.unified_diff(before.splitlines(True), after.splitlines(True), n=0)
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]


def comments(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.lstrip().startswith("#")]


# -- round trips --------------------------------------------------------------------------------


def test_untouched_round_trip_is_identical_and_writes_nothing(sample):
    before, mtime = sample.read_text(), sample.stat().st_mtime_ns
    doc = WorkspaceDocument.load(sample)
    assert doc.text() == before and not doc.modified
    doc.save()
    assert sample.read_text() == before and sample.stat().st_mtime_ns == mtime


def test_one_edit_of_the_commented_sample_is_a_one_line_diff(sample):
    before = sample.read_text()
    doc = WorkspaceDocument.load(sample)
    doc.set(("broker", "port"), 6391)
    ws = doc.save()
    after = sample.read_text()
    assert diff(before, after) == ["-port = 6390", "+port = 6391"]
    assert comments(after) == comments(before)
    assert ws.broker.port == 6391


def test_equal_values_keep_their_spelling(tmp_path):
    path = write(tmp_path, """\
        [project]
        app = 'single.quoted'
        [broker]
        port = 6_379   # underscores
        """)
    doc = WorkspaceDocument.load(path)
    doc.set(("project", "app"), "single.quoted")
    doc.set(("broker", "port"), 6379)
    assert doc.text() == path.read_text()


def test_unknown_keys_and_their_comments_survive_edits(tmp_path):
    path = write(tmp_path, """\
        toplevel_future = "kept"   # a newer celerydesk's key

        [project]
        app = "celerydesk.sample"
        colour = "blue"            # unknown, kept

        [broker]
        port = 6390
        tuning = { maxmemory = "64mb" }

        [[workers]]
        name = "main"
        autoscale = [4, 1]         # unknown worker key

        [plugins.grafana]
        url = "http://localhost:3000"
        """)
    before = path.read_text()
    doc = WorkspaceDocument.load(path)
    doc.set(("broker", "port"), 6391)
    doc.update_worker("main", concurrency=3)
    doc.add_worker("fast", queues=["video"])
    doc.set(("flower", "enabled"), False)
    ws = doc.save()
    after = path.read_text()
    for line in ('toplevel_future = "kept"   # a newer celerydesk\'s key', 'colour = "blue"            # unknown, kept',
                 'tuning = { maxmemory = "64mb" }', "autoscale = [4, 1]         # unknown worker key",
                 "[plugins.grafana]", 'url = "http://localhost:3000"'):
        assert line in after.splitlines()
    assert not [line for line in diff(before, after) if line.startswith("-") and "port" not in line]
    assert any("toplevel_future" in w for w in ws.warnings)
    assert tomllib.loads(after)["plugins"] == {"grafana": {"url": "http://localhost:3000"}}


# -- scalar setters -------------------------------------------------------------------------------


@pytest.mark.parametrize("key, value", [
    (("project", "app"), "storefront"), (("project", "workdir"), "."), (("project", "python"), sys.executable),
    (("broker", "mode"), "docker"), (("broker", "port"), 6380), (("broker", "image"), "redis:7"),
    (("broker", "url"), "redis://example:6379/0"), (("beat", "enabled"), False), (("beat", "loglevel"), "debug"),
    (("flower", "enabled"), False), (("flower", "port"), 5556),
])
def test_each_scalar_setter_writes_its_key(sample, key, value):
    doc = WorkspaceDocument.load(sample)
    doc.set(key, value)
    assert doc.get(key) == value
    doc.save()
    assert tomllib.loads(sample.read_text())[key[0]][key[1]] == value
    doc.set(key, None)  # None removes the key
    assert doc.get(key, "absent") == "absent"


def test_setters_refuse_wrong_types_and_unknown_keys(sample):
    doc = WorkspaceDocument.load(sample)
    with pytest.raises(TypeError, match="port"):
        doc.set(("broker", "port"), True)  # an int to Python, not a port
    with pytest.raises(TypeError):
        doc.set(("broker", "port"), "6379")
    with pytest.raises(KeyError):
        doc.set(("broker", "colour"), "blue")
    with pytest.raises(TypeError):
        doc.add_worker("w", concurrency="2")
    assert doc.text() == sample.read_text()


def test_a_new_key_goes_under_the_tables_last_key_not_into_the_next_headers_comments(sample):
    before = sample.read_text()
    doc = WorkspaceDocument.load(sample)
    doc.set(("broker", "image"), "redis:7")
    lines = doc.text().splitlines()
    assert lines[lines.index("port = 6390") + 1] == 'image = "redis:7"'
    assert diff(before, doc.text()) == ['+image = "redis:7"']


def test_missing_tables_are_created_in_contract_order_without_capturing_lines(tmp_path):
    path = write(tmp_path, """\
        workers = [{ name = "main" }]
        [project]
        app = "celerydesk.sample"

        [flower]
        port = 5555
        """)
    doc = WorkspaceDocument.load(path)
    doc.set(("broker", "port"), 6390)
    doc.set(("beat", "enabled"), False)
    doc.add_worker("fast")
    data = tomllib.loads(doc.text())
    assert [w["name"] for w in data["workers"]] == ["main", "fast"]  # not captured by [broker]
    assert data["broker"] == {"port": 6390} and data["beat"] == {"enabled": False}
    assert list(data) == ["workers", "project", "broker", "beat", "flower"]
    assert "\n\n[broker]\nport = 6390\n\n[beat]\nenabled = false\n\n[flower]" in doc.text()
    doc.save()


# -- env ------------------------------------------------------------------------------------------


def test_env_set_update_remove_and_replace(sample):
    doc = WorkspaceDocument.load(sample)
    doc.set_env("DJANGO_SETTINGS_MODULE", "storefront.settings")
    doc.set_env("DEBUG", "1")
    assert doc.env() == {"DJANGO_SETTINGS_MODULE": "storefront.settings", "DEBUG": "1"}
    lines = doc.text().splitlines()
    assert lines[lines.index('app = "celerydesk.sample"') + 1].startswith("env = {")
    doc.replace_env({"DEBUG": "0", "NEW": "x"})
    assert doc.env() == {"DEBUG": "0", "NEW": "x"}
    doc.remove_env("DEBUG")
    assert doc.save().project.env == {"NEW": "x"}


def test_env_written_as_a_section_stays_a_section(tmp_path):
    path = write(tmp_path, """\
        [project]
        app = "celerydesk.sample"

        [project.env]
        KEEP = "1"   # kept
        DROP = "2"
        """)
    doc = WorkspaceDocument.load(path)
    doc.replace_env({"KEEP": "1", "ADDED": "3"})
    assert 'KEEP = "1"   # kept' in doc.text() and "[project.env]" in doc.text()
    assert doc.save().project.env == {"KEEP": "1", "ADDED": "3"}


# -- workers ----------------------------------------------------------------------------------------


def test_add_worker_goes_after_the_last_one_with_blank_lines(sample):
    before = sample.read_text()
    doc = WorkspaceDocument.load(sample)
    doc.add_worker("fast", concurrency=4, queues=["video"], pool="solo")
    assert diff(before, doc.text()) == ["+[[workers]]", '+name = "fast"', "+concurrency = 4",
                                        '+queues = ["video"]', '+pool = "solo"', "+"]
    assert "queues = [\"celery\"]\n\n[[workers]]\nname = \"fast\"" in doc.text()
    assert [w.name for w in doc.save().workers] == ["main", "fast"]
    with pytest.raises(KeyError):
        doc.add_worker("fast")


def test_update_worker_keeps_its_comments_and_renames(sample):
    doc = WorkspaceDocument.load(sample)
    doc.update_worker("main", name="primary", concurrency=3, loglevel="debug")
    text = doc.text()
    assert "# Pool processes: how many tasks this worker runs at the same time.\nconcurrency = 3" in text
    ws = doc.save()
    assert [(w.name, w.concurrency, w.loglevel) for w in ws.workers] == [("primary", 3, "debug")]
    with pytest.raises(KeyError):
        doc.update_worker("main", concurrency=1)


def test_update_workers_finds_every_worker_before_changing_any(sample):
    doc = WorkspaceDocument.load(sample)
    doc.add_worker("fast", concurrency=4)
    doc.update_workers({"main": {"name": "fast"}, "fast": {"name": "main"}})
    assert [(w["name"], w["concurrency"]) for w in doc.workers()] == [("fast", 2), ("main", 4)]


def test_remove_worker_keeps_the_comments_of_the_others(tmp_path):
    path = write(tmp_path, """\
        [project]
        app = "celerydesk.sample"

        # the default queue
        [[workers]]
        name = "main"

        # videos are slow: one at a time
        [[workers]]
        name = "video"
        concurrency = 1

        # the closing comment, about beat
        [beat]
        enabled = true
        """)
    doc = WorkspaceDocument.load(path)
    doc.remove_worker("video")
    text = doc.text()
    assert "videos are slow" not in text and 'name = "video"' not in text
    assert "# the default queue\n[[workers]]" in text
    assert '\n# the closing comment, about beat\n[beat]' in text
    assert [w.name for w in doc.save().workers] == ["main"]
    with pytest.raises(KeyError):
        doc.remove_worker("video")


def test_replacing_the_only_worker_keeps_the_arrays_introduction(sample):
    before = sample.read_text()
    doc = WorkspaceDocument.load(sample)
    doc.remove_worker("main")
    doc.add_worker("solo", concurrency=1, queues=["celery"])
    changed = diff(before, doc.text())
    assert sorted(line for line in changed if line.startswith("+")) == ["+concurrency = 1", '+name = "solo"']
    assert sorted(line for line in changed if line.startswith("-")) == [
        "-# Pool processes: how many tasks this worker runs at the same time.",
        "-# Queues this worker consumes from; \"celery\" is Celery's default queue.",
        "-concurrency = 2", '-name = "main"']
    assert "# several workers, e.g. one per queue.\n[[workers]]\n" in doc.text()
    assert [w.name for w in doc.save().workers] == ["solo"]


# -- schedules ------------------------------------------------------------------------------------


def test_schedules_add_update_enable_remove(sample):
    doc = WorkspaceDocument.load(sample)
    doc.add_schedule("nightly", "playground.tasks.process_video", cron="0 3 * * *",
                     args=["a", 1, {"nested": True}], kwargs={"options": {"size": 2}}, queue="video")
    text = doc.text()
    assert "kwargs = {options = {size = 2}}" in text  # inline, never a [schedules.kwargs] table
    doc.update_schedule("notify-every-15-minutes", every=900.0)
    doc.enable_schedule("nightly", False)
    ws = doc.save()
    by_name = {s.name: s for s in ws.schedules}
    assert by_name["nightly"].args == ["a", 1, {"nested": True}] and by_name["nightly"].queue == "video"
    assert not by_name["nightly"].enabled
    assert by_name["notify-every-15-minutes"].every == 900.0 and by_name["notify-every-15-minutes"].cron is None
    doc.remove_schedule("nightly")
    assert [s.name for s in doc.save().schedules] == ["notify-every-15-minutes"]


def test_cron_replacing_every_takes_its_line_and_comment(tmp_path):
    path = write(tmp_path, """\
        [project]
        app = "celerydesk.sample"

        [[schedules]]
        name = "tick"
        task = "t.tick"
        every = 30.0   # seconds, for now
        args = []
        """)
    doc = WorkspaceDocument.load(path)
    doc.update_schedule("tick", cron="*/5 * * * *")
    assert diff(path.read_text(), doc.text()) == ["-every = 30.0   # seconds, for now",
                                                   '+cron = "*/5 * * * *"   # seconds, for now']
    doc.update_schedule("tick", every=10, enabled=False)
    assert doc.schedules()[0] == {"name": "tick", "task": "t.tick", "every": 10, "args": [], "enabled": False}
    doc.save()


def test_a_value_toml_cannot_hold_is_refused(sample):
    doc = WorkspaceDocument.load(sample)
    with pytest.raises(TypeError, match="null"):
        doc.add_schedule("n", "t.x", every=1.0, args=[None])
    assert [s["name"] for s in doc.schedules()] == ["notify-every-15-minutes"]


# -- refusals: validation, conflicts, broken files ---------------------------------------------


@pytest.mark.parametrize("edit, problem", [
    (lambda d: d.update_worker("main", concurrency=0), "concurrency: must be from 1 to 256"),
    (lambda d: d.set(("flower", "port"), 6390), "also the broker's port"),
    (lambda d: d.set(("broker", "mode"), "kubernetes"), "'kubernetes' is not one of"),
    (lambda d: d.set(("project", "python"), "/nowhere/python"), "was not found"),
])
def test_a_refused_validation_leaves_the_file_untouched(sample, edit, problem):
    before, mtime = sample.read_bytes(), sample.stat().st_mtime_ns
    doc = WorkspaceDocument.load(sample)
    edit(doc)
    with pytest.raises(WorkspaceError) as info:
        doc.validate()
    assert any(problem in p for p in info.value.problems)
    with pytest.raises(WorkspaceError):
        doc.save()
    assert sample.read_bytes() == before and sample.stat().st_mtime_ns == mtime
    assert [p.name for p in sample.parent.iterdir()] == ["celerydesk.toml"]  # no temp file left


def test_two_workers_with_one_name_are_refused_with_both_problems_listed(sample):
    doc = WorkspaceDocument.load(sample)
    doc.add_worker("fast", concurrency=0)
    doc.update_worker("fast", name="main")
    with pytest.raises(WorkspaceError) as info:
        doc.save()
    assert any("names must be unique" in p for p in info.value.problems)
    assert any("concurrency" in p for p in info.value.problems)


def test_a_file_changed_on_disk_is_not_overwritten_unless_forced(sample):
    doc = WorkspaceDocument.load(sample)
    doc.set(("broker", "port"), 6391)
    sample.write_text(sample.read_text().replace("concurrency = 2", "concurrency = 5"))
    changed = sample.read_text()
    with pytest.raises(WorkspaceConflict):
        doc.save()
    assert sample.read_text() == changed
    doc.save(force=True)
    assert "port = 6391" in sample.read_text() and doc.backup is None
    doc.set(("broker", "port"), 6392)
    doc.save()  # the forced save is the new baseline
    sample.unlink()
    with pytest.raises(WorkspaceConflict, match="deleted"):
        doc.save()


def test_a_broken_file_is_reported_kept_and_moved_aside_only_when_asked(tmp_path):
    path = write(tmp_path, '[project]\napp = "x"\n[broker\nport = 1\n')
    broken = path.read_bytes()
    with pytest.raises(BrokenWorkspaceFile) as info:
        WorkspaceDocument.load(path)
    assert "not valid TOML" in info.value.problems[0] and "line 3" in info.value.problems[0]
    assert path.read_bytes() == broken
    first = move_broken_aside(path)
    assert first.name.startswith("celerydesk.toml.broken-") and first.read_bytes() == broken
    assert not path.exists()
    path.write_bytes(broken)
    second = move_broken_aside(path)  # the same second: a new name, never over the first backup
    assert second != first and first.read_bytes() == second.read_bytes() == broken
    path.write_text('[project]\napp = "x"\n')
    with pytest.raises(ValueError):
        move_broken_aside(path)  # a good file is never moved
    assert path.exists()


def test_a_file_that_is_not_utf8_is_broken(tmp_path):
    path = tmp_path / "celerydesk.toml"
    path.write_bytes(b'[project]\napp = "caf\xe9"\n')
    with pytest.raises(BrokenWorkspaceFile, match="UTF-8"):
        WorkspaceDocument.load(path)


def test_forced_save_over_a_file_broken_meanwhile_keeps_it_as_a_backup(sample):
    doc = WorkspaceDocument.load(sample)
    sample.write_text("[project\n")
    with pytest.raises(WorkspaceConflict):
        doc.save()
    doc.save(force=True)
    assert doc.backup is not None and doc.backup.read_text() == "[project\n"
    assert sample.read_text() == SAMPLE.read_text()


def test_missing_file_is_a_workspace_error(tmp_path):
    with pytest.raises(WorkspaceError, match="no workspace file"):
        WorkspaceDocument.load(tmp_path)


def test_save_keeps_the_files_mode_and_symlink(tmp_path, sample):
    os.chmod(sample, 0o600)
    link = tmp_path / "linked" / "celerydesk.toml"
    link.parent.mkdir()
    link.symlink_to(sample)
    doc = WorkspaceDocument.load(link)
    doc.set(("broker", "port"), 6391)
    doc.save()
    assert link.is_symlink() and "port = 6391" in sample.read_text()
    assert (sample.stat().st_mode & 0o777) == 0o600


# -- new workspaces --------------------------------------------------------------------------------


def test_new_workspace_text_is_a_valid_commented_workspace(tmp_path):
    text = new_workspace_text("storefront")
    ws = parse_workspace(tomllib.loads(text), tmp_path / "celerydesk.toml")
    assert ws.project.app == "storefront" and ws.project.python_detected
    assert '# env = { DJANGO_SETTINGS_MODULE = "storefront.settings" }' in text
    with_python = new_workspace_text('we"ird', python=".venv/bin/python")
    assert tomllib.loads(with_python)["project"] == {"app": 'we"ird', "python": ".venv/bin/python"}


def test_create_workspace_names_the_projects_venv_and_never_replaces(tmp_path):
    venv_python = tmp_path / ".venv" / "bin" / "python"
    venv_python.parent.mkdir(parents=True)
    venv_python.symlink_to(sys.executable)
    path = create_workspace(tmp_path, "storefront")
    assert tomllib.loads(path.read_text())["project"]["python"] == ".venv/bin/python"
    before = path.read_text()
    with pytest.raises(WorkspaceError, match="exists already"):
        create_workspace(tmp_path, "other")
    assert path.read_text() == before


@pytest.mark.parametrize("layout, expected", [
    (["storefront/celery.py", "storefront/settings.py", "playground/tasks.py"], "storefront"),
    (["mysite/settings.py", "mysite/__init__.py", "blog/models.py"], "mysite"),
    (["tasks.py"], "tasks"),
    ([".venv/lib/celery.py", "README.md"], "my_project"),
])
def test_guess_app(tmp_path, layout, expected):
    root = tmp_path / "my-project"
    for rel in layout:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("")
    assert guess_app(root) == expected
    assert guess_app(REPO / "tests" / "projects" / "storefront") == "storefront"


# -- a kill in the middle of a save -------------------------------------------------------------

GENERATION = '''
def generation(doc, n):
    doc.set(("broker", "port"), 10000 + n % 50000)
    doc.set_env("GENERATION", str(n))
    doc.set_env("PADDING", "x" * ((n % 7) * 4000))  # 0 to 24 kB: a torn write would show
'''
SAVER = GENERATION + '''
import sys
from celerydesk.core.workspace_edit import WorkspaceDocument
doc = WorkspaceDocument.load(sys.argv[1])
n = 0
while True:
    n += 1
    generation(doc, n)
    doc.save()
    if n == 1:
        print("saving", flush=True)
'''


def test_sigkill_during_saves_always_leaves_a_complete_file(sample):
    namespace: dict = {}
    exec(GENERATION, namespace)
    original = sample.read_text()

    def expected_text(n: int) -> str:
        doc = WorkspaceDocument(sample, original)
        namespace["generation"](doc, n)
        return doc.text()

    rng = random.Random(1234)
    kills = mid_write = 0
    # Kill until several kills have landed inside a write (a temp file is left behind), with a
    # floor and a cap so the test is neither trivially short nor unbounded.
    while kills < 80 and (kills < 20 or mid_write < 3):
        temps_before = len(list(sample.parent.glob(".celerydesk.toml.*.tmp")))
        child = subprocess.Popen([sys.executable, "-c", SAVER, str(sample)], cwd=REPO,
                                 stdout=subprocess.PIPE, text=True)
        try:
            assert child.stdout.readline().strip() == "saving"
            time.sleep(rng.uniform(0, 0.03))
        finally:
            child.kill()
            child.wait()
            child.stdout.close()
        kills += 1
        mid_write += len(list(sample.parent.glob(".celerydesk.toml.*.tmp"))) > temps_before
        text = sample.read_text(encoding="utf-8")
        data = tomllib.loads(text)  # never a file that does not parse
        parse_workspace(data, sample)  # nor one that does not validate
        n = int(data["project"]["env"]["GENERATION"])
        assert text == expected_text(n), f"kill {kills}: generation {n} is not the complete file"
    assert mid_write >= 1, f"none of {kills} kills landed inside a write"
