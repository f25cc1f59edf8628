"""The exact arguments of the tasks celerydesk sends, kept for the history by task id.

Celery's events carry only a repr of the arguments, cut at 1,024 characters. Every celerydesk
process that sends a task (the launch form, ``celerydesk call``, a retry, Run now, beat's live
scheduler) records what it sent with :func:`record_sent`, right after the send returned the
task's id. The history writer picks the records up within a second and stores the JSON on
the task's row, where a retry finds it.

A record is a line of JSON, ``{"id", "name", "args", "kwargs", "via", "at", "queue"}``, and
each call writes one new file ``<ns>-<pid>-<random>.jsonl`` in the workspace's spool folder
(``.celerydesk/history-sent/``), written under a temporary name and renamed: the writer
never reads half a file, needs no lock, and deletes a file only once its records are
committed (reading one twice is harmless: records are merged by task id). Nothing here waits
on the history database, so a sender never stalls on it, and records wait in the folder
while no writer runs.

**This module imports only the standard library and runs on Python 3.9**, because beat's
live scheduler runs in the PROJECT's interpreter, where celerydesk is not installed. To use
it there, copy this file alone beside the scheduler module (``.celerydesk/beat/``, as
``schedule_mirror.install_scheduler_module`` does for ``beat_scheduler.py``), name it
``celerydesk_history_sent.py``, set ``CELERYDESK_HISTORY_SPOOL`` in beat's environment to
the spool folder (:func:`spool_dir`), and in ``LiveScheduler.apply_async``, after
``super().apply_async(...)`` returned ``result``::

    try:
        import celerydesk_history_sent
    except ImportError:
        celerydesk_history_sent = None
    if celerydesk_history_sent is not None:
        celerydesk_history_sent.record_sent_from_env(
            result.id, entry.task, entry.args, entry.kwargs, via="beat", queue=entry.options.get("queue"))

Recording never raises: a full disk costs the exact arguments of that task, never the send.
"""

from __future__ import annotations

import json
import os
import time

ENV_SPOOL = "CELERYDESK_HISTORY_SPOOL"
SPOOL_NAME = "history-sent"  # the folder's name in the workspace's runtime folder
SUFFIX = ".jsonl"


def spool_dir(runtime_dir) -> str:
    """The spool folder of the workspace whose runtime folder (``.celerydesk/``) is given."""
    return os.path.join(os.fspath(runtime_dir), SPOOL_NAME)


def sent_record(task_id, name, args, kwargs, via, queue=None, at=None) -> dict:
    """One record. ``args``/``kwargs`` as sent (a list, a dict); ``via`` says who sent it
    (``call``, ``launch``, ``retry``, ``run-now``, ``beat``)."""
    record = {"id": str(task_id), "name": name, "args": list(args or ()), "kwargs": dict(kwargs or {}),
              "via": via, "at": time.time() if at is None else at}
    if queue:
        record["queue"] = queue
    return record


def record_sent(folder, records) -> bool:
    """Write ``records`` (from :func:`sent_record`) as one spool file; False if it could not.

    Arguments that are not JSON are recorded without them (``"args_error"``): the history then
    knows the task was celerydesk's and that its arguments cannot be sent again exactly.
    """
    lines = []
    for record in records:
        try:
            lines.append(json.dumps(record, ensure_ascii=False))
        except (TypeError, ValueError) as exc:
            bare = {k: v for k, v in record.items() if k not in ("args", "kwargs")}
            bare["args_error"] = "not JSON: %s" % exc
            lines.append(json.dumps(bare, ensure_ascii=False, default=repr))
    if not lines:
        return True
    import uuid  # here: the window imports this module on its first paint's path

    folder = os.fspath(folder)
    name = "%d-%d-%s%s" % (time.time_ns(), os.getpid(), uuid.uuid4().hex[:8], SUFFIX)
    tmp = os.path.join(folder, ".%s.tmp" % name)
    try:
        # Private, as core.runtime makes the runtime folder: the records hold the tasks' arguments.
        os.makedirs(os.path.dirname(folder) or ".", 0o700, exist_ok=True)
        os.makedirs(folder, 0o700, exist_ok=True)
        with open(tmp, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        os.replace(tmp, os.path.join(folder, name))
        return True
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        return False


def record_sent_from_env(task_id, name, args, kwargs, via, queue=None) -> bool:
    """:func:`record_sent` of one task into ``$CELERYDESK_HISTORY_SPOOL`` (beat's way); False
    when the variable is not set (beat started by something other than celerydesk)."""
    folder = os.environ.get(ENV_SPOOL)
    if not folder:
        return False
    return record_sent(folder, [sent_record(task_id, name, args, kwargs, via, queue)])


def pending_files(folder, limit=None) -> list:
    """The spool files not yet taken in by the writer, oldest first."""
    try:
        names = sorted(n for n in os.listdir(folder) if n.endswith(SUFFIX) and not n.startswith("."))
    except OSError:
        return []
    names = names[:limit] if limit is not None else names
    return [os.path.join(folder, n) for n in names]


def read_records(path) -> list:
    """The records of one spool file; lines that do not parse are skipped."""
    records = []
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if isinstance(record, dict) and isinstance(record.get("id"), str):
                    records.append(record)
    except (OSError, UnicodeDecodeError):
        pass
    return records


def find_pending(folder, task_id) -> "dict | None":
    """A task's record still waiting in the spool (a retry right after the send)."""
    for path in reversed(pending_files(folder)):
        for record in read_records(path):
            if record["id"] == task_id:
                return record
    return None
