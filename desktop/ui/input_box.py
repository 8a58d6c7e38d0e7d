"""The message box: Enter sends, Shift+Enter starts a new line, Esc stops a stream."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QHBoxLayout, QPlainTextEdit, QPushButton, QSizePolicy, QWidget

from desktop.ui.theme import set_icon

__all__ = ["MessageEdit", "InputBox"]


class MessageEdit(QPlainTextEdit):
    submit = Signal()
    stop = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setPlaceholderText("Message RouteDesk…  (Enter to send, Shift+Enter for a new line)")
        self.setTabChangesFocus(True)
        self.document().contentsChanged.connect(self._fit)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self._fit()

    def keyPressEvent(self, e: QKeyEvent) -> None:  # noqa: N802
        if e.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            if e.modifiers() & (Qt.KeyboardModifier.ShiftModifier | Qt.KeyboardModifier.AltModifier):
                self.insertPlainText("\n")
                return
            self.submit.emit()
            return
        if e.key() == Qt.Key.Key_Escape:
            self.stop.emit()
            return
        super().keyPressEvent(e)

    def _fit(self) -> None:
        fm = self.fontMetrics()
        # QPlainTextEdit's layout measures in lines, wrapped lines included
        rows = min(10, max(2, int(self.document().documentLayout().documentSize().height())))
        chrome = 2 * self.document().documentMargin() + 2 * self.frameWidth() + 4
        self.setFixedHeight(int(rows * fm.lineSpacing() + chrome))


class InputBox(QWidget):
    """The edit plus a Send / Stop button; talks to the controller."""

    def __init__(self, controller, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        lay = QHBoxLayout(self)
        lay.setContentsMargins(12, 6, 12, 10)
        self.edit = MessageEdit()
        self.send_btn = QPushButton("Send")
        set_icon(self.send_btn, "send")
        self.send_btn.setDefault(False)
        self.send_btn.setAutoDefault(False)
        self.send_btn.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Expanding)
        lay.addWidget(self.edit, 1)
        lay.addWidget(self.send_btn)
        self.edit.submit.connect(self.submit)
        self.edit.stop.connect(controller.stop)
        self.send_btn.clicked.connect(self._clicked)
        controller.busy_changed.connect(self._busy)

    def _clicked(self) -> None:
        if self.controller.busy:
            self.controller.stop()
        else:
            self.submit()

    def submit(self) -> None:
        text = self.edit.toPlainText()
        if not text.strip() or self.controller.busy:
            return
        if self.controller.send(text):
            self.edit.clear()

    def _busy(self, busy: bool) -> None:
        self.send_btn.setText("Stop" if busy else "Send")
        set_icon(self.send_btn, "stop" if busy else "send")
        self.send_btn.setToolTip("Stop the answer (Esc); the part already written is kept" if busy else "Send (Enter)")
