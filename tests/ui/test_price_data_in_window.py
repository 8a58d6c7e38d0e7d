"""genai-prices loaded as the window loads it, with PySide6's import hook looking at every
new module (it reads a module's ``__file__`` and source): the price-update client must still
not load, and prices must not change."""

from __future__ import annotations

from tests.engine.test_price_data import run_driver


def test_price_data_in_the_window_leaves_the_update_client_unloaded():
    plain = run_driver("plain", "--window")
    light = run_driver("light", "--window")
    assert plain["client_loaded"]  # what load_price_data is for
    assert light["deferred"] and not light["client_loaded"]
    assert light["client_on_use"]
    assert light["prices"] == plain["prices"]
