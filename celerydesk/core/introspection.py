"""What the project's Celery app holds: its tasks with their signatures, and its beat schedule.

The answer comes from ``celerydesk/introspect_script.py`` run in the *project's* interpreter,
with the workspace's environment, working directory and broker URL (so a settings file pointing
at another broker is never used); the user's code is never imported into celerydesk's process.
A failure to load the project becomes a DeskError with the tail of the project's traceback and
what to do about it.

Loading a Django project costs about a second, so the answer is cached in the runtime folder,
keyed on the ``.py`` files under the workdir (path, mtime and size of each, so an added, edited,
renamed or deleted module all count), the interpreter (its site-packages' mtimes), the app name,
the project env and the script itself. A task added to ``tasks.py`` shows up on the next call
without restarting anything.

``check_call`` holds the arity rules for launching a task by name: the same ones Python applies
when binding arguments to the task's signature, each failure as one sentence.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional

from celerydesk.core import resources
from celerydesk.core.commands import project_env
from celerydesk.core.errors import DeskError
from celerydesk.core.interpreter import _fingerprint as interpreter_fingerprint
from celerydesk.core.runtime import Runtime, atomic_write
from celerydesk.core.selfcmd import interpreter_argv
from celerydesk.core.workspace import RUNTIME_DIR_NAME, Workspace

MARKER = "CELERYDESK-INTROSPECT "
CACHE_FILE = "introspection.json"
CACHE_VERSION = 1
TRACEBACK_TAIL = 15  # lines: enough for the failing frames and the error, not Django's whole stack
# Folders that hold no project code, or a copy of someone else's: walking a virtualenv or
# node_modules would cost more than the rest of the tree together.
SKIP_DIRS = frozenset({
    ".venv", "venv", "node_modules", ".git", ".hg", ".svn", "__pycache__", RUNTIME_DIR_NAME,
    ".tox", ".nox", ".mypy_cache", ".pytest_cache", ".ruff_cache", "site-packages",
})

POSITIONAL_ONLY, POSITIONAL_OR_KEYWORD = "positional_only", "positional_or_keyword"
VAR_POSITIONAL, KEYWORD_ONLY, VAR_KEYWORD = "var_positional", "keyword_only", "var_keyword"


@dataclass(frozen=True)
class Param:
    name: str
    kind: str  # one of the five names above, as inspect.Parameter kinds
    has_default: bool = False
    default: Any = None  # the JSON value, or the repr text when default_is_repr
    default_is_repr: bool = False
    annotation: Optional[str] = None

    @classmethod
    def from_dict(cls, d: Mapping) -> "Param":
        return cls(name=d["name"], kind=d["kind"], has_default="default" in d, default=d.get("default"),
                   default_is_repr=bool(d.get("default_is_repr")), annotation=d.get("annotation"))

    @property
    def required(self) -> bool:
        return not self.has_default and self.kind not in (VAR_POSITIONAL, VAR_KEYWORD)

    def text(self) -> str:
        """The parameter as it reads in Python source: ``width: int = 800``."""
        prefix = {VAR_POSITIONAL: "*", VAR_KEYWORD: "**"}.get(self.kind, "")
        out = prefix + self.name + (f": {self.annotation}" if self.annotation else "")
        if self.has_default:
            value = self.default if self.default_is_repr else repr(self.default)
            out += f" = {value}" if self.annotation else f"={value}"
        return out


@dataclass
class TaskInfo:
    name: str
    params: list[Param]
    doc: Optional[str] = None
    internal: bool = False
    bound: bool = False
    queue: Optional[str] = None
    params_error: Optional[str] = None  # the signature could not be read: arity is not checked
    raw: dict = field(default_factory=dict)  # everything the script said, for --json and the UI

    @classmethod
    def from_dict(cls, d: Mapping) -> "TaskInfo":
        return cls(name=d["name"], params=[Param.from_dict(p) for p in d.get("params", [])], doc=d.get("doc"),
                   internal=bool(d.get("internal")), bound=bool(d.get("bound")), queue=d.get("queue"),
                   params_error=d.get("params_error"), raw=dict(d))

    def signature(self) -> str:
        """``(path: str, width: int = 800, *, keep_ratio: bool = True)``, as Python writes it."""
        parts: list[str] = []
        seen_star = False
        for i, p in enumerate(self.params):
            if p.kind == KEYWORD_ONLY and not seen_star:
                parts.append("*")
            if p.kind in (VAR_POSITIONAL, KEYWORD_ONLY):
                seen_star = True
            parts.append(p.text())
            nxt = self.params[i + 1] if i + 1 < len(self.params) else None
            if p.kind == POSITIONAL_ONLY and (nxt is None or nxt.kind != POSITIONAL_ONLY):
                parts.append("/")
        return "(" + ", ".join(parts) + ")"


@dataclass
class Introspection:
    app: dict
    tasks: dict[str, TaskInfo]  # by name, sorted
    beat_schedule: list[dict]
    from_cache: bool = False

    def user_tasks(self) -> list[TaskInfo]:
        return [t for t in self.tasks.values() if not t.internal]


# -- running the script -----------------------------------------------------------------------

def script_source() -> str:
    """The introspection script's text, passed with ``python -c`` (celerydesk is not importable
    in the project's interpreter, and ``-c`` puts the workdir first on sys.path as ``-A`` does)."""
    return resources.script_source("introspect_script.py")


def introspect(ws: Workspace, *, timeout: float = 120.0, refresh: bool = False) -> Introspection:
    """The project's tasks and beat schedule: from the cache when no project file changed."""
    source = script_source()
    key = cache_key(ws, source)
    cache = ws.runtime_dir / CACHE_FILE
    if not refresh:
        cached = _read_cache(cache, key)
        if cached is not None:
            return _parse(cached, from_cache=True)
    data = run_script(ws, source, timeout=timeout)
    # Only successes are kept: a failure may come from something the key does not see
    # (a database or a network share the settings read), and is cheap to try again.
    try:
        Runtime(ws.runtime_dir).ensure()
        atomic_write(cache, json.dumps({"version": CACHE_VERSION, "key": key, "result": data}))
    except OSError:
        pass  # a read-only project still gets its answer, only slower next time
    return _parse(data, from_cache=False)


def run_script(ws: Workspace, source: str, timeout: float = 120.0) -> dict:
    python = ws.project.python
    app = ws.project.app
    if not Path(python).exists():
        raise DeskError(f"the project interpreter {python} does not exist",
                        hint="set [project] python to your project's interpreter, e.g. \".venv/bin/python\"")
    env = project_env(ws, ws.broker_url())
    try:
        proc = subprocess.run([*interpreter_argv(python), "-c", source, app], cwd=ws.project.workdir, env=env,
                              capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise DeskError(f"loading the Celery app {app!r} took longer than {timeout:g} s",
                        hint="does importing the project wait on something (a database, a network "
                        "connection, input())? `celery -A " + app + " worker` would hang the same way") from None
    except OSError as exc:
        raise DeskError(f"the project interpreter {python} could not be run: {exc}",
                        hint="check [project] python in the workspace file") from None
    line = next((ln for ln in reversed(proc.stdout.splitlines()) if ln.startswith(MARKER)), None)
    if line is None:  # the interpreter died before answering (os._exit, a crash, a killed child)
        tail = _tail((proc.stderr or proc.stdout or "").strip(), TRACEBACK_TAIL)
        raise DeskError(f"loading the Celery app {app!r} in {python} ended without an answer "
                        f"(exit code {proc.returncode}):\n{tail}",
                        hint=f"run `{python} -m celery -A {app} report` in {ws.project.workdir} to see why")
    data = json.loads(line[len(MARKER):])
    if not data.get("ok"):
        raise load_error(ws, data.get("error") or {})
    return data


def load_error(ws: Workspace, error: Mapping) -> DeskError:
    """The project's own traceback tail, and what to change so it loads."""
    app, python = ws.project.app, ws.project.python
    kind, message = error.get("type", "Error"), error.get("message", "")
    tail = _tail(error.get("traceback", ""), TRACEBACK_TAIL)
    text = f"the Celery app {app!r} could not be loaded ({kind}: {message})\n{tail}"
    module = error.get("module") or ""
    top = app.split(":")[0].split(".")[0]
    if "DJANGO_SETTINGS_MODULE" in message or "settings are not configured" in message:
        hint = (f'set the settings module in the workspace file: [project] env = '
                f'{{ DJANGO_SETTINGS_MODULE = "{top}.settings" }}')
    elif kind == "ModuleNotFoundError" and module == "celery":
        hint = f"install celery in the project interpreter: {python} -m pip install 'celery[redis]'"
    elif kind == "ModuleNotFoundError" and module and (module == top or app.startswith(module + ".")):
        hint = (f"there is no module {module!r} in {ws.project.workdir}: check [project] app "
                f"(the value of `celery -A`) and [project] workdir")
    elif kind == "ModuleNotFoundError" and module:
        hint = (f"the project imports {module!r}, which {python} does not have: install it there "
                f"({python} -m pip install ...), or point [project] python at the project's virtualenv")
    elif kind in ("SyntaxError", "IndentationError", "TabError"):
        hint = "fix the syntax error at the file and line shown; the workers cannot start with it either"
    elif error.get("phase") == "import" and any(  # find_app's words, not an AttributeError of the project's
            words in message for words in ("has no attribute 'celery'", "not a Celery app", "is the celery module")):
        hint = (f"{app!r} names no Celery app: set [project] app to the package or module holding it "
                f"(as `app` or `celery`), or to 'module:attribute'")
    else:
        hint = f"fix the error shown; `celery -A {app} worker` fails the same way"
    return DeskError(text, hint=hint)


def _tail(text: str, lines: int) -> str:
    kept = [ln for ln in text.rstrip().splitlines() if ln.strip()][-lines:]
    return "\n".join("    " + ln for ln in kept)


def _parse(data: Mapping, from_cache: bool) -> Introspection:
    tasks = {t["name"]: TaskInfo.from_dict(t) for t in data.get("tasks", [])}
    return Introspection(app=dict(data.get("app", {})), tasks=dict(sorted(tasks.items())),
                         beat_schedule=list(data.get("beat_schedule", [])), from_cache=from_cache)


# -- the cache --------------------------------------------------------------------------------

def project_fingerprint(workdir: Path) -> str:
    """A hash of every ``.py`` file under ``workdir``: its path, mtime and size.

    Newer-mtime alone would miss a deleted or renamed module; the hash sees them. Only ``.py``
    files are stat'ed (directory entries say which are folders without a stat), folders holding a
    virtualenv (``pyvenv.cfg``) or no project code are skipped, symlinked folders are not
    followed (loops), and unreadable folders are passed over.
    """
    digest = hashlib.blake2b(digest_size=16)
    stack = [str(workdir)]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)  # scandir order is not guaranteed stable
        except OSError:
            continue
        if folder != str(workdir) and any(e.name == "pyvenv.cfg" for e in entries):
            continue  # a virtualenv under another name (env/, .env3/)
        subfolders = []
        for entry in entries:
            name = entry.name
            try:
                if entry.is_dir(follow_symlinks=False):
                    if name not in SKIP_DIRS:
                        subfolders.append(entry.path)
                elif name.endswith(".py"):
                    st = entry.stat()
                    digest.update(f"{entry.path}\0{st.st_mtime_ns}\0{st.st_size}\n".encode("utf-8", "surrogateescape"))
            except OSError:
                continue  # vanished while walking: the next call sees the tree as it is
        stack.extend(reversed(subfolders))
    return digest.hexdigest()


def cache_key(ws: Workspace, source: str) -> list:
    """What the answer depends on; any change to one of these runs the script again."""
    key = [
        CACHE_VERSION,
        hashlib.sha256(source.encode()).hexdigest()[:16],
        ws.project.app,
        str(ws.project.workdir),
        sorted(ws.project.env.items()),
        # packages installed or removed (django-celery-beat brings tasks of its own)
        interpreter_fingerprint(ws.project.python),
        project_fingerprint(ws.project.workdir),
    ]
    return json.loads(json.dumps(key))  # as it reads back from the file: tuples become lists


def _read_cache(path: Path, key: list) -> Optional[dict]:
    try:
        cached = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(cached, dict) or cached.get("key") != key or not isinstance(cached.get("result"), dict):
        return None
    return cached["result"]


# -- checking a call against a signature --------------------------------------------------------

def unknown_task_message(name: str, known: Iterable[str], where: str) -> str:
    """``no task named 'x' in <where>`` with the closest names, if any look alike."""
    known = sorted(set(known))
    # A high cutoff: names share long module prefixes, which make unrelated tasks look alike.
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.85)
    if not close:  # a short or misspelt name for a long one: `add` for `playground.tasks.add`
        by_last: dict[str, list[str]] = {}
        for k in known:
            by_last.setdefault(k.rsplit(".", 1)[-1], []).append(k)
        for word in difflib.get_close_matches(name.rsplit(".", 1)[-1], list(by_last), n=3, cutoff=0.75):
            close.extend(by_last[word])
        close = close[:3]
    text = f"no task named {name!r} is registered {where}"
    if close:
        text += "; did you mean " + " or ".join(repr(c) for c in close) + "?"
    return text


def check_call(tasks: Mapping[str, TaskInfo], name: str, args: list, kwargs: Mapping) -> Optional[str]:
    """None if ``name(*args, **kwargs)`` binds to the task's signature, else why not, in a sentence.

    The rules are Python's: no more positional arguments than positional parameters (unless
    ``*args``), positional-only parameters not given by keyword, no parameter given twice, no
    unknown keyword (unless ``**kwargs``), every parameter without a default given.
    """
    task = tasks.get(name)
    if task is None:
        return unknown_task_message(name, tasks.keys(), "in the project")
    if task.params_error:
        return None  # the signature could not be read; the worker will judge
    params = task.params
    positional = [p for p in params if p.kind in (POSITIONAL_ONLY, POSITIONAL_OR_KEYWORD)]
    has_var_args = any(p.kind == VAR_POSITIONAL for p in params)
    has_var_kwargs = any(p.kind == VAR_KEYWORD for p in params)
    by_name = {p.name: p for p in params if p.kind not in (VAR_POSITIONAL, VAR_KEYWORD)}
    sig = f"{name}{task.signature()}"

    if len(args) > len(positional) and not has_var_args:
        if not positional:
            takes = "takes no positional arguments"
        else:
            takes = f"takes {_count(len(positional), 'positional argument')} ({', '.join(p.name for p in positional)})"
        return f"wrong number of arguments: {sig} {takes} but {len(args)} {'was' if len(args) == 1 else 'were'} given"
    filled = {p.name for p in positional[:len(args)]}
    for key in kwargs:
        param = by_name.get(key)
        if param is None:
            if has_var_kwargs:
                continue
            close = difflib.get_close_matches(key, list(by_name), n=1, cutoff=0.6)
            names = ", ".join(by_name) or "none"
            return (f"unknown keyword argument {key!r}: {sig} has no parameter by that name "
                    f"(its named parameters: {names})" + (f"; did you mean {close[0]!r}?" if close else ""))
        if param.kind == POSITIONAL_ONLY:
            if has_var_kwargs:
                continue  # Python puts it in **kwargs then
            return f"{key!r} is positional-only in {sig}: give it by position, not as a keyword"
        if key in filled:
            return f"{sig} got two values for {key!r}: one by position and one by keyword"
    given = filled | {k for k in kwargs if k in by_name and by_name[k].kind != POSITIONAL_ONLY}
    missing = [p for p in params if p.required and p.name not in given]
    if missing:
        plain = [p.name for p in missing if p.kind != KEYWORD_ONLY]
        kw_only = [p.name for p in missing if p.kind == KEYWORD_ONLY]
        parts = []
        if plain:
            parts.append(f"{_count(len(plain), 'required argument')} {_names(plain)}")
        if kw_only:
            parts.append(f"{_count(len(kw_only), 'keyword-only argument')} {_names(kw_only)} (give by keyword)")
        return f"wrong number of arguments: {sig} is missing " + " and ".join(parts)
    return None


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _names(names: list[str]) -> str:
    return ", ".join(repr(n) for n in names)
