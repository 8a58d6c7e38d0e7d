"""Settings: providers, the OS keyring, Test connection, models and the pricing table."""

from __future__ import annotations

from decimal import Decimal

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLineEdit

from desktop.core.types import ModelRef
from tests.ui.conftest import KEY, STRONG, BrokenKeyStore


def _open_settings(window, provider=""):
    window.open_settings(provider)
    return window._settings


@pytest.mark.keyring
def test_settings_round_trip_with_the_keyring(make_engine, app_window, keystore, key_name, qtbot, sim):
    engine = make_engine(keystore=keystore, configured=False)
    controller, window = app_window(engine)
    dlg = _open_settings(window)
    dlg.add("openai")
    form = dlg.form
    assert form.key.echoMode() == QLineEdit.EchoMode.Password  # masked
    form.name.setText(key_name)
    form.base_url.setText(sim.openai_url)
    qtbot.keyClicks(form.key, KEY)
    # Test connection answers in plain words and lists the models
    qtbot.mouseClick(form.test_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: form.result.text().startswith("✔"), timeout=10000)
    assert "Connected to OpenAI" in form.result.text() and "2 models" in form.result.text()
    assert sorted(form.prices.refs) == [ModelRef(key_name, "gpt-4o"), ModelRef(key_name, "gpt-4o-mini")]
    qtbot.mouseClick(form.save_btn, Qt.MouseButton.LeftButton)
    assert keystore.get(key_name) == KEY  # in the OS keyring
    rec = engine.store.get_provider(key_name)
    assert rec.kind == "openai" and rec.base_url == sim.openai_url
    assert KEY not in str(engine.store.settings())  # never in the database
    assert form.key.text() == "" and "keyring" in form.key.placeholderText()
    # pick the strong model from the provider's models
    form.prices.selectRow(0)
    qtbot.mouseClick(form.strong_btn, Qt.MouseButton.LeftButton)
    assert controller.routing.strong == form.prices.refs[0]
    # reopen: the stored key is used for Test connection without being shown
    dlg.close()
    dlg = _open_settings(window, key_name)
    assert dlg.form.name.text() == key_name and dlg.form.key.text() == ""
    qtbot.mouseClick(dlg.form.test_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dlg.form.result.text().startswith("✔"), timeout=10000)
    # remove deletes the key too
    names = [dlg.list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(dlg.list.count())]
    dlg.list.setCurrentRow(names.index(key_name))
    controller.remove_provider(key_name)
    assert keystore.get(key_name) is None and engine.store.get_provider(key_name) is None


def test_wrong_key_says_so_in_plain_words(make_engine, app_window, qtbot, sim):
    engine = make_engine(configured=False)
    controller, window = app_window(engine)
    dlg = _open_settings(window)
    dlg.add("openai")
    dlg.form.base_url.setText(sim.openai_url)
    dlg.form.key.setText("sk-wrong")
    dlg.form.test()
    qtbot.waitUntil(lambda: dlg.form.result.text().startswith("✘"), timeout=10000)
    text = dlg.form.result.text()
    assert "OpenAI" in text and "key" in text.lower()
    assert "sk-wrong" not in text


def test_unreachable_server_says_so(make_engine, app_window, qtbot):
    engine = make_engine(configured=False)
    controller, window = app_window(engine)
    dlg = _open_settings(window)
    dlg.add("ollama")
    dlg.form.base_url.setText("http://127.0.0.1:9")
    dlg.form.test()
    qtbot.waitUntil(lambda: dlg.form.result.text().startswith("✘"), timeout=15000)
    assert "Ollama" in dlg.form.result.text()


def test_keyring_unavailable_is_explained(make_engine, app_window, qtbot, sim):
    engine = make_engine(keystore=BrokenKeyStore(), configured=False)
    controller, window = app_window(engine)
    dlg = _open_settings(window)
    dlg.add("openai")
    dlg.form.base_url.setText(sim.openai_url)
    dlg.form.key.setText(KEY)
    assert dlg.form.save() is False
    assert "keyring" in dlg.form.result.text().lower()
    assert engine.store.get_provider("openai") is None  # nothing half-saved


def test_price_override_changes_the_next_cost(ui, qtbot, sim):
    controller, window = ui
    dlg = _open_settings(window, "openai")
    form = dlg.form
    form.test()
    qtbot.waitUntil(lambda: bool(form.prices.refs), timeout=10000)
    row = form.prices.refs.index(STRONG)
    assert form.prices.item(row, 3).text() == "bundled"
    form.prices.item(row, 1).setText("1000")
    form.prices.item(row, 2).setText("2000")
    assert form.prices.item(row, 3).text() == "your override"
    ov = controller.engine.store.get_price_override(STRONG)
    assert ov.input_per_mtok == Decimal("1000") and ov.output_per_mtok == Decimal("2000")
    controller.set_mode("strong")
    controller.send("price check")
    qtbot.waitUntil(lambda: not controller.busy, timeout=10000)
    item = controller.session.items[-1]
    u = item.usage
    assert item.cost_usd == (Decimal(1000) * u.input_tokens + Decimal(2000) * u.output_tokens) / Decimal(1_000_000)
    assert item.price_source == "override"
    # a bad number is refused in plain words, nothing stored
    form.prices.item(row, 1).setText("abc")
    assert "dollars" in form.prices.error.text()
    assert controller.engine.store.get_price_override(STRONG).input_per_mtok == Decimal("1000")


def test_env_key_offered_never_used_silently(make_engine, app_window, qtbot, sim, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    engine = make_engine(configured=False)
    controller, window = app_window(engine)
    assert engine.store.list_providers() == []
    assert engine.keystore.get("openai") is None
    dlg = _open_settings(window)
    assert dlg.env_banner.isVisible()
    btn = dlg.env_banner.findChild(type(dlg.add_btn), "import_openai")
    assert btn is not None
    qtbot.mouseClick(btn, Qt.MouseButton.LeftButton)
    assert engine.keystore.get("openai") == "sk-from-env"
    assert engine.store.get_provider("openai").kind == "openai"
    assert not dlg.env_banner.isVisible()


def test_renaming_a_provider_moves_its_key_and_the_pair(ui, qtbot):
    controller, window = ui
    dlg = _open_settings(window, "openai")
    dlg.form.name.setText("work")
    assert dlg.form.save()
    keys = controller.engine.keystore
    assert keys.get("work") == KEY and keys.get("openai") is None
    store = controller.engine.store
    assert store.get_provider("openai") is None and store.get_provider("work") is not None
    assert controller.routing.strong == ModelRef("work", "gpt-4o")
    controller.send("still works", "strong")
    qtbot.waitUntil(lambda: not controller.busy, timeout=10000)
    assert controller.session.items[-1].model == ModelRef("work", "gpt-4o")
    assert controller.session.items[-1].status == "complete"
