"""``[environment]`` and watch-only workspaces (core/workspace.py, core/environment.py), and
``[broker] ssh``: what is watch-only, read_only's default, each bad value named with what to
write instead, and the Settings-style editor keeping comments when it sets them."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from celerydesk.core.errors import WorkspaceError
from celerydesk.core.workspace import load_workspace
from celerydesk.core.workspace_edit import WorkspaceDocument

WATCH = """\
[project]
app = "proj"

[broker]
mode = "external"
url = "redis://10.0.0.5:6379/0"

[beat]
enabled = false

[flower]
enabled = false
"""


def write(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "celerydesk.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems(folder: Path, text: str) -> list[str]:
    with pytest.raises(WorkspaceError) as info:
        load_workspace(write(folder, text))
    return info.value.problems


def test_an_external_broker_with_no_workers_beat_or_flower_is_watch_only_and_read_only(tmp_path):
    ws = load_workspace(write(tmp_path / "shop", WATCH))
    assert ws.watch_only and ws.workers == []
    assert ws.environment.read_only is True
    assert ws.environment_name == "shop"  # the folder's name when [environment] has none
    assert ws.environment.color is None


@pytest.mark.parametrize("change", [
    ("[beat]\nenabled = false", "[beat]\nenabled = true"),  # beat on: celerydesk runs it
    ("[flower]\nenabled = false", "[flower]\nenabled = true"),
    ('mode = "external"\nurl = "redis://10.0.0.5:6379/0"', 'mode = "local"'),
    ("[beat]", '[[workers]]\nname = "main"\n\n[beat]'),
])
def test_anything_celerydesk_runs_makes_it_an_ordinary_workspace_not_read_only_by_default(tmp_path, change):
    ws = load_workspace(write(tmp_path, WATCH.replace(*change)))
    assert not ws.watch_only
    assert ws.workers  # a missing [[workers]] still means the default worker there
    assert ws.environment.read_only is False


def test_environment_keys_are_read_and_the_colour_normalised(tmp_path):
    ws = load_workspace(write(tmp_path, '[environment]\nname = "production"\ncolor = "#C03"\nread_only = false\n\n'
                              + WATCH))
    assert ws.environment_name == "production"
    assert ws.environment.color == "#cc0033"
    assert ws.environment.read_only is False  # said explicitly: even a watch-only one can be writable
    named = load_workspace(write(tmp_path / "b", '[environment]\ncolor = "orange"\nread_only = true\n\n'
                                 + WATCH.replace("[beat]\nenabled = false", "[beat]\nenabled = true")))
    assert named.environment.color == "#d35400" and named.environment.read_only is True


@pytest.mark.parametrize("table, key, says", [
    ('color = "reddish"', "[environment] color", "is not a colour; give #rrggbb"),
    ('color = "#12345"', "[environment] color", "is not a colour"),
    ("color = 3", "[environment] color", "expected a string"),
    ('name = "  "', "[environment] name", "must not be empty"),
    (f'name = "{"x" * 41}"', "[environment] name", "keep it to 40"),
    ('read_only = "yes"', "[environment] read_only", "expected true or false"),
])
def test_bad_environment_values_are_named_with_what_to_write(tmp_path, table, key, says):
    found = problems(tmp_path, f"[environment]\n{table}\n\n" + WATCH)
    assert len(found) == 1 and found[0].startswith(key) and says in found[0], found


def test_environment_must_be_a_table_and_unknown_keys_warn(tmp_path):
    assert problems(tmp_path / "a", 'environment = "prod"\n' + WATCH) == ["[environment]: must be a table"]
    ws = load_workspace(write(tmp_path / "b", '[environment]\ncolour = "red"\n\n' + WATCH))
    assert any(w.startswith("[environment] colour: unknown key") for w in ws.warnings)


@pytest.mark.parametrize("ssh, says", [
    ('"-oProxyCommand=touch /tmp/x"', "is not an ssh destination"),  # never an option in ssh's argv
    ('"ops@bastion extra"', "is not an ssh destination"),
    ('"ops@bastion:2222"', "give a port as ssh://ops@bastion:2222"),
])
def test_bad_ssh_destinations_are_refused(tmp_path, ssh, says):
    found = problems(tmp_path, WATCH.replace('url = "redis://10.0.0.5:6379/0"',
                                             f'url = "redis://10.0.0.5:6379/0"\nssh = {ssh}'))
    assert len(found) == 1 and found[0].startswith("[broker] ssh:") and says in found[0], found


def test_ssh_is_for_an_external_broker_and_its_config_file_must_exist(tmp_path):
    found = problems(tmp_path / "a", '[project]\napp = "proj"\n[broker]\nmode = "local"\nssh = "ops@bastion"\n')
    assert found == ['[broker] ssh: only for an external broker (mode = "external"): the broker celerydesk runs '
                     "is on this machine"]
    found = problems(tmp_path / "b", WATCH.replace('mode = "external"', 'mode = "external"\nssh = "bastion"\n'
                                                   'ssh_config = "missing_config"'))
    assert len(found) == 1 and "missing_config is not a file" in found[0]
    ok = load_workspace(write(tmp_path / "c", WATCH.replace('mode = "external"',
                                                            'mode = "external"\nssh = "ssh://ops@bastion:2222"')))
    assert ok.broker.ssh == "ssh://ops@bastion:2222"


def test_the_editor_sets_environment_keys_keeping_comments(tmp_path):
    path = write(tmp_path, "# staging: watched only\n" + WATCH.replace("[beat]", "# beat runs there, not here\n[beat]"))
    doc = WorkspaceDocument.load(path)
    doc.set(("environment", "name"), "staging")
    doc.set(("environment", "color"), "#2980b9")
    doc.set(("environment", "read_only"), True)
    ws = doc.save()
    text = path.read_text()
    assert "# staging: watched only" in text and "# beat runs there, not here" in text
    assert ws.environment_name == "staging" and ws.environment.color == "#2980b9"
    assert text.index("[environment]") < text.index("[project]")
    doc.set(("environment", "color"), "not a colour")
    with pytest.raises(WorkspaceError, match="is not a colour"):
        doc.save()
    assert "not a colour" not in path.read_text()  # nothing written
