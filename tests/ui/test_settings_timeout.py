"""Settings → Providers → Timeout: the seconds allowed to the first word and between words,
saved through the engine's provider service (the real keyring), used by the next message,
and named by the error card when it runs out."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from desktop.core.types import ModelRef
from desktop.engine.provider_settings import TIMEOUT_OPTION
from tests.simulator import Fault
from tests.ui.conftest import KEY


def _chats(sim) -> int:
    return sum(1 for r in sim.requests if r.protocol == "openai" and r.method == "POST")


@pytest.mark.keyring
def test_the_timeout_field_is_saved_used_and_named_when_it_runs_out(make_engine, app_window, keystore, key_name,
                                                                    qtbot, sim):
    engine = make_engine(keystore=keystore, configured=False)
    controller, window = app_window(engine)
    window.open_settings("")
    dlg = window._settings
    dlg.add("ollama")
    assert dlg.form.timeout.text() == "default"
    assert dlg.form.timeout_help.text() == "default: 300 s to the first word, then 60 s between words"
    dlg.add("openai")
    form = dlg.form
    assert form.timeout.value() == 0 and form.timeout_help.text() == "default: 60 s to the first word and between words"
    form.name.setText(key_name)
    form.base_url.setText(sim.openai_url)
    qtbot.keyClicks(form.key, KEY)
    form.timeout.lineEdit().selectAll()
    qtbot.keyClicks(form.timeout, "2")
    assert form.timeout.value() == 2
    qtbot.mouseClick(form.save_btn, Qt.MouseButton.LeftButton)
    assert engine.store.get_provider(key_name).options == {TIMEOUT_OPTION: 2.0}
    assert keystore.get(key_name) == KEY
    t = engine.provider(key_name).timeouts
    assert (t.first, t.read) == (2.0, 2.0)
    dlg.close()

    window.open_settings(key_name)
    assert window._settings.form.timeout.value() == 2  # read back from the store
    window._settings.close()

    controller.set_pair(ModelRef(key_name, "gpt-4o"), None)
    controller.set_mode("strong")
    sim.inject(Fault("stall", protocol="openai", delay=None))  # no first word
    window.input.edit.setPlainText("hello there")
    qtbot.keyClick(window.input.edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not controller.busy and controller.session.items
                    and controller.session.items[-1].status == "error", timeout=15000)
    sim.release_stalls()
    assert _chats(sim) == 1  # sent once, not again behind the user's back
    item = controller.session.items[-1]
    card = window.chat.widget_for(item).card_box.itemAt(0).widget()
    assert "didn't start answering within 2s" in card.message.text()
    assert "raise its Timeout in Settings → Providers from 2 s to 4 s" in card.fix.text()
    qtbot.mouseClick(card.buttons["Open settings"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: getattr(window, "_settings", None) is not None and window._settings.isVisible())
    form = window._settings.form
    assert form.name.text() == key_name and form.timeout.value() == 2

    form.timeout.setValue(0)  # back to the default
    qtbot.mouseClick(form.save_btn, Qt.MouseButton.LeftButton)
    assert engine.store.get_provider(key_name).options == {}
    assert keystore.get(key_name) == KEY  # the key stays
