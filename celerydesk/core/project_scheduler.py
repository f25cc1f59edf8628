"""Which scheduler the project's app configures for beat, and what celerydesk does with it.

The app's ``beat_scheduler`` setting (the introspector reports it with its class's ancestry)
decides how beat runs and where schedules live:

- **stock** (celery's ``PersistentScheduler`` or ``Scheduler``, the default): beat runs
  celerydesk's live scheduler, which sends the app's ``beat_schedule`` and the workspace's
  ``[[schedules]]``, as it always has.
- **database** (django-celery-beat's ``DatabaseScheduler`` or a subclass) and **redbeat**
  (RedBeat's ``RedBeatScheduler`` or a subclass): beat runs celerydesk's live scheduler wrapping
  an instance of the app's class (``beat_scheduler.py`` says how), so the entries the project
  keeps in its database or in Redis run exactly as that scheduler runs them, and the
  workspace's schedules run beside them. Those entries are listed and edited through the
  project's own models or API (``core/schedule_store.py``).
- **custom** (any other class, or one that cannot be imported): beat runs it as configured,
  without celerydesk's scheduler, so the workspace's ``[[schedules]]`` are *not* sent; this is
  said wherever they are shown, never silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional

STOCK, DATABASE, REDBEAT, CUSTOM = "stock", "database", "redbeat", "custom"
# The classes by their module and name, as the introspector lists a class's ancestry.
_KINDS = (("django_celery_beat.schedulers.DatabaseScheduler", DATABASE),
          ("redbeat.schedulers.RedBeatScheduler", REDBEAT))
_STOCK_CLASSES = ("celery.beat.PersistentScheduler", "celery.beat.Scheduler")
DEFAULT_SETTING = "celery.beat:PersistentScheduler"
STORE_WORDS = {DATABASE: "django-celery-beat's database", REDBEAT: "RedBeat's Redis"}


@dataclass(frozen=True)
class ProjectScheduler:
    kind: str  # STOCK | DATABASE | REDBEAT | CUSTOM
    setting: str = DEFAULT_SETTING  # the app's beat_scheduler, as the app wrote it
    error: Optional[str] = None  # why its class could not be imported

    @property
    def wrapped(self) -> bool:
        """Beat runs celerydesk's scheduler around the app's (its class in the environment)."""
        return self.kind in (DATABASE, REDBEAT)

    @property
    def sends_workspace_schedules(self) -> bool:
        return self.kind != CUSTOM

    @property
    def store(self) -> Optional[str]:
        """The source name of the entries the app keeps in a store: database, redbeat, or None."""
        return self.kind if self.wrapped else None

    def describe(self) -> str:
        """One line for `up` and the window: what beat runs, and what that means."""
        if self.kind == STOCK:
            return "beat: celerydesk's live scheduler sends the app's beat_schedule and the workspace's schedules"
        if self.wrapped:
            return (f"beat: the app's {self.setting} runs the entries kept in {STORE_WORDS[self.kind]}, "
                    "wrapped by celerydesk's live scheduler, which sends the workspace's schedules beside them")
        return f"beat: runs the app's own scheduler {self.setting} as configured; {self.not_sent_reason()}"

    def not_sent_reason(self) -> str:
        """Why the workspace's schedules are not sent (custom schedulers only)."""
        broken = f" (it cannot be imported: {self.error})" if self.error else ""
        return (f"the workspace's [[schedules]] are NOT sent, because celerydesk can add them only to celery's "
                f"own scheduler, django-celery-beat's or RedBeat's, and the app's beat_scheduler is "
                f"{self.setting}{broken}; put them in that scheduler's own store, or remove its "
                "beat_scheduler setting to let celerydesk send them")


def classify(app_info: Mapping) -> ProjectScheduler:
    """What the introspector's ``app`` dict says about the app's beat scheduler."""
    setting = str(app_info.get("beat_scheduler") or DEFAULT_SETTING)
    mro = list(app_info.get("beat_scheduler_mro") or [])
    error = app_info.get("beat_scheduler_error")
    if error or not mro:
        return ProjectScheduler(CUSTOM, setting, error or "its class was not reported")
    for name, kind in _KINDS:
        if name in mro:
            return ProjectScheduler(kind, setting)
    if mro[0] in _STOCK_CLASSES:
        return ProjectScheduler(STOCK, setting)
    return ProjectScheduler(CUSTOM, setting)


STOCK_SCHEDULER = ProjectScheduler(STOCK)


def for_workspace(ws, timeout: float = 120.0) -> ProjectScheduler:
    """The app's scheduler, from the introspector (cached while no project file changes);
    DeskError if the app cannot be loaded."""
    from celerydesk.core.introspection import introspect

    return classify(introspect(ws, timeout=timeout).app)
