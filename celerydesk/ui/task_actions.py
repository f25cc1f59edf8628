"""What the Tasks page does to tasks: retry (exactly, or with edited arguments) and revoke, one
task or every task matching the filter.

A retry sends the original arguments exactly or nothing (``core.history.retry``: the history's
JSON, then the result backend, then a complete repr), and a refusal says why in the window's
banner. "Retry with edited arguments" opens the arguments to edit, saying whether they are the
exact ones or a reading of celery's repr that may differ. The bulk actions work on the history's
rows matching the page's filter (at most ``BULK_LIMIT``): a confirmation names how many, each
task follows the same rule, and the refused ones are listed.

Reads go to the history's thread (``services.history_queries``), sends and the result backend's
reads to the broker service's pool: nothing here blocks the GUI thread.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable, Optional

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QDialog, QMessageBox, QWidget

from celerydesk.core.broker_client import SendOptions
from celerydesk.core.history.arguments import SOURCES, NotExact
from celerydesk.core.history.queries import TaskFilter
from celerydesk.core.history.retry import (KeptArguments, resolve, result_backend_url, retry_many, retry_one,
                                           revoke_many, stored_arguments)
from celerydesk.core.task_store import FINISHED_STATES, STATES
from celerydesk.ui.task_retry import EXACT_NOTE, REPR_WARNING, RetryDialog, parse_repr

BULK_LIMIT = 10_000
UNFINISHED = tuple(s for s in STATES if s not in FINISHED_STATES) + ("PENDING",)


def default_confirm(parent: QWidget, title: str, text: str) -> bool:
    return QMessageBox.question(parent, title, text) == QMessageBox.StandardButton.Yes


def show_refused(parent: QWidget, summary: str, refused: list) -> None:
    box = QMessageBox(QMessageBox.Icon.Warning, "Retry", summary, parent=parent)
    box.setDetailedText("\n\n".join(f"{name or '?'}[{task_id}]: {reason}" for task_id, name, reason in refused))
    box.open()


class TaskActions(QObject):
    """``page`` gives the selected task's record in memory (``record_dict``) and receives
    ``note_launched``; ``message`` reaches the banner, ``retried(old, new)`` says what went."""

    message = Signal(str, str)
    retried = Signal(str, str)  # the task retried, the new task's id
    bulkDone = Signal(object)  # RetryOutcome, or (revoked, finished) of a bulk revoke

    def __init__(self, context, page, confirm: Optional[Callable[[QWidget, str, str], bool]] = None):
        super().__init__(page)
        self.broker = context.broker
        self.history = context.history
        self.page = page
        self.confirm = confirm or default_confirm
        self.backend_url = result_backend_url(context.stack.ws)

    # -- one task ----------------------------------------------------------------------------------

    def retry(self, task_id: str) -> None:
        """Send it again with exactly its arguments, or say in the banner why not."""
        self._task_and_arguments(task_id, self._retry_exactly)

    def retry_edited(self, task_id: str, ask: Optional[Callable] = None) -> None:
        """Open its arguments to edit (exact where known, else read from the repr, with a warning)."""
        self._task_and_arguments(task_id, lambda row, stored: self._open_editor(row, stored, ask))

    def revoke(self, task_id: str, terminate: bool = False) -> None:
        self.broker.revoke(task_id, terminate=terminate)

    def _task_and_arguments(self, task_id: str, then: Callable) -> None:
        """(row, stored JSON) from the history, else the in-memory record; then ``then`` them."""
        def from_memory() -> None:
            row = self.page.record_dict(task_id)
            if row is None:
                self.message.emit("error", f"task {task_id} is neither in the history nor in this session's tasks")
                return
            then(row, None)

        if not self.history.readable:
            return from_memory()

        def done(result, error) -> None:
            if error is not None or result[0] is None:
                return from_memory()  # not committed yet (sent a moment ago), or the file is away
            then(*result)

        self.history.queries.ask(lambda reader: (reader.task(task_id), reader.exact_arguments(task_id)), done, self)

    def _retry_exactly(self, row: dict, stored) -> None:
        url = self.backend_url

        def send(client):
            kept = KeptArguments(url)
            try:
                return retry_one(client, row, stored, kept)
            finally:
                kept.close()

        def done(result, error) -> None:
            if error is not None:
                return  # said in the banner by the broker service (report=)
            new_id, exact = result
            self.message.emit("info", f"retried {row['name']}[{row['id']}] as {new_id}, with its exact arguments "
                                      f"({SOURCES[exact.source]})")
            self.page.note_launched(new_id, name=row["name"])
            self.retried.emit(row["id"], new_id)

        self.broker.call(send, done, owner=self, report=f"{row.get('name') or 'the task'}[{row['id']}] not retried")

    def _open_editor(self, row: dict, stored, ask: Optional[Callable]) -> None:
        url = self.backend_url

        def read(_client):
            kept = KeptArguments(url)
            try:
                return resolve(row, stored, kept)
            finally:
                kept.close()

        def done(exact, error) -> None:
            if isinstance(error, NotExact):
                reason = error.message.split(": ", 1)[-1]
                args, kwargs = parse_repr(row.get("args"), []), parse_repr(row.get("kwargs"), {})
                note = REPR_WARNING.format(reason=reason)
            elif error is not None:
                self.message.emit("error", f"retry: {error}")
                return
            else:
                args, kwargs, note = exact.args, exact.kwargs, EXACT_NOTE
            dialog = RetryDialog(row.get("name") or "", args if isinstance(args, (list, tuple)) else [],
                                 kwargs if isinstance(kwargs, dict) else {}, note, self.page)
            (ask or self._ask)(dialog, lambda values: self._send_edited(row, values))

        self.broker.call(read, done, owner=self)

    def _ask(self, dialog: RetryDialog, send: Callable) -> None:
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        try:
            values = dialog.values()
        except ValueError as exc:
            self.message.emit("error", f"the arguments are not valid JSON ({exc}): nothing was sent")
            return
        send(values)

    def _send_edited(self, row: dict, values) -> None:
        args, kwargs = values
        new_id = self.broker.send(row["name"], args, kwargs, SendOptions(queue=row.get("queue") or None), via="retry")
        self.page.note_launched(new_id, name=row["name"])
        self.retried.emit(row["id"], new_id)

    # -- every task matching the filter ------------------------------------------------------------

    def retry_matching(self, f: TaskFilter) -> None:
        def counted(count, error) -> None:
            if self._refuse_count(error, count, "retry"):
                return
            text = (f"Retry the {count:,} task(s) matching the filter?\n\nEach is sent again with exactly its "
                    "original arguments; a task whose arguments cannot be known exactly is not sent, and is "
                    "listed with the reason.")
            if self.confirm(self.page, "Retry all matching", text):
                self.history.queries.ask(lambda reader: list(reader.iter_rows(f, limit=BULK_LIMIT)), self._retry_rows,
                                         self)

        self.history.queries.ask(lambda reader: reader.count(f, cap=BULK_LIMIT + 1), counted, self)

    def _retry_rows(self, rows, error) -> None:
        if error is not None:
            self.message.emit("error", f"retry all matching: the history could not be read: {error}")
            return
        url = self.backend_url
        pairs = [(row, stored_arguments(row)) for row in rows]

        def send(client):
            kept = KeptArguments(url)
            try:
                return retry_many(client, pairs, kept)
            finally:
                kept.close()

        def done(outcome, error) -> None:
            if error is not None:
                return
            self.message.emit("info", outcome.summary())
            if outcome.refused:
                show_refused(self.page, outcome.summary() + ".", outcome.refused)
            self.bulkDone.emit(outcome)

        self.broker.call(send, done, owner=self, report="retry all matching stopped")

    def revoke_matching(self, f: TaskFilter, terminate: bool = False) -> None:
        states = tuple(s for s in (f.states or UNFINISHED) if s in UNFINISHED)
        unfinished = replace(f, states=states) if states else None

        def counted(counts, error) -> None:
            if error is not None:
                self.message.emit("error", f"revoke all matching: the history could not be read: {error}")
                return
            matching, count = counts
            if self._refuse_count(None, count, "revoke", matching):
                return
            text = (f"Revoke the {count:,} unfinished task(s) of the {matching:,} matching the filter?\n\n"
                    "Workers drop them if they have not started" + (", and kill those running." if terminate else "."))
            if self.confirm(self.page, "Revoke all matching", text):
                self.history.queries.ask(lambda reader: list(reader.iter_rows(unfinished, limit=BULK_LIMIT)),
                                         lambda rows, error: self._revoke_rows(rows, error, terminate), self)

        def count(reader):
            return reader.count(f), (reader.count(unfinished, cap=BULK_LIMIT + 1) if unfinished else 0)

        self.history.queries.ask(count, counted, self)

    def _revoke_rows(self, rows, error, terminate: bool) -> None:
        if error is not None:
            self.message.emit("error", f"revoke all matching: the history could not be read: {error}")
            return

        def done(counts, error) -> None:
            if error is None:
                self.message.emit("info", f"revoked {counts[0]:,} task(s)")
                self.bulkDone.emit(counts)

        self.broker.call(lambda client: revoke_many(client, rows, terminate), done, owner=self,
                         report="revoke all matching failed")

    def _refuse_count(self, error, count, what: str, matching: Optional[int] = None) -> bool:
        if error is not None:
            self.message.emit("error", f"{what} all matching: the history could not be read: {error}")
            return True
        if not count:
            self.message.emit("info", f"no task to {what}: none matches the filter" if not matching else
                              f"no task to {what}: the {matching:,} matching the filter have finished")
            return True
        if count > BULK_LIMIT:
            self.message.emit("error", f"{what} all matching: more than {BULK_LIMIT:,} tasks match; narrow the filter "
                                       "(a state, a task, a time range)")
            return True
        return False

