"""core/limits.py: every number finite and within its named range; JSON from users bounded.

Covered: out_of_bounds for NaN, infinity, below, above, wrong types; number_option's DeskError
naming the option and range (with a hint) for text, NaN, inf and out-of-range values;
load_json refusing NaN/Infinity and nesting beyond MAX_JSON_DEPTH (5,000 levels included, which
make Python's own reader raise RecursionError), keeping JSONDecodeError's position.
"""

from __future__ import annotations

import json

import pytest

from celerydesk.core.errors import DeskError
from celerydesk.core.limits import (COUNTDOWN, EVERY, MAX_JSON_DEPTH, STOP_TIMEOUT, WAIT, Bounds, json_depth,
                                    load_json, number_option, out_of_bounds)


@pytest.mark.parametrize("value, words", [
    (float("nan"), "finite number from 0 to 3600 seconds, got nan"),
    (float("inf"), "finite number"),
    (-1, "from 0 to 3600 seconds, got -1"),
    (3_000_000.0, "got 3000000"),
    ("10", "expected a number"),
    (True, "expected a number"),
])
def test_out_of_bounds_says_the_range(value, words):
    problem = out_of_bounds(value, STOP_TIMEOUT)
    assert problem is not None and words in problem


@pytest.mark.parametrize("value", [0, 0.0, 20, 3600])
def test_in_bounds(value):
    assert out_of_bounds(value, STOP_TIMEOUT) is None


def test_ranges_read_as_people_write_them():
    assert EVERY.text() == "from 0.001 to 31536000 seconds"
    assert Bounds(1, 65535).text() == "from 1 to 65535"


@pytest.mark.parametrize("text", ["inf", "nan", "-inf", "1e12", "-5", "abc", "", "1e400"])
def test_number_option_refuses_with_the_option_and_range(text):
    with pytest.raises(DeskError) as info:
        number_option(text, "--countdown", COUNTDOWN)
    assert info.value.message.startswith("--countdown: ")
    assert info.value.hint == "give a number from 0 to 31536000 seconds"


def test_number_option_reads_a_number():
    assert number_option("2.5", "--wait", WAIT) == 2.5


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 1000, 5000])
def test_nesting_beyond_the_limit_is_refused(depth):
    with pytest.raises(ValueError, match=f"nested deeper than {MAX_JSON_DEPTH} levels"):
        load_json("[" * depth + "]" * depth)


def test_nesting_up_to_the_limit_is_read():
    text = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    assert json_depth(load_json(text)) == MAX_JSON_DEPTH


@pytest.mark.parametrize("text", ["[NaN]", "{\"a\": Infinity}", "-Infinity"])
def test_nan_and_infinity_are_not_json(text):
    with pytest.raises(ValueError, match="is not JSON"):
        load_json(text)


def test_a_syntax_error_keeps_its_position():
    with pytest.raises(json.JSONDecodeError) as info:
        load_json("[1, oops]")
    assert info.value.colno == 5


def test_json_depth():
    assert json_depth(1) == 0 and json_depth([]) == 1 and json_depth({"a": [1, {"b": []}]}) == 4
