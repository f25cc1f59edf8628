"""`docker compose config` on a file, read back as JSON: the real check that compose accepts it.

``config`` needs the compose v2 plugin but no running engine. Without the plugin the test skips,
and fails under CELERYDESK_STRICT=1 (.ci/install-system-deps installs it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Optional

from tests.helpers.strict import require


def compose_error() -> Optional[str]:
    """Why `docker compose` cannot be used here, or None."""
    docker = shutil.which("docker")
    if docker is None:
        return "the docker CLI is not installed"
    try:
        result = subprocess.run([docker, "compose", "version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"`docker compose version` failed: {exc}"
    if result.returncode != 0:
        return "the docker compose plugin is missing (run .ci/install-system-deps as root)"
    return None


def require_compose() -> None:
    error = compose_error()
    require(error is None, f"no docker compose: {error}")


def compose_config(path: Path, env: Optional[dict] = None) -> subprocess.CompletedProcess:
    """`docker compose -f PATH config --format json`, in PATH's folder, with ``env`` added."""
    return subprocess.run(
        ["docker", "compose", "-f", str(path), "config", "--format", "json"],
        capture_output=True, text=True, timeout=60, cwd=Path(path).parent,
        env={**os.environ, **(env or {})})


def compose_config_json(path: Path, env: Optional[dict] = None) -> dict:
    result = compose_config(path, env)
    assert result.returncode == 0, f"docker compose config refused {path}:\n{result.stderr}\n{Path(path).read_text()}"
    return json.loads(result.stdout)
