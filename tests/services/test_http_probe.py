"""Flower's readiness probe (``probes.http_ok``) against real HTTP servers on loopback."""

from __future__ import annotations

import http.server
import threading

import pytest

from celerydesk.core.ports import free_port
from celerydesk.services.probes import http_ok


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        code = {"/healthcheck": 200, "/private": 401}.get(self.path.split("?")[0], 404)
        self.send_response(code)
        self.end_headers()
        self.wfile.write(b"OK" if code == 200 else b"no")

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def test_only_a_200_counts_as_ready(server):
    assert http_ok(f"{server}/healthcheck")
    assert http_ok(f"{server}/healthcheck?x=1")
    assert not http_ok(f"{server}/private")
    assert not http_ok(f"{server}/missing")


def test_nothing_listening_is_not_ready():
    assert not http_ok(f"http://127.0.0.1:{free_port()}/healthcheck")


def test_a_server_that_never_answers_is_not_ready_after_the_timeout():
    import socket

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        assert not http_ok(f"http://127.0.0.1:{silent.getsockname()[1]}/healthcheck", timeout=0.2)
