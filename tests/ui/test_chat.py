"""Chat flows against the real engine and the provider simulator."""

from __future__ import annotations

from PySide6.QtCore import Qt

from desktop.ui.chat_view import AnswerWidget, CodeBlock
from tests.ui.conftest import STRONG, WEAK


def _answers(window) -> list[AnswerWidget]:
    return window.chat.answer_widgets()


def test_window_title_and_layout(ui):
    controller, window = ui
    assert window.windowTitle() == "RouteDesk"
    assert window.center.currentWidget() is window.chat_column


def test_send_and_stream(ui, qtbot, sim):
    controller, window = ui
    sim.reply = lambda messages: "Here is code:\n\n```python\nprint('hi')\n```\n\nDone."
    qtbot.keyClicks(window.input.edit, "hello there")
    qtbot.keyClick(window.input.edit, Qt.Key.Key_Return)
    assert window.input.edit.toPlainText() == ""
    qtbot.waitUntil(lambda: controller.session.items[-1].status == "complete", timeout=10000)
    item = controller.session.items[-1]
    assert item.model == WEAK  # short prompt -> weak
    w = window.chat.widget_for(item)
    qtbot.waitUntil(lambda: w.body.text() == item.text)
    blocks = w.body.code_blocks()
    assert len(blocks) == 1 and blocks[0].text() == "print('hi')"
    meta = w.meta.text()
    assert "llama3.2" in meta and "weak" in meta and "to first token" in meta
    assert controller.session.items[-2].role == "user"
    # the conversation shows in the sidebar, newest first
    assert controller.conversations.rows[0].id == controller.session.conversation_id


def test_shift_enter_inserts_newline(ui, qtbot):
    controller, window = ui
    qtbot.keyClicks(window.input.edit, "line one")
    qtbot.keyClick(window.input.edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClicks(window.input.edit, "line two")
    assert window.input.edit.toPlainText() == "line one\nline two"
    assert not controller.session.items
