"""The Queues panel against real brokers: a local redis-server (the stack's own broker) and the
session's rabbitmq-server (an external broker of this test's virtual host).

What is checked is what the user sees and what the broker holds after they act: the queues the
broker itself lists, the messages of the selected one (Redis: at once, in delivery order, its
priority lists included; RabbitMQ: only when Peek is pressed), and Delete and Move, each asked
first, changing exactly that message.
"""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QInputDialog, QMessageBox

from celerydesk.core.broker_client import BrokerClient, SendOptions
from celerydesk.services.context import DeskContext
from celerydesk.ui.queues_panel import QtQueuesPanel
from tests.helpers.qt_wait import wait_for
from tests.helpers.stack import make_workspace, start_broker_alone, stop_broker_alone

pytestmark = pytest.mark.slow
ADD = "proj.tasks.add"


@pytest.fixture
def panel_for(qtbot):
    made = []

    def make(stack):
        context = DeskContext(stack, introspect=lambda ws, force=False: None)
        panel = QtQueuesPanel(context, messages=True)
        qtbot.addWidget(panel)
        panel.show()
        made.append(context)
        return panel

    yield make
    for context in made:
        context.shutdown()
        context.deleteLater()


def answer(kind, act) -> list[str]:
    """Answer the next modal dialog of ``kind`` with ``act(dialog)``; its text lands in the list."""
    seen: list[str] = []

    def look():
        dialog = QApplication.activeModalWidget()
        if isinstance(dialog, kind):
            seen.append(dialog.labelText() if isinstance(dialog, QInputDialog) else dialog.text())
            act(dialog)
        else:
            QTimer.singleShot(20, look)

    QTimer.singleShot(20, look)
    return seen


def yes(box):
    box.button(QMessageBox.StandardButton.Yes).click()


def no(box):
    box.button(QMessageBox.StandardButton.No).click()


def rows(table) -> dict[str, list[str]]:
    return {table.item(r, 0).text(): [table.item(r, c).text() for c in range(1, table.columnCount())]
            for r in range(table.rowCount())}


def select(panel, queue: str) -> None:
    names = [panel.table.item(r, 0).text() for r in range(panel.table.rowCount())]
    panel.table.selectRow(names.index(queue))


def test_redis_messages_delete_and_move(qtbot, tmp_path, panel_for):
    ws = make_workspace(tmp_path, beat=False, flower=False)
    stack = start_broker_alone(ws)
    try:
        with BrokerClient(ws.broker_url()) as client:
            urgent_last = client.send(ADD, [0, 0], options=SendOptions(queue="parked", priority=9))
            ids = [client.send(ADD, [n, 1], options=SendOptions(queue="parked")) for n in range(3)]
        panel = panel_for(stack)
        panel.depths.poll()  # the first poll asks the broker for its own list of queues
        wait_for(lambda: rows(panel.table).get("parked") == ["4", ""], what="parked and its 4 messages")
        select(panel, "parked")
        wait_for(lambda: panel.messages.ids() == ids + [urgent_last], what="the messages, in delivery order")
        assert panel.messages.item(3, 5).text() == "9" and panel.messages.item(0, 7).text() == ids[0]
        assert "without taking them" in panel.messages_note.text()
        assert not panel.delete_button.isEnabled()  # nothing chosen yet

        panel.messages.selectRow(1)
        asked = answer(QMessageBox, no)
        panel.delete_button.click()
        wait_for(lambda: asked, what="the question")
        assert f"Delete {ADD}[{ids[1]}] from 'parked'?" in asked[0]
        answer(QMessageBox, yes)
        panel.delete_button.click()
        wait_for(lambda: panel.messages.ids() == [ids[0], ids[2], urgent_last], what="the deleted message gone")

        panel.messages.selectRow(0)
        asked = answer(QInputDialog, lambda dialog: (dialog.setTextValue("later"), dialog.accept()))
        confirmed = answer(QMessageBox, yes)
        panel.move_button.click()
        wait_for(lambda: panel.messages.ids() == [ids[2], urgent_last], what="the moved message gone from parked")
        assert "to the end of queue" in asked[0] and "to the end of 'later'?" in confirmed[0]
        with BrokerClient(ws.broker_url()) as client:
            assert [m.id for m in client.peek("later", 5)] == [ids[0]]
            assert client.depths(["parked"]) == {"parked": 2}
        import redis

        r = redis.Redis.from_url(ws.broker_url())
        assert json.loads(r.lindex("later", 0))["properties"]["delivery_info"]["routing_key"] == "later"
        r.close()
    finally:
        stop_broker_alone(stack)


def test_rabbitmq_peeks_only_when_asked(qtbot, tmp_path, panel_for, rabbitmq_node, rabbitmq_url):
    ws = make_workspace(tmp_path, mode="external", beat=False, flower=False,
                        broker={"url": rabbitmq_url, "management_url": rabbitmq_node.management_url})
    stack = start_broker_alone(ws)
    try:
        with BrokerClient(rabbitmq_url) as client:
            ids = [client.send(ADD, [n, 1], options=SendOptions(queue="parked")) for n in range(3)]
        panel = panel_for(stack)
        panel.depths.poll()
        wait_for(lambda: rows(panel.table).get("parked") == ["3", "0"], what="parked, 3 messages, no consumer")
        select(panel, "parked")
        assert "gives them back" in panel.messages_note.text()
        qtbot.wait(500)
        assert panel.messages.ids() == []  # selecting does not peek: on RabbitMQ a peek marks them redelivered
        panel.peek_button.click()
        wait_for(lambda: panel.messages.ids() == ids, what="the peeked messages")
        with BrokerClient(rabbitmq_url) as client:
            assert client.depths(["parked"]) == {"parked": 3}  # all given back
    finally:
        stop_broker_alone(stack)
