"""A stack celerydesk did not start, for the watch-only tests: a redis-server and a sample worker
named ``remote@<host>``, started by hand as another team would, and a watch-only workspace on it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

from tests.helpers.redis_server import start_redis_server
from tests.helpers.stack import toml_value


class RemoteStack:
    """``url``: its broker; ``worker``: the worker process. Stop with ``stop()``."""

    def __init__(self, folder: Path, concurrency: int = 2):
        folder.mkdir(parents=True, exist_ok=True)
        self.redis, self.url = start_redis_server(folder)
        env = {**os.environ, "CELERY_BROKER_URL": self.url}
        env.pop("CELERY_RESULT_BACKEND", None)
        self.worker_log = folder / "worker.log"
        self.worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "celerydesk.sample", "worker", "-n", "remote@%h", "-E",
             "-c", str(concurrency), "-l", "info", "--without-mingle", "--without-gossip"],
            env=env, cwd=folder, start_new_session=True, stdout=subprocess.DEVNULL,
            stderr=open(self.worker_log, "wb"))

    def wait_ready(self, timeout: float = 60) -> str:
        """The worker's node name once it answers a ping."""
        from celery import Celery

        app = Celery(broker=self.url, set_as_current=False)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                assert self.worker.poll() is None, self.worker_log.read_text()
                replies = app.control.ping(timeout=0.5)
                if replies:
                    return next(iter(replies[0]))
            raise AssertionError(f"the remote worker did not answer within {timeout} s: {self.worker_log.read_text()}")
        finally:
            app.close()

    def stop(self) -> None:
        for proc in (self.worker, self.redis):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()


def write_watch_workspace(folder: Path, url: str, environment: Optional[dict] = None,
                          broker: Optional[dict] = None) -> Path:
    """A watch-only workspace (external broker, no [[workers]], beat and Flower off) on ``url``."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    if environment is not None:
        lines += ["[environment]"] + [f"{k} = {toml_value(v)}" for k, v in environment.items()] + [""]
    lines += ["[project]", 'app = "celerydesk.sample"', "", "[broker]", 'mode = "external"', f"url = {toml_value(url)}"]
    lines += [f"{k} = {toml_value(v)}" for k, v in (broker or {}).items()]
    lines += ["", "[beat]", "enabled = false", "", "[flower]", "enabled = false", ""]
    path = folder / "celerydesk.toml"
    path.write_text("\n".join(lines))
    return path
