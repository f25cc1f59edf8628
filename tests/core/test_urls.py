"""core/urls.py: every URL celerydesk shows is masked, also when its password was not
percent-encoded (a URL parser would cut it at '#', '/' or '?' and show the rest); a URL whose
password holds such a character raw is explained, never quoted back."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

import pytest

from celerydesk.core.urls import has_password, masked, shown_argv, shown_url, url_form_problem, with_password


def test_a_broker_password_is_not_shown():
    assert shown_url("redis://:s3cret@10.0.0.5:6379/0") == "redis://:***@10.0.0.5:6379/0"
    assert shown_url("amqp://guest:guest@rabbit:5672//") == "amqp://guest:***@rabbit:5672//"
    assert shown_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
    assert shown_url("amqp://guest@rabbit//") == "amqp://guest@rabbit//"  # a user alone is no secret


@pytest.mark.parametrize("password", ["pa#ss", "p/w", "p?w", "p@w", "a#b/c?d@e", "s3cr%23t", "x:y"])
def test_a_raw_reserved_character_does_not_let_the_password_through(password):
    url = f"redis://:{password}@host:6379/0"
    shown = shown_url(url)
    assert shown == "redis://:***@host:6379/0"
    assert password not in shown


def test_every_url_in_a_text_is_masked():
    text = "error at 'redis://:one@h:1/0', then amqp://u:two@h2// and redis://h3:6379/0 ok"
    assert masked(text) == "error at 'redis://:***@h:1/0', then amqp://u:***@h2// and redis://h3:6379/0 ok"
    assert shown_argv(["celery", "-b", "redis://:three@h:1/0", "worker"]) == "celery -b redis://:***@h:1/0 worker"


def test_has_password():
    assert has_password("redis://:pw@h:1/0") and has_password("amqp://u:pw@h//")
    assert not has_password("redis://h:1/0") and not has_password(None) and not has_password("amqp://u@h//")


@pytest.mark.parametrize("password", ["plain", "a/b#c?d@e f%g:h"])
def test_with_password_percent_encodes_it_so_parsers_read_it_back(password):
    url = with_password("redis://127.0.0.1:6390/0", password)
    parts = urlsplit(url)
    assert unquote(parts.password) == password and parts.hostname == "127.0.0.1" and parts.port == 6390
    assert url_form_problem(url) is None


@pytest.mark.parametrize("url, words", [
    ("redis://:pa#ss@host:6379/0", "'#' as %23"),
    ("redis://:p/w?x@host:6379/0", "'/' as %2F, '?' as %3F"),
    ("redis://u:p@w@host:6379/0", "'@' as %40"),
    ("redis://:pw@host:63a9/0", "port is not a number"),
])
def test_a_misread_url_is_explained_without_its_password(url, words):
    problem = url_form_problem(url)
    assert problem is not None and words in problem
    assert "pa#ss" not in problem and "p/w" not in problem


@pytest.mark.parametrize("url", ["redis://:p%23ss@host:6379/0", "redis://host:6379/0", "amqp://guest:guest@h:5672//",
                                 "sqs://", "memory://"])
def test_a_well_formed_url_has_no_problem(url):
    assert url_form_problem(url) is None
