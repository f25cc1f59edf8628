"""Describe a Celery app from inside the project's interpreter: tasks, signatures, beat schedule.

celerydesk runs this file's source with ``python -c SOURCE APP`` in the project's interpreter,
with the project's folder as working directory (``-c`` puts that folder first on ``sys.path``,
as ``celery -A`` does). It never runs inside celerydesk's own process: the user's code imports
Django and their own packages, which celerydesk does not have. So this module imports only the
standard library and celery, keeps to Python 3.9 syntax, and imports nothing from celerydesk
(which is not installed there).

It loads the app the way the worker does (``celery.app.utils.find_app``: a Django project's
package, ``module:attribute``, a plain module), then runs the worker's task discovery
(``import_default_modules`` sends ``import_modules``, on which the Django fix-up calls
``django.setup()`` and ``autodiscover_tasks()`` imports every app's ``tasks`` module) and
finalizes the app so ``@shared_task``s are bound to it.

It prints exactly one line, ``CELERYDESK-INTROSPECT {json}``, on the real standard output;
anything the project prints while loading goes to standard error, so it cannot corrupt that line.
The JSON is ``{"ok": true, "app": {...}, "tasks": [...], "beat_schedule": [...]}`` or
``{"ok": false, "error": {"phase", "type", "message", "module", "traceback"}}``.
"""

import ast
import inspect
import json
import math
import os
import sys
import traceback

MARKER = "CELERYDESK-INTROSPECT "
# How far loading got (import, discover, describe), reported with an error: the hint differs.
state = {"phase": "start"}

_KINDS = {
    inspect.Parameter.POSITIONAL_ONLY: "positional_only",
    inspect.Parameter.POSITIONAL_OR_KEYWORD: "positional_or_keyword",
    inspect.Parameter.VAR_POSITIONAL: "var_positional",
    inspect.Parameter.KEYWORD_ONLY: "keyword_only",
    inspect.Parameter.VAR_KEYWORD: "var_keyword",
}


def is_json_safe(value, depth=0):
    """True for values json.dumps writes and json.loads gives back unchanged.

    Tuples (which come back as lists), non-finite floats (not JSON) and non-string keys are not.
    """
    if depth > 20:
        return False
    if value is None or isinstance(value, (bool, str)):
        return True
    if isinstance(value, int):
        return type(value) is int  # an IntEnum member would come back as a plain int
    if isinstance(value, float):
        return math.isfinite(value)
    if type(value) is list:
        return all(is_json_safe(v, depth + 1) for v in value)
    if type(value) is dict:
        return all(isinstance(k, str) and is_json_safe(v, depth + 1) for k, v in value.items())
    return False


def json_or_repr(value):
    """(value, is_repr): the value itself when JSON keeps it, else its repr."""
    if is_json_safe(value):
        return value, False
    if isinstance(value, tuple) and is_json_safe(list(value)):
        return list(value), False  # args given as a tuple are a list on the wire anyway
    try:
        return repr(value), True
    except Exception as exc:  # a broken __repr__ in user code must not lose the whole answer
        return "<unrepresentable %s: %s>" % (type(value).__name__, exc), True


def annotation_text(annotation):
    if isinstance(annotation, str):
        # Already source text (a quoted annotation, or `from __future__ import annotations`,
        # under which a quoted one arrives quoted twice: "'list[int]'").
        if len(annotation) >= 2 and annotation[0] == annotation[-1] and annotation[0] in "'\"":
            try:
                inner = ast.literal_eval(annotation)
            except (ValueError, SyntaxError):
                return annotation
            return inner if isinstance(inner, str) else annotation
        return annotation
    try:
        return inspect.formatannotation(annotation)
    except Exception:
        return repr(annotation)


def describe_params(task):
    """The parameters of the task's ``run``; a bound task's ``self`` is not among them.

    ``task.run`` is the decorated function for plain tasks and a bound method for
    ``bind=True`` tasks and Task subclasses, so ``inspect.signature`` drops ``self`` itself.
    """
    signature = inspect.signature(task.run)
    params = []
    for param in signature.parameters.values():
        item = {"name": param.name, "kind": _KINDS[param.kind]}
        if param.default is not inspect.Parameter.empty:
            item["default"], is_repr = json_or_repr(param.default)
            if is_repr:
                item["default_is_repr"] = True
        if param.annotation is not inspect.Parameter.empty:
            item["annotation"] = annotation_text(param.annotation)
        params.append(item)
    returns = None
    if signature.return_annotation is not inspect.Signature.empty:
        returns = annotation_text(signature.return_annotation)
    return params, returns


def describe_route(app, name, task):
    """Where ``apply_async`` would send the task: task_routes, the task's own queue, the default."""
    options = {}
    if getattr(task, "queue", None):
        options["queue"] = task.queue
    route = app.amqp.router.route(options, name, (), {}, task)
    queue = route.get("queue")
    out = {"queue": getattr(queue, "name", queue)}
    exchange = route.get("exchange", getattr(queue, "exchange", None))
    out["exchange"] = getattr(exchange, "name", exchange)
    out["routing_key"] = route.get("routing_key", getattr(queue, "routing_key", None))
    return out


def describe_queues(app):
    """The app's configured queues (task_queues, with the default one): names only."""
    try:
        return sorted(str(name) for name in app.amqp.queues)
    except Exception:  # a task_queues setting celery itself cannot read: shown as none
        return []


def describe_task(app, name, task):
    doc = task.__doc__ or getattr(task.run, "__doc__", None)
    item = {
        "name": name,
        "module": getattr(task, "__module__", None),
        "doc": inspect.cleandoc(doc) if doc else None,
        # bind=True tasks and Task subclasses get the task as `self` (already left out of params)
        "bound": not isinstance(inspect.getattr_static(task, "run", None), staticmethod),
        # celery's own tasks (celery.backend_cleanup, celery.chord_unlock, ...): not the user's
        "internal": name.startswith("celery."),
        "params": [],
    }
    try:
        item["params"], item["returns"] = describe_params(task)
    except (TypeError, ValueError) as exc:  # a C callable or a broken __signature__
        item["params_error"] = "%s: %s" % (type(exc).__name__, exc)
    try:
        item.update(describe_route(app, name, task))
    except Exception as exc:  # a task_routes function that cannot handle empty args
        item["route_error"] = "%s: %s" % (type(exc).__name__, exc)
    for option in ("rate_limit", "max_retries", "ignore_result", "acks_late"):
        value = getattr(task, option, None)
        item[option], _ = json_or_repr(value)
    return item


def _field(value):
    """A crontab field as crontab() was given it: "30", "*/15", "1,3,5"."""
    if isinstance(value, (set, frozenset, list, tuple, range)):
        return ",".join(str(v) for v in sorted(value))
    return str(value)


def describe_schedule(schedule):
    """A beat schedule as data: crontab fields, an interval in seconds, or a solar event."""
    from datetime import timedelta

    from celery import schedules

    if isinstance(schedule, (int, float)) and not isinstance(schedule, bool):
        return {"type": "interval", "seconds": float(schedule)}  # beat's reading of a bare number
    if isinstance(schedule, timedelta):
        return {"type": "interval", "seconds": schedule.total_seconds()}
    if isinstance(schedule, schedules.crontab):
        fields = {
            "minute": _field(schedule._orig_minute),
            "hour": _field(schedule._orig_hour),
            "day_of_month": _field(schedule._orig_day_of_month),
            "month_of_year": _field(schedule._orig_month_of_year),
            "day_of_week": _field(schedule._orig_day_of_week),
        }
        cron = " ".join(fields[k] for k in ("minute", "hour", "day_of_month", "month_of_year", "day_of_week"))
        return dict({"type": "crontab", "cron": cron}, **fields)
    if isinstance(schedule, schedules.solar):
        return {"type": "solar", "event": schedule.event, "lat": schedule.lat, "lon": schedule.lon}
    if isinstance(schedule, schedules.schedule):
        return {"type": "interval", "seconds": schedule.run_every.total_seconds(),
                "relative": bool(schedule.relative)}
    return {"type": "other", "class": type(schedule).__module__ + "." + type(schedule).__qualname__,
            "repr": json_or_repr(schedule)[0] if not isinstance(schedule, str) else schedule}


def describe_beat(app, from_code):
    entries = []
    for key, entry in dict(app.conf.beat_schedule or {}).items():
        item = {"name": str(key), "source": "add_periodic_task" if key in from_code else "config"}
        try:
            item["task"] = entry.get("task")
            item["schedule"] = describe_schedule(entry.get("schedule"))
            for part in ("args", "kwargs", "options"):
                value = entry.get(part)
                if value is not None:
                    item[part], is_repr = json_or_repr(value)
                    if is_repr:
                        item[part + "_is_repr"] = True
            if "relative" in entry:
                item["relative"] = bool(entry["relative"])
        except Exception as exc:  # one odd entry must not hide the others
            item["error"] = "%s: %s" % (type(exc).__name__, exc)
        entries.append(item)
    return entries


def describe_scheduler(app):
    """The app's beat_scheduler setting, and its class's ancestry (what celerydesk can do with it
    depends on whether it is celery's own, django-celery-beat's, RedBeat's or another)."""
    from celery.utils.imports import load_extension_class_names, symbol_by_name

    setting = app.conf.beat_scheduler
    out = {"beat_scheduler": setting if isinstance(setting, str) else
           "%s:%s" % (setting.__module__, setting.__qualname__)}
    try:
        aliases = dict(load_extension_class_names("celery.beat_schedulers"))
        cls = symbol_by_name(setting, aliases=aliases)
        out["beat_scheduler_mro"] = ["%s.%s" % (c.__module__, c.__qualname__) for c in cls.__mro__]
    except Exception as exc:  # the worker would not care; beat will fail the same way
        out["beat_scheduler_error"] = "%s: %s" % (type(exc).__name__, exc)
    return out


def load_app(app_name, from_code):
    """Load and finalize the app as ``celery -A APP worker`` does; return it."""
    import celery
    from celery.app.base import Celery
    from celery.app.utils import find_app

    # Remember which beat entries come from add_periodic_task (code, not settings): an editor
    # can change the ones in settings but not those.
    original = Celery._add_periodic_task

    def recording(self, key, entry, name=None):
        from_code.add(key)
        return original(self, key, entry, name=name)

    Celery._add_periodic_task = recording
    state["phase"] = "import"
    app = find_app(app_name)
    if not isinstance(app, Celery):
        raise TypeError("%r is a %s, not a Celery app" % (app_name, type(app).__name__))
    state["phase"] = "discover"
    app.loader.import_default_modules()  # Django set-up, autodiscover_tasks, `imports`/`include`
    app.finalize(auto=True)  # binds pending @shared_tasks to this app
    app.conf.beat_schedule  # configures the app: pending add_periodic_task entries land now
    return app, celery.__version__


def introspect(app_name):
    from_code = set()
    app, celery_version = load_app(app_name, from_code)
    state["phase"] = "describe"
    tasks = [describe_task(app, name, task) for name, task in sorted(app.tasks.items())]
    return {
        "app": dict({
            "main": app.main,
            "default_queue": app.conf.task_default_queue,
            "queues": describe_queues(app),
            "timezone": str(app.timezone),
            "celery": celery_version,
            "python": sys.version.split()[0],
        }, **describe_scheduler(app)),
        "tasks": tasks,
        "beat_schedule": describe_beat(app, from_code),
    }


def _is_library_frame(filename, libraries, stdlib):
    if filename.startswith("<"):  # frozen importlib, this script (run with -c)
        return True
    if filename.startswith(libraries):
        return True
    # The standard library (functools, collections, importlib), but not site-packages, which
    # lies under it when there is no virtualenv and may hold the project's own packages.
    return filename.startswith(stdlib) and "-packages" + os.sep not in filename


def project_traceback(exc):
    """The traceback of the error with the project's frames only, as Python prints it.

    Frames of the standard library, celery, kombu, vine, django and this script are left out
    (the user cannot act on them), except the one that raised; so are 3.11's ^^^ markers under
    frames. A SyntaxError keeps its caret, which points at the mistake.
    """
    libraries = []
    for name in ("celery", "kombu", "vine", "django"):
        module = sys.modules.get(name)
        if module is not None and getattr(module, "__file__", None):
            libraries.append(os.path.dirname(module.__file__) + os.sep)
    stdlib = os.path.dirname(os.__file__) + os.sep
    te = traceback.TracebackException(type(exc), exc, exc.__traceback__)
    frames = list(te.stack)
    keep = [f for f in frames if not _is_library_frame(f.filename, tuple(libraries), stdlib)]
    last = frames[-1] if frames else None
    if last is not None and not last.filename.startswith("<") and (not keep or keep[-1] is not last):
        keep.append(last)
    lines = ["Traceback (most recent call last):\n"] if keep else []
    for chunk in traceback.StackSummary.from_list(keep).format():
        lines.extend(ln for ln in chunk.splitlines(True) if ln.strip() and ln.strip().strip("^~") != "")
    lines.extend(te.format_exception_only())
    return "".join(lines)


def main(argv):
    app_name = argv[1] if len(argv) > 1 else os.environ.get("CELERYDESK_APP", "")
    real_stdout = sys.stdout
    # The project may print while it loads (settings, task modules): keep stdout for our line.
    sys.stdout = sys.stderr
    try:
        payload = dict(ok=True, **introspect(app_name))
    except BaseException as exc:  # SystemExit from a settings file is a failure to report too
        payload = {"ok": False, "error": {
            "phase": state["phase"],
            "type": type(exc).__name__,
            "message": str(exc),
            "module": getattr(exc, "name", None) if isinstance(exc, ImportError) else None,
            "traceback": project_traceback(exc),
        }}
    text = json.dumps(payload, default=repr)
    real_stdout.write(MARKER + text + "\n")
    real_stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
