"""core/urls.py: a broker URL is shown (window, command line) without its password."""

from __future__ import annotations

from celerydesk.core.urls import shown_url


def test_a_broker_password_is_not_shown():
    assert shown_url("redis://:s3cret@10.0.0.5:6379/0") == "redis://:***@10.0.0.5:6379/0"
    assert shown_url("amqp://guest:guest@rabbit:5672//") == "amqp://guest:***@rabbit:5672//"
    assert shown_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
