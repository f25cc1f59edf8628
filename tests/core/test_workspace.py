"""The workspace file (celerydesk/core/workspace.py): contract keys, defaults, validation.

Covered: every key of the DESIGN.md example loads; defaults (workdir = the file's folder, the
interpreter detected from .venv, then venv, else sys.executable); ``-w`` given a file, a folder
or nothing; each validation problem names its key, and several are reported at once; unknown
keys are warnings; invalid TOML names the line; broker_url() per mode; a missing file says how
to create one.
"""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import pytest

from celerydesk.core.errors import WorkspaceError
from celerydesk.core.workspace import load_workspace, resolve_workspace_path


def write(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "celerydesk.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def fake_python(path: Path) -> Path:
    """An interpreter file where a venv would have one (a symlink to this Python)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(sys.executable)
    return path


def problems_of(folder: Path, text: str) -> list[str]:
    with pytest.raises(WorkspaceError) as info:
        load_workspace(write(folder, text))
    return info.value.problems


def only_problem(folder: Path, text: str) -> str:
    problems = problems_of(folder, text)
    assert len(problems) == 1, problems
    return problems[0]


MINIMAL = '[project]\napp = "proj"\n'


# -- the contract keys ----------------------------------------------------------------------------


def test_the_design_example_loads_with_every_contract_key(tmp_path):
    python = fake_python(tmp_path / ".venv" / "bin" / "python")
    path = write(tmp_path, """\
        [project]
        app = "storefront"
        workdir = "."
        python = ".venv/bin/python"
        env = { DJANGO_SETTINGS_MODULE = "storefront.settings" }

        [broker]
        mode = "auto"
        port = 6379
        image = "redis:7-alpine"

        [[workers]]
        name = "main"
        concurrency = 2
        queues = ["celery"]

        [beat]
        enabled = true

        [flower]
        enabled = true
        port = 5555

        [[schedules]]
        name = "notify-monday-morning"
        task = "playground.tasks.notify_customers"
        cron = "30 7 * * 1"
        args = ["Hello World"]
        kwargs = {}
        enabled = true
    """)
    ws = load_workspace(path)
    assert ws.path == path
    assert ws.warnings == []
    assert ws.project.app == "storefront"
    assert ws.project.workdir == tmp_path.resolve()
    assert ws.project.python == python
    assert ws.project.python_detected is False
    assert ws.project.env == {"DJANGO_SETTINGS_MODULE": "storefront.settings"}
    assert (ws.broker.mode, ws.broker.port, ws.broker.image, ws.broker.url) == ("auto", 6379, "redis:7-alpine", None)
    assert [(w.name, w.concurrency, w.queues) for w in ws.workers] == [("main", 2, ["celery"])]
    assert ws.beat.enabled is True
    assert (ws.flower.enabled, ws.flower.port) == (True, 5555)
    [s] = ws.schedules
    assert (s.name, s.task, s.cron, s.every) == (
        "notify-monday-morning", "playground.tasks.notify_customers", "30 7 * * 1", None)
    assert (s.args, s.kwargs, s.enabled) == (["Hello World"], {}, True)
    assert ws.runtime_dir == tmp_path / ".celerydesk"


def test_every_schedule_and_several_workers(tmp_path):
    ws = load_workspace(write(tmp_path, MINIMAL + """
        [[workers]]
        name = "main"
        [[workers]]
        name = "fast"
        concurrency = 8
        queues = ["fast", "urgent"]
        pool = "threads"
        [[schedules]]
        name = "tick"
        task = "t.tick"
        every = 900
    """))
    assert [(w.name, w.concurrency, w.queues, w.pool) for w in ws.workers] == [
        ("main", 2, ["celery"], "prefork"), ("fast", 8, ["fast", "urgent"], "threads")]
    assert ws.worker("fast").concurrency == 8
    with pytest.raises(KeyError):
        ws.worker("nope")
    [s] = ws.schedules
    assert s.every == 900.0 and isinstance(s.every, float) and s.cron is None


def test_defaults_of_a_minimal_file(tmp_path):
    ws = load_workspace(write(tmp_path, MINIMAL))
    assert ws.project.workdir == tmp_path.resolve()  # this file's folder
    assert ws.project.python == Path(sys.executable)  # no venv in the folder
    assert ws.project.python_detected is True
    assert ws.project.env == {}
    assert ws.project.nice == 5  # services below the window's priority (core/priority.py)
    assert (ws.broker.mode, ws.broker.port, ws.broker.image) == ("auto", 6379, "redis:7-alpine")
    assert [(w.name, w.concurrency, w.queues) for w in ws.workers] == [("main", 2, ["celery"])]
    assert ws.beat.enabled and ws.flower.enabled and ws.flower.port == 5555
    assert ws.schedules == []


def test_workdir_is_relative_to_the_file_not_the_cwd(tmp_path, monkeypatch):
    (tmp_path / "proj" / "src").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    ws = load_workspace(write(tmp_path / "proj", MINIMAL + 'workdir = "src"\n'))
    assert ws.project.workdir == (tmp_path / "proj" / "src").resolve()


@pytest.mark.parametrize(
    "venvs, expected",
    [
        ([".venv"], ".venv"),
        (["venv"], "venv"),
        ([".venv", "venv"], ".venv"),  # .venv wins
        ([], None),  # nothing: celerydesk's own interpreter
    ],
)
def test_python_is_detected_from_the_project_venv(tmp_path, venvs, expected):
    for venv in venvs:
        fake_python(tmp_path / venv / "bin" / "python")
    ws = load_workspace(write(tmp_path, MINIMAL))
    assert ws.project.python_detected is True
    if expected is None:
        assert ws.project.python == Path(sys.executable)
    else:
        assert ws.project.python == tmp_path.resolve() / expected / "bin" / "python"


def test_python_detection_looks_in_the_workdir(tmp_path):
    fake_python(tmp_path / "app" / ".venv" / "bin" / "python")
    ws = load_workspace(write(tmp_path, MINIMAL + 'workdir = "app"\n'))
    assert ws.project.python == (tmp_path / "app").resolve() / ".venv" / "bin" / "python"


def test_explicit_relative_python_is_resolved_against_the_workdir(tmp_path):
    python = fake_python(tmp_path / "envs" / "p311" / "bin" / "python")
    ws = load_workspace(write(tmp_path, MINIMAL + 'python = "envs/p311/bin/python"\n'))
    assert ws.project.python == tmp_path.resolve() / "envs" / "p311" / "bin" / "python"
    assert ws.project.python.resolve() == python.resolve()
    assert ws.project.python_detected is False


# -- -w resolution -----------------------------------------------------------------------------


def test_w_takes_the_file(tmp_path):
    path = write(tmp_path, MINIMAL)
    assert resolve_workspace_path(path) == path
    assert load_workspace(str(path)).path == path


def test_w_takes_the_folder(tmp_path):
    path = write(tmp_path, MINIMAL)
    assert resolve_workspace_path(tmp_path) == path
    assert load_workspace(tmp_path).path == path


def test_without_w_the_cwd_file_is_used(tmp_path, monkeypatch):
    path = write(tmp_path, MINIMAL)
    monkeypatch.chdir(tmp_path)
    assert resolve_workspace_path(None) == path
    assert load_workspace().path == path


def test_relative_w_is_relative_to_the_cwd(tmp_path, monkeypatch):
    path = write(tmp_path / "proj", MINIMAL)
    monkeypatch.chdir(tmp_path)
    assert resolve_workspace_path("proj") == path
    assert resolve_workspace_path("proj/celerydesk.toml") == path


def test_a_missing_file_says_how_to_create_one(tmp_path):
    with pytest.raises(WorkspaceError) as info:
        load_workspace(tmp_path)
    assert info.value.path == tmp_path / "celerydesk.toml"
    assert "celerydesk init" in info.value.hint
    assert "celerydesk init" in str(info.value)
    assert str(tmp_path / "celerydesk.toml") in str(info.value)


def test_invalid_toml_names_the_line(tmp_path):
    path = write(tmp_path, '[project]\napp = "x"\nport = = 3\n')
    with pytest.raises(WorkspaceError) as info:
        load_workspace(path)
    [problem] = info.value.problems
    assert "not valid TOML" in problem
    assert "line 3" in problem
    assert "line" in info.value.hint


# -- validation: one problem, naming its key --------------------------------------------------------


@pytest.mark.parametrize(
    "body, key, words",
    [
        ('[broker]\nmode = "kubernetes"', "[broker] mode", "'kubernetes' is not one of"),
        ("[broker]\nport = 0", "[broker] port", "from 1 to 65535, got 0"),
        ("[broker]\nport = 70000", "[broker] port", "from 1 to 65535, got 70000"),
        ('[broker]\nport = "x"', "[broker] port", "whole number"),
        ("[broker]\nport = 6379.5", "[broker] port", "whole number"),
        ("[broker]\nport = true", "[broker] port", "whole number"),
        ("[flower]\nport = 0", "[flower] port", "from 1 to 65535"),
        ('[broker]\nmode = "external"', "[broker] url", 'needs a url'),
        ('[broker]\nmode = "external"\nurl = "localhost:6379"', "[broker] url", "is not a broker URL"),
        ('[broker]\nmode = "external"\nurl = "http://x:6379"', "[broker] url", "is not a broker URL"),
        ("[[workers]]\nconcurrency = 0", '[[workers]] #1 "main" concurrency', "from 1 to 256"),
        ("[[workers]]\nconcurrency = 100000", '[[workers]] #1 "main" concurrency',
         'from 1 to 256 with pool = "prefork", got 100000'),
        ('[[workers]]\npool = "gevent"\nconcurrency = 20000', '[[workers]] #1 "main" concurrency',
         'from 1 to 10000 with pool = "gevent"'),
        ("[[workers]]\nstop_timeout = inf", '[[workers]] #1 "main" stop_timeout', "finite number from 0 to 3600 seconds, got inf"),
        ("[[workers]]\nstop_timeout = nan", '[[workers]] #1 "main" stop_timeout', "finite number"),
        ("[[workers]]\nstop_timeout = 3000000.0", '[[workers]] #1 "main" stop_timeout', "from 0 to 3600 seconds, got 3000000"),
        ('[[schedules]]\nname = "s"\ntask = "t"\nevery = nan', '[[schedules]] #1 "s" every', "finite number"),
        ('[[schedules]]\nname = "s"\ntask = "t"\nevery = inf', '[[schedules]] #1 "s" every', "got inf"),
        ('[[schedules]]\nname = "s"\ntask = "t"\nevery = 0', '[[schedules]] #1 "s" every', "from 0.001 to 31536000 seconds"),
        ('[[schedules]]\nname = "s"\ntask = "t"\nevery = 5\nargs = ' + "[" * 40 + "]" * 40,
         '[[schedules]] #1 "s" args', "deeper than 32"),
        ('[broker]\nmode = "external"\nurl = "redis://:pa#ss@host:6379/0"', "[broker] url", "'#' as %23"),
        ('[broker]\nmode = "external"\nurl = "redis://:p/w@host:6379/0"', "[broker] url", "'/' as %2F"),
        ('[broker]\nmode = "external"\nurl = "redis://:pw@host:63a9/0"', "[broker] url", "port is not a number"),
        ('[broker]\npassword = "hunter2"', "[broker] password", 'the only value is "generate"'),
        ('[broker]\nmode = "external"\nurl = "redis://h:1/0"\npassword = "generate"', "[broker] password",
         "goes in its url"),
        ("[supervision]\nmax_crashes = 0", "[supervision] max_crashes", "from 1 to 100"),
        ("[supervision]\ncrash_window = inf", "[supervision] crash_window", "finite number"),
        ('[[workers]]\nname = "my worker"', '[[workers]] #1 "my worker" name', "letters, digits"),
        ('[[workers]]\nname = "a@b"', '[[workers]] #1 "a@b" name', "letters, digits"),
        ('[[workers]]\nname = "a"\n[[workers]]\nname = "a"', '[[workers]] #2 "a" name', "unique"),
        ("[[workers]]\nqueues = []", '[[workers]] #1 "main" queues', "at least one queue"),
        ('[[workers]]\nqueues = "celery"', '[[workers]] #1 "main" queues', "array of strings"),
        ('[[workers]]\npool = "fork"', '[[workers]] #1 "main" pool', "not one of"),
        ('[[schedules]]\nname = "s"\ntask = "t"\ncron = "* * * * *"\nevery = 60',
         '[[schedules]] #1 "s"', "exactly one of"),
        ('[[schedules]]\nname = "s"\ntask = "t"', '[[schedules]] #1 "s"', "exactly one of"),
        ('[[schedules]]\nname = "s"\ntask = "t"\ncron = "* * * *"', '[[schedules]] #1 "s" cron', "has 4 fields"),
        ('[[schedules]]\nname = "s"\ntask = "t"\ncron = "0 * * * * *"', '[[schedules]] #1 "s" cron', "has 6 fields"),
        ('[[schedules]]\nname = "s"\nevery = 5', '[[schedules]] #1 "s" task', "missing"),
        ('[[schedules]]\ntask = "t"\nevery = 5', "[[schedules]] #1 name", "missing"),
        ('[[schedules]]\nname = "s"\ntask = "t"\nevery = 5\nargs = "x"', '[[schedules]] #1 "s" args', "array"),
        ('[[schedules]]\nname = "s"\ntask = "t"\nevery = 5\n'
         '[[schedules]]\nname = "s"\ntask = "u"\nevery = 6', '[[schedules]] #2 "s" name', "unique"),
        ('[broker]\nport = 7000\n[flower]\nport = 7000', "[flower] port", "also the broker's port"),
        ('[project]\nenv = { N = [1] }', "[project] env.N", "must be a string"),
        ("[project]\nnice = 20", "[project] nice", "from 0 to 19, got 20"),
        ("[project]\nnice = -1", "[project] nice", "from 0 to 19, got -1"),
        ('[project]\nnice = "low"', "[project] nice", "whole number"),
        ("[project]\nnice = true", "[project] nice", "whole number"),
        ('[beat]\nenabled = "yes"', "[beat] enabled", "true or false"),
        ('[beat]\nloglevel = "loud"', "[beat] loglevel", "not one of"),
    ],
)
def test_each_problem_names_its_key(tmp_path, body, key, words):
    if body.startswith("[project]"):
        text = body.replace("[project]", '[project]\napp = "proj"', 1)
    else:
        text = MINIMAL + body
    problem = only_problem(tmp_path, text)
    assert problem.startswith(key), problem
    assert words in problem


@pytest.mark.parametrize("app", ["", " ", "my app", "shop/tasks", "1shop", "shop.", "shop:"])
def test_app_must_be_a_dotted_name(tmp_path, app):
    problem = only_problem(tmp_path, f"[project]\napp = {app!r}\n".replace("'", '"'))
    assert problem.startswith("[project] app") and "celery -A" in problem, problem


@pytest.mark.parametrize("app", ["shop", "shop.celery", "proj.celery:app", "_x.y_2:z"])
def test_an_app_such_as_celery_takes_it_is_accepted(tmp_path, app):
    (tmp_path / "celerydesk.toml").write_text(f'[project]\napp = "{app}"\n')
    assert load_workspace(tmp_path).project.app == app


def test_a_password_in_a_problem_is_masked(tmp_path):
    problem = only_problem(tmp_path, MINIMAL + '[broker]\nmode = "external"\nurl = "redis://:s3cr#t@h:1/0"\n')
    assert "s3cr" not in problem and "***" in problem


def test_a_file_that_is_not_utf8_says_so_with_a_hint(tmp_path):
    (tmp_path / "celerydesk.toml").write_bytes(b'[project]\napp = "caf\xe9"\n')
    with pytest.raises(WorkspaceError) as info:
        load_workspace(tmp_path)
    assert "is not UTF-8" in str(info.value) and "save it as UTF-8" in info.value.hint


def test_missing_app_is_a_problem(tmp_path):
    problem = only_problem(tmp_path, "[project]\n")
    assert problem.startswith("[project] app")
    assert "celery -A" in problem


def test_a_python_that_does_not_exist_is_a_problem(tmp_path):
    problem = only_problem(tmp_path, MINIMAL + 'python = "missing/bin/python"\n')
    assert problem.startswith("[project] python")
    assert "'missing/bin/python' was not found" in problem


def test_an_absolute_python_that_does_not_exist_is_a_problem(tmp_path):
    problem = only_problem(tmp_path, MINIMAL + f'python = "{tmp_path}/nope/python"\n')
    assert problem.startswith("[project] python")


def test_a_bare_python_name_is_looked_up_on_path(tmp_path, monkeypatch):
    bindir = tmp_path / "bin"
    fake_python(bindir / "myproj-python")
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")
    ws = load_workspace(write(tmp_path / "p", MINIMAL + 'python = "myproj-python"\n'))
    assert ws.project.python == bindir / "myproj-python"
    problem = only_problem(tmp_path / "q", MINIMAL + 'python = "no-such-python-here"\n')
    assert problem.startswith("[project] python")


def test_flower_port_may_equal_the_port_of_an_external_broker_or_when_disabled(tmp_path):
    load_workspace(write(tmp_path / "a", MINIMAL + '[broker]\nport = 7000\n[flower]\nport = 7000\nenabled = false\n'))
    load_workspace(write(tmp_path / "b", MINIMAL + '[broker]\nmode = "external"\nurl = "redis://h:7000/0"\n'
                                                   'port = 7000\n[flower]\nport = 7000\n'))


def test_a_workdir_that_is_not_a_folder_is_a_problem(tmp_path):
    problem = only_problem(tmp_path, MINIMAL + 'workdir = "nowhere"\n')
    assert problem.startswith("[project] workdir")


def test_every_problem_is_reported_at_once(tmp_path):
    problems = problems_of(tmp_path, """\
        [project]
        python = "nowhere/python"

        [broker]
        mode = "fast"
        port = 0

        [[workers]]
        name = "a"
        concurrency = 0
        queues = []

        [[workers]]
        name = "a"

        [[schedules]]
        name = "s"
        cron = "* * *"
    """)
    prefixes = [
        "[project] app",
        "[project] python",
        "[broker] mode",
        "[broker] port",
        '[[workers]] #1 "a" concurrency',
        '[[workers]] #1 "a" queues',
        '[[workers]] #2 "a" name',
        '[[schedules]] #1 "s" task',
        '[[schedules]] #1 "s" cron',
    ]
    for prefix in prefixes:
        assert any(p.startswith(prefix) for p in problems), (prefix, problems)
    assert len(problems) == len(prefixes), problems


def test_the_error_lists_every_problem_and_a_hint(tmp_path):
    path = write(tmp_path, '[project]\n[broker]\nport = 0\n')
    with pytest.raises(WorkspaceError) as info:
        load_workspace(path)
    text = str(info.value)
    assert text.startswith(f"{path}: 2 problem(s)")
    assert "  - [project] app" in text and "  - [broker] port" in text
    assert info.value.hint


# -- unknown keys ----------------------------------------------------------------------------------


def test_unknown_keys_are_warnings_not_errors(tmp_path):
    ws = load_workspace(write(tmp_path, """\
        colour = "blue"
        [project]
        app = "proj"
        shiny = 1
        [broker]
        tls = true
        [[workers]]
        prefetch = 4
        [flower]
        theme = "dark"
        [[schedules]]
        name = "s"
        task = "t"
        every = 5
        jitter = 1
    """))
    text = "\n".join(ws.warnings)
    assert len(ws.warnings) == 6, ws.warnings
    for label in ("colour", "[project] shiny", "[broker] tls", '[[workers]] #1 "main" prefetch',
                  "[flower] theme", '[[schedules]] #1 "s" jitter'):
        assert any(w.startswith(f"{label}: unknown key") for w in ws.warnings), (label, text)


# -- broker URL -----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["auto", "docker", "local"])
def test_broker_url_of_a_managed_broker_is_on_loopback(tmp_path, mode):
    ws = load_workspace(write(tmp_path, MINIMAL + f'[broker]\nmode = "{mode}"\nport = 6390\n'))
    assert ws.broker_url() == "redis://127.0.0.1:6390/0"
    assert ws.broker_url(db=3) == "redis://127.0.0.1:6390/3"


def test_broker_url_of_an_external_broker_is_its_url(tmp_path):
    url = "rediss://user:secret@redis.example.com:6380/2"
    ws = load_workspace(write(tmp_path, MINIMAL + f'[broker]\nmode = "external"\nurl = "{url}"\n'))
    assert ws.broker_url() == url


def test_an_out_of_range_every_is_one_problem(tmp_path):
    problem = only_problem(tmp_path, MINIMAL + '[[schedules]]\nname = "s"\ntask = "t"\nevery = 0\n')
    assert problem.startswith('[[schedules]] #1 "s" every')


def test_schedule_options_are_read_and_checked(tmp_path):
    path = write(tmp_path, MINIMAL + """
[[schedules]]
name = "tokyo"
task = "t"
cron = "0 9 * * *"
timezone = "Asia/Tokyo"
expires = 2026-12-31T00:00:00Z
start_at = "2026-12-01T08:00"
one_off = true
priority = 5

[[schedules]]
name = "short"
task = "t"
every = 5
expires = 30
""")
    tokyo, short = load_workspace(path).schedules
    assert (tokyo.timezone, tokyo.expires, tokyo.start_at, tokyo.one_off, tokyo.priority) == (
        "Asia/Tokyo", "2026-12-31T00:00:00+00:00", "2026-12-01T08:00", True, 5)
    assert (short.expires, short.one_off, short.priority, short.timezone) == (30.0, False, None, None)
    bad = write(tmp_path / "bad", MINIMAL + """
[[schedules]]
name = "b"
task = "t"
every = 5
timezone = "Asia/Tokyo"
expires = -1
start_at = 2026-12-01
priority = 256
one_off = "yes"
""")
    with pytest.raises(WorkspaceError) as err:
        load_workspace(bad)
    problems = "\n".join(err.value.problems)
    for words in ("timezone: only a cron schedule has one", "expires: must be from 0.001 to 31536000 seconds",
                  "start_at: expected a time", "priority: must be from 0 to 255", "one_off: expected true or false"):
        assert words in problems
