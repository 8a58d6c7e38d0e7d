"""The chat card says how an answer ended, with the same facts as the command line: a cut
answer is kept with a "Cut off" tag and a card whose button asks for the rest; a filtered
one keeps its text and offers no other model; an error inside the stream keeps the text;
the model that really answered is named beside the answer. Reopened from the store, a cut
answer still says so."""

from __future__ import annotations

from PySide6.QtCore import Qt

from tests.simulator import Fault
from tests.ui.conftest import STRONG


def _send(window, qtbot, text: str) -> None:
    window.input.edit.setPlainText(text)
    qtbot.keyClick(window.input.edit, Qt.Key.Key_Return)


def _wait_idle(controller, qtbot, timeout: int = 10000) -> None:
    qtbot.waitUntil(lambda: not controller.busy, timeout=timeout)


def test_a_cut_answer_shows_cut_off_and_continue_asks_for_the_rest(ui, qtbot, sim):
    controller, window = ui
    controller.set_mode("strong")
    sim.reply = lambda m: " ".join(f"part{i}" for i in range(20))
    sim.inject(Fault("length", protocol="openai", after_chunks=5))
    _send(window, qtbot, "tell me everything")
    _wait_idle(controller, qtbot)
    item = controller.session.items[-1]
    assert item.status == "truncated" and item.text == "part0 part1 part2 part3 part4"
    w = window.chat.widget_for(item)
    assert w.status_tag.text() == "Cut off" and w.status_tag.isVisible()
    card = w.card_box.itemAt(0).widget()
    assert card.objectName() == "noticeCard"
    assert card.title.text() == f"The answer was cut off — {STRONG}"
    assert "cut off" in card.message.text() and "length limit (length)" in card.message.text()
    assert "continue" in card.fix.text().lower()
    qtbot.mouseClick(card.buttons["Continue"], Qt.MouseButton.LeftButton)
    _wait_idle(controller, qtbot)
    assert controller.session.items[-2].text == "continue"
    sent = [r for r in sim.requests if r.path.endswith("/chat/completions")][-1].json_body["messages"]
    assert {"role": "assistant", "content": "part0 part1 part2 part3 part4"} in [
        {"role": m["role"], "content": m["content"]} for m in sent]
    assert controller.session.items[-1].status == "complete"
    assert not w.card_box.itemAt(0).widget().buttons  # only the last answer offers Continue


def test_a_cut_answer_reopened_from_the_store_still_says_so(ui, qtbot, sim):
    controller, window = ui
    controller.set_mode("strong")
    sim.inject(Fault("length", protocol="openai", after_chunks=3))
    _send(window, qtbot, "tell me everything")
    _wait_idle(controller, qtbot)
    conv = controller.session.conversation_id
    controller.new_conversation()
    controller.open_conversation(conv)
    qtbot.waitUntil(lambda: len(controller.session.items) == 2)
    item = controller.session.items[-1]
    assert item.status == "truncated" and item.notice is not None
    w = window.chat.widget_for(item)
    assert w.status_tag.text() == "Cut off"
    assert w.card_box.itemAt(0).widget().title.text().startswith("The answer was cut off")


def test_a_filtered_answer_keeps_its_text_and_offers_no_other_model(ui, qtbot, sim):
    controller, window = ui
    controller.set_mode("strong")
    sim.inject(Fault("content_filter", protocol="openai", after_chunks=2))
    _send(window, qtbot, "tell me everything")
    _wait_idle(controller, qtbot)
    item = controller.session.items[-1]
    assert item.status == "interrupted" and item.text and item.error.kind == "content_filtered"
    card = window.chat.widget_for(item).card_box.itemAt(0).widget()
    assert "content filter stopped the answer" in card.message.text()
    assert not [label for label in card.buttons if label.startswith("Answer with")]


def test_an_error_inside_the_stream_keeps_the_text_and_the_served_model_is_named(ui, qtbot, sim):
    controller, window = ui
    controller.set_mode("strong")
    sim.inject(Fault("midstream_error", protocol="openai", after_chunks=2))
    _send(window, qtbot, "tell me everything")
    _wait_idle(controller, qtbot)
    item = controller.session.items[-1]
    assert item.status == "interrupted" and item.text and item.error.code == "stream_error"
    card = window.chat.widget_for(item).card_box.itemAt(0).widget()
    assert "reported an error partway through" in card.message.text() and "Retry" in card.buttons
    sim.served_models["gpt-4o"] = "gpt-4o-mini"
    _send(window, qtbot, "tell me everything again")
    _wait_idle(controller, qtbot)
    item = controller.session.items[-1]
    assert item.status == "complete" and item.served_model == "gpt-4o-mini"
    w = window.chat.widget_for(item)
    assert "answered by gpt-4o-mini" in w.meta.text()
    assert "billed as gpt-4o-mini" in w.details.text()
