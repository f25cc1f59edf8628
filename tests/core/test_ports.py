"""Port checks (celerydesk/core/ports.py) against real sockets.

Covered: a port with a real listening socket is not free and its holder is this Python
process, named with its pid; a free port is free and held by nobody; several free ports asked
for at once are all different.
"""

from __future__ import annotations

import os
import socket

import psutil

from celerydesk.core.ports import free_port, free_ports, port_holder, port_is_free


def test_a_listening_port_is_not_free_and_names_its_holder():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert port_is_free(port) is False
        assert port_holder(port) == f"{psutil.Process().name()} (pid {os.getpid()})"
        assert "python" in port_holder(port).lower()
    assert port_is_free(port) is True  # closed: no TIME_WAIT without a connection
    assert port_holder(port) is None


def test_a_free_port_is_free_and_held_by_nobody():
    port = free_port()
    assert 1024 <= port <= 65535
    assert port_is_free(port) is True
    assert port_holder(port) is None


def test_free_ports_are_different_and_free():
    ports = free_ports(20)
    assert len(set(ports)) == 20  # a workspace's broker and Flower never get the same one
    assert all(port_is_free(port) for port in ports)


def test_a_bound_but_not_listening_socket_makes_the_port_busy_without_a_holder():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        assert port_is_free(port) is False  # redis-server could not bind it either
        assert port_holder(port) is None  # nobody listens
