"""The project-interpreter check (celerydesk/core/interpreter.py) against real interpreters.

Covered: celerydesk's own .venv passes with its celery and redis versions; a bare venv (no
celery) and a venv with plain ``celery`` + ``redis`` but no ``packaging`` fail with a DeskError
that says what is missing and whose hint is ``pip install 'celery[redis]'``; a missing path;
the cache: a second call with the same cache file does not run the interpreter (it succeeds
where running it would fail), a failure is never cached, the key holds across processes
(whatever their hash seed), and touching site-packages invalidates it.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import sysconfig
from pathlib import Path

import celery
import pytest
import redis

from celerydesk.core.errors import DeskError
from celerydesk.core.interpreter import InterpreterInfo, check_interpreter

REPO = Path(__file__).resolve().parents[2]
PIP_HINT = "pip install 'celery[redis]'"


def clean_env() -> dict:
    from tests.helpers.project_venv import venv_env

    return venv_env()


@pytest.fixture
def own_venv(tmp_path) -> Path:
    """A real venv of our own (its site-packages may be touched), seeing our packages via a .pth."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python3*/site-packages"))
    (site / "celerydesk-test-parent.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    os.utime(site, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))
    return venv / "bin" / "python"


def site_packages(python: Path) -> Path:
    return next((python.parent.parent / "lib").glob("python3*/site-packages"))


# -- what the check finds -------------------------------------------------------------------------


def test_celerydesks_own_venv_passes(tmp_path):
    info = check_interpreter(Path(sys.executable), tmp_path, clean_env())
    assert info == InterpreterInfo(python=platform.python_version(), celery=celery.__version__,
                                   client=f"redis {redis.__version__}")


def test_a_venv_without_celery_is_refused_with_the_fix(tmp_path):
    from tests.helpers.project_venv import bare_venv

    python = bare_venv()
    with pytest.raises(DeskError) as info:
        check_interpreter(python, tmp_path, clean_env())
    err = info.value
    assert "cannot import celery" in err.message
    assert "No module named 'celery'" in err.message
    assert str(python) in err.message
    assert PIP_HINT in err.hint
    assert f"{python} -m pip install" in err.hint  # the command to run, for that interpreter


def test_a_venv_without_packaging_is_refused_with_the_fix(tmp_path):
    from tests.helpers.project_venv import no_packaging_venv

    python = no_packaging_venv()
    with pytest.raises(DeskError) as info:
        check_interpreter(python, tmp_path, clean_env())
    err = info.value
    assert "cannot use Redis" in err.message
    assert "packaging" in err.message  # what is missing, by name
    assert PIP_HINT in err.hint
    assert "packaging" in err.hint


def test_a_rabbitmq_worker_needs_no_redis_support(tmp_path):
    """The same interpreter, whose Redis transport cannot load, runs a worker on RabbitMQ: the
    check asks for the client of the broker the worker gets (CELERY_BROKER_URL)."""
    import amqp

    from tests.helpers.project_venv import no_packaging_venv

    python = no_packaging_venv()
    env = {**clean_env(), "CELERY_BROKER_URL": "amqp://guest:guest@127.0.0.1:5672//"}
    info = check_interpreter(python, tmp_path, env)
    assert info.client.startswith("amqp ")
    own = check_interpreter(Path(sys.executable), tmp_path, env)
    assert own.client == f"amqp {amqp.__version__}"


def test_an_interpreter_that_does_not_exist(tmp_path):
    missing = tmp_path / "venv" / "bin" / "python"
    with pytest.raises(DeskError) as info:
        check_interpreter(missing, tmp_path, clean_env())
    assert "does not exist" in info.value.message
    assert str(missing) in info.value.message
    assert "[project] python" in info.value.hint


def test_an_interpreter_that_cannot_run(tmp_path):
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho 'broken interpreter' >&2\nexit 1\n")
    fake.chmod(0o755)
    with pytest.raises(DeskError) as info:
        check_interpreter(fake, tmp_path, clean_env())
    assert "failed to run a check" in info.value.message
    assert "broken interpreter" in info.value.message
    assert "exited with code 1" in info.value.message


def test_a_program_that_prints_nothing_is_named_by_its_exit_code(tmp_path):
    """python = "/bin/true": no output at all, and a reason that is not empty."""
    with pytest.raises(DeskError) as info:
        check_interpreter(Path("/bin/true"), tmp_path, clean_env())
    assert info.value.message.endswith("exited with code 0 and it printed nothing")
    assert "Python interpreter" in info.value.hint


# -- the cache -----------------------------------------------------------------------------------------


def test_a_cached_result_does_not_run_the_interpreter(tmp_path, own_venv):
    cache = tmp_path / "check.json"
    first = check_interpreter(own_venv, tmp_path, clean_env(), cache_file=cache)
    assert first.celery == celery.__version__

    stored = json.loads(cache.read_text())
    assert stored["info"] == {"python": first.python, "celery": first.celery, "client": first.client}
    key_text = json.dumps(stored["key"])
    assert str(own_venv) in key_text and str(site_packages(own_venv)) in key_text

    # Running it now would fail (no such working directory): the cache must answer.
    nowhere = tmp_path / "no-such-dir"
    assert check_interpreter(own_venv, nowhere, clean_env(), cache_file=cache) == first


def test_touching_site_packages_invalidates_the_cache(tmp_path, own_venv):
    cache = tmp_path / "check.json"
    check_interpreter(own_venv, tmp_path, clean_env(), cache_file=cache)
    site = site_packages(own_venv)
    st = site.stat()
    os.utime(site, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))  # as installing a package does

    with pytest.raises(DeskError) as info:  # it really ran: the bad cwd fails it
        check_interpreter(own_venv, tmp_path / "no-such-dir", clean_env(), cache_file=cache)
    assert "could not be run" in info.value.message


def test_installing_a_package_invalidates_the_cache(tmp_path, own_venv):
    cache = tmp_path / "check.json"
    check_interpreter(own_venv, tmp_path, clean_env(), cache_file=cache)
    (site_packages(own_venv) / "newpkg-1.0.dist-info").mkdir()
    with pytest.raises(DeskError):
        check_interpreter(own_venv, tmp_path / "no-such-dir", clean_env(), cache_file=cache)


def test_a_failure_is_not_cached(tmp_path):
    from tests.helpers.project_venv import bare_venv

    cache = tmp_path / "check.json"
    for _ in range(2):
        with pytest.raises(DeskError):
            check_interpreter(bare_venv(), tmp_path, clean_env(), cache_file=cache)
    assert not cache.exists()


def test_a_damaged_cache_is_ignored(tmp_path, own_venv):
    cache = tmp_path / "check.json"
    cache.write_text("{not json")
    info = check_interpreter(own_venv, tmp_path, clean_env(), cache_file=cache)
    assert json.loads(cache.read_text())["info"]["celery"] == info.celery


CHECK_IN_CHILD = r"""
import sys
from pathlib import Path
from celerydesk.core.interpreter import check_interpreter
python, cwd, cache = sys.argv[1:4]
print(check_interpreter(Path(python), Path(cwd), {}, cache_file=Path(cache)).celery)
"""


def test_the_cache_holds_across_processes_whatever_their_hash_seed(tmp_path, own_venv):
    """celerydesk is restarted often; each run has its own string-hash seed."""
    cache = tmp_path / "check.json"

    def run(seed: int, cwd: Path) -> subprocess.CompletedProcess:
        env = {**os.environ, "PYTHONHASHSEED": str(seed)}
        return subprocess.run([sys.executable, "-c", CHECK_IN_CHILD, str(own_venv), str(cwd), str(cache)],
                              cwd=REPO, env=env, capture_output=True, text=True, timeout=120)

    first = run(0, tmp_path)
    assert first.returncode == 0, first.stderr
    for seed in range(1, 13):
        later = run(seed, tmp_path / "no-such-dir")  # only a cache hit can succeed here
        assert later.returncode == 0, f"seed {seed}: {later.stderr.strip().splitlines()[-1:]}"
        assert later.stdout.strip() == celery.__version__
