"""The window's error card shows the server's own words beside RouteDesk's explanation: a
muted, selectable "OpenAI said: ..." line, as plain text (a server's words are never markup),
on the error card and on the fallback notice alike."""

from __future__ import annotations

from PySide6.QtCore import Qt

from desktop.core.errors import ErrorInfo
from desktop.ui.error_card import ErrorCard
from tests.simulator import Fault
from tests.ui.conftest import WEAK
from tests.ui.test_chat import LONG, _send, _wait_idle


def test_the_error_card_shows_what_the_server_said(ui, qtbot, sim):
    controller, window = ui
    sim.inject(Fault("request_too_large", protocol="openai", times=None))
    sim.inject(Fault("model_not_found", protocol="ollama", times=None))
    controller.set_mode("strong")
    _send(window, qtbot, LONG)
    _wait_idle(controller, qtbot)
    item = controller.session.items[-1]
    assert item.status == "error"
    card = window.chat.widget_for(item).card_box.itemAt(0).widget()
    assert card.objectName() == "errorCard"
    assert "31538" in card.message.text() and "won't help" in card.message.text()
    assert card.detail is not None
    assert card.detail.text().startswith("OpenAI said: Request too large for gpt-4o in organization")
    assert card.detail.objectName() == "muted"  # styled apart from RouteDesk's own words
    assert card.detail.textInteractionFlags() & Qt.TextInteractionFlag.TextSelectableByMouse
    assert card.fix is not None and "larger tokens-per-minute limit" in card.fix.text()


def test_the_fallback_notice_shows_what_the_proxy_said(ui, qtbot, sim):
    controller, window = ui
    sim.inject(Fault("proxy_upstream_auth", protocol="openai", times=None))
    controller.set_mode("strong")
    _send(window, qtbot, LONG)
    _wait_idle(controller, qtbot)
    item = controller.session.items[-1]
    assert item.status == "complete" and item.model == WEAK
    w = window.chat.widget_for(item)
    (card,) = [w.notices.itemAt(i).widget() for i in range(w.notices.count())]
    assert "proxy" in card.message.text() and "didn't accept the API key" not in card.message.text()
    assert card.detail is not None and "said: litellm.AuthenticationError" in card.detail.text()
    assert "sk-proj-[redacted]" in card.detail.text()
    assert "configured in the proxy" in card.fix.text()
    # the "why?" details list each attempt with what its server said
    assert "said: litellm.AuthenticationError" in w.details.text()


def test_the_servers_words_are_plain_text_and_absent_when_it_said_nothing(qtbot):
    card = ErrorCard(ErrorInfo("misconfigured", "Refused.", provider="openai",
                               detail="<b>not bold</b> <a href='x'>no link</a>"))
    qtbot.addWidget(card)
    assert card.detail is not None and card.detail.textFormat() == Qt.TextFormat.PlainText
    assert card.detail.text() == "OpenAI said: <b>not bold</b> <a href='x'>no link</a>"
    quiet = ErrorCard(ErrorInfo("timeout", "Took too long."))
    qtbot.addWidget(quiet)
    assert quiet.detail is None
