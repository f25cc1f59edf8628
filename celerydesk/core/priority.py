"""The CPU priority of the services celerydesk starts: below the window's, so it stays responsive.

A worker flooded with tasks, Flower decoding every event of it and beat can keep every core
busy. The window then waits its turn behind them: on a 2-core machine, measured with
``tests/bench/bench_monitor.py`` (20,000 tasks), the longest gap in the window's event loop had a
median of 30 ms (up to 125 ms) with the worker at normal priority, 17 ms with it at nice 5 (the
README has the runs). The work is not slower for it (the flood took as long): a lower
priority only decides who runs first while the CPUs are all busy, and an idle machine gives the
services everything they ask for.

Two settings, because Linux has two places where a priority counts:
- the process's own nice value (``nice -n N`` before the command, added to celerydesk's own and
  inherited by the pool processes a worker forks): it counts against the window wherever they
  share a scheduling group (autogroups off, or an app and its children in one cgroup with the
  cpu controller, as some desktops start apps);
- the nice value of the child's *autogroup*. Each service runs in a session of its own (so its
  process group can be stopped as one), and with autogroups (the kernel's default for desktops)
  CPU time is shared between sessions first: the process nice value would then only rank the
  worker's own processes against each other.

The broker keeps its normal priority: the user's own programs (a web app sending tasks) talk to
it as well, and would wait for it. Raising a nice value needs no privilege; nothing here lowers one.
"""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

DEFAULT_NICE = 5
MAX_NICE = 19
_NICE = shutil.which("nice")


def niced_argv(argv: list[str], nice: int) -> list[str]:
    """``argv`` run at nice value ``nice`` (coreutils ``nice`` execs it in place: same pid).

    Unchanged for ``nice`` 0, or where there is no ``nice`` program (the session's value is then
    the only one set)."""
    if nice <= 0 or _NICE is None:
        return list(argv)
    return [_NICE, "-n", str(nice), "--", *argv]


def set_session_nice(pid: int, nice: int) -> bool:
    """Give the autogroup (session) of ``pid`` the nice value ``nice``; False where there is none.

    False without ``/proc/PID/autogroup`` (macOS, a kernel without CONFIG_SCHED_AUTOGROUP). Where
    the file exists the value is stored even if autogroups do not count for the process (switched
    off with ``kernel.sched_autogroup_enabled=0``, or the process in a cgroup of its own with the
    cpu controller): the process nice value from ``niced_argv`` then does the job.
    Raises BlockingIOError when the kernel refuses for now: without CAP_SYS_ADMIN it allows one
    such change per 100 ms on the whole machine, so services started together must take turns.
    ProcessLookupError when the process is gone; other OSErrors are the caller's to report.
    """
    if not Path("/proc/self").exists():
        return False
    path = Path(f"/proc/{pid}/autogroup")
    try:
        path.write_text(str(nice))
    except FileNotFoundError:
        if Path(f"/proc/{pid}").exists():
            return False  # a kernel without CONFIG_SCHED_AUTOGROUP
        raise ProcessLookupError(errno.ESRCH, f"no process {pid}") from None
    return True

