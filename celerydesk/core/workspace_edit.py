"""Editing ``celerydesk.toml`` in place: typed setters over tomlkit, validation, atomic saves.

The GUI (the settings dialog, the schedule editor) edits a file the user commits, so an edit
changes only what it says: comments, key order, formatting and keys celerydesk does not know
stay as they were (tomlkit keeps them; the helpers below keep new keys and tables out of the
comment blocks that describe the *next* header). A save validates the edited data with the
loader's own ``parse_workspace``, re-reads its own output to be sure it parses, and replaces
the file atomically (temporary file in the same folder, fsync, rename), so a kill at any
moment leaves the old file or the new one, never half of one.

A file that does not parse is never overwritten: ``load()`` raises ``BrokenWorkspaceFile``,
and only an explicit ``move_broken_aside()`` renames it to ``celerydesk.toml.broken-<time>``
and returns that path for the user to be told. A file changed on disk since it was loaded (an
editor, another window) is not overwritten unless asked (``save(force=True)``).
"""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional

import tomlkit
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import AoT, Array, Comment, InlineTable, Table, Whitespace

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from celerydesk.core.errors import WorkspaceError
from celerydesk.core.runtime import atomic_write
from celerydesk.core.workspace import FILE_NAME, Workspace, detect_python, parse_workspace

# The scalar contract keys and the types a setter accepts (range checks are validate()'s job,
# so the dialog can report every problem at once).
SCALARS: dict[tuple[str, str], tuple[type, ...]] = {
    ("project", "app"): (str,),
    ("project", "workdir"): (str,),
    ("project", "python"): (str,),
    ("broker", "mode"): (str,),
    ("broker", "port"): (int,),
    ("broker", "image"): (str,),
    ("broker", "url"): (str,),
    ("beat", "enabled"): (bool,),
    ("beat", "loglevel"): (str,),
    ("flower", "enabled"): (bool,),
    ("flower", "port"): (int,),
}
WORKER_KEYS: dict[str, tuple[type, ...]] = {
    "name": (str,), "concurrency": (int,), "queues": (list, tuple), "pool": (str,),
    "loglevel": (str,), "stop_timeout": (int, float), "extra_args": (list, tuple),
}
SCHEDULE_KEYS: dict[str, tuple[type, ...]] = {
    "name": (str,), "task": (str,), "cron": (str,), "every": (int, float), "args": (list, tuple),
    "kwargs": (dict,), "enabled": (bool,), "queue": (str,),
}
# The order tables appear in the contract: a table created by an edit goes before the next one.
TABLE_ORDER = ("project", "broker", "workers", "beat", "flower", "schedules")


class BrokenWorkspaceFile(WorkspaceError):
    """The file is not valid TOML (or not UTF-8): it is kept as it is until the user decides."""


class WorkspaceConflict(WorkspaceError):
    """The file on disk changed since it was loaded; saving would lose those changes."""


# -- loading, and files that do not parse -------------------------------------------------------


def _read(path: Path) -> str:
    if not path.is_file():
        raise WorkspaceError(path, ["no workspace file here"],
                             hint="create one with New workspace, or `celerydesk init --app YOURAPP`")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise BrokenWorkspaceFile(path, [f"is not UTF-8 text: {exc}"], hint=_BROKEN_HINT) from None
    except OSError as exc:
        raise WorkspaceError(path, [f"cannot be read: {exc}"]) from None
    return text


_BROKEN_HINT = ("fix the syntax at the line shown, or move the file aside (it is kept as "
                "celerydesk.toml.broken-<time>) and start a new one")


def _parse(text: str, path: Path) -> tomlkit.TOMLDocument:
    # tomllib is the reader every other part of celerydesk uses: its verdict decides "broken".
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BrokenWorkspaceFile(path, [f"not valid TOML: {exc}"], hint=_BROKEN_HINT) from None
    try:
        return tomlkit.parse(text)
    except TOMLKitError as exc:  # valid TOML that tomlkit cannot edit: not broken, so not moved
        raise WorkspaceError(path, [f"celerydesk cannot edit this file ({exc})"],
                             hint="edit it in a text editor") from None


def move_broken_aside(path: os.PathLike | str) -> Path:
    """Rename a workspace file that does not parse to ``<name>.broken-<time>``; return that path.

    Refuses (ValueError) if the file parses now: a good file is never moved. An existing
    backup is never overwritten.
    """
    path = Path(path)
    try:
        _parse(_read(path), path)
    except BrokenWorkspaceFile:
        pass
    else:
        raise ValueError(f"{path} parses; only a broken workspace file is moved aside")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    backup = path.with_name(f"{path.name}.broken-{stamp}")
    n = 1
    while backup.exists():
        backup = path.with_name(f"{path.name}.broken-{stamp}-{n}")
        n += 1
    os.rename(path, backup)
    return backup


# -- the document -------------------------------------------------------------------------------


class WorkspaceDocument:
    """One workspace file being edited. Setters change the in-memory document; save() writes."""

    def __init__(self, path: Path, text: str, disk_text: Optional[str] = None):
        self.path = Path(path).absolute()
        self._doc = _parse(text, self.path)
        # What was on disk when loaded (or last saved): a save over something else is a conflict.
        self._disk_text = text if disk_text is None else disk_text

    @classmethod
    def load(cls, path: os.PathLike | str) -> "WorkspaceDocument":
        path = Path(path).absolute()
        if path.is_dir():
            path = path / FILE_NAME
        return cls(path, _read(path))

    def copy(self) -> "WorkspaceDocument":
        """An independent copy with the same edits and the same idea of what is on disk."""
        return WorkspaceDocument(self.path, self.text(), self._disk_text)

    def text(self) -> str:
        return self._doc.as_string()

    @property
    def modified(self) -> bool:
        return self.text() != self._disk_text

    def data(self) -> dict:
        """The edited document as plain Python values."""
        return self._doc.unwrap()

    # -- scalar contract keys ---------------------------------------------------------------------

    def get(self, key: tuple[str, str], default: Any = None) -> Any:
        table = self._doc.get(key[0])
        if not isinstance(table, Mapping) or key[1] not in table:
            return default
        return _plain(table[key[1]])

    def set(self, key: tuple[str, str], value: Any) -> None:
        """Set a contract key, e.g. ``set(("broker", "port"), 6380)``; ``None`` removes it."""
        if key not in SCALARS:
            raise KeyError(f"{key} is not a contract key celerydesk edits (known: {sorted(SCALARS)})")
        if value is None:
            table = self._doc.get(key[0])
            if isinstance(table, Mapping) and key[1] in table:
                del table[key[1]]
            return
        _check_type(f"[{key[0]}] {key[1]}", value, SCALARS[key])
        _put(self._table(key[0]), key[1], value)

    # -- [project] env ------------------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        env = self._doc.get("project", {}).get("env", {})
        return dict(_plain(env)) if isinstance(env, Mapping) else {}

    def set_env(self, name: str, value: str) -> None:
        _check_type(f"[project] env.{name}", value, (str,))
        project = self._table("project")
        if "env" not in project:
            # The contract's style: one inline table beside app and python.
            _put(project, "env", {})
        _put(project["env"], name, value)

    def remove_env(self, name: str) -> None:
        env = self._doc.get("project", {}).get("env")
        if isinstance(env, Mapping) and name in env:
            del env[name]

    def replace_env(self, env: Mapping[str, str]) -> None:
        """Make env equal to ``env`` with the fewest edits: unchanged variables keep their lines."""
        for name in list(self.env()):
            if name not in env:
                self.remove_env(name)
        for name, value in env.items():
            self.set_env(name, value)

    # -- [[workers]] -------------------------------------------------------------------------------

    def workers(self) -> list[dict]:
        return [dict(_plain(t)) for t in self._array("workers")]

    def add_worker(self, name: str, **values: Any) -> None:
        if any(w.get("name") == name for w in self.workers()):
            raise KeyError(f"a worker called {name!r} exists already")
        self._add_element("workers", {"name": name, **values}, WORKER_KEYS)

    def update_worker(self, name: str, **values: Any) -> None:
        """Change keys of the worker called ``name`` (``name=`` renames; ``None`` removes a key)."""
        self.update_workers({name: values})

    def update_workers(self, changes: Mapping[str, Mapping[str, Any]]) -> None:
        """Several workers at once, found by their names *before* any change (so names can swap)."""
        tables = {name: self._element("workers", name) for name in changes}
        for name, values in changes.items():
            _update_table(tables[name], values, WORKER_KEYS, f"[[workers]] {name!r}")

    def remove_worker(self, name: str) -> None:
        self._remove_element("workers", name)

    # -- [[schedules]] -----------------------------------------------------------------------------

    def schedules(self) -> list[dict]:
        return [dict(_plain(t)) for t in self._array("schedules")]

    def add_schedule(self, name: str, task: str, **values: Any) -> None:
        """``values``: cron or every, args, kwargs, enabled, queue."""
        if any(s.get("name") == name for s in self.schedules()):
            raise KeyError(f"a schedule called {name!r} exists already")
        self._add_element("schedules", {"name": name, "task": task, **values}, SCHEDULE_KEYS)

    def update_schedule(self, name: str, **values: Any) -> None:
        """Setting cron drops every and the other way round (a schedule has exactly one);
        the new key takes the old one's line, comment included."""
        table = self._element("schedules", name)
        for new, old in (("cron", "every"), ("every", "cron")):
            if values.get(new) is not None and old in table and new not in table:
                _check_type(f"[[schedules]] {name!r} {new}", values[new], SCHEDULE_KEYS[new])
                _replace_key(table, old, new, values[new])
                values = {k: v for k, v in values.items() if k != new}
            elif values.get(new) is not None and old in table:
                values = {**values, old: None}
        _update_table(table, values, SCHEDULE_KEYS, f"[[schedules]] {name!r}")

    def enable_schedule(self, name: str, enabled: bool = True) -> None:
        self.update_schedule(name, enabled=enabled)

    def remove_schedule(self, name: str) -> None:
        self._remove_element("schedules", name)

    # -- checking and saving -------------------------------------------------------------------------

    def validate(self) -> Workspace:
        """The edited workspace, as the loader would read it; raises WorkspaceError listing problems."""
        return parse_workspace(self.data(), self.path)

    def save(self, force: bool = False) -> Workspace:
        """Validate, then replace the file atomically. Nothing is written if validation fails.

        Raises WorkspaceConflict if the file changed on disk since it was loaded (``force``
        overwrites it, after moving it aside if it no longer parses: see ``backup``).
        """
        text = self.text()
        try:
            data = tomllib.loads(text)  # what we write must read back: a tomlkit slip is caught here
        except tomllib.TOMLDecodeError as exc:
            raise WorkspaceError(self.path, [f"the edited file would not parse ({exc}); nothing was written"],
                                 hint="this is a bug in celerydesk: please report it") from None
        workspace = parse_workspace(data, self.path)
        self.backup: Optional[Path] = None
        on_disk = self._disk_now()
        if on_disk != self._disk_text:
            if not force:
                what = "was deleted" if on_disk is None else "changed on disk"
                raise WorkspaceConflict(self.path, [f"{what} since it was opened (an editor or another window)"],
                                        hint="reload it to see those changes, or save again to overwrite them")
            if on_disk is not None:
                try:
                    _parse(on_disk, self.path)
                except BrokenWorkspaceFile:
                    self.backup = move_broken_aside(self.path)  # never silently replaced
                except WorkspaceError:
                    pass
        if on_disk != text:
            _write_atomically(self.path, text)
        self._disk_text = text
        return workspace

    # -- internals ---------------------------------------------------------------------------------

    def _disk_now(self) -> Optional[str]:
        try:
            return self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError):
            return ""  # unreadable now: never equal to what we loaded, so it counts as a change

    def _table(self, name: str):
        """The top-level table ``name``, created (before the next contract table) if missing."""
        if name not in self._doc:
            table = tomlkit.table()
            later = [k for k in TABLE_ORDER[TABLE_ORDER.index(name) + 1:] if k in self._doc]
            table.add(tomlkit.nl())  # a blank line between it and the next header
            if later and hasattr(self._doc, "_insert_at"):
                index = next(i for i, (k, _) in enumerate(self._doc.body) if k is not None and k.key == later[0])
                self._doc._insert_at(index, name, table)  # tomlkit has no public insert
            else:
                self._doc.append(name, table)
        return self._doc[name]

    def _array(self, name: str) -> list:
        value = self._doc.get(name)
        return list(value) if isinstance(value, (AoT, Array, list)) else []

    def _element(self, array: str, name: str):
        for table in self._array(array):
            if isinstance(table, Mapping) and table.get("name") == name:
                return table
        raise KeyError(f"no {array[:-1]} called {name!r}")

    def _add_element(self, array: str, values: dict, types: dict) -> None:
        for key, value in values.items():
            if key not in types:
                raise KeyError(f"[[{array}]] {key}: not a key celerydesk edits (known: {', '.join(types)})")
            if value is not None:
                _check_type(f"[[{array}]] {key}", value, types[key])
        values = {k: v for k, v in values.items() if v is not None}
        current = self._doc.get(array)
        if isinstance(current, Array):  # written inline: workers = [{ name = "main" }]
            current.append(_item(values))
            return
        table = tomlkit.table()
        for key, value in values.items():
            table.append(key, _item(value))
        if current is None:
            table.add(tomlkit.nl())
            self._table_slot(array, tomlkit.aot())
            current = self._doc[array]
            current.append(table)
            return
        last = current[-1]
        current.append(table)
        # The comments after the last element's keys describe what follows the array: keep
        # them there, after the new element, with the blank line that separated them.
        _move_trailing(last, table)

    def _table_slot(self, name: str, item) -> None:
        later = [k for k in TABLE_ORDER[TABLE_ORDER.index(name) + 1:] if k in self._doc]
        if later and hasattr(self._doc, "_insert_at"):
            index = next(i for i, (k, _) in enumerate(self._doc.body) if k is not None and k.key == later[0])
            self._doc._insert_at(index, name, item)
        else:
            self._doc.append(name, item)

    def _remove_element(self, array: str, name: str) -> None:
        current = self._doc.get(array)
        tables = self._array(array)
        index = next((i for i, t in enumerate(tables) if isinstance(t, Mapping) and t.get("name") == name), None)
        if index is None:
            raise KeyError(f"no {array[:-1]} called {name!r}")
        if len(tables) == 1:
            del self._doc[array]
            return
        if isinstance(current, AoT) and index > 0:
            # The previous element's trailing comments introduced the removed one; the removed
            # one's trailing comments introduce what follows it, which is still there.
            _move_trailing(tables[index], tables[index - 1], replace=True)
        del current[index]


# -- tomlkit helpers ----------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    return value.unwrap() if hasattr(value, "unwrap") else value


def _check_type(where: str, value: Any, types: tuple[type, ...]) -> None:
    if isinstance(value, bool) and bool not in types:
        ok = False  # True is an int to Python, not a port to TOML readers
    else:
        ok = isinstance(value, types)
    if not ok:
        names = " or ".join(t.__name__ for t in types)
        raise TypeError(f"{where}: expected {names}, got {value!r}")


def _item(value: Any):
    """A tomlkit item; dicts become inline tables at every depth (``kwargs = {}``, not [a.b])."""
    if value is None:
        raise TypeError("TOML has no null value")
    if isinstance(value, Mapping):
        table = tomlkit.inline_table()
        for key, inner in value.items():
            table.append(str(key), _item(inner))
        return table
    if isinstance(value, (list, tuple)):
        array = tomlkit.array()
        for inner in value:
            array.append(_item(inner))
        return array
    return tomlkit.item(value)


def _same(current: Any, value: Any) -> bool:
    plain = _plain(current)
    return type(plain) is type(value) and plain == value or (
        isinstance(value, tuple) and plain == list(value))


def _trailing_count(body: list) -> int:
    """How many key-less items (comments, blank lines) end a table's body."""
    n = 0
    for key, item in reversed(body):
        if key is not None or not isinstance(item, (Comment, Whitespace)):
            break
        n += 1
    return n


def _put(table, key: str, value: Any) -> None:
    """Set ``key`` in a table. An existing key keeps its line and comment; an equal value is not
    rewritten (``6_379`` stays as written); a new key goes after the table's last key, before
    the comments that end the table (those describe the next header)."""
    if key in table:
        if not _same(table[key], value):
            table[key] = _item(value)
        return
    container = getattr(table, "value", None)
    body = getattr(container, "body", None)
    if not isinstance(table, Table) or not isinstance(body, list) or table.is_super_table():
        table[key] = _item(value)
        return
    n = _trailing_count(body)
    # Only key-less items at the very end are lifted: they are not in tomlkit's key index.
    trailing = body[len(body) - n:] if n else []
    del body[len(body) - n:]
    table[key] = _item(value)
    body.extend(trailing)


def _replace_key(table, old: str, new: str, value: Any) -> None:
    """Put ``new = value`` on ``old``'s line (comment kept), e.g. cron replacing every."""
    body = table.value.body
    index = next(i for i, (k, _) in enumerate(body) if k is not None and k.key == old)
    comment = body[index][1].trivia.comment
    del table[old]
    table[new] = _item(value)
    moved = body.pop(next(i for i, (k, _) in enumerate(body) if k is not None and k.key == new))
    moved[1].trivia.comment = moved[1].trivia.comment or comment
    # Deleting left a placeholder at ``index``; put the new key there and rebuild the index.
    body.insert(index, moved)
    _reindex(table.value)


def _reindex(container) -> None:
    """Rebuild tomlkit's key → position map after moving an item within a body."""
    container._map = {k: i for i, (k, _) in enumerate(container.body) if k is not None}


def _update_table(table, values: Mapping[str, Any], types: dict, where: str) -> None:
    for key, value in values.items():
        if key not in types:
            raise KeyError(f"{where} {key}: not a key celerydesk edits (known: {', '.join(types)})")
        if value is None:
            if key in table:
                del table[key]
            continue
        _check_type(f"{where} {key}", value, types[key])
        _put(table, key, value)


def _move_trailing(source, target, replace: bool = False) -> None:
    """Move the comments and blank lines that end ``source`` to the end of ``target``."""
    if not (isinstance(source, Table) and isinstance(target, Table)):
        return
    src, dst = source.value.body, target.value.body
    n = _trailing_count(src)
    block = src[len(src) - n:] if n else []
    del src[len(src) - n:]
    if replace:
        m = _trailing_count(dst)
        del dst[len(dst) - m:]
    dst.extend(block)


def _fsync_dir(folder: Path) -> None:
    # The rename is durable only once the folder's entry is on disk (power loss, not kills).
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_atomically(path: Path, text: str) -> None:
    """Temp file beside the target, fsync, rename (runtime.atomic_write), keeping the file's mode;
    a symlinked workspace file stays a symlink (its target is replaced)."""
    target = Path(os.path.realpath(path))
    try:
        mode = stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        mode = 0o644
    atomic_write(target, text, mode=mode)
    _fsync_dir(target.parent)


# -- new workspaces -------------------------------------------------------------------------------

_TEMPLATE = """\
# celerydesk workspace: how to run this project's Celery stack. Commit it with the project.
[project]
app = {app}                     # the value of `celery -A`
{python_line}
# env = {{ DJANGO_SETTINGS_MODULE = "{app_bare}.settings" }}

[broker]
mode = "auto"                   # auto | docker | local | external
port = 6379

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
    """The text of a new workspace file (the same template as ``celerydesk init``).

    ``python`` is written as given (relative to the file, or absolute); without it the line
    is a comment and the loader detects .venv/venv at run time.
    """
    if python:
        python_line = f"python = {tomlkit.item(str(python)).as_string()}"
    else:
        python_line = '# python = ".venv/bin/python"   # default: .venv/ or venv/ here, else celerydesk\'s own'
    return _TEMPLATE.format(app=tomlkit.item(app).as_string(), app_bare=app.split(".")[0] or app,
                            python_line=python_line)


def create_workspace(folder: os.PathLike | str, app: str, python: Optional[str] = None) -> Path:
    """Write a new ``celerydesk.toml`` in ``folder``, with the project's .venv if it has one.

    Validated before anything is written; an existing file is never replaced (WorkspaceError).
    """
    folder = Path(folder).absolute()
    path = folder / FILE_NAME
    if python is None:
        found = detect_python(folder)
        python = str(found.relative_to(folder)) if found else None
    text = new_workspace_text(app, python)
    parse_workspace(tomllib.loads(text), path)
    if path.exists():
        raise WorkspaceError(path, ["exists already"], hint="open it instead, or edit it in Settings")
    _write_atomically(path, text)
    return path


def guess_app(folder: os.PathLike | str) -> str:
    """The likely ``celery -A`` value for a project folder: a package holding ``celery.py``
    (Celery's Django layout), else one holding ``settings.py`` (a Django project), else a
    top-level ``tasks.py``/``celery_app.py`` module, else the folder's name."""
    folder = Path(folder)
    skip = {"venv", "env", "node_modules", "site-packages", "build", "dist"}
    packages = sorted(p for p in folder.iterdir()
                      if p.is_dir() and not p.name.startswith((".", "_")) and p.name not in skip) \
        if folder.is_dir() else []
    for marker in ("celery.py", "settings.py"):
        for package in packages:
            if (package / marker).is_file():
                return package.name
    for module in ("celery_app", "tasks", "app"):
        if (folder / f"{module}.py").is_file():
            return module
    name = "".join(c if c.isalnum() or c == "_" else "_" for c in folder.name).strip("_")
    return name or "app"


def _ordered(items: Iterable) -> list:  # pragma: no cover - kept tiny on purpose
    return list(items)
