"""Real, cached virtual environments for the test projects under ``tests/projects/``.

celerydesk runs workers, beat and the introspector in the *project's* interpreter, which has the
user's packages (Django, ...) and not celerydesk's. Tests reproduce that with real venvs:

- made with the **base** interpreter (``sys._base_executable``: the Python that made
  celerydesk's own ``.venv``), so nothing of celerydesk's site-packages leaks in;
- keyed by a hash of the requirement list (plus what is uninstalled afterwards and the base
  interpreter), so a changed list gives a new venv and an unchanged one is reused;
- cached between runs under ``$CELERYDESK_TEST_CACHE`` (default ``~/.cache/celerydesk-tests/``);
- built atomically: in a temporary folder beside the final one, renamed into place only when
  complete, under a file lock so that two pytest processes (xdist, two terminals) never race.

Use::

    from tests.helpers.project_venv import storefront_venv, run_in_venv
    python = storefront_venv()           # Path to .../bin/python
    run_in_venv(python, "-c", "import django")

Building needs PyPI (or the configured index); a failure raises :class:`VenvBuildError` with
pip's output, which a test may turn into a skip.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from importlib import metadata
from pathlib import Path
from typing import Iterator, Mapping, Sequence

__all__ = [
    "VenvBuildError",
    "base_python",
    "bare_venv",
    "cache_root",
    "celery_version",
    "no_packaging_venv",
    "project_venv",
    "python_in",
    "run_in_venv",
    "stores_venv",
    "storefront_venv",
    "venv_env",
    "venv_info",
]

#: Bump to invalidate every cached venv when the recipe below changes.
RECIPE_VERSION = 1
#: The file whose presence says a cached venv is complete; it holds JSON about the build.
READY_MARKER = ".celerydesk-test-venv.json"
#: Environment variables that would make a child interpreter see another environment.
_LEAKY_ENV = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP", "PYTHONUSERBASE",
              "PIP_REQUIRE_VIRTUALENV", "__PYVENV_LAUNCHER__")
_WINDOWS = os.name == "nt"


class VenvBuildError(RuntimeError):
    """Creating a test venv failed; the message holds the failing command and its output."""


# --------------------------------------------------------------------------------------------
# locations


def cache_root() -> Path:
    """The folder holding the cached venvs (created if missing)."""
    root = os.environ.get("CELERYDESK_TEST_CACHE")
    path = Path(root).expanduser() if root else Path.home() / ".cache" / "celerydesk-tests"
    path.mkdir(parents=True, exist_ok=True)
    return path


def base_python() -> Path:
    """The interpreter the running Python's venv was made from (itself, outside a venv).

    ``sys._base_executable`` is that interpreter on 3.11+; on older Pythons, or where it still
    points into the venv, fall back to ``home`` in ``pyvenv.cfg`` and then ``sys.base_prefix``.
    """
    candidates: list[Path] = []
    base_exe = getattr(sys, "_base_executable", None)
    if base_exe:
        candidates.append(Path(base_exe))
    cfg = Path(sys.prefix) / "pyvenv.cfg"
    if cfg.is_file():
        for line in cfg.read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "executable" and value.strip():
                candidates.append(Path(value.strip()))
            elif key.strip() == "home" and value.strip():
                home = Path(value.strip())
                name = "python.exe" if _WINDOWS else f"python{sys.version_info[0]}.{sys.version_info[1]}"
                candidates += [home / name, home / ("python.exe" if _WINDOWS else "python3")]
    bindir = Path(sys.base_prefix) / ("" if _WINDOWS else "bin")
    candidates += [bindir / ("python.exe" if _WINDOWS else f"python{sys.version_info[0]}.{sys.version_info[1]}"),
                   bindir / ("python.exe" if _WINDOWS else "python3")]
    venv_prefix = Path(sys.prefix).resolve() if sys.prefix != sys.base_prefix else None
    for cand in candidates:
        if not cand.is_file():
            continue
        if venv_prefix is not None and _is_relative_to(cand.absolute(), venv_prefix):
            continue  # a python inside the current venv: not the base one
        return cand
    raise VenvBuildError(f"cannot find the base interpreter of {sys.executable} (tried {candidates})")


def python_in(venv_dir: Path) -> Path:
    """The interpreter of the venv at ``venv_dir``."""
    return Path(venv_dir) / ("Scripts/python.exe" if _WINDOWS else "bin/python")


def celery_version() -> str:
    """The celery version installed beside celerydesk (the test venvs pin the same one)."""
    return metadata.version("celery")


# --------------------------------------------------------------------------------------------
# the venvs the tests use


def storefront_venv() -> Path:
    """A Django project's venv: ``celery[redis]`` at celerydesk's celery version, and Django."""
    return project_venv([f"celery[redis]=={celery_version()}", "django>=4.2,<6"])


def stores_venv() -> Path:
    """Projects that keep their periodic tasks in a store: django-celery-beat (with Django) and
    RedBeat, at the versions DESIGN.md names, beside ``celery[redis]`` at celerydesk's version;
    and ``ephem``, which celery's solar schedules need (``celery[solar]``)."""
    return project_venv([f"celery[redis]=={celery_version()}", "django>=4.2,<6", "django-celery-beat==2.9.0",
                         "celery-redbeat==2.4.2", "ephem"])


def bare_venv() -> Path:
    """A venv with no Celery at all (nor anything else beyond pip)."""
    return project_venv([])


def no_packaging_venv() -> Path:
    """``celery`` + ``redis`` installed plainly (not ``celery[redis]``), without ``packaging``.

    kombu 5.7's Redis transport imports ``packaging``, which this combination does not
    guarantee; the venv reproduces a user environment where ``redis://`` brokers fail to load.
    """
    return project_venv([f"celery=={celery_version()}", "redis"], without=["packaging"])


# --------------------------------------------------------------------------------------------
# building


def venv_key(requirements: Sequence[str], without: Sequence[str] = (), python: Path | None = None) -> str:
    """The cache key: a hash of what goes in, what is taken out, and the base interpreter."""
    python = Path(python) if python else base_python()
    payload = json.dumps(
        {
            "recipe": RECIPE_VERSION,
            "requirements": sorted(r.strip() for r in requirements),
            "without": sorted(_canonical(w) for w in without),
            "python": str(python),
            "platform": sys.platform,
        },
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def project_venv(
    requirements: Sequence[str],
    *,
    without: Sequence[str] = (),
    python: str | os.PathLike[str] | None = None,
    lock_timeout: float = 1800.0,
) -> Path:
    """Return the interpreter of a cached venv with ``requirements`` installed.

    ``without`` names distributions uninstalled after the install (when something pulled them
    in). ``python`` is the interpreter to make the venv with (default: :func:`base_python`).
    The first call builds the venv (a minute or so with downloads); later calls, in this or any
    other process, return at once.
    """
    requirements = [r.strip() for r in requirements if r.strip()]
    base = Path(python) if python else base_python()
    key = venv_key(requirements, without, base)
    root = cache_root()
    final = root / f"venv-{key}"

    if _is_ready(final):
        return python_in(final)

    with _file_lock(root / f"venv-{key}.lock", timeout=lock_timeout):
        if _is_ready(final):  # another process built it while we waited
            return python_in(final)
        if final.exists():  # a leftover without its marker: incomplete, never used
            shutil.rmtree(final, ignore_errors=True)
        # Builds of this key killed midway (we hold its lock, so none is running now).
        for stale in root.glob(f".tmp-venv-{key}-*"):
            shutil.rmtree(stale, ignore_errors=True)
        tmp = root / f".tmp-venv-{key}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            info = _build(tmp, final, base, requirements, without)
            (tmp / READY_MARKER).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
            os.replace(tmp, final)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return python_in(final)


def venv_info(python: str | os.PathLike[str]) -> dict:
    """The build record of a cached venv (requirements, timings, ``pip freeze``), from its python."""
    venv_dir = Path(python).parent.parent
    return json.loads((venv_dir / READY_MARKER).read_text(encoding="utf-8"))


def _build(tmp: Path, final: Path, base: Path, requirements: list[str], without: Sequence[str]) -> dict:
    started = time.monotonic()
    timings: dict[str, float] = {}
    env = venv_env()  # no PYTHONPATH etc. from the test process

    t = time.monotonic()
    _run([str(base), "-m", "venv", str(tmp)], env=env)
    timings["venv"] = round(time.monotonic() - t, 3)
    py = python_in(tmp)

    if requirements:
        t = time.monotonic()
        _run([str(py), "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
              "--quiet", *requirements], env=env)
        timings["install"] = round(time.monotonic() - t, 3)

    if without:
        t = time.monotonic()
        present = [w for w in without if _has_dist(py, w, env)]
        if present:
            _run([str(py), "-m", "pip", "uninstall", "--disable-pip-version-check", "-y", *present], env=env)
        still = [w for w in without if _has_dist(py, w, env)]
        if still:
            raise VenvBuildError(f"could not uninstall {still} from {tmp}")
        timings["uninstall"] = round(time.monotonic() - t, 3)

    freeze = _run([str(py), "-m", "pip", "freeze", "--all", "--disable-pip-version-check"], env=env)
    _relocate_scripts(tmp, final)
    return {
        "requirements": requirements,
        "without": list(without),
        "base_python": str(base),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "seconds": round(time.monotonic() - started, 3),
        "timings": timings,
        "freeze": freeze.split(),
    }


def _relocate_scripts(tmp: Path, final: Path) -> None:
    """Point scripts' shebangs and activate files at the final folder, before the rename.

    ``python -m ...`` works from any folder, but console scripts (``bin/celery``, ``bin/pip``)
    carry the absolute path of the interpreter they were installed with.
    """
    bindir = tmp / ("Scripts" if _WINDOWS else "bin")
    old, new = str(tmp).encode(), str(final).encode()
    for entry in bindir.iterdir():
        if entry.is_symlink() or not entry.is_file():
            continue
        try:
            data = entry.read_bytes()
        except OSError:
            continue
        if old in data and b"\0" not in data[:4096]:  # text scripts only, never binaries
            mode = entry.stat().st_mode
            entry.write_bytes(data.replace(old, new))
            os.chmod(entry, mode)


# --------------------------------------------------------------------------------------------
# running things in a venv


def venv_env(python: str | os.PathLike[str] | None = None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """An environment for a child process: nothing pointing at celerydesk's venv or sources.

    With ``python``, its venv is "activated" (``VIRTUAL_ENV`` and ``PATH``).
    """
    env = {k: v for k, v in os.environ.items() if k not in _LEAKY_ENV}
    # Drop celerydesk's own venv from PATH, so a bare `python`/`celery` is never ours.
    if sys.prefix != sys.base_prefix:
        ours = str(Path(sys.prefix) / ("Scripts" if _WINDOWS else "bin"))
        env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p and p != ours)
    if python is not None:
        venv_dir = Path(python).parent.parent
        env["VIRTUAL_ENV"] = str(venv_dir)
        env["PATH"] = str(Path(python).parent) + os.pathsep + env.get("PATH", "")
    env["PYTHONNOUSERSITE"] = "1"
    if extra:
        env.update(extra)
    return env


def run_in_venv(python: str | os.PathLike[str], *args: str, cwd: str | os.PathLike[str] | None = None,
                env: Mapping[str, str] | None = None, timeout: float = 120.0,
                check: bool = False) -> subprocess.CompletedProcess[str]:
    """Run ``python *args`` with a clean environment (see :func:`venv_env`); capture text output.

    The working directory defaults to a neutral one (the cache root), so the repository's own
    ``celerydesk`` package is not importable by accident through the current directory.
    """
    return subprocess.run(
        [str(python), *args],
        cwd=str(cwd) if cwd is not None else str(cache_root()),
        env=venv_env(python, env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=check,
    )


# --------------------------------------------------------------------------------------------
# internals


def _run(cmd: list[str], env: Mapping[str, str]) -> str:
    proc = subprocess.run(cmd, env=dict(env), cwd=str(cache_root()), capture_output=True, text=True)
    if proc.returncode != 0:
        raise VenvBuildError(
            f"command failed with exit code {proc.returncode}: {' '.join(cmd)}\n"
            f"--- stdout ---\n{proc.stdout[-4000:]}\n--- stderr ---\n{proc.stderr[-4000:]}"
        )
    return proc.stdout


def _has_dist(py: Path, name: str, env: Mapping[str, str]) -> bool:
    code = ("import importlib.metadata as m, sys\n"
            "try: m.distribution(sys.argv[1])\n"
            "except m.PackageNotFoundError: sys.exit(1)\n")
    return subprocess.run([str(py), "-c", code, name], env=dict(env), cwd=str(cache_root()),
                          capture_output=True).returncode == 0


def _is_ready(venv_dir: Path) -> bool:
    return (venv_dir / READY_MARKER).is_file() and python_in(venv_dir).exists()


def _canonical(name: str) -> str:
    return name.strip().lower().replace("_", "-").replace(".", "-")


def _is_relative_to(path: Path, parent: Path) -> bool:
    try:
        path.relative_to(parent)
        return True
    except ValueError:
        return False


@contextlib.contextmanager
def _file_lock(path: Path, timeout: float) -> Iterator[None]:
    """An exclusive inter-process lock on ``path`` (released if the holder dies)."""
    deadline = time.monotonic() + timeout
    with open(path, "a+b") as fh:
        if _WINDOWS:  # pragma: no cover - celery does not support Windows; kept for completeness
            import msvcrt

            while True:
                try:
                    fh.seek(0)
                    msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"timed out waiting for {path}") from None
                    time.sleep(0.5)
            try:
                yield
            finally:
                fh.seek(0)
                msvcrt.locking(fh.fileno(), msvcrt.LK_UNLCK, 1)
        else:
            import fcntl

            while True:
                try:
                    fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"timed out waiting for {path}") from None
                    time.sleep(0.5)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
