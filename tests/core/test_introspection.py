"""Introspection without a broker: the call-checking rules, the script's data, and the cache.

Covered: ``check_call`` against signatures of every shape (too many / missing positionals,
keyword-only and positional-only parameters, ``*args``/``**kwargs``, unknown and duplicate
keywords, names with a did-you-mean); the signature text; how the script renders defaults,
annotations and beat schedules (crontab fields, intervals, solar); the project fingerprint
(which files count, which folders are skipped); and, with a real interpreter (celerydesk's own,
which has celery), that the cache answers until a ``.py`` file of the project changes, and that a
new task then shows up.
"""

from __future__ import annotations

import datetime
import os
import sys
from pathlib import Path

import pytest

from celerydesk import introspect_script as script
from celerydesk.core.errors import DeskError
from celerydesk.core.introspection import (Param, TaskInfo, check_call, introspect, load_error,
                                           project_fingerprint, unknown_task_message)
from celerydesk.core.workspace import load_workspace
from tests.helpers.stack import write_workspace


def task(name: str, *params: dict) -> TaskInfo:
    return TaskInfo.from_dict({"name": name, "params": list(params)})


def p(name: str, kind: str = "positional_or_keyword", **extra) -> dict:
    return {"name": name, "kind": kind, **extra}


TASKS = {t.name: t for t in [
    task("shop.add", p("x"), p("y")),
    task("shop.ping"),
    task("shop.resize", p("path", annotation="str"), p("width", default=800, annotation="int"),
         p("keep_ratio", "keyword_only", default=True, annotation="bool")),
    task("shop.flag", p("a"), p("flag", "keyword_only")),
    task("shop.posonly", p("a", "positional_only"), p("b")),
    task("shop.posonly_kw", p("a", "positional_only"), p("kw", "var_keyword")),
    task("shop.varargs", p("first"), p("rest", "var_positional"), p("opt", "keyword_only", default=None)),
    task("shop.anything", p("args", "var_positional"), p("kwargs", "var_keyword")),
]}


# -- check_call -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name,args,kwargs", [
    ("shop.add", [1, 2], {}),
    ("shop.add", [1], {"y": 2}),
    ("shop.add", [], {"x": 1, "y": 2}),
    ("shop.ping", [], {}),
    ("shop.resize", ["/a.png"], {}),
    ("shop.resize", ["/a.png", 100], {"keep_ratio": False}),
    ("shop.resize", [], {"path": "/a.png", "width": 3}),
    ("shop.flag", [1], {"flag": True}),
    ("shop.posonly", [1, 2], {}),
    ("shop.posonly", [1], {"b": 2}),
    ("shop.posonly_kw", [1], {"a": 2}),  # Python puts a= in **kw
    ("shop.varargs", [1, 2, 3, 4], {"opt": 5}),
    ("shop.anything", [1, 2], {"z": 3}),
])
def test_calls_that_bind_pass(name, args, kwargs):
    assert check_call(TASKS, name, args, kwargs) is None


@pytest.mark.parametrize("name,args,kwargs,expected", [
    ("shop.add", [1, 2, 3], {},
     "wrong number of arguments: shop.add(x, y) takes 2 positional arguments (x, y) but 3 were given"),
    ("shop.ping", [1], {}, "wrong number of arguments: shop.ping() takes no positional arguments but 1 was given"),
    ("shop.add", [1], {}, "wrong number of arguments: shop.add(x, y) is missing 1 required argument 'y'"),
    ("shop.add", [], {}, "is missing 2 required arguments 'x', 'y'"),
    ("shop.resize", ["/a.png", 100, False], {}, "takes 2 positional arguments (path, width) but 3 were given"),
    ("shop.flag", [1], {}, "is missing 1 keyword-only argument 'flag' (give by keyword)"),
    ("shop.flag", [], {}, "is missing 1 required argument 'a' and 1 keyword-only argument 'flag'"),
    ("shop.add", [1, 2], {"z": 3}, "unknown keyword argument 'z': shop.add(x, y) has no parameter by that name "
     "(its named parameters: x, y)"),
    ("shop.resize", ["/a.png"], {"keepratio": False}, "did you mean 'keep_ratio'?"),
    ("shop.ping", [], {"x": 1}, "(its named parameters: none)"),
    ("shop.add", [1, 2], {"x": 3}, "shop.add(x, y) got two values for 'x': one by position and one by keyword"),
    ("shop.posonly", [], {"a": 1, "b": 2}, "'a' is positional-only in shop.posonly(a, /, b)"),
    ("shop.posonly_kw", [], {"a": 1}, "is missing 1 required argument 'a'"),
    ("shop.varargs", [], {"opt": 1}, "is missing 1 required argument 'first'"),
    ("shop.varargs", [1], {"rest": [2]}, "unknown keyword argument 'rest'"),  # *rest is not a keyword
])
def test_calls_that_do_not_bind_say_why(name, args, kwargs, expected):
    problem = check_call(TASKS, name, args, kwargs)
    assert problem is not None and expected in problem, problem


def test_an_unknown_name_is_refused_with_the_closest_names():
    assert check_call(TASKS, "shop.ad", [], {}) == (
        "no task named 'shop.ad' is registered in the project; did you mean 'shop.add'?")
    assert "did you mean 'shop.add'" in unknown_task_message("add", TASKS, "here")  # the short name
    assert unknown_task_message("zzz", TASKS, "here") == "no task named 'zzz' is registered here"


def test_a_task_whose_signature_could_not_be_read_is_not_judged():
    tasks = {"t": TaskInfo.from_dict({"name": "t", "params": [], "params_error": "ValueError: no signature"})}
    assert check_call(tasks, "t", [1, 2, 3], {"x": 1}) is None


def test_signature_text_reads_like_python():
    assert TASKS["shop.resize"].signature() == "(path: str, width: int = 800, *, keep_ratio: bool = True)"
    assert TASKS["shop.posonly"].signature() == "(a, /, b)"
    assert TASKS["shop.varargs"].signature() == "(first, *rest, opt=None)"
    assert TASKS["shop.anything"].signature() == "(*args, **kwargs)"
    repr_default = Param.from_dict(p("when", default="datetime.date(2020, 1, 1)", default_is_repr=True))
    assert repr_default.text() == "when=datetime.date(2020, 1, 1)"
    assert Param.from_dict(p("greeting", default="hello", annotation="str")).text() == "greeting: str = 'hello'"


# -- what the script renders --------------------------------------------------------------------------


def test_defaults_are_json_values_or_their_repr():
    assert script.json_or_repr({"a": [1, 2.5, None, "x", True]}) == ({"a": [1, 2.5, None, "x", True]}, False)
    assert script.json_or_repr((1, 2)) == ([1, 2], False)
    assert script.json_or_repr(datetime.date(2020, 1, 1)) == ("datetime.date(2020, 1, 1)", True)
    assert script.json_or_repr(float("nan")) == ("nan", True)
    assert script.json_or_repr({1: "a"}) == ("{1: 'a'}", True)


def test_params_leave_out_self_and_render_annotations_as_strings():
    from celery import Celery

    app = Celery("t", set_as_current=False)

    @app.task(bind=True)
    def bound(self, path: str, width: int = 800, *, keep_ratio: bool = True, when=datetime.date(2020, 1, 1)) -> dict:
        return {}

    @app.task
    def plain(a, /, b: "list[int]", *rest, **extra):
        pass

    params, returns = script.describe_params(bound)
    assert [x["name"] for x in params] == ["path", "width", "keep_ratio", "when"]
    assert params[2] == {"name": "keep_ratio", "kind": "keyword_only", "default": True, "annotation": "bool"}
    assert params[3]["default_is_repr"] is True and returns == "dict"
    params, _ = script.describe_params(plain)
    assert [(x["name"], x["kind"]) for x in params] == [
        ("a", "positional_only"), ("b", "positional_or_keyword"), ("rest", "var_positional"),
        ("extra", "var_keyword")]
    assert params[1]["annotation"] == "list[int]"


def test_schedules_render_as_data():
    from celery.schedules import crontab, schedule, solar

    cron = script.describe_schedule(crontab(day_of_week=1, hour=7, minute=30))
    assert cron == {"type": "crontab", "cron": "30 7 * * 1", "minute": "30", "hour": "7", "day_of_month": "*",
                    "month_of_year": "*", "day_of_week": "1"}
    assert script.describe_schedule(crontab(minute="*/15", day_of_week="mon-fri"))["cron"] == "*/15 * * * mon-fri"
    assert script.describe_schedule(15) == {"type": "interval", "seconds": 15.0}
    assert script.describe_schedule(datetime.timedelta(minutes=2)) == {"type": "interval", "seconds": 120.0}
    assert script.describe_schedule(schedule(30)) == {"type": "interval", "seconds": 30.0, "relative": False}
    sun = object.__new__(solar)  # solar() itself needs the ephem package, which is not installed here
    sun.event, sun.lat, sun.lon = "sunset", 48.85, 2.35
    assert script.describe_schedule(sun) == {"type": "solar", "event": "sunset", "lat": 48.85, "lon": 2.35}


# -- load errors --------------------------------------------------------------------------------------


def test_load_errors_get_a_hint_that_names_the_setting(tmp_path):
    ws = load_workspace(write_workspace(tmp_path, app="shop", project={"python": sys.executable}))
    err = load_error(ws, {"type": "ImproperlyConfigured", "message": "Requested settings, but settings are not "
                          "configured. You must either define the environment variable DJANGO_SETTINGS_MODULE",
                          "traceback": "Traceback (most recent call last):\n  File x\nImproperlyConfigured: ..."})
    assert 'DJANGO_SETTINGS_MODULE = "shop.settings"' in err.hint and "[project] env" in err.hint
    assert "File x" in err.message
    missing_app = load_error(ws, {"type": "ModuleNotFoundError", "message": "No module named 'shop'", "module": "shop"})
    assert "[project] app" in missing_app.hint and "[project] workdir" in missing_app.hint
    missing_dep = load_error(ws, {"type": "ModuleNotFoundError", "message": "No module named 'stripe'",
                                  "module": "stripe"})
    assert "'stripe'" in missing_dep.hint and "pip install" in missing_dep.hint
    syntax = load_error(ws, {"type": "SyntaxError", "message": "invalid syntax"})
    assert "syntax error" in syntax.hint


# -- the fingerprint and the cache ----------------------------------------------------------------------


def test_fingerprint_sees_py_files_only_and_skips_virtualenvs_and_caches(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "tasks.py").write_text("x = 1\n")
    before = project_fingerprint(tmp_path)
    for folder in (".venv/lib", "node_modules/x", ".git", "pkg/__pycache__", ".celerydesk", "myenv/lib"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "mod.py").write_text("y = 2\n")
    (tmp_path / "myenv" / "pyvenv.cfg").write_text("home = /usr\n")  # a venv under any name
    (tmp_path / "README.md").write_text("not code\n")
    assert project_fingerprint(tmp_path) == before
    (tmp_path / "pkg" / "other.py").write_text("z = 3\n")
    added = project_fingerprint(tmp_path)
    assert added != before
    os.rename(tmp_path / "pkg" / "other.py", tmp_path / "pkg" / "renamed.py")  # same mtime and size
    assert project_fingerprint(tmp_path) != added
    (tmp_path / "pkg" / "renamed.py").unlink()
    assert project_fingerprint(tmp_path) == before


PLAIN_APP = '''
from celery import Celery

app = Celery("tasks")


@app.task
def multiply(x: int, y: int = 2) -> int:
    """Multiply x by y."""
    return x * y
'''


def test_the_cache_answers_until_a_py_file_changes(tmp_path):
    project = tmp_path / "plain"
    project.mkdir()
    (project / "tasks.py").write_text(PLAIN_APP)
    ws = load_workspace(write_workspace(project, app="tasks", project={"python": sys.executable}))
    first = introspect(ws)
    assert not first.from_cache and [t.name for t in first.user_tasks()] == ["tasks.multiply"]
    assert introspect(ws).from_cache
    (project / "notes.txt").write_text("a file that is not code changes nothing\n")
    assert introspect(ws).from_cache

    with open(project / "tasks.py", "a") as f:
        f.write('\n\n@app.task\ndef added(name: str) -> str:\n    """Say hello."""\n    return name\n')
    stat = (project / "tasks.py").stat()
    os.utime(project / "tasks.py", ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))  # coarse clocks
    refreshed = introspect(ws)
    assert not refreshed.from_cache
    assert [t.name for t in refreshed.user_tasks()] == ["tasks.added", "tasks.multiply"]
    assert refreshed.tasks["tasks.added"].doc == "Say hello."
    assert introspect(ws).from_cache


def test_a_project_that_fails_to_load_is_reported_and_not_cached(tmp_path):
    project = tmp_path / "broken"
    project.mkdir()
    (project / "tasks.py").write_text(PLAIN_APP + "\ndef broken(:\n")
    ws = load_workspace(write_workspace(project, app="tasks", project={"python": sys.executable}))
    with pytest.raises(DeskError) as info:
        introspect(ws)
    assert "SyntaxError" in info.value.message and "def broken(:" in info.value.message
    assert "syntax error" in info.value.hint
    assert not (ws.runtime_dir / "introspection.json").exists()
    (project / "tasks.py").write_text(PLAIN_APP)
    assert [t.name for t in introspect(ws).user_tasks()] == ["tasks.multiply"]


def test_user_prints_while_loading_do_not_corrupt_the_answer(tmp_path):
    project = tmp_path / "chatty"
    project.mkdir()
    (project / "tasks.py").write_text('print("CELERYDESK-INTROSPECT {not json")\nprint("hello")\n' + PLAIN_APP)
    ws = load_workspace(write_workspace(project, app="tasks", project={"python": sys.executable}))
    assert [t.name for t in introspect(ws).user_tasks()] == ["tasks.multiply"]


def test_the_script_source_is_python_39_syntax():
    import ast

    source = Path(script.__file__).read_text()
    ast.parse(source, feature_version=(3, 9))
    assert "celerydesk" not in [line.split()[1].split(".")[0] for line in source.splitlines()
                                if line.startswith(("import ", "from "))]


def test_an_app_name_naming_no_app_says_how_to_name_one(tmp_path):
    project = tmp_path / "noapp"
    project.mkdir()
    (project / "jobs.py").write_text("VALUE = 1\n")
    ws = load_workspace(write_workspace(project, app="jobs", project={"python": sys.executable}))
    with pytest.raises(DeskError) as info:
        introspect(ws)
    assert "has no attribute 'celery'" in info.value.message
    assert "'module:attribute'" in info.value.hint
