"""``[broker] ssh`` (core/ssh_tunnel.py) through a real, private sshd on loopback to a real
redis-server: the tunnel opens and the broker answers at its local end; the URL's password never
reaches ssh's argv; a key that is refused, or a bastion that does not answer, fails with ssh's
own reason summarised and what to check; an ssh that dies is started again; and the CLI goes
through the tunnel (and says so when it fails, exit 2)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import redis as redis_py

from celerydesk.core.errors import DeskError
from celerydesk.core.ports import free_port
from celerydesk.core.ssh_tunnel import SshTunnel
from tests.helpers.remote_stack import write_watch_workspace

REPO = Path(__file__).resolve().parents[2]


def test_the_broker_answers_at_the_local_end_of_the_tunnel(bastion, redis_url):
    port = redis_url.rsplit(":", 1)[1].split("/")[0]
    url = f"redis://:s3cret-pw@127.0.0.1:{port}/0"
    tunnel = SshTunnel(url, "bastion", bastion.ssh_config)
    argv = tunnel.argv()
    assert "BatchMode=yes" in argv and "ExitOnForwardFailure=yes" in argv
    assert argv[argv.index("-L") + 1] == f"127.0.0.1:{tunnel.local_port}:127.0.0.1:{port}"
    assert argv[-2:] == ["--", "bastion"] and not any("s3cret" in a for a in argv)
    assert tunnel.local_url == f"redis://:s3cret-pw@127.0.0.1:{tunnel.local_port}/0"
    with tunnel:
        client = redis_py.Redis(port=tunnel.local_port, socket_timeout=5)
        try:
            client.set("through-the-tunnel", "yes")
            assert redis_py.Redis.from_url(redis_url).get("through-the-tunnel") == b"yes"
        finally:
            client.close()
    assert not tunnel.running


def test_a_refused_key_fails_with_what_ssh_said(bastion, redis_url):
    tunnel = SshTunnel(redis_url, "nobody-here@bastion", bastion.ssh_config)
    with pytest.raises(DeskError) as info:
        tunnel.open(timeout=20)
    message = info.value.message
    assert message.startswith(f"the ssh tunnel to 127.0.0.1:{redis_url.rsplit(':', 1)[1].split('/')[0]} "
                              "through nobody-here@bastion failed: ssh exited with code 255")
    assert "Permission denied (publickey)" in message
    assert "logs in without a password" in info.value.hint and str(bastion.ssh_config) in info.value.hint
    assert not tunnel.running


def test_a_bastion_that_does_not_answer_fails_with_the_reason(tmp_path, redis_url):
    config = tmp_path / "ssh_config"
    config.write_text(f"Host gone\n  HostName 127.0.0.1\n  Port {free_port()}\n")
    with pytest.raises(DeskError, match="Connection refused"):
        SshTunnel(redis_url, "gone", config).open(timeout=20)


def test_an_ssh_that_dies_is_started_again_on_the_same_local_port(bastion, redis_url):
    with SshTunnel(redis_url, "bastion", bastion.ssh_config) as tunnel:
        port = tunnel.local_port
        os.kill(tunnel._process.pid, signal.SIGKILL)
        tunnel._process.wait()
        assert not tunnel.running
        assert tunnel.ensure() is None and tunnel.running and tunnel.restarts == 1
        assert tunnel.local_port == port
        assert redis_py.Redis(port=port, socket_timeout=5).ping()


def test_the_cli_reaches_the_broker_through_the_tunnel_and_says_why_when_it_cannot(bastion, redis_url, tmp_path):
    from celerydesk.core.broker_client import BrokerClient, SendOptions

    with BrokerClient(redis_url) as client:
        client.send("celerydesk.sample.tasks.add", [1, 2], options=SendOptions(queue="tunnelled"))
    path = write_watch_workspace(tmp_path / "via", redis_url, broker={"ssh": "bastion",
                                                                     "ssh_config": str(bastion.ssh_config)})
    out = subprocess.run([sys.executable, "-m", "celerydesk", "queues", "-w", str(path), "--json"],
                         capture_output=True, text=True, timeout=60, cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert {"name": "tunnelled", "messages": 1}.items() <= next(
        q for q in json.loads(out.stdout) if q["name"] == "tunnelled").items()
    bad = write_watch_workspace(tmp_path / "bad", redis_url, broker={"ssh": "intruder@bastion",
                                                                    "ssh_config": str(bastion.ssh_config)})
    out = subprocess.run([sys.executable, "-m", "celerydesk", "queues", "-w", str(bad)],
                         capture_output=True, text=True, timeout=60, cwd=REPO)
    assert out.returncode == 2
    assert out.stderr.startswith("celerydesk: the ssh tunnel to ") and "Permission denied (publickey)" in out.stderr
    assert "Traceback" not in out.stderr
