"""Chat flows against the real engine and the provider simulator."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

from desktop.ui.chat_view import AnswerWidget
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
    # small talk at the default share goes to the weak (local, free) model
    assert item.model == WEAK and item.route.choice == "weak"
    w = window.chat.widget_for(item)
    qtbot.waitUntil(lambda: w.body.text() == item.text)
    blocks = w.body.code_blocks()
    assert len(blocks) == 1 and blocks[0].text() == "print('hi')"
    meta = w.meta.text()
    assert item.model.model in meta and item.route.choice in meta and "to first token" in meta
    assert "free" in meta
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


LONG = "Explain in depth " * 60  # > 600 characters: the placeholder policy routes it strong


def _send(window, qtbot, text: str) -> None:
    window.input.edit.setPlainText(text)
    qtbot.keyClick(window.input.edit, Qt.Key.Key_Return)


def _wait_idle(controller, qtbot, timeout: int = 10000) -> None:
    qtbot.waitUntil(lambda: not controller.busy, timeout=timeout)


def test_stream_renders_in_batches(ui, qtbot, sim):
    controller, window = ui
    words = " ".join(f"w{i}" for i in range(400))
    sim.reply = lambda messages: words
    renders = []
    _send(window, qtbot, "count")
    item = controller.session.items[-1]
    w = window.chat.widget_for(item)
    orig = w.render_text
    w._flush.timeout.disconnect()
    w._flush.timeout.connect(lambda: (renders.append(1), orig()))
    _wait_idle(controller, qtbot)
    assert item.text.split() == words.split()
    assert w.body.text() == item.text
    assert len(renders) < 400  # 400 deltas, far fewer renders


def test_stop_with_escape_keeps_partial(ui, qtbot, sim):
    controller, window = ui
    sim.chunk_delay = 0.02
    sim.reply = lambda messages: " ".join(f"word{i}" for i in range(500))
    _send(window, qtbot, "tell me a long story")
    item = controller.session.items[-1]
    qtbot.waitUntil(lambda: len(item.text) > 20, timeout=10000)
    assert window.input.send_btn.text() == "Stop"
    qtbot.keyClick(window.input.edit, Qt.Key.Key_Escape)
    _wait_idle(controller, qtbot)
    assert item.status == "stopped"
    assert item.text and len(item.text.split()) < 500
    w = window.chat.widget_for(item)
    assert w.status_tag.text() == "Stopped" and w.status_tag.isVisible()
    rec = controller.engine.store.get_message(item.id)
    assert rec.status == "stopped" and rec.text == item.text
    assert window.input.send_btn.text() == "Send"


def test_retry_with_strong(ui, qtbot):
    controller, window = ui
    controller.set_mode("weak")
    _send(window, qtbot, "short question")
    _wait_idle(controller, qtbot)
    first = controller.session.items[-1]
    assert first.model == WEAK
    w = window.chat.widget_for(first)
    assert w.strong_btn.isVisible()
    qtbot.mouseClick(w.strong_btn, Qt.MouseButton.LeftButton)
    _wait_idle(controller, qtbot)
    second = controller.session.items[-1]
    assert second is not first and second.role == "assistant"
    assert second.model == STRONG and second.route.choice == "fixed"
    assert second.status == "complete" and second.cost_usd is not None and second.cost_usd > 0
    # the retry tells the router the weak answer was not good enough
    assert [(f.message_id, f.kind) for f in controller.engine.store.list_feedback()] == [(first.id, "retry_strong")]
    # regenerate answers the same user message: no new user bubble
    assert [i.role for i in controller.session.items] == ["user", "assistant", "assistant"]
    # only the last answer offers regenerate
    assert not window.chat.widget_for(first).regen_btn.isVisible()


def test_fallback_card(ui, qtbot, sim):
    from tests.simulator import Fault

    controller, window = ui
    sim.inject(Fault("quota_exhausted", protocol="openai"))
    controller.set_mode("strong")
    _send(window, qtbot, LONG)  # OpenAI has no credit -> answered by the weak model
    _wait_idle(controller, qtbot)
    item = controller.session.items[-1]
    assert item.status == "complete" and item.model == WEAK and item.fallback_used
    w = window.chat.widget_for(item)
    cards = [w.notices.itemAt(i).widget() for i in range(w.notices.count())]
    assert len(cards) == 1
    card = cards[0]
    assert "No credit left" in card.title.text() and "answered with ollama/llama3.2:latest" in card.title.text()
    assert "credit" in card.message.text()
    assert card.fix is not None and "platform.openai.com" in card.fix.text()
    assert "fallback" in w.meta.text()
    assert "Fell back to" in w.details.text() and "quota_exhausted" in w.details.text()
    # the card's button opens settings at that provider
    qtbot.mouseClick(card.buttons["Open settings"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: getattr(window, "_settings", None) is not None and window._settings.isVisible())
    assert window._settings.form.name.text() == "openai"


def test_error_card_buttons(ui, qtbot, sim):
    from tests.simulator import Fault

    controller, window = ui
    sim.inject(Fault("auth_invalid", protocol="openai", times=None))
    sim.inject(Fault("model_not_found", protocol="ollama", times=1))
    controller.set_mode("weak")
    _send(window, qtbot, LONG)
    _wait_idle(controller, qtbot)
    item = controller.session.items[-1]
    assert item.status == "error" and item.error is not None
    w = window.chat.widget_for(item)
    card = w.card_box.itemAt(0).widget()
    assert card.objectName() == "errorCard"
    assert w.role.text() == "No answer"
    assert card.title.text().startswith("No model could answer")  # both candidates failed
    assert set(card.buttons) >= {"Open settings", "Retry"}
    # Ollama works again: Retry answers
    qtbot.mouseClick(card.buttons["Retry"], Qt.MouseButton.LeftButton)
    _wait_idle(controller, qtbot)
    assert controller.session.items[-1].status == "complete"
    assert controller.session.items[-1].model == WEAK


def test_answer_with_other_model_button(ui, qtbot, sim):
    from tests.simulator import Fault

    controller, window = ui
    controller.set_mode("weak")
    sim.inject(Fault("content_filtered", protocol="ollama"))  # no fallback for refusals
    _send(window, qtbot, "hi")
    _wait_idle(controller, qtbot)
    item = controller.session.items[-1]
    assert item.status == "error"
    card = window.chat.widget_for(item).card_box.itemAt(0).widget()
    assert "Answer with gpt-4o" not in card.buttons  # another model would only hide the refusal
    sim.inject(Fault("server_error", protocol="ollama", times=None))
    sim.inject(Fault("auth_invalid", protocol="openai", times=1))
    controller.set_mode("weak")
    _send(window, qtbot, "again")
    _wait_idle(controller, qtbot)
    item = controller.session.items[-1]
    assert item.status == "error"
    sim.clear_faults()
    # both failed: no "answer with" offer that would fail again
    card = window.chat.widget_for(item).card_box.itemAt(0).widget()
    assert not any(k.startswith("Answer with") for k in card.buttons)


def test_copy_and_feedback(ui, qtbot, sim):
    from PySide6.QtGui import QGuiApplication

    controller, window = ui
    sim.reply = lambda m: "A\n\n```sh\necho hi\n```"
    _send(window, qtbot, "q")
    _wait_idle(controller, qtbot)
    item = controller.session.items[-1]
    w = window.chat.widget_for(item)
    qtbot.mouseClick(w.copy_btn, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == item.text
    block = w.body.code_blocks()[0]
    qtbot.mouseClick(block.copy_btn, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == "echo hi"
    qtbot.mouseClick(w.down_btn, Qt.MouseButton.LeftButton)
    fb = controller.engine.store.list_feedback()
    kind = "thumbs_down_weak" if item.route.choice == "weak" else "thumbs_down"
    assert [(f.message_id, f.value, f.kind) for f in fb] == [(item.id, -1, kind)]
    assert w.down_btn.isChecked() and not w.up_btn.isChecked()


def test_mode_always_strong_from_routing_bar(ui, qtbot):
    controller, window = ui
    bar = window.routing_bar
    idx = bar.mode.findData("strong")
    bar.mode.setCurrentIndex(idx)
    bar.mode.activated.emit(idx)
    assert controller.routing.mode == "strong"
    assert not bar.slider.isEnabled()
    _send(window, qtbot, "hi")
    _wait_idle(controller, qtbot)
    assert controller.session.items[-1].model == STRONG
    # the pair is shown
    assert "gpt-4o" in bar.pair.text() and "llama3.2" in bar.pair.text()
    # the share slider stores the policy
    bar.mode.setCurrentIndex(0)
    bar.mode.activated.emit(0)
    bar.slider.setValue(55)
    qtbot.waitUntil(lambda: (controller.engine.store.get_setting("routing.policy") or {}).get("target_share") == 0.55)


def test_interrupted_stream_keeps_the_partial_and_offers_retry(ui, qtbot, sim):
    from tests.simulator import Fault

    controller, window = ui
    controller.set_mode("weak")
    sim.reply = lambda m: " ".join(f"part{i}" for i in range(50))
    sim.inject(Fault("cut", protocol="ollama", after_chunks=5))
    _send(window, qtbot, "go")
    _wait_idle(controller, qtbot)
    item = controller.session.items[-1]
    assert item.status == "interrupted"
    assert item.text.startswith("part0") and len(item.text.split()) < 50
    w = window.chat.widget_for(item)
    assert w.status_tag.text() == "Interrupted"
    card = w.card_box.itemAt(0).widget()
    assert card.objectName() == "noticeCard" and "Retry" in card.buttons
    qtbot.mouseClick(card.buttons["Retry"], Qt.MouseButton.LeftButton)
    _wait_idle(controller, qtbot)
    assert controller.session.items[-1].status == "complete"
    assert len(controller.session.items[-1].text.split()) == 50


def test_no_model_pair_points_to_settings(make_engine, app_window, qtbot):
    engine = make_engine(pair=False)
    controller, window = app_window(engine)
    controller.send("hello")
    qtbot.waitUntil(lambda: not controller.busy, timeout=10000)
    item = controller.session.items[-1]
    assert item.status == "error" and item.error.kind == "misconfigured"
    card = window.chat.widget_for(item).card_box.itemAt(0).widget()
    assert "Settings" in card.fix.text() and "routedesk use" not in card.fix.text()
    qtbot.mouseClick(card.buttons["Open settings"], Qt.MouseButton.LeftButton)
    assert window._settings.isVisible()


def test_answer_with_the_other_model_after_an_interruption(ui, qtbot, sim):
    from tests.simulator import Fault

    controller, window = ui
    controller.set_mode("weak")
    sim.inject(Fault("cut", protocol="ollama", after_chunks=2))
    _send(window, qtbot, "go")
    _wait_idle(controller, qtbot)
    item = controller.session.items[-1]
    card = window.chat.widget_for(item).card_box.itemAt(0).widget()
    qtbot.mouseClick(card.buttons["Answer with gpt-4o"], Qt.MouseButton.LeftButton)
    _wait_idle(controller, qtbot)
    again = controller.session.items[-1]
    assert again is not item and again.model == STRONG and again.status == "complete"


def test_the_fix_button_pulls_the_missing_model(ui, qtbot, sim):
    """The engine's fix for a model Ollama doesn't have is a pull; the card's button runs it."""
    from tests.simulator import Fault

    controller, window = ui
    sim.models["ollama"].clear()  # llama3.2 isn't downloaded
    sim.inject(Fault("auth_invalid", protocol="openai", times=None))
    controller.set_mode("weak")
    _send(window, qtbot, "hello")
    _wait_idle(controller, qtbot)
    item = controller.session.items[-1]
    assert item.status == "error" and item.error.kind == "model_not_found"
    card = window.chat.widget_for(item).card_box.itemAt(0).widget()
    assert card.title.text().startswith("No model could answer")
    # the fix names what to do in the window's words, and promises nothing from gpt-4o, which failed too
    assert "ollama pull llama3.2:latest" in card.fix.text() and "routedesk" not in card.fix.text()
    assert "gpt-4o" not in card.fix.text() and "keep answering" not in card.fix.text()
    assert not any(k.startswith("Answer with") for k in card.buttons)
    qtbot.mouseClick(card.buttons["Pull llama3.2:latest"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: any(m.startswith("llama3.2") for m in sim.models["ollama"]), timeout=10000)


def test_the_health_panel_offers_the_fix_as_a_button(ui, qtbot):
    from desktop.core.fixes import Fix, FixAction
    from desktop.ui.health import ProviderRow
    from desktop.ui.models import ProviderHealth

    controller, window = ui
    opened = []
    controller.settings_requested.connect(opened.append)
    h = ProviderHealth("lab", "openai-compatible", "down", "lab is not working", "lab answered 404.",
                       Fix(FixAction.SET_BASE_URL, {"provider": "lab", "kind": "openai-compatible",
                                                    "base_url": "http://127.0.0.1:1234/v1"}))
    row = ProviderRow(h, controller)
    qtbot.addWidget(row)
    assert "Change the base URL to http://127.0.0.1:1234/v1 in Settings" in row.findChild(QLabel).text()
    qtbot.mouseClick(row.buttons["Open settings"], Qt.MouseButton.LeftButton)
    assert opened == ["lab"]
