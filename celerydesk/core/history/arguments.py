"""The exact arguments of a task that ran, or the reason they cannot be known: what a retry sends.

A retry must send what the task first ran with, or nothing. The arguments come from the first
of these that has them (:func:`exact_arguments`):

1. the history's JSON, which celerydesk recorded when it sent the task itself (or which the
   history read from the result backend: ``backend_records``);
2. the result backend, where the app keeps arguments there (celery's ``result_extended``):
   ``celery-task-meta-<id>`` then holds ``args`` and ``kwargs`` as the task received them;
3. the repr celery's events carry, only when it is complete and reads back as JSON values.

Celery cuts that repr at 1,024 characters (``saferepr``): a long string keeps its head and ends
in ``...'``, which still reads back as a (wrong) string, so a repr that long with ``...`` in it
is taken as cut; a long list ends in ``..., ...]``, which does not read back at all; nesting
deeper than ``task_repr_maxlevels`` (3) becomes ``[...]``, which reads back as Ellipsis. A repr
that is not a literal (a datetime, a Decimal, an object) is not JSON. Celery's repr escapes a
quote in a string but not a backslash or a newline: ``'a\\nb'`` comes out as ``'a\nb'``, which
reads back as a newline, so a repr holding a backslash (other than before a quote) is not read
either. Each gives its reason, for the user to read, in :class:`NotExact`.
"""

from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass
from typing import Any, Callable, Optional

from celerydesk.core.errors import DeskError

REPR_LIMIT = 1024  # celery's argsrepr_maxsize and kwargsrepr_maxsize
# A repr cut by saferepr is a few characters over the limit; an uncut one can be too (the last
# token is finished). Anything this long with "..." in it may have been cut: refused, which is
# safe, rather than sent short.
CUT_SUSPECT_LENGTH = REPR_LIMIT - 24
REPR_MAXLEVELS = 3  # celery's task_repr_maxlevels
_CALL = re.compile(r"[A-Za-z_]\(")  # datetime.datetime(...), Decimal('1'), UUID('...')

BACKFILL_HINT = ("set result_extended = True in the app's Celery configuration (the result backend then keeps "
                 "each task's arguments), or use \"Retry with edited arguments\"")


# Where the arguments of a retry came from, in words (``Exact.source``).
SOURCES = {"celerydesk": "as celerydesk recorded them when it sent the task",
           "history": "as the history read them from the result backend when the task ran",
           "backend": "as the result backend keeps them (result_extended)",
           "repr": "read back from celery's complete repr of them"}


class NotExact(DeskError):
    """The arguments of a task cannot be sent again exactly; the message says why."""


@dataclass(frozen=True)
class Exact:
    args: list
    kwargs: dict
    source: str  # "celerydesk" (recorded when sent), "history" (read from the backend at the time),
    # "backend" (read from it now: result_extended), "repr"


def from_repr(args_repr: Optional[str], kwargs_repr: Optional[str]) -> tuple[list, dict]:
    """The values of complete reprs of JSON values; NotExact saying why not."""
    if args_repr is None and kwargs_repr is None:
        raise NotExact("the history holds no arguments for it (no event that carries them was seen)")
    args = _read(args_repr, "()", "arguments")
    kwargs = _read(kwargs_repr, "{}", "keyword arguments")
    if not isinstance(args, (list, tuple)):
        raise NotExact(f"its arguments' repr {_short(args_repr)} is not a list")
    if not isinstance(kwargs, dict) or not all(isinstance(k, str) for k in kwargs):
        raise NotExact(f"its keyword arguments' repr {_short(kwargs_repr)} is not an object with text keys")
    for what, value, text in (("arguments", args, args_repr), ("keyword arguments", kwargs, kwargs_repr)):
        problem = json_problem(value)
        if problem:
            raise NotExact(f"its {what} are not JSON ({problem}): {_short(text)}")
    return list(args), dict(kwargs)


def maybe_inexact(args_repr: Optional[str], kwargs_repr: Optional[str]) -> bool:
    """A cheap first look (no parsing) for the history's ingest: could :func:`from_repr` refuse?"""
    for text in (args_repr, kwargs_repr):
        if text and (len(text) >= CUT_SUSPECT_LENGTH or "..." in text or "<" in text or "\\" in text
                     or _CALL.search(text)):
            return True
    return False


def json_problem(value: Any, depth: int = 0) -> Optional[str]:
    """Why ``value`` would not go through JSON unchanged; None if it would."""
    if depth > 64:
        return "nested too deeply"
    if value is None or isinstance(value, (bool, int, str)):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{value!r} is not a JSON number"
    if value is Ellipsis:
        return f"celery cut it below {REPR_MAXLEVELS} levels of nesting"
    if isinstance(value, (list, tuple)):
        return next((p for p in (json_problem(v, depth + 1) for v in value) if p), None)
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            return "an object with keys that are not text"
        return next((p for p in (json_problem(v, depth + 1) for v in value.values()) if p), None)
    return f"a {type(value).__name__} is not a JSON value"


def exact_arguments(row: dict, stored: Optional[tuple[list, dict]],
                    backend: Optional[Callable[[str], Optional[tuple[list, dict]]]] = None) -> Exact:
    """The exact arguments of the history's ``row``, or NotExact with the reason.

    ``stored``: the history's JSON (``HistoryReader.exact_arguments``); ``backend(id)``: the
    arguments the result backend keeps for the task, or None (a DeskError from it counts as
    None, said in the reason)."""
    if stored is not None:  # JSON on a row celerydesk did not send came from the result backend
        source = "history" if row.get("args_json") is not None and not row.get("sent_by") else "celerydesk"
        return Exact(list(stored[0]), dict(stored[1]), source)
    backend_trouble = ""
    if backend is not None:
        try:
            found = backend(row["id"])
        except DeskError as exc:
            found, backend_trouble = None, f"; the result backend could not be read ({exc.message})"
        if found is not None:
            return Exact(list(found[0]), dict(found[1]), "backend")
    try:
        args, kwargs = from_repr(row.get("args"), row.get("kwargs"))
    except NotExact as exc:
        raise NotExact(f"{_task(row)} cannot be sent again exactly: {exc.message}; celerydesk did not send it, "
                       f"and the result backend does not hold its arguments{backend_trouble}",
                       hint=BACKFILL_HINT) from None
    return Exact(args, kwargs, "repr")


def backend_arguments(client, task_ids: list[str]) -> dict[str, tuple[list, dict]]:
    """``{id: (args, kwargs)}`` of the tasks whose meta in a Redis result backend holds their
    arguments (the app sets ``result_extended``). Decoded as celery encoded them (kombu's JSON:
    a datetime argument comes back a datetime), so that sent again they are the same message."""
    from kombu.utils.json import loads

    out = {}
    for start in range(0, len(task_ids), 500):
        chunk = task_ids[start:start + 500]
        for task_id, raw in zip(chunk, client.mget([f"celery-task-meta-{i}" for i in chunk])):
            if not raw or b'"args"' not in raw:
                continue
            try:
                meta = loads(raw)
            except ValueError:
                continue
            args, kwargs = meta.get("args"), meta.get("kwargs")
            if isinstance(args, (list, tuple)) and isinstance(kwargs, dict):
                out[task_id] = (list(args), dict(kwargs))
    return out


def backend_records(found: dict[str, tuple[list, dict]]) -> list[dict]:
    """What the history stores of ``backend_arguments``: the ones that are plain JSON (the
    others stay in the backend, where a retry reads them while it keeps them)."""
    return [{"id": task_id, "args": args, "kwargs": kwargs, "via": None}
            for task_id, (args, kwargs) in found.items() if json_problem(args) is None and json_problem(kwargs) is None]


def _read(text: Optional[str], default: str, what: str) -> Any:
    text = text if text else default
    if len(text) >= CUT_SUSPECT_LENGTH and "..." in text:
        raise NotExact(f"celery cut its {what}' repr at {REPR_LIMIT:,} characters ({len(text):,} characters, "
                       f"ending {text[-24:]!r})")
    if "\\" in text.replace("\\'", ""):  # saferepr escapes quotes only: 'a\\nb' comes out as 'a\nb'
        raise NotExact(f"its {what}' repr holds a backslash, which celery's repr does not escape, so the "
                       f"value cannot be read back from it: {_short(text)}")
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, RecursionError, MemoryError, TypeError):
        raise NotExact(f"its {what}' repr is not a literal of JSON values: {_short(text)}") from None


def _short(text: Optional[str]) -> str:
    text = text or ""
    return repr(text if len(text) <= 80 else text[:60] + "…" + text[-15:])


def _task(row: dict) -> str:
    return f"{row.get('name') or 'the task'}[{row.get('id')}]"
