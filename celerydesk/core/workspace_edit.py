"""Editing ``celerydesk.toml`` in place: typed setters over tomlkit, validation, atomic saves.

The GUI (the settings dialog, the schedule editor) edits a file the user commits, so an edit
changes only what it says: comments, key order, formatting and keys celerydesk does not know
stay as they were (tomlkit keeps them; ``toml_layout`` keeps new keys out of the comment
blocks that describe the *next* header). A save validates with the loader's own
``parse_workspace``, re-reads its own output to be sure it parses, and replaces the file
atomically (temporary file in the same folder, fsync, rename): a kill at any moment leaves the
old file or the new one, never half of one.

A file that does not parse is never overwritten: ``load()`` raises ``BrokenWorkspaceFile``, and
only an explicit ``move_broken_aside()`` renames it to ``celerydesk.toml.broken-<time>`` and
returns that path for the user to be told. A file changed on disk since it was loaded (an
editor, another window) is not overwritten unless asked (``save(force=True)``).
"""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path
from typing import Any, Mapping, Optional

import tomlkit
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import AoT, Array

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from celerydesk.core.errors import WorkspaceError
from celerydesk.core.runtime import atomic_write
from celerydesk.core.toml_layout import append_table, insert_top_level, plain, put, remove_table, replace_key, to_item
from celerydesk.core.workspace import FILE_NAME, Workspace, detect_python, parse_workspace

# The scalar contract keys and the types their setters take. Ranges and choices are checked by
# validate(), so that a dialog can report every problem at once.
SCALARS: dict[tuple[str, str], tuple[type, ...]] = {
    ("project", "app"): (str,), ("project", "workdir"): (str,), ("project", "python"): (str,),
    ("project", "nice"): (int,),
    ("broker", "mode"): (str,), ("broker", "port"): (int,), ("broker", "image"): (str,),
    ("broker", "url"): (str,), ("broker", "kind"): (str,), ("broker", "management_port"): (int,),
    ("beat", "enabled"): (bool,), ("beat", "loglevel"): (str,),
    ("flower", "enabled"): (bool,), ("flower", "port"): (int,),
    ("broker", "ssh"): (str,), ("broker", "ssh_config"): (str,),
    ("environment", "name"): (str,), ("environment", "color"): (str,), ("environment", "read_only"): (bool,),
}
WORKER_KEYS: dict[str, tuple[type, ...]] = {
    "name": (str,), "concurrency": (int,), "queues": (list, tuple), "pool": (str,),
    "loglevel": (str,), "stop_timeout": (int, float), "extra_args": (list, tuple), "autoscale": (list, tuple),
}
SCHEDULE_KEYS: dict[str, tuple[type, ...]] = {
    "name": (str,), "task": (str,), "cron": (str,), "every": (int, float), "args": (list, tuple),
    "kwargs": (dict,), "enabled": (bool,), "queue": (str,), "timezone": (str,), "expires": (int, float, str),
    "one_off": (bool,), "start_at": (str,), "priority": (int,),
}
ALERT_KEYS: dict[str, tuple[type, ...]] = {
    "name": (str,), "when": (str,), "task": (str,), "queue": (str,), "worker": (str,),
    "above": (int, float), "for": (int, float), "window": (int, float),
}
# Contract order: a table an edit creates goes before the next one present.
TABLE_ORDER = ("environment", "project", "broker", "workers", "beat", "flower", "schedules", "alerts")
_BROKEN_HINT = ("fix the syntax at the line shown; or move the file aside (it is kept as "
                "celerydesk.toml.broken-<time>) and start a new one")


class BrokenWorkspaceFile(WorkspaceError):
    """The file is not valid TOML (or not UTF-8): it stays as it is until the user decides."""


class WorkspaceConflict(WorkspaceError):
    """The file on disk changed since it was loaded; saving would lose those changes."""


def _read(path: Path) -> str:
    if not path.is_file():
        raise WorkspaceError(path, ["no workspace file here"],
                             hint="create one with New workspace, or `celerydesk init --app YOURAPP`")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise BrokenWorkspaceFile(path, [f"is not UTF-8 text: {exc}"], hint=_BROKEN_HINT) from None
    except OSError as exc:
        raise WorkspaceError(path, [f"cannot be read: {exc}"]) from None


def _parse(text: str, path: Path) -> tomlkit.TOMLDocument:
    # tomllib is the reader the rest of celerydesk uses: its verdict decides "broken".
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BrokenWorkspaceFile(path, [f"not valid TOML: {exc}"], hint=_BROKEN_HINT) from None
    try:
        return tomlkit.parse(text)
    except TOMLKitError as exc:  # valid TOML that tomlkit cannot edit: not broken, never moved
        raise WorkspaceError(path, [f"celerydesk cannot edit this file ({exc})"],
                             hint="edit it in a text editor") from None


def move_broken_aside(path: os.PathLike | str) -> Path:
    """Rename a workspace file that does not parse to ``<name>.broken-<time>``; return the new path.

    A file that parses is refused (ValueError); an existing backup is never overwritten.
    """
    path = Path(path)
    try:
        _parse(_read(path), path)
    except BrokenWorkspaceFile:
        pass
    else:
        raise ValueError(f"{path} parses; only a broken workspace file is moved aside")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    backup, n = path.with_name(f"{path.name}.broken-{stamp}"), 1
    while backup.exists():
        backup, n = path.with_name(f"{path.name}.broken-{stamp}-{n}"), n + 1
    os.rename(path, backup)
    return backup


class WorkspaceDocument:
    """One workspace file being edited. Setters change the document in memory; save() writes it."""

    def __init__(self, path: os.PathLike | str, text: str, disk_text: Optional[str] = None):
        self.path = Path(path).absolute()
        self._doc = _parse(text, self.path)
        # What was on disk when loaded (or last saved): saving over anything else is a conflict.
        self._disk_text = text if disk_text is None else disk_text
        self.backup: Optional[Path] = None  # where the last save(force=True) moved a broken file

    @classmethod
    def load(cls, path: os.PathLike | str) -> "WorkspaceDocument":
        """Raises WorkspaceError (missing, unreadable) or BrokenWorkspaceFile (does not parse)."""
        path = Path(path).absolute()
        path = path / FILE_NAME if path.is_dir() else path
        return cls(path, _read(path))

    def copy(self) -> "WorkspaceDocument":
        """An independent copy: same edits, same idea of what is on disk."""
        return WorkspaceDocument(self.path, self.text(), self._disk_text)

    def text(self) -> str:
        return self._doc.as_string()

    @property
    def modified(self) -> bool:
        return self.text() != self._disk_text

    def data(self) -> dict:
        return self._doc.unwrap()

    # -- scalar contract keys ---------------------------------------------------------------------

    def get(self, key: tuple[str, str], default: Any = None) -> Any:
        table = self._doc.get(key[0])
        return plain(table[key[1]]) if isinstance(table, Mapping) and key[1] in table else default

    def set(self, key: tuple[str, str], value: Any) -> None:
        """Set a contract key, e.g. ``set(("broker", "port"), 6380)``; ``None`` removes it."""
        if key not in SCALARS:
            raise KeyError(f"{key} is not a key celerydesk edits (known: {sorted(SCALARS)})")
        if value is None:
            table = self._doc.get(key[0])
            if isinstance(table, Mapping) and key[1] in table:
                del table[key[1]]
            return
        _check_type(f"[{key[0]}] {key[1]}", value, SCALARS[key])
        put(self._table(key[0]), key[1], value)

    # -- [project] env ------------------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        env = self._env_table()
        return dict(plain(env)) if env is not None else {}

    def set_env(self, name: str, value: str) -> None:
        _check_type(f"[project] env.{name}", value, (str,))
        project = self._table("project")
        if "env" not in project:
            put(project, "env", {})  # the contract's style: an inline table beside app and python
        env = self._env_table()
        if env is None:  # env = "something": not ours to replace silently
            raise TypeError("[project] env: is not a table; fix it in the file first")
        put(env, name, value)

    def remove_env(self, name: str) -> None:
        env = self._env_table()
        if env is not None and name in env:
            del env[name]

    def replace_env(self, env: Mapping[str, str]) -> None:
        """Make env equal ``env`` with the fewest edits: unchanged variables keep their lines."""
        for name in self.env():
            if name not in env:
                self.remove_env(name)
        for name, value in env.items():
            self.set_env(name, value)

    # -- [[workers]], [[schedules]] and [[alerts]] ------------------------------------------------------

    def workers(self) -> list[dict]:
        return [dict(plain(t)) for t in self._array("workers")]

    def add_worker(self, name: str, **values: Any) -> None:
        """``values``: concurrency, queues, pool, loglevel, stop_timeout, extra_args."""
        self._add_element("workers", {"name": name, **values}, WORKER_KEYS)

    def update_worker(self, name: str, /, **values: Any) -> None:
        """Change keys of the worker called ``name``: ``name=`` renames, ``None`` removes a key."""
        self.update_workers({name: values})

    def update_workers(self, changes: Mapping[str, Mapping[str, Any]]) -> None:
        """Several workers, each found by its name *before* any change (so two can swap names)."""
        tables = {name: self._element("workers", name) for name in changes}
        for name, values in changes.items():
            _update(tables[name], values, WORKER_KEYS, f"[[workers]] {name!r}")

    def remove_worker(self, name: str) -> None:
        self._remove_element("workers", name)

    def schedules(self) -> list[dict]:
        return [dict(plain(t)) for t in self._array("schedules")]

    def add_schedule(self, name: str, task: str, **values: Any) -> None:
        """``values``: cron or every, args, kwargs, enabled, queue, timezone, expires, one_off,
        start_at, priority."""
        self._add_element("schedules", {"name": name, "task": task, **values}, SCHEDULE_KEYS)

    def update_schedule(self, name: str, /, **values: Any) -> None:
        """Change keys of the schedule called ``name``. A schedule has exactly one of cron and
        every: giving one drops the other, and the new key takes the old one's line."""
        table, values = self._element("schedules", name), dict(values)
        for new, old in (("cron", "every"), ("every", "cron")):
            if values.get(new) is not None and values.get(old) is None and old in table:
                if new in table:
                    values[old] = None
                else:
                    _check_type(f"[[schedules]] {name!r} {new}", values[new], SCHEDULE_KEYS[new])
                    replace_key(table, old, new, values.pop(new))
        _update(table, values, SCHEDULE_KEYS, f"[[schedules]] {name!r}")

    def enable_schedule(self, name: str, enabled: bool = True) -> None:
        self.update_schedule(name, enabled=enabled)

    def remove_schedule(self, name: str) -> None:
        self._remove_element("schedules", name)

    def alerts(self) -> list[dict]:
        return [dict(plain(t)) for t in self._array("alerts")]

    def add_alert(self, name: str, when: str, **values: Any) -> None:
        """``values``: task, queue, worker, above, for (``**{"for": 60}``), window."""
        self._add_element("alerts", {"name": name, "when": when, **values}, ALERT_KEYS)

    def update_alert(self, name: str, /, **values: Any) -> None:
        """Change keys of the alert called ``name``: ``name=`` renames, ``None`` removes a key."""
        _update(self._element("alerts", name), values, ALERT_KEYS, f"[[alerts]] {name!r}")

    def remove_alert(self, name: str) -> None:
        self._remove_element("alerts", name)

    # -- checking and saving ------------------------------------------------------------------------

    def validate(self) -> Workspace:
        """The edited workspace as the loader would read it; raises WorkspaceError listing problems."""
        return parse_workspace(self.data(), self.path)

    def save(self, force: bool = False) -> Workspace:
        """Validate, then replace the file atomically; nothing is written if validation fails.

        Raises WorkspaceConflict if the file changed on disk since it was loaded. ``force``
        overwrites it, after moving it aside if it does not parse (``self.backup`` says where).
        """
        text = self.text()
        # What we write must read back as what we edited: a tomlkit slip (a header capturing
        # the keys below it, say) is refused here rather than written.
        try:
            data = tomllib.loads(text)
            slip = "reads back differently" if data != self.data() else ""
        except tomllib.TOMLDecodeError as exc:
            slip = f"would not parse ({exc})"
        if slip:
            raise WorkspaceError(self.path, [f"the edited file {slip}; nothing was written"],
                                 hint="this is a bug in celerydesk: please report it")
        workspace = parse_workspace(data, self.path)
        self.backup = None
        on_disk = self._disk_now()
        if on_disk != self._disk_text:
            if not force:
                what = "was deleted" if on_disk is None else "changed on disk"
                raise WorkspaceConflict(self.path, [f"{what} since it was opened (by an editor or another window)"],
                                        hint="reload it to see those changes, or save again to overwrite them")
            try:
                if on_disk is not None:
                    _parse(on_disk, self.path)
            except BrokenWorkspaceFile:
                self.backup = move_broken_aside(self.path)  # replaced, but never silently
            except WorkspaceError:
                pass
        if on_disk != text:
            _write_atomically(self.path, text)
        self._disk_text = text
        return workspace

    # -- internals ------------------------------------------------------------------------------------

    def _disk_now(self) -> Optional[str]:
        try:
            return self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError):
            return ""  # unreadable now: unlike what was loaded, so it counts as a change

    def _table(self, name: str):
        """The top-level table ``name``, created above the next contract table if missing."""
        if name not in self._doc:
            insert_top_level(self._doc, name, tomlkit.table(), TABLE_ORDER[TABLE_ORDER.index(name) + 1:])
        return self._doc[name]

    def _env_table(self):
        project = self._doc.get("project")
        env = project.get("env") if isinstance(project, Mapping) else None
        return env if isinstance(env, Mapping) else None

    def _array(self, name: str) -> list:
        value = self._doc.get(name)
        return list(value) if isinstance(value, (AoT, Array)) else []

    def _element(self, array: str, name: str):
        for table in self._array(array):
            if isinstance(table, Mapping) and table.get("name") == name:
                return table
        raise KeyError(f"no {array[:-1]} called {name!r}")

    def _add_element(self, array: str, values: dict, types: dict) -> None:
        if any(isinstance(t, Mapping) and t.get("name") == values["name"] for t in self._array(array)):
            raise KeyError(f"a {array[:-1]} called {values['name']!r} exists already")
        for key, value in values.items():
            if key not in types:
                raise KeyError(f"[[{array}]] {key}: not a key celerydesk edits (known: {', '.join(types)})")
            if value is not None:
                _check_type(f"[[{array}]] {key}", value, types[key])
        values = {k: v for k, v in values.items() if v is not None}
        current = self._doc.get(array)
        if isinstance(current, Array):  # written inline: workers = [{ name = "main" }]
            current.append(to_item(values))
            return
        table = tomlkit.table()
        for key, value in values.items():
            table.append(key, to_item(value))
        if current is None:
            array_item = tomlkit.aot()
            array_item.append(table)
            insert_top_level(self._doc, array, array_item, TABLE_ORDER[TABLE_ORDER.index(array) + 1:])
        else:
            append_table(current, table)

    def _remove_element(self, array: str, name: str) -> None:
        current, tables = self._doc.get(array), self._array(array)
        index = next((i for i, t in enumerate(tables) if isinstance(t, Mapping) and t.get("name") == name), None)
        if index is None:
            raise KeyError(f"no {array[:-1]} called {name!r}")
        if len(tables) == 1:
            del self._doc[array]
            return
        if isinstance(current, AoT):
            remove_table(current, index)
        else:
            del current[index]


# -- helpers -------------------------------------------------------------------------------------


def _check_type(where: str, value: Any, types: tuple[type, ...]) -> None:
    # True is an int to Python, but no TOML reader takes it for a port.
    if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
        raise TypeError(f"{where}: expected {' or '.join(t.__name__ for t in types)}, got {value!r}")


def _update(table, values: Mapping[str, Any], types: dict, where: str) -> None:
    for key, value in values.items():
        if key not in types:
            raise KeyError(f"{where} {key}: not a key celerydesk edits (known: {', '.join(types)})")
        if value is None:
            if key in table:
                del table[key]
            continue
        _check_type(f"{where} {key}", value, types[key])
        put(table, key, value)


def _write_atomically(path: Path, text: str) -> None:
    """runtime.atomic_write (temp file beside the target, fsync, rename), keeping the file's
    mode; a symlinked workspace file stays a symlink (its target is replaced)."""
    target = Path(os.path.realpath(path))
    try:
        mode = stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        mode = 0o644
    atomic_write(target, text, mode=mode)
    try:  # the rename survives power loss only once the folder's entry is on disk
        fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


# -- new workspaces -------------------------------------------------------------------------------

_TEMPLATE = """\
# celerydesk workspace: how to run this project's Celery stack. Commit it with the project.
[project]
app = {app}                     # the value of `celery -A`
{python_line}
# env = {{ DJANGO_SETTINGS_MODULE = "{app_bare}.settings" }}

[broker]
mode = "auto"                   # auto | docker | local | external
# kind = "rabbitmq"             # redis (the default) | rabbitmq: what local and docker mode run
port = 6379                     # RabbitMQ's: 5672

[[workers]]
name = "main"
concurrency = 2
queues = ["celery"]

[beat]
enabled = true

[flower]
enabled = true
port = 5555
"""


def new_workspace_text(app: str, python: Optional[str] = None) -> str:
    """A new workspace file's text (``celerydesk init``'s template). ``python`` is written as
    given; without it the line is a comment and the loader detects .venv/venv when it runs."""
    if python:
        python_line = f"python = {tomlkit.item(str(python)).as_string()}"
    else:
        python_line = '# python = ".venv/bin/python"   # default: .venv/ or venv/ here, else celerydesk\'s own'
    return _TEMPLATE.format(app=tomlkit.item(app).as_string(), app_bare=app.split(".")[0],
                            python_line=python_line)


def create_workspace(folder: os.PathLike | str, app: str, python: Optional[str] = None,
                     overwrite: bool = False) -> Path:
    """Write a new ``celerydesk.toml`` in ``folder`` naming its .venv/venv interpreter if it has one.

    Validated before anything is written, then written atomically; an existing file is kept
    (WorkspaceError) unless ``overwrite`` (``celerydesk init --force``).
    """
    folder = Path(folder).absolute()
    path = folder / FILE_NAME
    if path.exists() and not overwrite:
        raise WorkspaceError(path, ["exists already"],
                             hint="open it instead (celerydesk -w FOLDER, then Settings), or replace it: "
                                  "celerydesk init --force")
    if python is None:
        found = detect_python(folder)
        python = str(found.relative_to(folder)) if found else None
    text = new_workspace_text(app, python)
    parse_workspace(tomllib.loads(text), path)
    _write_atomically(path, text)
    return path


def guess_app(folder: os.PathLike | str) -> str:
    """The likely ``celery -A`` value for a project folder: a package holding ``celery.py``
    (Celery's Django layout), else one holding ``settings.py`` (a Django project), else a
    top-level ``celery_app.py``/``tasks.py``/``app.py``, else the folder's name."""
    folder = Path(folder)
    skip = {"venv", "env", "node_modules", "build", "dist"}
    packages = sorted(p for p in folder.iterdir() if p.is_dir() and p.name not in skip
                      and not p.name.startswith((".", "_"))) if folder.is_dir() else []
    for marker in ("celery.py", "settings.py"):
        for package in packages:
            if (package / marker).is_file():
                return package.name
    for module in ("celery_app", "tasks", "app"):
        if (folder / f"{module}.py").is_file():
            return module
    return "".join(c if c.isalnum() or c == "_" else "_" for c in folder.name).strip("_") or "app"
