"""The Dashboard page. For now it says what it will show; its charts and alerts read the task
history store, and come with it (issue 19, items 1 and 2). The window builds it when it is
first shown, like every page but the first."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from celerydesk.ui import defs

COMING = """<h3>Dashboard</h3>
<p>This page will show how the stack behaves over time, from the task history:</p>
<ul>
<li>tasks per minute, by succeeded, failed and retried;</li>
<li>runtime (median and 95th percentile) per task;</li>
<li>time tasks wait in their queue before a worker takes them;</li>
<li>queue depth over time, and the number of workers;</li>
<li>the alerts that fired.</li>
</ul>
<p>Until then: the workers' memory and CPU are on the <b>Workers</b> page and in the services
table, the queues on <b>Queues</b>, every task on <b>Tasks</b>.</p>"""


class QtDashboardPage(QWidget):
    def __init__(self, context, parent=None):
        super().__init__(parent)
        self.context = context
        self.note = QLabel(COMING, self)
        self.note.setWordWrap(True)
        self.note.setTextFormat(Qt.TextFormat.RichText)
        self.note.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2 * defs.MARGIN, 2 * defs.MARGIN, 2 * defs.MARGIN, 2 * defs.MARGIN)
        layout.addWidget(self.note)
        layout.addStretch(1)
