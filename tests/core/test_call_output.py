"""How `celerydesk call --wait` prints a result from its task-succeeded event (a repr)."""

from celerydesk.cli.task_wait import readable_result


def test_a_string_result_prints_without_quotes_or_escapes():
    assert readable_result(repr("Sent 'Hello' to 10000 customers")) == "Sent 'Hello' to 10000 customers"


def test_other_results_print_as_they_came():
    assert readable_result("42") == "42"
    assert readable_result("{'sha256': 'ab', 'bytes': 3}") == "{'sha256': 'ab', 'bytes': 3}"
    assert readable_result("<object at 0x7f>") == "<object at 0x7f>"  # not a literal: as it came
    assert readable_result(None) == "None"


def test_nothing_is_executed():
    assert readable_result("__import__('os').system('false')") == "__import__('os').system('false')"
