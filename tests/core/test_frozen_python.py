"""``celerydesk _python``: the interpreter command line a frozen build gives its children.

Run from source here (``python -m celerydesk _python ...``), the same code the binary runs:
``-m``, ``-c`` and a script path mean what they mean to CPython, PYTHONPATH is honoured by
hand (a frozen interpreter ignores the environment), and the exit status is the program's.
tests/frozen runs the real binary, whose sample worker and beat go through this sub-command.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from celerydesk.core import selfcmd


def shim(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "celerydesk", "_python", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=60, env={**os.environ, **(env or {})})


def test_dash_c_runs_code_with_its_arguments_and_the_current_folder_first(tmp_path):
    (tmp_path / "localmod.py").write_text("VALUE = 'from the workdir'\n")
    result = shim("-c", "import sys, localmod; print(sys.argv[1:], localmod.VALUE)", "app", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['app'] from the workdir"


def test_dash_m_runs_a_module_as_main_with_pythonpath_honoured(tmp_path):
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "greeter.py").write_text(
        "import sys\nif __name__ == '__main__':\n    print('hello', *sys.argv[1:])\n    raise SystemExit(3)\n")
    result = shim("-m", "greeter", "a", "b", cwd=tmp_path, env={"PYTHONPATH": str(lib)})
    assert result.stdout.strip() == "hello a b"
    assert result.returncode == 3  # the program's own exit status


def test_a_script_path_runs_with_its_folder_on_sys_path(tmp_path):
    folder = tmp_path / "scripts"
    folder.mkdir()
    (folder / "helper.py").write_text("NAME = 'helper'\n")
    (folder / "main.py").write_text("import sys, helper\nprint(helper.NAME, sys.argv)\n")
    result = shim(str(folder / "main.py"), "x", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"helper {[str(folder / 'main.py'), 'x']}"


def test_celery_runs_through_it(tmp_path):
    result = shim("-m", "celery", "--version", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    import celery

    assert result.stdout.startswith(celery.__version__)


def test_without_a_program_it_says_how_to_use_it(tmp_path):
    result = shim(cwd=tmp_path)
    assert result.returncode == 2 and "usage: celerydesk _python" in result.stderr
    assert shim("-x", cwd=tmp_path).returncode == 2


def test_interpreter_argv_is_the_interpreter_itself_from_source(tmp_path):
    assert selfcmd.interpreter_argv(tmp_path / "python") == [str(tmp_path / "python")]
    assert selfcmd.own_interpreter_argv() == [sys.executable]
    assert selfcmd.cli_argv("up", "-w", "x") == [sys.executable, "-m", "celerydesk", "up", "-w", "x"]


def test_a_frozen_build_runs_itself_through_the_sub_command(monkeypatch, tmp_path):
    # What PyInstaller sets: sys.frozen, and sys.executable is the binary.
    binary = tmp_path / "celerydesk"
    binary.write_text("")
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", str(binary))
    assert selfcmd.interpreter_argv(binary) == [str(binary), "_python"]
    assert selfcmd.interpreter_argv(tmp_path / ".venv" / "bin" / "python") == [str(tmp_path / ".venv/bin/python")]
    assert selfcmd.cli_argv("self-test") == [str(binary), "self-test"]


def test_children_of_a_frozen_build_get_the_users_library_path_back(monkeypatch):
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setenv("LD_LIBRARY_PATH", "/opt/celerydesk/_internal")
    monkeypatch.setenv("LD_LIBRARY_PATH_ORIG", "/usr/local/lib")
    assert selfcmd.child_environ()["LD_LIBRARY_PATH"] == "/usr/local/lib"
    monkeypatch.delenv("LD_LIBRARY_PATH_ORIG")
    assert "LD_LIBRARY_PATH" not in selfcmd.child_environ()
    monkeypatch.delattr(sys, "frozen")
    assert selfcmd.child_environ()["LD_LIBRARY_PATH"] == "/opt/celerydesk/_internal"  # from source: as is
