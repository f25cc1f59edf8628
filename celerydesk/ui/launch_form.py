"""The Tasks tab's launch panel: pick a task, fill its form, set the options, send, run again.

The task list comes from the window's project introspection (``services.project_introspection``:
the project's interpreter, off the GUI thread), asked again when the stack starts and on
Refresh. Each parameter gets the editor ``core.task_forms`` chooses; every keystroke
re-validates the whole form there, and Send stays disabled, with the reason beside it, until the
call would bind to the task's signature and the broker runs. The task list (``task_picker``),
the options (``launch_options``) and the history (``launch_history``) are widgets of their
own. Sending goes through the window's ``Launcher``, off the Qt thread.
"""

from __future__ import annotations

import functools
from typing import Optional

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import (QCheckBox, QFileDialog, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit,
                               QPlainTextEdit, QProgressBar, QPushButton, QSizePolicy,
                               QSplitter, QTextEdit, QVBoxLayout, QWidget)

from celerydesk.core import task_forms as tf
from celerydesk.core.broker_client import SendOptions
from celerydesk.core.commands import BROKER
from celerydesk.core.errors import DeskError
from celerydesk.core.introspection import Introspection
from celerydesk.core.states import ProcessState
from celerydesk.services.launcher import Launch
from celerydesk.ui import defs
from celerydesk.ui.launch_history import QtLaunchHistory
from celerydesk.ui.launch_options import QtLaunchOptions
from celerydesk.ui.read_only import read_only_reason
from celerydesk.ui.task_picker import QtTaskPicker


class QtLaunchPanel(QWidget):
    """Launch forms for the stack's project; ``launched`` carries each finished Launch."""

    launched = Signal(object)  # Launch: its ids, or its error
    taskSelected = Signal(str)  # the task whose form is shown
    tasksLoaded = Signal()  # the task list was (re)filled from introspection

    def __init__(self, context, parent=None):
        super().__init__(parent)
        self.stack = stack = context.stack
        self.introspection = context.introspection
        self.tasks: dict = {}
        self.current: Optional[str] = None
        self.specs: list[tf.FieldSpec] = []
        self.editors: dict[str, QWidget] = {}
        self.error_labels: dict[str, QLabel] = {}
        self.file_dialog: Optional[QFileDialog] = None
        self._loading = False
        self.launcher = context.launcher
        self.broker = context.broker
        self._build()
        self.introspection.finished.connect(self._on_introspected)
        self.launcher.progress.connect(self._on_progress)
        self.launcher.finished.connect(self._on_finished)
        self.launcher.busyChanged.connect(self._on_busy_changed)
        self.launcher.historyChanged.connect(self._on_history_changed)
        self.broker.readOnlyChanged.connect(self._update_send)
        stack.serviceStateChanged.connect(self._on_service_state)
        stack.stackReady.connect(self._on_stack_ready)
        self.refresh()

    # -- building --------------------------------------------------------------------------------

    def _build(self) -> None:
        self.picker = QtTaskPicker()
        self.picker.taskChosen.connect(self._on_task_chosen)
        self.picker.refreshClicked.connect(self._on_refresh_clicked)

        self.doc_label = QLabel(wordWrap=True, textInteractionFlags=Qt.TextInteractionFlag.TextSelectableByMouse)
        self.form_box = QGroupBox("Arguments")
        self.form = QFormLayout(self.form_box)
        self.options_box = QtLaunchOptions()
        self.send_button = QPushButton("Send")
        self.send_button.clicked.connect(self.send)
        self.reason_label = QLabel(wordWrap=True)
        self.progress_bar = QProgressBar(visible=False)
        self.status_label = QLabel(wordWrap=True, textInteractionFlags=Qt.TextInteractionFlag.TextSelectableByMouse)
        for label in (self.doc_label, self.reason_label, self.status_label):
            # Word wrap cannot break "Sent celerydesk.sample.tasks.notify_customers[<uuid>]": such a
            # line would widen the whole window past the screen. They take the width they are given.
            label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
            label.setMinimumWidth(1)
        send_row = QHBoxLayout()
        send_row.addWidget(self.send_button)
        send_row.addWidget(self.reason_label, 1)
        form_side = QWidget()
        fl = QVBoxLayout(form_side)
        fl.setContentsMargins(0, 0, 0, 0)
        for w in (self.doc_label, self.form_box, self.options_box):
            fl.addWidget(w)
        fl.addLayout(send_row)
        fl.addWidget(self.progress_bar)
        fl.addWidget(self.status_label)
        fl.addStretch(1)

        self.history = QtLaunchHistory()
        self.history.selectionChanged.connect(self._update_history_buttons)
        self.history.runAgainClicked.connect(self.run_again)
        self.history.editAgainClicked.connect(self.edit_again)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        for w in (self.picker, form_side, self.history):
            splitter.addWidget(w)
        splitter.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(defs.MARGIN, defs.MARGIN, defs.MARGIN, defs.MARGIN)
        layout.addWidget(splitter)
        self._update_send()

    # -- the task list -------------------------------------------------------------------------

    def refresh(self, force: bool = False) -> None:
        """Introspect the project in the background (cached unless a project file changed)."""
        if self._loading:
            return
        self._loading = True
        self.picker.refresh_button.setEnabled(False)
        self.introspection.request(force)

    def _on_refresh_clicked(self) -> None:
        self.refresh(force=True)

    def _on_stack_ready(self) -> None:
        self.refresh()

    def _on_introspected(self, result: Optional[Introspection], error: Optional[BaseException]) -> None:
        self._loading = False
        self.picker.refresh_button.setEnabled(True)
        if error is not None:
            text = f"{error.message}\n{error.hint}" if isinstance(error, DeskError) else f"{error!r}"
            self._status(f"The project's tasks could not be listed: {text}", error=True)
            return
        self.set_tasks(result)

    def set_tasks(self, result: Introspection) -> None:
        """Show these tasks (the slot introspection ends in); the current task stays if still there."""
        self.tasks = dict(result.tasks)
        self._fill_task_list()
        self.tasksLoaded.emit()

    def _fill_task_list(self) -> None:
        keep = self.current
        self.picker.set_tasks(self.tasks)
        if keep in self.tasks:
            self.select_task(keep)
        elif self.current is not None:
            self._show_form(None)

    def task_names(self, visible_only: bool = True) -> list[str]:
        return self.picker.task_names(visible_only)

    def select_task(self, name: str) -> bool:
        if not self.picker.select(name):
            return False
        if self.current != name:
            self._show_form(name)
        return True

    def _on_task_chosen(self, name: str) -> None:
        if name != self.current:
            self._show_form(name)

    # -- the form --------------------------------------------------------------------------------

    def _show_form(self, name: Optional[str]) -> None:
        while self.form.rowCount():
            self.form.removeRow(0)
        self.editors.clear()
        self.error_labels.clear()
        self.current = name
        task = self.tasks.get(name) if name else None
        self.specs = tf.field_specs(task) if task else []
        if task is None:
            self.doc_label.setText("Pick a task.")
        else:
            doc = (task.doc or "").strip()
            self.doc_label.setText(f"<b>{task.name}</b><tt>{_html(task.signature())}</tt>"
                                   + (f"<br>{_html(doc)}" if doc else ""))
            self.options_box.set_route(task.queue)
            if task.params_error:
                self._status(f"The signature could not be read ({task.params_error}): arguments are not checked.")
        for spec in self.specs:
            self._add_field(spec)
        if task is not None and not self.specs:
            self.form.addRow(QLabel("This task takes no arguments."))
        self._validate()
        if name:
            self.taskSelected.emit(name)

    def _add_field(self, spec: tf.FieldSpec) -> None:
        hint = spec.hint()
        if spec.editor == tf.BOOL:
            editor = QCheckBox()
            editor.setChecked(bool(spec.param.default) if spec.param.has_default else False)
            editor.toggled.connect(self._validate)
            widget = editor
        elif spec.editor in (tf.JSON, tf.TEXT):
            editor = QPlainTextEdit(placeholderText=spec.default_text or hint)
            editor.setFixedHeight(editor.fontMetrics().lineSpacing() * 4 + 12)
            if spec.editor == tf.JSON:
                editor.setFont(defs.monospace_font())
            editor.textChanged.connect(self._validate)
            widget = editor
        else:
            editor = QLineEdit(placeholderText=spec.default_text or hint)
            editor.textChanged.connect(self._validate)
            widget = editor
            if spec.editor == tf.FILE:
                widget = QWidget()
                row = QHBoxLayout(widget)
                row.setContentsMargins(0, 0, 0, 0)
                row.addWidget(editor, 1)
                choose = QPushButton("Choose file…")
                choose.setObjectName(f"choose-{spec.name}")
                choose.clicked.connect(functools.partial(self.choose_file, spec.name))
                row.addWidget(choose)
        editor.setToolTip(f"{spec.param.text()}: {hint}")
        error = QLabel(visible=False, wordWrap=False)
        error.setStyleSheet(defs.text_style(defs.ERROR_TEXT))
        error.setFont(defs.monospace_font())  # the caret must line up under the bad character
        self.editors[spec.name] = editor
        self.error_labels[spec.name] = error
        self.form.addRow(spec.label, widget)
        self.form.addRow("", error)

    def choose_file(self, name: str) -> None:
        """The "Choose file…" button: a non-native dialog (the same on every desktop, and drivable
        in tests); its choice goes through ``set_file``."""
        dialog = QFileDialog(self, f"Choose {name}")
        dialog.setOption(QFileDialog.Option.DontUseNativeDialog)
        dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
        dialog.fileSelected.connect(functools.partial(self.set_file, name))
        self.file_dialog = dialog
        dialog.open()

    def set_file(self, name: str, path: str) -> None:
        editor = self.editors.get(name)
        if isinstance(editor, QLineEdit) and path:
            editor.setText(path)

    def field_texts(self) -> dict:
        out: dict = {}
        for name, editor in self.editors.items():
            if isinstance(editor, QCheckBox):
                out[name] = editor.isChecked()
            elif isinstance(editor, QPlainTextEdit):
                out[name] = editor.toPlainText()
            else:
                out[name] = editor.text()
        return out

    def set_values(self, values: dict) -> None:
        """Fill the form from values (as ``task_forms.values_from_call`` gives them)."""
        for spec in self.specs:
            editor = self.editors[spec.name]
            value = values.get(spec.name, tf.MISSING)
            if isinstance(editor, QCheckBox):
                editor.setChecked(bool(value) if value is not tf.MISSING else bool(spec.param.default))
                continue
            text = "" if value is tf.MISSING else tf.format_value(spec.editor, value)
            if isinstance(editor, QPlainTextEdit):
                editor.setPlainText(text)
            else:
                editor.setText(text)
        self._validate()

    def _validate(self, *_):
        """Re-check the whole form; mark each bad field; say why Send is off. Returns the call or None."""
        self._call = None
        self._problem = None
        if self.current is None:
            self._problem = "pick a task"
            return self._update_send()
        values, errors = tf.parse_fields(self.specs, self.field_texts())
        for name, label in self.error_labels.items():
            error = errors.get(name)
            label.setVisible(error is not None)
            label.setText(error.message if error else "")
            self._mark_json_error(name, error)
        if errors:
            first = next(iter(errors.values()))
            self._problem = f"{first.name}: {first.message.splitlines()[0]}"
            return self._update_send()
        try:
            args, kwargs = tf.assemble_call(self.tasks[self.current], values)
            problem = tf.check_call(self.tasks, self.current, args, kwargs)
        except tf.CallError as exc:
            problem = str(exc)
        if problem:
            self._problem = problem
        else:
            self._call = (args, kwargs)
        return self._update_send()

    def _mark_json_error(self, name: str, error: Optional[tf.FieldError]) -> None:
        """Underline the bad spot in a multi-line editor (the label shows it with a caret too)."""
        editor = self.editors.get(name)
        if not isinstance(editor, QPlainTextEdit):
            return
        selections = []
        if error is not None and error.line:
            block = editor.document().findBlockByNumber(error.line - 1)
            cursor = QTextCursor(block)
            cursor.movePosition(QTextCursor.MoveOperation.Right, n=max(0, (error.column or 1) - 1))
            cursor.movePosition(QTextCursor.MoveOperation.Right, QTextCursor.MoveMode.KeepAnchor)
            selection = QTextEdit.ExtraSelection()
            fmt = QTextCharFormat()
            fmt.setBackground(QColor("#f5b7b1"))
            fmt.setUnderlineStyle(QTextCharFormat.UnderlineStyle.WaveUnderline)
            selection.format, selection.cursor = fmt, cursor
            selections.append(selection)
        editor.setExtraSelections(selections)

    # -- options, sending ------------------------------------------------------------------------

    def options(self) -> SendOptions:
        return self.options_box.options()

    def set_options(self, options: SendOptions) -> None:
        self.options_box.set_options(options)

    def send_blocker(self) -> Optional[str]:
        """Why Send is disabled, or None when it is enabled."""
        read_only = read_only_reason(self.broker)
        if read_only:
            return read_only
        if self._problem:
            return self._problem
        if self.stack.state(BROKER) != ProcessState.RUNNING:
            return "the broker is not running: start the stack first"
        if self.launcher.busy:
            return "sending…"
        return None

    def _update_send(self) -> None:
        if not hasattr(self, "_problem"):
            self._problem, self._call = "pick a task", None
        reason = self.send_blocker()
        self.send_button.setEnabled(reason is None)
        self.reason_label.setText(reason or "")
        self.send_button.setToolTip(reason or "send the task")
        self._update_history_buttons()

    def send(self) -> Optional[Launch]:
        self._validate()
        if self.send_blocker() is not None:
            return None
        args, kwargs = self._call
        return self.launcher.send(self.current, args, kwargs, self.options())

    def _on_service_state(self, key: str, _state) -> None:
        if key == BROKER:
            self._update_send()

    def _on_busy_changed(self, busy: bool) -> None:
        if busy:  # the bar stays up after a launch, showing how many went out
            self.progress_bar.setValue(0)
            self.progress_bar.setVisible(True)
        self._update_send()

    def _on_progress(self, sent: int, total: int) -> None:
        self.progress_bar.setMaximum(total)
        self.progress_bar.setValue(sent)

    def _on_finished(self, launch: Launch) -> None:
        if launch.ok:
            first = launch.ids[0] if launch.ids else ""
            more = f" and {len(launch.ids) - 1} more" if len(launch.ids) > 1 else ""
            self._status(f"Sent {launch.task}[{first}]{more}.")
        else:
            self._status(launch.error or "sending failed", error=True)
        self.launched.emit(launch)

    def _status(self, text: str, error: bool = False) -> None:
        self.status_label.setStyleSheet(defs.text_style(defs.ERROR_TEXT) if error else "")
        self.status_label.setText(text)
        self.status_label.setToolTip(text)  # whole, should a narrow pane cut a long name

    # -- history ---------------------------------------------------------------------------------

    def _on_history_changed(self) -> None:
        self.history.show_launches(self.launcher.history)

    def selected_launch(self) -> Optional[Launch]:
        return self.history.selected_launch()

    def _update_history_buttons(self, *_):
        if not hasattr(self, "history"):
            return
        launch = self.selected_launch()
        can_send = (launch is not None and not self.launcher.busy and read_only_reason(self.broker) is None
                    and self.stack.state(BROKER) == ProcessState.RUNNING)
        self.history.enable(can_send, launch is not None and launch.task in self.tasks)

    def run_again(self) -> Optional[Launch]:
        launch = self.selected_launch()
        if launch is None or self.stack.state(BROKER) != ProcessState.RUNNING or read_only_reason(self.broker):
            return None
        return self.launcher.again(launch)

    def edit_again(self) -> None:
        """Put the selected launch back in the form, to change and send."""
        launch = self.selected_launch()
        if launch is None or not self.select_task(launch.task):
            return
        self.set_values(tf.values_from_call(self.tasks[launch.task], launch.args, launch.kwargs))
        self.set_options(launch.options)


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\n", "<br>")
