"""Launch forms without Qt: editors from annotations and defaults, parsing with pointed errors,
args/kwargs by parameter kind, and the round trip used by 'edit and run again'."""

from __future__ import annotations

import pytest

from celerydesk.core import task_forms as tf
from celerydesk.core.introspection import TaskInfo


def task(name, *params):
    return TaskInfo.from_dict({"name": name, "params": list(params)})


def p(name, kind="positional_or_keyword", **extra):
    return {"name": name, "kind": kind, **extra}


EVERYTHING = task(
    "proj.tasks.everything",
    p("n", annotation="int"), p("ratio", annotation="float", default=0.5),
    p("flag", annotation="bool", default=False), p("label", annotation="str"),
    p("items", annotation="list[int]"), p("opts", annotation="Optional[dict]", default=None),
    p("count", default=3), p("on", default=True), p("unknown"),
    p("maybe", annotation="int | None", default=None),
)


def specs_by_name(t):
    return {s.name: s for s in tf.field_specs(t)}


def test_editor_kinds_from_annotations_and_defaults():
    kinds = {n: s.editor for n, s in specs_by_name(EVERYTHING).items()}
    assert kinds == {"n": tf.INT, "ratio": tf.FLOAT, "flag": tf.BOOL, "label": tf.STR, "items": tf.JSON,
                     "opts": tf.JSON, "count": tf.INT, "on": tf.BOOL, "unknown": tf.JSON, "maybe": tf.INT}


def test_required_marked_and_defaults_shown():
    specs = specs_by_name(EVERYTHING)
    assert specs["n"].required and specs["n"].label == "n *"
    assert not specs["ratio"].required and specs["ratio"].label == "ratio"
    assert specs["ratio"].default_text == "0.5"
    assert specs["count"].default_text == "3"


def test_tailored_editors_for_the_sample_tasks():
    notify = task("celerydesk.sample.tasks.notify_customers", p("message", annotation="str"),
                  p("delay", annotation="float", default=1.0))
    video = task("celerydesk.sample.tasks.process_video", p("path", annotation="str"),
                 p("chunk_size", annotation="int", default=1048576))
    assert [s.editor for s in tf.field_specs(notify)] == [tf.TEXT, tf.FLOAT]
    assert [s.editor for s in tf.field_specs(video)] == [tf.FILE, tf.INT]


@pytest.mark.parametrize("editor, text, value", [
    (tf.INT, " 42 ", 42), (tf.INT, "-7", -7), (tf.FLOAT, "2.5", 2.5), (tf.FLOAT, "1e3", 1000.0),
    (tf.BOOL, True, True), (tf.BOOL, "false", False), (tf.STR, "hi there", "hi there"),
    (tf.JSON, '{"a": [1, 2]}', {"a": [1, 2]}), (tf.JSON, "null", None),
])
def test_parse_good_values(editor, text, value):
    spec = tf.FieldSpec("x", editor, tf.Param("x", "positional_or_keyword"), True)
    assert tf.parse_field(spec, text) == value


@pytest.mark.parametrize("editor, text, words, column", [
    (tf.INT, "12x", "not a whole number", 3), (tf.INT, "1.5", "not a whole number", 2),
    (tf.FLOAT, "3,5", "not a number", 2), (tf.FLOAT, "nan", "finite", None),
    (tf.BOOL, "maybe", "not true or false", None),
])
def test_parse_bad_values_point_at_the_spot(editor, text, words, column):
    spec = tf.FieldSpec("x", editor, tf.Param("x", "positional_or_keyword"), True)
    with pytest.raises(tf.FieldError) as err:
        tf.parse_field(spec, text)
    assert words in err.value.message and err.value.column == column


def test_json_error_has_line_column_and_caret():
    spec = tf.FieldSpec("items", tf.JSON, tf.Param("items", "positional_or_keyword"), True)
    text = '[\n  1,\n  2 3\n]'
    with pytest.raises(tf.FieldError) as err:
        tf.parse_field(spec, text)
    assert (err.value.line, err.value.column) == (3, 5)
    lines = err.value.message.splitlines()
    assert lines[0].startswith("line 3, column 5: Expecting ','")
    assert lines[1] == "  2 3" and lines[2] == "    ^"
    assert lines[1][lines[2].index("^")] == "3"  # the caret sits under the bad character


def test_empty_fields_required_or_default():
    specs = specs_by_name(EVERYTHING)
    with pytest.raises(tf.FieldError, match="required"):
        tf.parse_field(specs["n"], "  ")
    with pytest.raises(tf.FieldError, match="required"):
        tf.parse_field(specs["label"], "")
    assert tf.parse_field(specs["ratio"], "") is tf.MISSING
    assert tf.parse_field(specs["opts"], "") is tf.MISSING


def test_build_call_uses_keywords_and_leaves_defaults_out():
    tasks = {EVERYTHING.name: EVERYTHING}
    texts = {"n": "1", "flag": True, "label": "x", "items": "[1]", "unknown": '"u"', "ratio": ""}
    args, kwargs = tf.build_call(tasks, EVERYTHING.name, texts)
    assert args == [] and kwargs == {"n": 1, "flag": True, "label": "x", "items": [1], "unknown": "u"}


def test_build_call_refuses_missing_and_bad_values():
    tasks = {EVERYTHING.name: EVERYTHING}
    with pytest.raises(tf.FieldError, match="^n: required"):
        tf.build_call(tasks, EVERYTHING.name, {"label": "x", "items": "[]", "unknown": "1"})
    with pytest.raises(tf.FieldError) as err:
        tf.build_call(tasks, EVERYTHING.name, {"n": "1", "label": "x", "items": "[1,", "unknown": "1"})
    assert err.value.name == "items" and "line 1" in err.value.message


def test_kinds_positional_only_var_args_keyword_only_var_kwargs():
    t = task("t", p("a", "positional_only"), p("b", "positional_only", default=2),
             p("c", default=3), p("rest", "var_positional"), p("k", "keyword_only"), p("kw", "var_keyword"))
    specs = specs_by_name(t)
    assert specs["rest"].label == "*rest" and specs["kw"].label == "**kw" and specs["k"].label == "k *"
    tasks = {"t": t}
    # *rest empty: b left out (its default), c by keyword
    assert tf.build_call(tasks, "t", {"a": "1", "c": "5", "k": '"x"'}) == ([1], {"c": 5, "k": "x"})
    # *rest given: everything before it goes by position, gaps filled with their defaults
    assert tf.build_call(tasks, "t", {"a": "1", "rest": "[9, 8]", "k": "0", "kw": '{"z": 1}'}) == \
        ([1, 2, 3, 9, 8], {"k": 0, "z": 1})
    with pytest.raises(tf.FieldError, match="JSON array"):
        tf.build_call(tasks, "t", {"a": "1", "rest": '{"x": 1}', "k": "0"})
    with pytest.raises(tf.CallError, match="repeats 'k'"):
        tf.build_call(tasks, "t", {"a": "1", "k": "0", "kw": '{"k": 1}'})


def test_gap_before_a_positional_only_without_default_is_refused():
    t = task("t", p("a", "positional_only", default="<object>", default_is_repr=True), p("b", "positional_only"))
    with pytest.raises(tf.CallError, match="'a' must be given"):
        tf.assemble_call(t, {"a": tf.MISSING, "b": 1})


def test_unreadable_default_is_shown_but_not_guessed():
    t = task("t", p("when", default="datetime.date(2020, 1, 1)", default_is_repr=True))
    spec = tf.field_specs(t)[0]
    assert spec.editor == tf.JSON and spec.default_text == "datetime.date(2020, 1, 1)" and not spec.required


def test_values_round_trip_for_edit_again():
    t = task("t", p("a", "positional_only"), p("b", annotation="float"), p("rest", "var_positional"),
             p("k", "keyword_only", annotation="bool", default=False), p("kw", "var_keyword"))
    values = {"a": 1, "b": 2.0, "rest": [7], "k": True, "kw": {"z": [1]}}
    args, kwargs = tf.assemble_call(t, values)
    assert tf.values_from_call(t, args, kwargs) == values
    texts = {s.name: tf.format_value(s.editor, values[s.name]) for s in tf.field_specs(t)}
    assert texts == {"a": "1", "b": "2.0", "rest": "[7]", "k": "true", "kw": '{"z": [1]}'}
    assert tf.build_call({"t": t}, "t", texts) == (args, kwargs)
