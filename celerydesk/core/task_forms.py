"""Launch forms without Qt: which editor each parameter of a task gets, how a field's text
becomes a value (or an error that points at the bad spot), and how the values become the
``args``/``kwargs`` of a call that ``introspection.check_call`` accepts.

The widgets in ``ui/launch_form.py`` only show what this module decides, so every rule here is
tested in plain pytest. Values are JSON values only: the sample app (and celerydesk's launcher)
serialise with JSON, and nothing typed in a form is ever evaluated as Python.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Mapping, Optional

from celerydesk.core.introspection import (KEYWORD_ONLY, POSITIONAL_ONLY, POSITIONAL_OR_KEYWORD,
                                           VAR_KEYWORD, VAR_POSITIONAL, Param, TaskInfo, check_call)
from celerydesk.core.limits import load_json

# Editor kinds. TEXT is a multi-line str, FILE a path with a file picker (tailored forms).
INT, FLOAT, BOOL, STR, JSON, TEXT, FILE = "int", "float", "bool", "str", "json", "text", "file"

# Tailored editors for the sample project's tasks: the story's message is prose, and
# process_video's path is a file on disk, best picked rather than typed.
TAILORED = {
    ("celerydesk.sample.tasks.notify_customers", "message"): TEXT,
    ("celerydesk.sample.tasks.process_video", "path"): FILE,
}

_SCALARS = {"int": INT, "float": FLOAT, "bool": BOOL, "str": STR}
# Container annotations: edited as JSON (what goes over the wire anyway).
_CONTAINERS = re.compile(r"^(list|dict|tuple|set|frozenset|List|Dict|Tuple|Sequence|Mapping|"
                         r"MutableMapping|Iterable|Any|object)\b")


class _Missing:
    """Left empty: the parameter's default applies (the parameter is not sent)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING = _Missing()


class FieldError(ValueError):
    """A field's text is not a value of its kind; ``message`` says where and why."""

    def __init__(self, name: str, message: str, line: Optional[int] = None, column: Optional[int] = None):
        super().__init__(f"{name}: {message}")
        self.name, self.message, self.line, self.column = name, message, line, column


class CallError(ValueError):
    """The values do not make a call the task accepts (arity, a gap in positional-only ones)."""


@dataclass(frozen=True)
class FieldSpec:
    name: str
    editor: str  # one of INT, FLOAT, BOOL, STR, JSON, TEXT, FILE
    param: Param
    required: bool

    @property
    def label(self) -> str:
        prefix = {VAR_POSITIONAL: "*", VAR_KEYWORD: "**"}.get(self.param.kind, "")
        return prefix + self.name + (" *" if self.required else "")

    @property
    def default_text(self) -> str:
        """The default as the field shows it (a placeholder), or "" when there is none."""
        p = self.param
        if not p.has_default:
            return ""
        if p.default_is_repr:
            return p.default  # not JSON: shown, but the field cannot send it back
        return format_value(self.editor, p.default)

    def hint(self) -> str:
        """What the field expects, for its tooltip and placeholder."""
        if self.param.kind == VAR_POSITIONAL:
            return 'extra positional arguments, a JSON array: ["a", 2]'
        if self.param.kind == VAR_KEYWORD:
            return 'extra keyword arguments, a JSON object: {"key": 1}'
        return {INT: "a whole number", FLOAT: "a number", BOOL: "true or false", STR: "text",
                TEXT: "text", FILE: "a file path on the worker's machine",
                JSON: 'a JSON value: "text", 3, [1, 2], {"a": 1}, null'}[self.editor]


def _strip_optional(annotation: str) -> str:
    text = annotation.strip().replace("typing.", "")
    m = re.fullmatch(r"Optional\[(.*)\]", text)
    if m:
        return m.group(1).strip()
    parts = [p.strip() for p in text.split("|")]
    if len(parts) == 2 and "None" in parts:  # `int | None`
        return next(p for p in parts if p != "None")
    return text


def editor_kind(param: Param, task_name: str = "") -> str:
    """The editor for one parameter: tailored, else from the annotation, else from the default."""
    tailored = TAILORED.get((task_name, param.name))
    if tailored:
        return tailored
    if param.kind in (VAR_POSITIONAL, VAR_KEYWORD):
        return JSON
    if param.annotation:
        base = _strip_optional(param.annotation)
        if base in _SCALARS:
            return _SCALARS[base]
        if _CONTAINERS.match(base):
            return JSON
    if param.has_default and not param.default_is_repr:
        d = param.default
        # bool before int: True is an int to Python, but a checkbox to a user.
        for kind, editor in ((bool, BOOL), (int, INT), (float, FLOAT), (str, STR)):
            if type(d) is kind:
                return editor
    return JSON  # unknown or unannotated: any JSON value, so nothing is guessed


def field_specs(task: TaskInfo) -> list[FieldSpec]:
    return [FieldSpec(p.name, editor_kind(p, task.name), p, p.required) for p in task.params]


def format_value(editor: str, value: Any) -> str:
    """A value as its field's text (the inverse of parse_field), for defaults and 'edit again'."""
    if editor in (STR, TEXT, FILE) and isinstance(value, str):
        return value
    if editor == INT and type(value) is int:
        return str(value)
    if editor == FLOAT and type(value) in (int, float):
        return repr(float(value))
    if editor == BOOL and type(value) is bool:
        return "true" if value else "false"
    return json.dumps(value)


def json_error_text(text: str, exc: json.JSONDecodeError) -> str:
    """``line 2, column 7: Expecting ',' delimiter`` then the line and a caret under the spot."""
    lines = text.splitlines() or [""]
    line = lines[min(exc.lineno, len(lines)) - 1]
    return f"line {exc.lineno}, column {exc.colno}: {exc.msg}\n{line}\n{' ' * (exc.colno - 1)}^"


def parse_field(spec: FieldSpec, text: Any) -> Any:
    """The field's value; MISSING when left empty and not required; FieldError when bad.

    ``text`` is a str, or a bool for a checkbox.
    """
    if spec.editor == BOOL and isinstance(text, bool):
        return text
    if isinstance(text, str) and not text.strip() and spec.editor not in (STR, TEXT):
        if spec.required:
            raise FieldError(spec.name, "required: give a value")
        return MISSING
    if spec.editor in (STR, TEXT, FILE):
        if text == "":  # empty means "the default", not "": a required one has none
            if spec.required:
                raise FieldError(spec.name, "required: choose a file" if spec.editor == FILE else "required: give a value")
            return MISSING
        return text
    stripped = text.strip()
    if spec.editor == INT:
        if not re.fullmatch(r"[+-]?\d+", stripped.replace("_", "")):
            raise FieldError(spec.name, f"{stripped!r} is not a whole number", column=_bad_column(stripped, r"[+\-\d_]"))
        return int(stripped)
    if spec.editor == FLOAT:
        try:
            value = float(stripped)
        except ValueError:
            raise FieldError(spec.name, f"{stripped!r} is not a number",
                             column=_bad_column(stripped, r"[+\-\d._eE]")) from None
        if value != value or value in (float("inf"), float("-inf")):
            raise FieldError(spec.name, "must be a finite number (JSON has no NaN or infinity)")
        return value
    if spec.editor == BOOL:
        low = stripped.lower()
        if low in ("true", "1", "yes"):
            return True
        if low in ("false", "0", "no"):
            return False
        raise FieldError(spec.name, f"{stripped!r} is not true or false")
    try:
        value = load_json(text)
    except json.JSONDecodeError as exc:
        raise FieldError(spec.name, json_error_text(text, exc), line=exc.lineno, column=exc.colno) from None
    except ValueError as exc:  # NaN or Infinity, or nested too deeply
        raise FieldError(spec.name, str(exc)) from None
    if spec.param.kind == VAR_POSITIONAL and not isinstance(value, list):
        raise FieldError(spec.name, f"must be a JSON array, got {type(value).__name__}")
    if spec.param.kind == VAR_KEYWORD and not isinstance(value, dict):
        raise FieldError(spec.name, f"must be a JSON object, got {type(value).__name__}")
    return value


def _bad_column(text: str, allowed: str) -> Optional[int]:
    """1-based column of the first character that cannot belong to a number."""
    for i, ch in enumerate(text):
        if not re.fullmatch(allowed, ch):
            return i + 1
    return None


def parse_fields(specs: list[FieldSpec], texts: Mapping[str, Any]) -> tuple[dict, dict[str, FieldError]]:
    """(values by name, errors by name) for the whole form."""
    values: dict = {}
    errors: dict[str, FieldError] = {}
    for spec in specs:
        try:
            values[spec.name] = parse_field(spec, texts.get(spec.name, ""))
        except FieldError as exc:
            errors[spec.name] = exc
    return values, errors


def assemble_call(task: TaskInfo, values: Mapping[str, Any]) -> tuple[list, dict]:
    """``(args, kwargs)`` for ``task`` from the form's values, respecting parameter kinds.

    Positional-or-keyword parameters go by keyword (readable in Flower and the history), unless
    ``*args`` has values: then everything before it must go by position. Positional-only ones go
    by position; one left empty before a given one is filled with its default if JSON has it.
    """
    params = task.params
    extra = values.get(next((p.name for p in params if p.kind == VAR_POSITIONAL), ""), MISSING)
    extra = [] if extra is MISSING else list(extra)
    args: list = []
    kwargs: dict = {}
    pending: list[Param] = []  # positional ones left empty, filled if a later one is given
    for p in params:
        value = values.get(p.name, MISSING)
        by_position = p.kind == POSITIONAL_ONLY or (p.kind == POSITIONAL_OR_KEYWORD and extra)
        if by_position:
            if value is MISSING:
                pending.append(p)
                continue
            for gap in pending:
                if not gap.has_default or gap.default_is_repr:
                    raise CallError(f"{gap.name!r} must be given: {p.name!r} comes after it and "
                                    f"goes by position")
                args.append(gap.default)
            pending.clear()
            args.append(value)
        elif p.kind == VAR_POSITIONAL:
            if extra:
                for gap in pending:  # *args given: every positional before it is needed
                    if not gap.has_default or gap.default_is_repr:
                        raise CallError(f"{gap.name!r} must be given when *{p.name} has values")
                    args.append(gap.default)
                pending.clear()
            args.extend(extra)
        elif p.kind == VAR_KEYWORD:
            if value is not MISSING:
                clash = sorted(set(value) & set(kwargs))
                if clash:
                    raise CallError(f"**{p.name} repeats {', '.join(map(repr, clash))}, already a field of the form")
                kwargs.update(value)
        elif value is not MISSING:  # positional-or-keyword (no *args values), keyword-only
            kwargs[p.name] = value
    return args, kwargs


def build_call(tasks: Mapping[str, TaskInfo], name: str, texts: Mapping[str, Any]) -> tuple[list, dict]:
    """Parse, assemble and check a whole form; FieldError or CallError says what is wrong."""
    task = tasks[name]
    specs = field_specs(task)
    values, errors = parse_fields(specs, texts)
    if errors:
        raise next(iter(errors.values()))
    args, kwargs = assemble_call(task, values)
    problem = check_call(tasks, name, args, kwargs)
    if problem:
        raise CallError(problem)
    return args, kwargs


def values_from_call(task: TaskInfo, args: list, kwargs: Mapping) -> dict[str, Any]:
    """The form's values for a call made before ('edit and run again'): the inverse of assemble."""
    values: dict = {}
    rest = dict(kwargs)
    positional = [p for p in task.params if p.kind in (POSITIONAL_ONLY, POSITIONAL_OR_KEYWORD)]
    for p, value in zip(positional, args):
        values[p.name] = value
    var_pos = next((p for p in task.params if p.kind == VAR_POSITIONAL), None)
    if var_pos is not None and len(args) > len(positional):
        values[var_pos.name] = list(args[len(positional):])
    for p in task.params:
        if p.kind in (POSITIONAL_OR_KEYWORD, KEYWORD_ONLY) and p.name in rest:
            values[p.name] = rest.pop(p.name)
    var_kw = next((p for p in task.params if p.kind == VAR_KEYWORD), None)
    if var_kw is not None and rest:
        values[var_kw.name] = rest
    return values
