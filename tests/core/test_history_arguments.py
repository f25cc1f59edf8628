"""Exact arguments for a retry (core/history/arguments.py), against the reprs celery really makes.

Reprs come from celery's own ``saferepr`` with the limits a worker uses (1,024 characters,
three levels), so a change in how celery cuts them shows here. The rule under test: the
history's JSON first, then the result backend, then a repr only when it is complete and reads
back as JSON values; anything else is refused, with the reason.
"""

from __future__ import annotations

import datetime
import decimal

import pytest
from celery.utils.saferepr import saferepr

from celerydesk.core.errors import DeskError
from celerydesk.core.history.arguments import (Exact, NotExact, backend_records, exact_arguments, from_repr,
                                               json_problem, maybe_inexact)


def celery_repr(value) -> str:
    """What a worker's task-received event carries for ``value`` (args or kwargs)."""
    return saferepr(value, 1024, maxlevels=3)


def row(args, kwargs=None, **fields) -> dict:
    return {"id": "t-1", "name": "shop.tasks.mail", "args": celery_repr(args),
            "kwargs": celery_repr(kwargs or {}), **fields}


@pytest.mark.parametrize("args, kwargs", [
    ((), {}),
    ((1, "two", None, True, 2.5), {"a": [1, {"b": None}]}),
    (("x" * 1019,), {}),  # the longest string argument celery does not cut (its repr is 1,024)
    (["é ✓ \"double\" 'single' quotes\ttab"], {"k": "v"}),
])
def test_a_complete_repr_of_json_values_reads_back_exactly(args, kwargs):
    assert from_repr(celery_repr(args), celery_repr(kwargs)) == (list(args), dict(kwargs))


@pytest.mark.parametrize("args, kwargs, reason", [
    (("x" * 3000,), {}, "celery cut its arguments' repr at 1,024 characters"),
    ((list(range(2000)),), {}, "celery cut its arguments' repr at 1,024 characters"),
    ((), {"body": "y" * 2000}, "celery cut its keyword arguments' repr at 1,024 characters"),
    (([[[[1]]]],), {}, "celery cut it below 3 levels of nesting"),
    ((datetime.datetime(2026, 12, 6, 18, 0),), {}, "is not a literal of JSON values"),
    ((decimal.Decimal("1.50"),), {}, "is not a literal of JSON values"),
    (({1, 2},), {}, "a set is not a JSON value"),
    ((b"bytes",), {}, "a bytes is not a JSON value"),
    ((float("nan"),), {}, "is not a literal"),
    (({1: "int key"},), {}, "keys that are not text"),
    (("a\\nb",), {}, "holds a backslash"),  # celery's repr gives 'a\nb': it would read back as a newline
    (("end\\'s",), {}, "holds a backslash"),
    (("two\nlines",), {}, "is not a literal"),
])
def test_a_cut_or_non_json_repr_is_refused_with_its_reason(args, kwargs, reason):
    with pytest.raises(NotExact) as refused:
        from_repr(celery_repr(args), celery_repr(kwargs))
    assert reason in refused.value.message


def test_a_string_cut_by_celery_still_parses_but_is_refused():
    """The silent bug: ``'xxx...'`` is a valid literal, a shorter string than the one sent."""
    text = celery_repr(("x" * 2000,))
    assert text.endswith("...',)")
    with pytest.raises(NotExact, match="cut"):
        from_repr(text, "{}")


def test_no_repr_at_all_is_refused():
    with pytest.raises(NotExact, match="no event that carries them"):
        from_repr(None, None)


def test_the_first_source_that_has_them_wins():
    asked = []

    def backend(task_id):
        asked.append(task_id)
        return (["from the backend"], {})

    cut = row(("z" * 3000,))
    assert exact_arguments(cut, (["stored"], {"k": 1}), backend) == Exact(["stored"], {"k": 1}, "celerydesk")
    assert asked == []  # the history's JSON: the backend is not even asked
    assert exact_arguments(cut, None, backend) == Exact(["from the backend"], {}, "backend")
    assert exact_arguments(row((1, 2)), None, lambda _id: None) == Exact([1, 2], {}, "repr")
    # JSON the history read from the backend earlier (the row says no celerydesk sender)
    backfilled = row(("z" * 3000,), args_json='["zzz"]', sent_by=None)
    assert exact_arguments(backfilled, (["zzz"], {}), None).source == "history"


def test_a_refusal_names_the_task_the_reason_and_what_to_do():
    def down(_task_id):
        raise DeskError("refused the connection: nothing listens on 127.0.0.1:1")

    with pytest.raises(NotExact) as refused:
        exact_arguments(row(("z" * 3000,)), None, down)
    text = str(refused.value)
    assert "shop.tasks.mail[t-1] cannot be sent again exactly" in text
    assert "cut its arguments' repr at 1,024 characters" in text
    assert "the result backend could not be read (refused the connection" in text
    assert "result_extended = True" in text and "Retry with edited arguments" in text


def test_what_may_be_cut_is_looked_at_without_parsing():
    assert maybe_inexact(celery_repr(("x" * 3000,)), "{}")
    assert maybe_inexact(celery_repr((datetime.datetime(2026, 1, 1),)), "{}")
    assert maybe_inexact("(<object object at 0x7f>,)", "{}")
    assert not maybe_inexact(celery_repr((1, "a")), celery_repr({"k": "v"}))


def test_only_plain_json_from_the_backend_goes_into_the_history():
    found = {"plain": (["a" * 3000], {"n": 1}), "dated": ([datetime.datetime(2026, 1, 1)], {})}
    assert backend_records(found) == [{"id": "plain", "args": ["a" * 3000], "kwargs": {"n": 1}, "via": None}]
    assert json_problem([1, [2, {"x": None}]]) is None and json_problem((1.5,)) is None
