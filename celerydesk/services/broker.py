"""The window's door to its broker: one ``BrokerClient``, every call off the GUI thread.

Widgets never call the client themselves: a call blocks on the network (a broker that is
down takes a second or more to say so). They ask this service, which runs the call on the
background pool and answers on the Qt thread, by signal or by the ``on_done(result, error)``
of ``call``. What the user must read about a call they made (a send, a revoke, a purge that
failed) goes out through ``message``, which the window shows in its banner, as the stack's
own ``message`` is; calls the window makes by itself (depth polls, registered-task checks)
report to their caller only.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence, Union

from PySide6.QtCore import QObject, Signal

from celerydesk.core.broker_client import BrokerClient, SendOptions, new_task_id
from celerydesk.core.errors import DeskError
from celerydesk.services.background import run_in_background

OnDone = Callable[[Any, Optional[BaseException]], None]


class BrokerService(QObject):
    """Owns the window's ``BrokerClient``; results and errors come back as signals."""

    message = Signal(str, str)  # level, text: for the window's banner (errors) and status bar (info)
    taskSent = Signal(str, str)  # task id, name: on the broker now
    sendFailed = Signal(str, str)  # task id, what went wrong: nothing was sent
    purged = Signal(str, int)  # queue, how many messages were deleted
    messageRemoved = Signal(str, str)  # queue, task id: its waiting message was deleted or moved away
    readOnlyChanged = Signal(bool)  # the environment was unlocked (False) or locked again (True)

    def __init__(self, client: BrokerClient, parent=None):
        super().__init__(parent)
        self._client = client

    @property
    def read_only(self) -> bool:
        """Whether every change to the remote stack is refused (``client.read_only``)."""
        return self._client.read_only

    def set_read_only(self, read_only: bool) -> None:
        """Lock or unlock the environment for this window's session (the file is not changed);
        widgets that offer changes follow ``readOnlyChanged``."""
        if read_only != self._client.read_only:
            self._client.read_only = read_only
            self.readOnlyChanged.emit(read_only)

    @property
    def client(self) -> BrokerClient:
        """The client itself: for services that run their own loop on the background pool."""
        return self._client

    @property
    def url(self) -> str:
        return self._client.url

    def call(self, fn: Callable[[BrokerClient], Any], on_done: Optional[OnDone] = None, *,
             owner: Optional[QObject] = None, report: str = "") -> None:
        """Run ``fn(client)`` on the background pool; ``on_done(result, error)`` on the Qt thread
        (not if ``owner`` was deleted meanwhile). With ``report``, a failure is also said through
        ``message``, as ``"<report>: <error>"``."""
        client = self._client

        def done(result, error) -> None:
            if error is not None:
                error = error if isinstance(error, DeskError) else DeskError(f"{type(error).__name__}: {error}")
                if report:
                    self.message.emit("error", f"{report}: {error}")
            if on_done is not None and (owner is None or owner is self or _alive(owner)):
                on_done(result, error)

        run_in_background(lambda: fn(client), done, self)

    def send(self, name: str, args: Sequence = (), kwargs: Optional[dict] = None,
             options: SendOptions = SendOptions(), via: str = "launch") -> str:
        """Send one task by name; its id, known now (the send itself happens in the background).
        ``taskSent`` or ``sendFailed`` follows; a failure is said in the banner too. ``via``
        (launch, retry, run-now) is what the history records as who sent it."""
        task_id = new_task_id()
        args, kwargs = list(args), dict(kwargs or {})

        def done(_result, error) -> None:
            if error is None:
                self.taskSent.emit(task_id, name)
            else:
                self.sendFailed.emit(task_id, str(error))

        self.call(lambda client: client.send(name, args, kwargs, options, task_id=task_id, via=via), done,
                  report=f"{name} not sent")
        return task_id

    def revoke(self, task_ids: Union[str, Sequence[str]], terminate: bool = False) -> None:
        what = "terminate" if terminate else "revoke"
        self.call(lambda client: client.revoke(task_ids, terminate=terminate), report=f"{what} failed")

    def peek(self, queue: str, limit: int, on_done: OnDone, owner: Optional[QObject] = None) -> None:
        """The first ``limit`` messages of ``queue`` (``BrokerClient.peek``) to ``on_done``; a
        failure is said in the banner too."""
        self.call(lambda client: client.peek(queue, limit), on_done, owner=owner,
                  report=f"the messages of {queue} could not be read")

    # The changing actions on queues, one method each (the client refuses them when read-only).

    def purge(self, queue: str) -> None:
        """Delete what waits in ``queue``; ``purged`` and an info message follow."""
        def done(count, error) -> None:
            if error is None:
                self.message.emit("info", f"purged {count} messages")
                self.purged.emit(queue, count)

        self.call(lambda client: client.purge(queue), done, report="purge failed")

    def delete_message(self, queue: str, task_id: str) -> None:
        """Delete the waiting message of ``task_id``; ``messageRemoved`` and an info message follow."""
        def done(message, error) -> None:
            if error is None:
                self.message.emit("info", f"deleted {message.task}[{task_id}] from {queue}")
                self.messageRemoved.emit(queue, task_id)

        self.call(lambda client: client.delete_message(queue, task_id), done, report="not deleted")

    def move_message(self, queue: str, task_id: str, to: str) -> None:
        """Move the waiting message of ``task_id`` to the end of ``to``; ``messageRemoved`` follows."""
        def done(message, error) -> None:
            if error is None:
                self.message.emit("info", f"moved {message.task}[{task_id}] from {queue} to {to}")
                self.messageRemoved.emit(queue, task_id)

        self.call(lambda client: client.move_message(queue, task_id, to), done, report="not moved")


def _alive(owner: QObject) -> bool:
    import shiboken6

    return shiboken6.isValid(owner)
