"""A real redis-server for tests and benchmarks: free loopback port, no persistence."""

from __future__ import annotations

import os
import subprocess
import time


def start_redis_server(folder: "str | os.PathLike[str]", port: int = 0) -> tuple[subprocess.Popen, str]:
    """Start redis-server (the one celerydesk would use) on ``port`` (default: a free one) and
    wait until it answers PING; return (process, url). The caller stops the process."""
    import redis

    from celerydesk.core.commands import redis_server_binary
    from celerydesk.core.ports import free_port

    port = port or free_port()
    proc = subprocess.Popen([str(redis_server_binary()), "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no", "--dir", str(folder)],
                            stdout=subprocess.DEVNULL, start_new_session=True)
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 10
    try:
        while True:
            try:
                client.ping()
                return proc, url
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    proc.kill()
                    raise
                time.sleep(0.05)
    finally:
        client.close()
