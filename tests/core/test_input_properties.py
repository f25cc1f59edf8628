"""Property tests: no input to the workspace loader, the schedule CLI or `call`'s argument
parsing makes a traceback escape; every refusal is a DeskError with a hint, and a refused
schedule edit leaves the file as it was.

Inputs are built from the shapes users write (the workspace's real keys, numbers including NaN,
infinities and huge values, nested arrays, text with any characters), plus arbitrary bytes for
the file as a whole.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from celerydesk.cli import call_cmd, schedules_cmd
from celerydesk.cli.main import build_parser
from celerydesk.core import limits
from celerydesk.core.errors import DeskError, WorkspaceError
from celerydesk.core.workspace import Workspace, load_workspace, parse_workspace

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

numbers = st.one_of(st.integers(min_value=-2**70, max_value=2**70), st.floats(allow_nan=True, allow_infinity=True))
text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
scalars = st.one_of(numbers, text, st.booleans())
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(text, inner, max_size=4)), max_leaves=12)


def table(keys: list[str]) -> st.SearchStrategy:
    """A TOML table with some of ``keys`` (and now and then an unknown one), each of any value."""
    return st.dictionaries(st.one_of(st.sampled_from(keys), text), values, max_size=len(keys) + 1)


WORKSPACES = st.fixed_dictionaries({}, optional={
    "project": table(["app", "workdir", "python", "env", "nice"]),
    "broker": table(["mode", "port", "image", "url", "password"]),
    "workers": st.one_of(st.lists(table(["name", "concurrency", "queues", "pool", "loglevel", "stop_timeout",
                                         "extra_args"]), max_size=3), values),
    "beat": table(["enabled", "loglevel"]),
    "flower": table(["enabled", "port"]),
    "supervision": table(["max_crashes", "crash_window"]),
    "schedules": st.one_of(st.lists(table(["name", "task", "cron", "every", "args", "kwargs", "enabled",
                                           "queue"]), max_size=3), values),
})


def assert_refused_well(error: DeskError) -> None:
    assert error.message.strip(), "a refusal says what is wrong"
    assert error.hint.strip(), f"a refusal says what to do: {error.message!r}"


@SETTINGS
@given(data=WORKSPACES)
@example(data={"project": {"app": ""}})
@example(data={"project": {"app": "shop"}, "workers": [{"stop_timeout": math.inf}]})
@example(data={"project": {"app": "shop"}, "schedules": [{"name": "s", "task": "t", "every": math.nan}]})
@example(data={"project": {"app": "shop"}, "broker": {"mode": "external", "url": "redis://:a#b@h:1/0"}})
def test_the_loader_accepts_or_refuses_with_a_hint(tmp_path, data):
    try:
        ws = parse_workspace(data, tmp_path / "celerydesk.toml")
    except WorkspaceError as error:
        assert_refused_well(error)
        return
    assert isinstance(ws, Workspace)
    for worker in ws.workers:  # what it accepts is finite and within its range
        assert limits.CONCURRENCY[worker.pool].allows(worker.concurrency)
        assert limits.STOP_TIMEOUT.allows(worker.stop_timeout)
    for schedule in ws.schedules:
        assert schedule.every is None or limits.EVERY.allows(schedule.every)
    assert limits.CRASH_WINDOW.allows(ws.supervision.crash_window)


@SETTINGS
@given(content=st.binary(max_size=200) | text.map(lambda t: t.encode("utf-8")))
@example(content=b'[project]\napp = "caf\xe9"\n')
@example(content=b"[project]\napp = 'x'\n[[schedules]]\nargs = " + b"[" * 5000 + b"]" * 5000)
def test_any_file_loads_or_is_refused_with_a_hint(tmp_path, content):
    path = tmp_path / "celerydesk.toml"
    path.write_bytes(content)
    try:
        load_workspace(path)
    except WorkspaceError as error:
        assert_refused_well(error)


# -- the schedule CLI ---------------------------------------------------------------------------------

EVERY_TEXT = st.one_of(text, numbers.map(str), st.sampled_from(["inf", "-inf", "nan", "0", "1e400", "15m", "1h30m",
                                                                "2d", "0.0001", "1e308"]))
CRON_TEXT = st.one_of(text, st.sampled_from(["* * * * *", "0 25 * * *", "*/61 * * * *", "30 7 * * mar", ""]))
JSON_TEXT = st.one_of(text, values.map(lambda v: repr(v).replace("'", '"')),
                      st.integers(0, 6000).map(lambda n: "[" * n + "]" * n))


@pytest.fixture(scope="module")
def schedule_workspace(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("schedules")
    path = folder / "celerydesk.toml"
    path.write_text('[project]\napp = "shop"\n\n[[schedules]]\nname = "old"\ntask = "shop.tasks.a"\nevery = 60\n')
    return path


@SETTINGS
@given(name=text, task=text, every=EVERY_TEXT, cron=CRON_TEXT, use_cron=st.booleans(), args=JSON_TEXT,
       kwargs=JSON_TEXT)
@example(name="s", task="shop.tasks.a", every="inf", cron="", use_cron=False, args="[]", kwargs="{}")
@example(name="-:", task="", every="", cron="", use_cron=False, args="", kwargs="")
@example(name="s", task="shop.tasks.a", every="0", cron="", use_cron=False, args="[]", kwargs="{}")
@example(name="s", task="shop.tasks.a", every="60", cron="", use_cron=False, args="[" * 5000 + "]" * 5000,
         kwargs="{}")
def test_schedules_add_saves_or_refuses_with_a_hint_and_leaves_the_file(schedule_workspace, name, task, every, cron,
                                                                          use_cron, args, kwargs):
    before = schedule_workspace.read_bytes()
    # The name last, after "--": a name starting with "-" is one, as a user would type it.
    argv = ["schedules", "add", "-w", str(schedule_workspace), f"--task={task}",
            f"--cron={cron}" if use_cron else f"--every={every}", f"--args={args}", f"--kwargs={kwargs}", "--", name]
    parsed = build_parser(only="schedules").parse_args(argv)
    try:
        assert schedules_cmd.run(parsed) == 0
    except DeskError as error:
        assert_refused_well(error)
        assert schedule_workspace.read_bytes() == before, "a refused edit leaves the file as it was"
    finally:
        schedule_workspace.write_bytes(before)


# -- call's arguments -----------------------------------------------------------------------------------


@SETTINGS
@given(args=JSON_TEXT, kwargs=JSON_TEXT)
@example(args="[" * 5000 + "]" * 5000, kwargs="{}")
@example(args="[NaN]", kwargs="{}")
def test_call_arguments_parse_or_are_refused_with_a_hint(args, kwargs):
    for value, option, expected in ((args, "--args", list), (kwargs, "--kwargs", dict)):
        try:
            parsed = call_cmd.parse_json_arg(value, option, expected)
        except DeskError as error:
            assert_refused_well(error)
        else:
            assert isinstance(parsed, expected) and limits.json_depth(parsed) <= limits.MAX_JSON_DEPTH


@SETTINGS
@given(countdown=st.one_of(text, numbers.map(str)), wait=st.one_of(text, numbers.map(str)))
@example(countdown="inf", wait="60")
@example(countdown="1e12", wait="-5")
def test_call_numbers_are_checked_before_anything_is_sent(tmp_path, countdown, wait):
    """`call` with any --countdown and --wait, on a workspace whose broker does not run: a DeskError,
    either for the number (before the broker is asked) or for the broker (the numbers passed)."""
    path = tmp_path / "celerydesk.toml"
    if not path.exists():
        path.write_text('[project]\napp = "shop"\n[broker]\nmode = "local"\nport = 9\n')
    parsed = build_parser(only="call").parse_args(
        ["call", "shop.tasks.a", "-w", str(path), f"--countdown={countdown}", f"--wait={wait}"])
    with pytest.raises(DeskError) as info:
        call_cmd.run(parsed)
    assert_refused_well(info.value)
    numbers_ok = all(_number_ok(text_value, bounds) for text_value, bounds in
                     ((countdown, limits.COUNTDOWN), (wait, limits.WAIT)))
    assert ("the broker at" in info.value.message) == numbers_ok


def _number_ok(value: str, bounds: limits.Bounds) -> bool:
    try:
        return bounds.allows(float(value))
    except ValueError:
        return False

