"""celerydesk's live scheduler for celery beat: schedules that change without restarting beat.

Stock beat reads ``beat_schedule`` once (DESIGN.md). celerydesk starts beat with
``-S celerydesk_beat_scheduler:LiveScheduler``; this scheduler sends

- the workspace's ``[[schedules]]``, read from a JSON mirror that celerydesk writes
  (``$CELERYDESK_SCHEDULES_FILE``) and re-read within a second whenever it changes, so an
  added, edited, disabled or removed schedule takes effect without a restart; each may have
  its own ``timezone`` (a crontab), ``start_at``, ``expires`` (seconds: each message's; a
  time: no run after it), ``one_off`` and ``priority``;
- and either the app's own ``beat_schedule``, as stock beat would, or, when the app
  configures a scheduler of its own that keeps entries in a store (django-celery-beat's
  ``DatabaseScheduler``, RedBeat's ``RedBeatScheduler``; celerydesk names its class in
  ``$CELERYDESK_PROJECT_SCHEDULER``), an instance of that class, *wrapped*: beat's loop calls
  this scheduler, which ticks the project's (its own entries, change detection, locks and
  ``beat_schedule`` handling, untouched) and then its own workspace entries, and sleeps the
  shorter of the two waits, at most a second. So the project's scheduler looks at its store
  at least every second; it syncs run times after every send, so they show at once.
  Wrapping, rather than writing the workspace's entries into the project's store, keeps the
  workspace file the one place they live and leaves the project's store as the app keeps it.

Every task it sends is recorded with its exact arguments for celerydesk's task history (celery's
events carry only a repr cut at 1,024 characters): ``celerydesk_history_sent`` (celerydesk's
``core/history/sent.py``, copied beside this module) writes them to ``$CELERYDESK_HISTORY_SPOOL``.
Recording never fails a send.

It keeps each schedule's last run time and run count in a small JSON state file
(``$CELERYDESK_BEAT_STATE_FILE``, written atomically) that celerydesk shows, and holds a lock
in the broker (Redis ``SET NX PX``, refreshed while beat runs) so that one workspace never has
two beats and no schedule runs twice: a second beat logs who holds the lock and exits 3.

This module runs in the PROJECT's interpreter, where celerydesk is not installed: it imports
only celery (and what celery brings) and the standard library, and keeps to Python 3.9.
celerydesk copies it alone into a folder it puts on that interpreter's PYTHONPATH.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from datetime import datetime, timedelta, timezone

from celery.beat import ScheduleEntry, Scheduler
from celery.schedules import crontab, schedstate, schedule as interval_schedule
from celery.utils.log import get_logger

try:  # copied beside this module by celerydesk; absent when beat is started some other way
    import celerydesk_history_sent
except ImportError:
    celerydesk_history_sent = None

ENV_SCHEDULES = "CELERYDESK_SCHEDULES_FILE"
ENV_STATE = "CELERYDESK_BEAT_STATE_FILE"
ENV_WORKSPACE_ID = "CELERYDESK_WORKSPACE_ID"
ENV_WORKSPACE = "CELERYDESK_WORKSPACE"
ENV_PROJECT_SCHEDULER = "CELERYDESK_PROJECT_SCHEDULER"
EXIT_LOCKED = 3
LOCK_TTL_MS = 15000  # a beat killed outright on another host frees the lock after this long
CHECK_INTERVAL = 1.0  # the mirror is looked at, and the lock refreshed, at least this often
IDLE = 3600.0  # how soon a finished one-off or an expired schedule is looked at again
STATE_VERSION = 1

logger = get_logger("celerydesk.beat")

# Compare-and-set scripts: the lock is only ever touched by the beat whose token it holds.
_REFRESH = """
local v = redis.call('get', KEYS[1])
if v == ARGV[1] then redis.call('pexpire', KEYS[1], ARGV[2]) return 1 end
if not v then redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 2 end
return 0
"""
_TAKE_OVER = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  redis.call('set', KEYS[1], ARGV[2], 'PX', ARGV[3]) return 1 end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


def _now_iso():
    return datetime.now(timezone.utc).isoformat()


def _write_json(path, data):
    """Write via a temporary file and rename: readers (celerydesk) never see half a file."""
    tmp = "%s.%d.tmp" % (path, os.getpid())
    # private like every file celerydesk keeps in .celerydesk (schedule names and arguments)
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, sort_keys=True, default=repr)
    os.replace(tmp, path)


def _process_start(pid):
    """The kernel's start time of a process (Linux), so a recycled pid is not taken for ours."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            data = f.read()
        return data[data.rindex(b")") + 2:].split()[19].decode()
    except (OSError, ValueError, IndexError):
        return None


def _alive(pid, start):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    current = _process_start(pid)
    return start is None or current is None or current == start


class BeatLocked(SystemExit):
    """Another live beat holds this workspace's lock."""


class _BrokerLock:
    """One beat per workspace: a Redis key holding who runs it; a file lock on other brokers."""

    def __init__(self, app, workspace_id, lock_dir):
        self.app = app
        self.key = "celerydesk:beat-lock:%s" % workspace_id
        self.lock_dir = lock_dir
        self.token = json.dumps({
            "token": uuid.uuid4().hex, "pid": os.getpid(), "host": socket.gethostname(),
            "start": _process_start(os.getpid()), "since": _now_iso(),
            "workspace": os.environ.get(ENV_WORKSPACE, ""),
        }, sort_keys=True)
        self._conn = None
        self._client = None
        self._fd = None
        self._last_refresh = 0.0
        self._warned = False

    def acquire(self):
        conn = self.app.connection_for_write()
        conn.ensure_connection(max_retries=3)
        if getattr(conn.transport, "driver_type", "") != "redis":
            conn.release()
            self._acquire_file_lock()
            return
        self._conn = conn
        self._client = conn.default_channel.client
        for _ in range(3):
            if self._client.set(self.key, self.token, nx=True, px=LOCK_TTL_MS):
                return
            held = self._client.get(self.key)
            if held is None:
                continue  # expired in between: try again
            holder = self._holder(held)
            if holder.get("host") == socket.gethostname() and isinstance(holder.get("pid"), int) \
                    and not _alive(holder["pid"], holder.get("start")):
                # A beat of this machine that died without releasing (kill -9): its lock is ours.
                if self._client.eval(_TAKE_OVER, 1, self.key, held, self.token, LOCK_TTL_MS):
                    logger.warning("celerydesk: took over the lock of a beat that died (pid %s)", holder["pid"])
                    return
                continue
            self._refuse(holder)
        self._refuse({})

    def _holder(self, held):
        try:
            holder = json.loads(held.decode() if isinstance(held, bytes) else held)
            return holder if isinstance(holder, dict) else {}
        except ValueError:
            return {}

    def _refuse(self, holder):
        who = "pid %s on %s" % (holder.get("pid", "?"), holder.get("host", "?")) if holder else "another process"
        logger.critical(
            "celerydesk: another celery beat (%s, since %s) already runs the schedules of workspace %s; "
            "a second one would send every task twice, so this one exits. Stop the other beat first.",
            who, holder.get("since", "?"), os.environ.get(ENV_WORKSPACE) or self.key)
        self.release()
        raise BeatLocked(EXIT_LOCKED)

    def _acquire_file_lock(self):
        import fcntl  # only for brokers other than Redis; not on Windows

        os.makedirs(self.lock_dir, exist_ok=True)
        fd = os.open(os.path.join(self.lock_dir, "beat.lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            held = os.read(fd, 4096)
            os.close(fd)
            self._refuse(self._holder(held))
        os.ftruncate(fd, 0)
        os.write(fd, self.token.encode())
        self._fd = fd
        logger.warning("celerydesk: the broker is not Redis; one beat per workspace is ensured on "
                       "this machine only (a file lock)")

    def refresh(self):
        """Keep the lock alive; False if another beat holds it now (this one must stop)."""
        if self._client is None or time.monotonic() - self._last_refresh < CHECK_INTERVAL:
            return True
        try:
            kept = self._client.eval(_REFRESH, 1, self.key, self.token, LOCK_TTL_MS)
        except Exception as exc:  # the broker is down: beat cannot send either; try again later
            if not self._warned:
                logger.warning("celerydesk: cannot refresh the beat lock (%r); retrying", exc)
                self._warned = True
            return True
        self._warned = False
        self._last_refresh = time.monotonic()
        return bool(kept)

    def release(self):
        if self._client is not None:
            try:
                self._client.eval(_RELEASE, 1, self.key, self.token)
            except Exception:  # the key expires by itself
                pass
            self._client = None
        if self._conn is not None:
            self._conn.release()
            self._conn = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class _ZonedCrontab(crontab):
    """A crontab read in its own timezone instead of the app's (a schedule's ``timezone``)."""

    def __init__(self, *args, **kwargs):
        self._zone_name = kwargs.pop("zone_name")
        super().__init__(*args, **kwargs)

    @property
    def tz(self):
        from zoneinfo import ZoneInfo

        return ZoneInfo(self._zone_name)


class LiveEntry(ScheduleEntry):
    """A workspace schedule: celery's entry, plus when it may start (``start_at``), when it ends
    (``until``: ``expires`` given as a time) and whether it runs only once (``one_off``;
    ``done`` once it has)."""

    def __init__(self, *args, **kwargs):
        self.start_at = kwargs.pop("start_at", None)
        self.until = kwargs.pop("until", None)
        self.one_off = kwargs.pop("one_off", False)
        self.done = kwargs.pop("done", False)
        super().__init__(*args, **kwargs)

    def is_due(self):
        now = self.default_now()
        if self.done or (self.until is not None and now >= self.until):
            return schedstate(False, IDLE)
        if self.start_at is not None and (self.last_run_at is None or self.last_run_at < self.start_at):
            if now < self.start_at:
                return schedstate(False, max((self.start_at - now).total_seconds(), 0.01))
            if isinstance(self.schedule, interval_schedule):  # its first run is at start_at
                return schedstate(True, self.schedule.run_every.total_seconds())
            return self.schedule.is_due(self.start_at)
        return self.schedule.is_due(self.last_run_at)

    def _next_instance(self, last_run_at=None):
        entry = super()._next_instance(last_run_at)
        entry.done = bool(self.one_off)
        return entry

    __next__ = next = _next_instance


def describe_schedule(sched):
    """The JSON celerydesk shows for a schedule object: cron text, seconds, or its repr."""
    if isinstance(sched, crontab):
        def text(value):
            if isinstance(value, (set, frozenset, list, tuple)):
                return ",".join(str(v) for v in sorted(value))
            return str(value)
        return {"cron": " ".join(text(getattr(sched, "_orig_" + f)) for f in (
            "minute", "hour", "day_of_month", "month_of_year", "day_of_week"))}
    if isinstance(sched, interval_schedule):
        return {"every": sched.run_every.total_seconds()}
    return {"schedule": repr(sched)}


class LiveScheduler(Scheduler):
    """Beat's scheduler for celerydesk: the workspace's schedules, live, plus the app's own
    (its ``beat_schedule``, or the project's own scheduler, wrapped)."""

    Entry = LiveEntry

    def __init__(self, *args, **kwargs):
        # Set before Scheduler.__init__, which calls setup_schedule() unless lazy.
        self.schedules_file = os.environ.get(ENV_SCHEDULES, "")
        state = os.environ.get(ENV_STATE) or (kwargs.get("schedule_filename") or "celerybeat-schedule") + ".json"
        self.state_file = state
        self._stamp = None
        self._definitions = {}  # name -> what it was built from, to tell an edit from no change
        self._runs = {}  # name -> {"last_run_at": iso, "total_run_count": n, "done": one-off sent}
        self._disabled = {}  # name -> definition, kept to show
        self._shadowing = set()  # app schedules a workspace one of the same name replaces
        self._app_entries = {}  # name -> ("app" | "celery", definition): beat_schedule, when not wrapping
        self._lock = None
        self._ready = False
        # What beat gave this scheduler; the project's scheduler is made with the same.
        self._beat_kwargs = {k: kwargs.get(k) for k in ("schedule_filename", "max_interval")}
        self.project_path = os.environ.get(ENV_PROJECT_SCHEDULER) or None
        self.project_scheduler = None
        super().__init__(*args, **kwargs)
        if kwargs.get("lazy") and self.project_path:  # beat's banner shows its info
            self.project_scheduler = self._make_project_scheduler(lazy=True)
        self.max_interval = min(self.max_interval or CHECK_INTERVAL, CHECK_INTERVAL)
        self.sync_every_tasks = 1  # run counts reach celerydesk's window as they happen

    # -- setting up, reloading -------------------------------------------------------------------

    def setup_schedule(self):
        workspace_id = os.environ.get(ENV_WORKSPACE_ID) or "default"
        self._lock = _BrokerLock(self.app, workspace_id, os.path.dirname(os.path.abspath(self.state_file)))
        self._lock.acquire()
        self._runs = self._read_state()
        if self.project_path:
            # The project's scheduler loads the app's beat_schedule (into its store) itself.
            self.project_scheduler = self._make_project_scheduler(lazy=False)
            self._app_entries = {}
        else:
            self._app_entries = self._app_definitions()
        self._reload(initial=True)

    def _make_project_scheduler(self, lazy):
        from celery.utils.imports import load_extension_class_names, symbol_by_name

        aliases = dict(load_extension_class_names("celery.beat_schedulers"))
        cls = symbol_by_name(self.project_path, aliases=aliases)
        scheduler = cls(app=self.app, lazy=lazy, **self._beat_kwargs)
        # It syncs after every send (django-celery-beat writes last_run_at and total_run_count),
        # so the run times celerydesk shows from its store are current; a no-op for RedBeat.
        scheduler.sync_every_tasks = 1
        return scheduler

    def _app_definitions(self):
        """The app's own beat_schedule (and celery's default entries), as stock beat sets them up."""
        found = {}
        for name, value in dict(self.app.conf.beat_schedule or {}).items():
            found[name] = ("app", dict(value))
        if self.app.conf.result_expires and not getattr(self.app.backend, "supports_autoexpire", True):
            found.setdefault("celery.backend_cleanup", ("celery", {
                "task": "celery.backend_cleanup", "schedule": crontab("0", "4", "*"),
                "options": {"expires": 12 * 3600}}))
        return found

    def _read_mirror(self):
        """The workspace's schedules, or None to keep the current ones (missing, unreadable)."""
        try:
            with open(self.schedules_file, encoding="utf-8") as f:
                data = json.load(f)
            return list(data["schedules"])
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            logger.error("celerydesk: cannot read %s (%r); keeping the current schedules", self.schedules_file, exc)
            return None

    def _stat(self):
        try:
            st = os.stat(self.schedules_file)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)  # a rename (atomic write) changes the inode

    def _maybe_reload(self):
        if self.schedules_file and self._stat() != self._stamp:
            self._reload()

    def _reload(self, initial=False):
        self._stamp = self._stat() if self.schedules_file else None
        items = self._read_mirror() if self.schedules_file else []
        if items is None:
            if not initial:
                return  # keep what runs; celerydesk writes the file again on the next change
            logger.warning("celerydesk: no schedules file at %s yet", self.schedules_file)
            items = []
        wanted = dict(self._app_entries)
        disabled, shadowing = {}, set()
        for item in items:
            name = item.get("name") if isinstance(item, dict) else None
            if not name:
                continue
            if name in self._app_entries and name not in self._shadowing:
                # Enabled, it replaces the app's entry; disabled, it switches that entry off.
                logger.warning("celerydesk: workspace schedule %r replaces the app's own of that name", name)
            shadowing.add(name)
            if item.get("enabled", True):
                wanted[name] = ("workspace", item)
            else:
                wanted.pop(name, None)
                disabled[name] = item
        self._shadowing = shadowing & set(self._app_entries)
        self._apply(wanted, disabled, initial)

    def _apply(self, wanted, disabled, initial):
        current = self.schedule
        added, changed, removed, disabled_now = [], [], [], []
        for name in list(current):
            if name not in wanted:
                del current[name]
                self._definitions.pop(name, None)
                (disabled_now if name in disabled else removed).append(name)
        for name, (source, definition) in wanted.items():
            key = json.dumps(definition, sort_keys=True, default=repr)
            if name in current and self._definitions.get(name, (None, None))[1] == key:
                continue
            try:
                fields = self._entry_fields(source, definition)
            except Exception as exc:  # one bad schedule must not stop the others
                logger.error("celerydesk: schedule %r skipped: %s", name, exc)
                current.pop(name, None)
                continue
            old = current.get(name)
            run = self._runs.get(name, {})
            if old is not None:  # edited: keeps its history; a one-off runs again
                last, count, done = old.last_run_at, old.total_run_count, False
                changed.append(name)
            else:  # new or re-enabled; on start, restored from the state file as stock beat does
                last = _parse_time(run.get("last_run_at")) if initial else None
                count = run.get("total_run_count", 0)
                done = bool(run.get("done")) if initial else False
                added.append(name)
            run_state = dict(run, done=done)
            self._runs[name] = run_state
            current[name] = self.Entry(name=name, app=self.app, last_run_at=last, total_run_count=count,
                                       done=done, **fields)
            self._definitions[name] = (source, key)
        self._disabled = disabled
        if added or changed or removed or disabled_now or initial:
            self._heap = None  # rebuilt from the new entries on the next tick
            if not initial:
                logger.info("celerydesk: schedules reloaded: added %s, changed %s, disabled %s, removed %s",
                            added or "-", changed or "-", disabled_now or "-", removed or "-")
            self._write_state()

    def _entry_fields(self, source, d):
        if source != "workspace":
            return {k: v for k, v in d.items() if k in ("task", "schedule", "args", "kwargs", "options", "relative")}
        zone = d.get("timezone")
        if d.get("cron"):
            f = str(d["cron"]).split()
            if len(f) != 5:
                raise ValueError("cron %r needs 5 fields" % d["cron"])
            kw = dict(minute=f[0], hour=f[1], day_of_month=f[2], month_of_year=f[3], day_of_week=f[4], app=self.app)
            sched = _ZonedCrontab(zone_name=zone, **kw) if zone else crontab(**kw)
        elif d.get("every") is not None:
            sched = interval_schedule(timedelta(seconds=float(d["every"])), app=self.app)
        else:
            raise ValueError("neither cron nor every")
        options = dict(d.get("options") or {})
        for key in ("queue", "priority"):
            if d.get(key) is not None:
                options[key] = d[key]
        until = None
        expires = d.get("expires")
        if isinstance(expires, str):  # a time: no run after it, and what is sent expires then
            until = options["expires"] = self._aware(_parse_time(expires, None), zone)
            if until is None:
                raise ValueError("expires %r is not an ISO time" % expires)
        elif expires is not None:  # seconds: each message expires that long after it is sent
            options["expires"] = float(expires)
        start_at = self._aware(_parse_time(d.get("start_at"), None), zone) if d.get("start_at") else None
        if d.get("start_at") and start_at is None:
            raise ValueError("start_at %r is not an ISO time" % d["start_at"])
        return {"task": d["task"], "schedule": sched, "args": tuple(d.get("args") or ()),
                "kwargs": dict(d.get("kwargs") or {}), "options": options, "start_at": start_at,
                "until": until, "one_off": bool(d.get("one_off"))}

    def _aware(self, value, zone):
        """A time without an offset is read in the schedule's timezone, else the app's."""
        if value is None or value.tzinfo is not None:
            return value
        if zone:
            from zoneinfo import ZoneInfo

            return value.replace(tzinfo=ZoneInfo(zone))
        return value.replace(tzinfo=self.app.timezone)

    # -- beat's loop -------------------------------------------------------------------------------

    def tick(self, *args, **kwargs):
        if self._lock is not None and not self._lock.refresh():
            logger.critical("celerydesk: another beat took this workspace's lock; this one stops so that "
                            "no task is sent twice")
            raise BeatLocked(EXIT_LOCKED)
        if not self._ready:  # said once beat runs: after beat_init, where RedBeat takes its own lock
            self._ready = True
            logger.info("celerydesk: live scheduler ready (%d workspace and app schedules%s; watching %s)",
                        len(self.schedule), ", and those of the app's %s" % self.project_path
                        if self.project_path else "", self.schedules_file or "nothing")
        self._maybe_reload()
        wait = super().tick(*args, **kwargs)
        if self.project_scheduler is not None:
            wait = min(wait, self.project_scheduler.tick())
        return min(wait, self.max_interval)

    def apply_async(self, entry, producer=None, advance=True, **kwargs):
        result = super().apply_async(entry, producer=producer, advance=advance, **kwargs)
        if celerydesk_history_sent is not None and result is not None:
            celerydesk_history_sent.record_sent_from_env(result.id, entry.task, entry.args, entry.kwargs, via="beat",
                                                         queue=(entry.options or {}).get("queue"))
        return result

    def reserve(self, entry):
        new_entry = super().reserve(entry)
        self._runs[entry.name] = {"last_run_at": new_entry.last_run_at.isoformat(),
                                  "total_run_count": new_entry.total_run_count, "done": new_entry.done}
        return new_entry

    def sync(self):
        self._write_state()

    def close(self):
        try:
            if self.project_scheduler is not None:
                self.project_scheduler.close()  # RedBeat lets go of its lock; django-celery-beat saves run times
        finally:
            try:
                super().close()
            finally:
                if self._lock is not None:
                    self._lock.release()

    @property
    def info(self):
        text = "    . celerydesk live schedules -> %s" % (self.schedules_file or "(none)")
        if self.project_scheduler is not None:
            text += "\n    . and the app's scheduler -> %s\n%s" % (self.project_path, self.project_scheduler.info)
        return text

    # RedBeat takes its lock in a beat_init handler, through beat's scheduler, which is this one:
    # what it reads and sets there must reach the project's scheduler.
    @property
    def lock_key(self):
        return getattr(self.project_scheduler, "lock_key", None)

    @property
    def lock_timeout(self):
        return getattr(self.project_scheduler, "lock_timeout", None)

    @property
    def lock(self):
        return getattr(self.project_scheduler, "lock", None)

    @lock.setter
    def lock(self, value):
        if self.project_scheduler is not None:
            self.project_scheduler.lock = value

    # -- the state file celerydesk shows ----------------------------------------------------------

    def _read_state(self):
        try:
            with open(self.state_file, encoding="utf-8") as f:
                data = json.load(f)
            return {name: e for name, e in data.get("entries", {}).items() if isinstance(e, dict)}
        except (OSError, ValueError, AttributeError):
            return {}

    def _write_state(self):
        if not self.state_file or self._lock is None:
            return  # a lazy instance (beat's banner) writes nothing
        entries = {}
        for name, entry in self.schedule.items():
            source = self._definitions.get(name, ("app",))[0]
            run = self._runs.get(name, {})
            entries[name] = dict(describe_schedule(entry.schedule), source=source, task=entry.task,
                                 enabled=True, args=list(entry.args or ()), kwargs=dict(entry.kwargs or {}),
                                 last_run_at=run.get("last_run_at"),
                                 total_run_count=run.get("total_run_count", 0))
            if run.get("done"):
                entries[name]["done"] = True
        for name, d in self._disabled.items():
            run = self._runs.get(name, {})
            entries[name] = {"source": "workspace", "task": d.get("task"), "enabled": False,
                             "last_run_at": run.get("last_run_at"), "total_run_count": run.get("total_run_count", 0)}
        try:
            _write_json(self.state_file, {"version": STATE_VERSION, "pid": os.getpid(), "updated_at": _now_iso(),
                                          "schedules_file": self.schedules_file,
                                          "project_scheduler": self.project_path, "entries": entries})
        except OSError as exc:
            logger.warning("celerydesk: cannot write %s: %r", self.state_file, exc)


def _parse_time(text, default_zone=timezone.utc):
    if not text:
        return None
    try:
        value = datetime.fromisoformat(str(text).replace("Z", "+00:00") if str(text).endswith("Z") else str(text))
    except (TypeError, ValueError):
        return None
    return value if value.tzinfo or default_zone is None else value.replace(tzinfo=default_zone)
