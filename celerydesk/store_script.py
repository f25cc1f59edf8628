"""Read and write the periodic tasks a project keeps in a store, from inside its own interpreter.

Two stores, each through the project's own code, never around it:

- ``database``: django-celery-beat's models (``PeriodicTask`` with ``CrontabSchedule`` /
  ``IntervalSchedule``; solar and clocked rows are listed, not rewritten). Saving a row goes
  through the model's ``save()`` (its signals bump ``PeriodicTasks``) and then
  ``PeriodicTasks.update_changed()``, which is what the DatabaseScheduler watches.
- ``redbeat``: RedBeat's ``RedBeatSchedulerEntry`` (``save()``, ``delete()``, ``from_key()``),
  in the Redis the app's RedBeat settings name.

celerydesk runs this file's source as ``python -c SOURCE APP KIND [REQUEST]`` in the project's
interpreter, in its folder and environment (as the introspector, ``introspect_script.py``):
with a REQUEST (JSON) it answers that one and exits; with ``--serve`` it answers one JSON
request per line of standard input until that closes (the window keeps one running, so a
change made elsewhere shows within seconds without loading Django each time). Each answer is
one line on the real standard output, ``CELERYDESK-STORE {json}``: ``{"ok": true, ...}`` or
``{"ok": false, "error": ..., "hint": ...}``. Anything the project prints goes to standard error.

Requests: ``{"op": "list", "token": T}`` (``{"entries": [...], "token": T2}``, or
``{"unchanged": true}`` when nothing changed since T); ``{"op": "save", "name": N,
"create": bool, "values": {...}}`` (task, cron or every, timezone, args, kwargs, queue,
priority, expires, one_off, start_at, enabled, rename; a key given as null is cleared);
``{"op": "remove", "name": N}``; ``{"op": "enable", "name": N, "enabled": bool}``.

Like the introspector, it imports only the standard library, celery and what the project has,
and keeps to Python 3.9 syntax.
"""

import hashlib
import json
import sys
from datetime import datetime, timedelta, timezone

MARKER = "CELERYDESK-STORE "


class Refused(Exception):
    """A request that cannot be carried out; the message says why, the hint what to do."""

    def __init__(self, message, hint=""):
        super().__init__(message)
        self.hint = hint


def _iso(value):
    return value.isoformat() if isinstance(value, datetime) else value


def _aware(text, zone):
    """An ISO time; without an offset it is read in ``zone`` (the schedule's, else the app's)."""
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except (TypeError, ValueError):
        raise Refused("%r is not an ISO time" % (text,), "e.g. 2026-12-24T18:00:00+01:00")
    return value if value.tzinfo else value.replace(tzinfo=zone)


def _zone(name):
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise Refused("unknown timezone %r" % (name,), "use an IANA name such as Europe/Paris or UTC")


def _cron_fields(text):
    fields = str(text).split()
    if len(fields) != 5:
        raise Refused("cron %r needs 5 fields (minute hour day-of-month month day-of-week)" % (text,))
    return dict(zip(("minute", "hour", "day_of_month", "month_of_year", "day_of_week"), fields))


def _next_run(schedule, last_run_at, now):
    """When ``schedule`` sends next after ``last_run_at``, by its own arithmetic (solar too)."""
    try:
        remaining = schedule.remaining_estimate(last_run_at)
    except Exception:  # an odd schedule must not hide the listing
        return None
    if remaining is None:
        return None
    when = now + max(remaining, timedelta(0))
    return (when + timedelta(microseconds=500000)).replace(microsecond=0)  # to the second, as people read it


def _words_solar(solar):
    return "At %s at latitude %s, longitude %s" % (solar.get_event_display().lower(), solar.latitude,
                                                    solar.longitude)


# -- django-celery-beat ----------------------------------------------------------------------------


class DatabaseStore:
    source = "database"

    def __init__(self, app):
        import django
        from django.apps import apps

        if not apps.ready:
            django.setup()
        from django_celery_beat import models

        self.app = app
        self.m = models

    def token(self):
        from django.db import close_old_connections
        from django.db.models import Count, Max, Sum

        close_old_connections()  # a long-lived agent must not keep a connection the database dropped
        agg = self.m.PeriodicTask.objects.aggregate(Count("id"), Max("date_changed"), Sum("total_run_count"),
                                                    Max("last_run_at"))
        return repr((self.m.PeriodicTasks.last_change(), sorted(agg.items())))

    def list(self):
        from celery.utils.time import maybe_make_aware

        statics = set(self.app.conf.beat_schedule or {})
        now = datetime.now(timezone.utc)
        rows = self.m.PeriodicTask.objects.select_related("crontab", "interval", "solar", "clocked").order_by("name")
        return [self._entry(pt, statics, now, maybe_make_aware) for pt in rows]

    def _entry(self, pt, statics, now, maybe_make_aware):
        d = {"name": pt.name, "task": pt.task, "enabled": pt.enabled, "queue": pt.queue, "priority": pt.priority,
             "one_off": pt.one_off, "start_at": _iso(pt.start_time), "expires": _iso(pt.expires) or pt.expire_seconds,
             "last_run_at": _iso(pt.last_run_at), "total_run_count": pt.total_run_count,
             "notes": pt.description or None, "from_settings": pt.name in statics}
        for key in ("args", "kwargs"):
            try:
                d[key] = json.loads(getattr(pt, key) or ("[]" if key == "args" else "{}"))
            except ValueError as exc:
                d[key] = [] if key == "args" else {}
                d["error"] = "its %s are not JSON (%s); beat disables it" % (key, exc)
        if pt.crontab is not None:
            c = pt.crontab
            d["cron"] = " ".join((c.minute, c.hour, c.day_of_month, c.month_of_year, c.day_of_week))
            d["timezone"] = str(c.timezone)
        elif pt.interval is not None:
            d["every"] = timedelta(**{pt.interval.period: pt.interval.every}).total_seconds()
        elif pt.solar is not None:
            d["schedule"], d["kind"] = _words_solar(pt.solar), "solar"
        elif pt.clocked is not None:
            d["schedule"], d["kind"] = "Once, at %s" % _iso(pt.clocked.clocked_time), "clocked"
        else:
            d["schedule"], d["error"] = "no schedule", "it has no schedule; beat cannot run it"
        d["next_run_at"] = None
        if "error" not in d:
            try:
                d["next_run_at"] = _iso(self._next(pt, now, maybe_make_aware))
            except Exception as exc:  # a solar schedule without ephem: beat fails on it the same way
                d["error"] = "beat cannot compute when it runs: %s" % (str(exc).strip().splitlines() or [exc])[0]
        return d

    def _next(self, pt, now, maybe_make_aware):
        """What django-celery-beat's ModelEntry.is_due would do, without saving anything."""
        if not pt.enabled or (pt.expires is not None and now >= pt.expires):
            return None
        if pt.one_off and pt.total_run_count > 0:
            return None
        if pt.start_time is not None and now < pt.start_time:
            if pt.crontab is not None:
                return pt.crontab.due_start_time(pt.start_time, pt.crontab.timezone)
            return pt.start_time
        last = pt.last_run_at or pt.date_changed or now
        if pt.start_time is not None and pt.last_run_at is None:
            return now  # ModelEntry puts its last run 30 years back: due at once
        return _next_run(pt.schedule, maybe_make_aware(last), now)

    def _get(self, name):
        try:
            return self.m.PeriodicTask.objects.select_related("crontab", "interval").get(name=name)
        except self.m.PeriodicTask.DoesNotExist:
            raise Refused("no database entry called %r" % (name,), "see: celerydesk schedules list")

    def save(self, name, values, create):
        from django.core.exceptions import ValidationError
        from django.db import transaction

        with transaction.atomic():
            if create:
                if self.m.PeriodicTask.objects.filter(name=name).exists():
                    raise Refused("a database entry called %r exists already" % (name,))
                pt = self.m.PeriodicTask(name=name)
            else:
                pt = self._get(name)
            self._apply(pt, values)
            try:
                pt.full_clean()
            except ValidationError as exc:
                words = "; ".join("%s: %s" % (k, " ".join(v)) for k, v in getattr(exc, "message_dict", {}).items())
                raise Refused("django-celery-beat refuses it: %s" % (words or "; ".join(exc.messages)))
            pt.save()
        self.m.PeriodicTasks.update_changed()  # what the DatabaseScheduler watches
        return {"name": pt.name}

    def _apply(self, pt, v):
        m = self.m
        if v.get("rename"):
            if m.PeriodicTask.objects.filter(name=v["rename"]).exclude(pk=pt.pk).exists():
                raise Refused("a database entry called %r exists already" % (v["rename"],))
            pt.name = v["rename"]
        if "task" in v:
            pt.task = v["task"]
        if v.get("cron") is not None or ("timezone" in v and pt.crontab is not None and v.get("every") is None):
            if pt.crontab is None and v.get("cron") is None:
                raise Refused("only a crontab has a timezone")
            fields = _cron_fields(v["cron"]) if v.get("cron") is not None else {
                k: getattr(pt.crontab, k) for k in ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")}
            zone = v.get("timezone") or (str(pt.crontab.timezone) if pt.crontab is not None and "timezone" not in v
                                         else str(self.app.timezone))
            fields["timezone"] = _zone(zone)
            pt.crontab = m.CrontabSchedule.objects.filter(**fields).first() or m.CrontabSchedule.objects.create(**fields)
            pt.interval = pt.solar = pt.clocked = None
        elif v.get("every") is not None:
            if v.get("timezone"):
                raise Refused("only a crontab has a timezone (an interval runs the same in every zone)")
            seconds = float(v["every"])
            every, period = (int(seconds), m.SECONDS) if seconds.is_integer() else (
                int(round(seconds * 1e6)), m.MICROSECONDS)
            if every < 1:
                raise Refused("every: must be at least 1 microsecond")
            pt.interval = m.IntervalSchedule.objects.filter(every=every, period=period).first() or \
                m.IntervalSchedule.objects.create(every=every, period=period)
            pt.crontab = pt.solar = pt.clocked = None
        elif pt.pk is None:
            raise Refused("a new entry needs cron or every")
        for key in ("args", "kwargs"):
            if key in v:
                setattr(pt, key, json.dumps(v[key] if v[key] is not None else ([] if key == "args" else {})))
        zone = pt.crontab.timezone if pt.crontab is not None else self.app.timezone
        for key, field in (("queue", "queue"), ("priority", "priority"), ("one_off", "one_off"),
                           ("enabled", "enabled")):
            if key in v:
                setattr(pt, field, v[key] if key not in ("one_off", "enabled") else bool(v[key]))
        if "start_at" in v:
            pt.start_time = _aware(v["start_at"], zone)
        if "expires" in v:
            value = v["expires"]
            pt.expires, pt.expire_seconds = None, None
            if isinstance(value, str):
                pt.expires = _aware(value, zone)
            elif value is not None:
                pt.expire_seconds = int(round(float(value)))

    def remove(self, name):
        self._get(name).delete()
        self.m.PeriodicTasks.update_changed()
        return {}

    def enable(self, name, enabled):
        pt = self._get(name)
        pt.enabled = bool(enabled)
        pt.save()
        self.m.PeriodicTasks.update_changed()
        return {}


# -- RedBeat ------------------------------------------------------------------------------------------


class RedBeatStore:
    source = "redbeat"
    # What RedBeat's entries can hold: a crontab without a timezone (RedBeat stores none), and no
    # start time or one-off flag.
    unsupported = {"timezone": "RedBeat stores a crontab without a timezone (it runs in the app's)",
                   "start_at": "RedBeat entries have no start time", "one_off": "RedBeat entries have no one-off flag"}

    def __init__(self, app):
        from redbeat import schedulers

        schedulers.ensure_conf(app)
        self.app = app
        self.s = schedulers
        self.conf = app.redbeat_conf

    def token(self):
        return None  # listing is a few Redis round trips: cheap enough to compare whole

    def list(self):
        client = self.s.get_redis(self.app)
        keys = client.zrange(self.conf.schedule_key, 0, -1, withscores=True)
        statics = set(client.smembers(self.conf.statics_key))
        with client.pipeline() as pipe:
            for key, _ in keys:
                pipe.hget(key, "definition")
                pipe.hget(key, "meta")
            raw = pipe.execute()
        entries = []
        for i, (key, score) in enumerate(keys):
            definition, meta = raw[2 * i], raw[2 * i + 1]
            if not definition:
                continue  # deleted between the two calls
            entries.append(self._entry(key, score, definition, meta, statics))
        return sorted(entries, key=lambda e: e["name"])

    def _entry(self, key, score, definition, meta, statics):
        from celery.schedules import crontab, schedule as interval

        Entry = self.s.RedBeatSchedulerEntry
        d = Entry.decode_definition(definition)
        meta = Entry.decode_meta(meta)
        options = d.get("options") or {}
        name = d.get("name") or key[len(self.conf.key_prefix):]
        out = {"name": name, "task": d.get("task"), "enabled": bool(d.get("enabled", True)),
               "args": list(d.get("args") or []), "kwargs": dict(d.get("kwargs") or {}),
               "queue": options.get("queue"), "priority": options.get("priority"),
               "expires": _iso(options.get("expires")), "last_run_at": _iso(meta.get("last_run_at")),
               "total_run_count": meta.get("total_run_count", 0), "from_settings": name in statics}
        sched = d.get("schedule")
        if isinstance(sched, crontab):
            out["cron"] = " ".join(str(getattr(sched, "_orig_" + f)) for f in (
                "minute", "hour", "day_of_month", "month_of_year", "day_of_week"))
        elif isinstance(sched, interval):
            out["every"] = sched.run_every.total_seconds()
        else:
            out["schedule"], out["kind"] = repr(sched), type(sched).__name__
        due = score >= 0 and out["enabled"]  # RedBeat's score is when the entry is due next
        out["next_run_at"] = datetime.fromtimestamp(score, timezone.utc).isoformat() if due else None
        return out

    def _schedule(self, v, old):
        from celery.schedules import crontab, schedule as interval

        if v.get("cron") is not None:
            return crontab(app=self.app, **_cron_fields(v["cron"]))
        if v.get("every") is not None:
            return interval(timedelta(seconds=float(v["every"])), app=self.app)
        if old is None:
            raise Refused("a new entry needs cron or every")
        return old

    def save(self, name, values, create):
        for key, why in self.unsupported.items():
            if values.get(key):
                raise Refused("%s: %s" % (key, why), "leave it out for a RedBeat entry")
        if isinstance(values.get("expires"), str):
            raise Refused("expires: a RedBeat entry takes seconds (each message's expiry), not a time")
        Entry = self.s.RedBeatSchedulerEntry
        client = self.s.get_redis(self.app)
        key = Entry.generate_key(self.app, name)
        exists = client.exists(key)
        if create and exists:
            raise Refused("a RedBeat entry called %r exists already" % (name,))
        if not create and not exists:
            raise Refused("no RedBeat entry called %r" % (name,), "see: celerydesk schedules list")
        old = None if create else Entry.from_key(key, app=self.app)
        options = dict(old.options if old is not None else {})
        for option in ("queue", "priority", "expires"):
            if option in values:
                if values[option] is None:
                    options.pop(option, None)
                else:
                    options[option] = values[option]
        new_name = values.get("rename") or name
        if new_name != name and client.exists(Entry.generate_key(self.app, new_name)):
            raise Refused("a RedBeat entry called %r exists already" % (new_name,))
        entry = Entry(name=new_name, task=values.get("task", old.task if old else None),
                      schedule=self._schedule(values, old.schedule if old else None),
                      args=values.get("args", old.args if old else None),
                      kwargs=values.get("kwargs", old.kwargs if old else None), options=options,
                      enabled=bool(values.get("enabled", old.enabled if old else True)), app=self.app)
        if old is not None:
            entry.last_run_at = old.last_run_at  # kept on an edit, as RedBeat's own update_from_dict does
        if not entry.task:
            raise Refused("a new entry needs a task")
        if new_name != name:
            old.delete()
        entry.save()
        return {"name": new_name}

    def remove(self, name):
        Entry = self.s.RedBeatSchedulerEntry
        if not self.s.get_redis(self.app).exists(Entry.generate_key(self.app, name)):
            raise Refused("no RedBeat entry called %r" % (name,), "see: celerydesk schedules list")
        Entry(name=name, app=self.app).delete()
        return {}

    def enable(self, name, enabled):
        return self.save(name, {"enabled": bool(enabled)}, create=False)


STORES = {"database": DatabaseStore, "redbeat": RedBeatStore}


def answer(store, request):
    op = request.get("op")
    if op == "list":
        token = store.token()
        if token is not None and token == request.get("token"):
            return {"unchanged": True, "token": token}
        entries = store.list()
        if token is None:
            token = hashlib.sha256(json.dumps(entries, sort_keys=True, default=repr).encode()).hexdigest()
            if token == request.get("token"):
                return {"unchanged": True, "token": token}
        return {"entries": entries, "token": token}
    if op == "save":
        return store.save(request["name"], dict(request.get("values") or {}), bool(request.get("create")))
    if op == "remove":
        return store.remove(request["name"])
    if op == "enable":
        return store.enable(request["name"], request.get("enabled", True))
    raise Refused("unknown request %r" % (op,))


def failure(exc):
    if isinstance(exc, Refused):
        return {"ok": False, "error": str(exc), "hint": exc.hint}
    return {"ok": False, "error": "%s: %s" % (type(exc).__name__, exc), "type": type(exc).__name__}


def main(argv):
    real_stdout = sys.stdout
    sys.stdout = sys.stderr  # the project may print while it loads

    def say(payload):
        real_stdout.write(MARKER + json.dumps(payload, default=repr) + "\n")
        real_stdout.flush()

    app_name, kind = argv[1], argv[2]
    try:
        from celery.app.utils import find_app

        store = STORES[kind](find_app(app_name))
    except BaseException as exc:  # SystemExit from a settings file is a failure to report too
        say(dict(failure(exc), phase="load"))
        return 0
    lines = sys.stdin if argv[3:] == ["--serve"] else [argv[3] if len(argv) > 3 else '{"op": "list"}']
    for line in lines:
        if not line.strip():
            continue
        request = {}
        try:
            request = json.loads(line)
            reply = dict(answer(store, request), ok=True)
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            reply = failure(exc)
        if "id" in request:
            reply["id"] = request["id"]
        say(reply)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
