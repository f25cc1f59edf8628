"""The event monitor's RESP reader (celerydesk/core/resp.py): what a Redis subscription sends,
however the socket cuts it, and a real redis-server's own replies."""

from __future__ import annotations

import signal
import socket

import pytest

from celerydesk.core.resp import RespReader, command

# What a pattern subscription gets: the confirmation, then one message (bulk strings in an array).
SUBSCRIBED = b"*3\r\n$10\r\npsubscribe\r\n$18\r\n/0.celeryev/task.*\r\n:1\r\n"
PMESSAGE = (b"*4\r\n$8\r\npmessage\r\n$18\r\n/0.celeryev/task.*\r\n$21\r\n/0.celeryev/task.sent\r\n"
            b"$13\r\n{\"body\": \"e\"}\r\n")
REPLIES = [[b"psubscribe", b"/0.celeryev/task.*", 1],
           [b"pmessage", b"/0.celeryev/task.*", b"/0.celeryev/task.sent", b'{"body": "e"}']]


def test_whole_replies_in_one_read():
    assert RespReader().feed(SUBSCRIBED + PMESSAGE) == REPLIES


def test_replies_cut_anywhere_come_out_whole_and_once():
    data = SUBSCRIBED + PMESSAGE
    for cut in range(1, len(data)):
        reader = RespReader()
        assert reader.feed(data[:cut]) + reader.feed(data[cut:]) == REPLIES, cut
        assert reader.buf == b""


def test_one_byte_at_a_time():
    reader, out = RespReader(), []
    for i in range(len(PMESSAGE)):
        out += reader.feed(PMESSAGE[i:i + 1])
    assert out == REPLIES[1:]


def test_a_body_holding_crlf_is_read_by_its_length():
    body = b"line one\r\nline two"
    assert RespReader().feed(b"$%d\r\n%s\r\n" % (len(body), body)) == [body]


def test_simple_strings_integers_and_null_bulk():
    assert RespReader().feed(b"+OK\r\n:42\r\n$-1\r\n*2\r\n+PONG\r\n:-3\r\n") == ["OK".encode(), 42, None, [b"PONG", -3]]


def test_an_error_reply_raises_with_the_brokers_words():
    with pytest.raises(ConnectionError, match="WRONGPASS invalid username-password pair"):
        RespReader().feed(b"-WRONGPASS invalid username-password pair\r\n")


def test_command_is_resp():
    assert command("PSUBSCRIBE", "a*", b"b\r\n") == b"*3\r\n$10\r\nPSUBSCRIBE\r\n$2\r\na*\r\n$3\r\nb\r\n\r\n"


def test_against_a_real_redis_server(tmp_path):
    """Subscribe, publish from another connection, read it back: the reader and Redis agree."""
    import redis

    from tests.helpers.redis_server import start_redis_server

    proc, url = start_redis_server(tmp_path)
    try:
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            reader, replies = RespReader(), []
            sock.sendall(command("PSUBSCRIBE", "/0.celeryev/task.*"))
            while not replies:
                replies += reader.feed(sock.recv(4096))
            assert replies == [[b"psubscribe", b"/0.celeryev/task.*", 1]]
            payload = b'{"body": "\xe2\x9c\x93\r\n"}' * 2000  # bigger than one read
            assert redis.Redis.from_url(url).publish("/0.celeryev/task.sent", payload) == 1
            replies = []
            while not replies:
                replies += reader.feed(sock.recv(4096))
            assert replies == [[b"pmessage", b"/0.celeryev/task.*", b"/0.celeryev/task.sent", payload]]
            sock.sendall(command("GET", "x"))  # refused while subscribed: an error reply
            with pytest.raises(ConnectionError, match="only .*SUBSCRIBE"):
                while True:
                    reader.feed(sock.recv(4096))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
