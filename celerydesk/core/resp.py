"""Just enough of Redis's wire protocol (RESP2) for the event monitor's subscriber.

The monitor reads celery's events off a plain socket: redis-py's parser, and kombu's poller
above it, cost more per event than decoding the event itself. ``RespReader`` turns the bytes
of a subscription into replies (arrays, bulk and simple strings, integers) as they arrive,
a reply cut across two reads included; an error reply raises. ``command`` writes one request.
"""

from __future__ import annotations


def command(*args) -> bytes:
    """One Redis command in RESP."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg.encode() if isinstance(arg, str) else bytes(arg)
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


class RespReader:
    """Feed it what the socket gave; it returns the replies completed so far, keeps the rest."""

    def __init__(self):
        self.buf = b""

    def feed(self, chunk: bytes) -> list:
        buf = self.buf + chunk if self.buf else chunk
        replies, pos = [], 0
        while True:
            parsed = self._parse(buf, pos)
            if parsed is None:
                break
            pos, reply = parsed
            replies.append(reply)
        self.buf = buf[pos:]
        return replies

    def _parse(self, buf: bytes, pos: int):
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return None
        kind = buf[pos]
        if kind == 42:  # '*': an array
            count = int(buf[pos + 1:eol])
            items = []
            pos = eol + 2
            for _ in range(count):
                parsed = self._parse(buf, pos)
                if parsed is None:
                    return None
                pos, item = parsed
                items.append(item)
            return pos, items
        if kind == 36:  # '$': a bulk string
            size = int(buf[pos + 1:eol])
            if size < 0:
                return eol + 2, None
            end = eol + 2 + size
            if len(buf) < end + 2:
                return None
            return end + 2, buf[eol + 2:end]
        if kind == 58:  # ':': an integer
            return eol + 2, int(buf[pos + 1:eol])
        if kind == 45:  # '-': an error (a wrong password, a broker refusing us)
            raise ConnectionError(buf[pos + 1:eol].decode(errors="replace"))
        return eol + 2, buf[pos + 1:eol]  # '+': a simple string
