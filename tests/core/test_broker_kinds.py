"""``[broker] kind``: what the workspace file says (and refuses), the URL each kind's processes get,
where RabbitMQ's management API is, and the local RabbitMQ's command and files (no node runs
here: tests/services/test_local_rabbitmq.py starts one)."""

from __future__ import annotations

import os
import stat

import pytest

from celerydesk.core import brokers
from celerydesk.core.errors import WorkspaceError
from celerydesk.core.local_rabbitmq import local_rabbitmq_spec, node_name, write_node_files
from celerydesk.core.urls import shown_url
from celerydesk.core.workspace import load_workspace


def workspace(tmp_path, broker: str, flower: str = ""):
    path = tmp_path / "celerydesk.toml"
    path.write_text(f'[project]\napp = "proj"\n\n[broker]\n{broker}\n' + (f"\n[flower]\n{flower}\n" if flower else ""))
    return load_workspace(path)


def problems(tmp_path, broker: str, flower: str = "") -> list[str]:
    with pytest.raises(WorkspaceError) as refused:
        workspace(tmp_path, broker, flower)
    return refused.value.problems


def test_redis_stays_the_default_with_its_port_and_image(tmp_path):
    ws = workspace(tmp_path, 'mode = "local"')
    assert (ws.broker.kind, ws.broker.port, ws.broker.image) == ("redis", 6379, "redis:7-alpine")
    assert ws.broker_url() == "redis://127.0.0.1:6379/0" and ws.management_api() is None


def test_rabbitmq_has_its_own_port_image_url_and_management_api(tmp_path):
    ws = workspace(tmp_path, 'mode = "docker"\nkind = "rabbitmq"')
    assert (ws.broker.port, ws.broker.image, ws.broker.management_port) == (5672, "rabbitmq:3-management", 15672)
    assert ws.broker_url() == "amqp://guest:guest@127.0.0.1:5672//"
    api = ws.management_api()
    assert (api.base, api.user, api.password, api.explicit) == ("http://127.0.0.1:15672", "guest", "guest", True)
    assert api.flower_url() == "http://guest:guest@127.0.0.1:15672/api/"
    assert workspace(tmp_path, 'mode = "local"\nkind = "rabbitmq"\nmanagement = false').management_api() is None


def test_a_generated_password_makes_a_user_of_its_own(tmp_path):
    ws = workspace(tmp_path, 'mode = "local"\nkind = "rabbitmq"\npassword = "generate"')
    password = ws.broker_password()
    assert ws.broker_url().startswith("amqp://celerydesk:") and password in ws.broker_url()
    assert shown_url(ws.broker_url()) == "amqp://celerydesk:***@127.0.0.1:5672//"
    assert ws.management_api().user == "celerydesk" and ws.management_api().password == password


def test_an_external_broker_s_kind_is_its_url_s(tmp_path):
    ws = workspace(tmp_path, 'mode = "external"\nurl = "amqps://app:s3cret@rabbit.internal:5671/shop"')
    assert ws.broker.kind == "rabbitmq" and ws.broker.label == "RabbitMQ"
    guess = ws.management_api()  # not given: looked for on the broker's host, with the URL's user
    assert (guess.base, guess.user, guess.password, guess.explicit) == \
        ("https://rabbit.internal:15671", "app", "s3cret", False)
    ws = workspace(tmp_path, 'mode = "external"\nurl = "amqp://app:s3cret@rabbit//"\n'
                             'management_url = "http://ops:pw@rabbit-admin:15672/api/"')
    api = ws.management_api()
    assert (api.base, api.user, api.password, api.explicit) == ("http://rabbit-admin:15672", "ops", "pw", True)
    assert workspace(tmp_path, 'mode = "external"\nurl = "redis://h:6379/0"').broker.kind == "redis"
    assert workspace(tmp_path, 'mode = "external"\nurl = "memory://"').broker.label == "memory"


@pytest.mark.parametrize("broker, flower, words", [
    ('kind = "kafka"', "", "[broker] kind: 'kafka' is not one of redis, rabbitmq"),
    ('mode = "external"\nkind = "redis"\nurl = "amqp://u:hidden@h//"', "",
     "[broker] kind: 'redis', but the url 'amqp://u:***@h//' is a RabbitMQ URL"),
    ('mode = "local"\nmanagement_url = "http://h:15672"', "", "[broker] management_url: only for an external RabbitMQ"),
    ('mode = "external"\nurl = "amqp://h//"\nmanagement_url = "ftp://h"', "", "is not an http:// or https:// URL"),
    ('mode = "local"\nkind = "rabbitmq"\nport = 7000\nmanagement_port = 7000', "",
     "[broker] management_port: 7000 is also the broker's port"),
    ('mode = "local"\nkind = "rabbitmq"', "enabled = true\nport = 15672",
     "[flower] port: 15672 is also the port of RabbitMQ's management API"),
])
def test_what_is_refused_names_its_key(tmp_path, broker, flower, words):
    found = problems(tmp_path, broker, flower)
    assert any(words in p for p in found), found
    assert not any("hidden" in p for p in found)


def test_the_local_node_is_the_workspace_s_own_and_listens_on_loopback(tmp_path):
    ws = workspace(tmp_path, 'mode = "local"\nkind = "rabbitmq"\nport = 5800\nmanagement_port = 5801\n'
                             'password = "generate"')
    folder = ws.runtime_dir / "rabbitmq"
    write_node_files(ws, folder)
    spec = local_rabbitmq_spec(ws, folder, dist_port=5802, epmd_port=5803)
    password = ws.broker_password()
    assert not any(password in part for part in spec.argv)  # `ps` shows argv to everyone
    assert spec.argv[-1].endswith("/sbin/rabbitmq-server") and spec.argv[-2].endswith("epmd")
    env = spec.env
    assert env["RABBITMQ_NODENAME"] == node_name(ws) and env["RABBITMQ_NODE_IP_ADDRESS"] == "127.0.0.1"
    assert (env["RABBITMQ_NODE_PORT"], env["RABBITMQ_DIST_PORT"], env["ERL_EPMD_PORT"]) == ("5800", "5802", "5803")
    assert "-start_epmd false" in env["RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS"]
    assert "inet_dist_use_interface {127,0,0,1}" in env["RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS"]
    assert all(env[k].startswith(str(folder)) for k in ("HOME", "RABBITMQ_MNESIA_BASE", "RABBITMQ_LOG_BASE",
                                                        "RABBITMQ_CONFIG_FILE", "RABBITMQ_ENABLED_PLUGINS_FILE"))
    config = (folder / "rabbitmq.conf").read_text()
    assert "management.tcp.ip = 127.0.0.1" in config and "management.tcp.port = 5801" in config
    assert f"default_pass = {password}" in config
    assert stat.S_IMODE(os.stat(folder / "rabbitmq.conf").st_mode) == 0o600
    assert (folder / "enabled_plugins").read_text() == "[rabbitmq_management].\n"
    (tmp_path / "other").mkdir()
    assert node_name(ws) != node_name(workspace(tmp_path / "other", 'mode = "local"\nkind = "rabbitmq"'))


def test_a_new_password_gets_a_new_database_the_old_one_kept_aside(tmp_path):
    """RabbitMQ makes its users with its database: one made with another password would refuse."""
    ws = workspace(tmp_path, 'mode = "local"\nkind = "rabbitmq"\npassword = "generate"')
    folder = ws.runtime_dir / "rabbitmq"
    write_node_files(ws, folder)
    (folder / "mnesia" / "queued-messages").write_text("kept")
    write_node_files(ws, folder)  # the same password: the same database
    assert (folder / "mnesia" / "queued-messages").exists()
    (ws.runtime_dir / "broker-password").unlink()
    ws = workspace(tmp_path, 'mode = "local"\nkind = "rabbitmq"\npassword = "generate"')
    write_node_files(ws, folder)
    assert not (folder / "mnesia" / "queued-messages").exists()
    [aside] = folder.glob("mnesia.replaced-*")
    assert (aside / "queued-messages").read_text() == "kept"


def test_kinds_of_urls():
    assert brokers.kind_of_url("rediss://h/0") == "redis" and brokers.kind_of_url("pyamqp://h//") == "rabbitmq"
    assert brokers.kind_of_url("sqs://") is None and brokers.kind_of_url(None) is None
