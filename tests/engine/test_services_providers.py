"""engine.providers_admin through ``routedesk providers ...`` (in process, the real
keyring): rename moves everything that belongs to the name; updating keeps the key."""

from __future__ import annotations

import io
import json
import sys
import uuid
from contextlib import redirect_stdout, suppress
from decimal import Decimal

import keyring
import pytest

from desktop.cli import main
from desktop.core.errors import ErrorKind, RouteDeskError
from desktop.core.types import ModelRef
from desktop.engine.app import Engine
from desktop.engine.provider_admin import ProviderChange
from tests.simulator.fixtures import sim  # noqa: F401

KEY = "sk-test-key"


@pytest.fixture
def names(keystore):  # keystore: skip with a reason when there is no Secret Service
    made = [f"p{uuid.uuid4().hex[:10]}" for _ in range(3)]
    yield made
    for n in made:
        with suppress(Exception):
            keyring.delete_password("RouteDesk", n)


def cli(*args: str, stdin: str | None = None, monkeypatch=None) -> tuple[int, str]:
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    out = io.StringIO()
    with redirect_stdout(out):
        code = main(list(args))
    return code, out.getvalue()


def opened(home) -> Engine:
    return Engine.open(home)


def test_rename_moves_key_pair_prices_and_cooldowns(home, names, sim, monkeypatch):
    old, new, _ = names
    assert cli("providers", "add", old, "--kind", "openai", "--base-url", sim.openai_url, "--key-stdin",
               stdin=KEY + "\n", monkeypatch=monkeypatch)[0] == 0
    assert cli("use", "--strong", f"{old}/gpt-4o", "--weak", "ollama/llama3.2:latest")[0] == 0
    assert cli("pricing", "set", f"{old}/gpt-4o", "--input", "3", "--output", "9")[0] == 0
    eng = opened(home)
    eng.cooldowns.mark(ModelRef(old, "gpt-4o"), RouteDeskError(ErrorKind.SERVER_ERROR, "boom"))
    eng.store.close()

    code, out = cli("providers", "rename", old, new, "--json")
    assert code == 0, out
    assert json.loads(out)["to"]["name"] == new

    assert keyring.get_password("RouteDesk", new) == KEY
    assert keyring.get_password("RouteDesk", old) is None
    eng = opened(home)
    try:
        assert [p.name for p in eng.providers_admin.list()] == [new]
        assert eng.pair().strong == ModelRef(new, "gpt-4o")
        o = eng.store.get_price_override(ModelRef(new, "gpt-4o"))
        assert (o.input_per_mtok, o.output_per_mtok) == (Decimal("3"), Decimal("9"))
        assert eng.store.get_price_override(ModelRef(old, "gpt-4o")) is None
        assert eng.cooldowns.check(ModelRef(new, "gpt-4o")) is not None
        assert eng.cooldowns.check(ModelRef(old, "gpt-4o")) is None
    finally:
        eng.store.close()
    # and the renamed provider answers with its moved key
    code, out = cli("ask", "--json", "--model", f"{new}/gpt-4o-mini", "hello")
    assert code == 0 and json.loads(out)["model"] == f"{new}/gpt-4o-mini"


def test_rename_refuses_a_taken_or_unknown_name(home, names, sim, monkeypatch, capsys):
    a, b, c = names
    for n in (a, b):
        cli("providers", "add", n, "--kind", "ollama", "--base-url", sim.ollama_url)
    assert cli("providers", "rename", a, b)[0] == 1
    assert f"already a provider called {b!r}" in capsys.readouterr().err
    assert cli("providers", "rename", c, "x")[0] == 1
    assert "no provider called" in capsys.readouterr().err
    eng = opened(home)
    try:
        assert {p.name for p in eng.providers_admin.list()} == {a, b}
    finally:
        eng.store.close()


def test_updating_the_url_or_timeout_keeps_the_stored_key(home, names, sim, monkeypatch):
    name = names[0]
    assert cli("providers", "add", name, "--kind", "openai", "--base-url", "http://127.0.0.1:9/v1", "--key-stdin",
               stdin=KEY + "\n", monkeypatch=monkeypatch)[0] == 0
    # no --key-stdin: the key in the keyring stays and is used
    code, out = cli("providers", "add", name, "--kind", "openai", "--base-url", sim.openai_url, "--timeout", "90")
    assert code == 0 and out.startswith(f"Updated {name}")
    assert "key saved" not in out
    assert keyring.get_password("RouteDesk", name) == KEY
    listed = json.loads(cli("providers", "list", "--json")[1])["providers"]
    assert [(p["name"], p["base_url"], p["has_key"], p["timeout_s"]) for p in listed] == [
        (name, sim.openai_url, True, 90.0)]
    eng = opened(home)
    try:
        assert eng.provider(name).timeouts.read == 90.0
    finally:
        eng.store.close()
    assert cli("ask", "--json", "--model", f"{name}/gpt-4o-mini", "hi")[0] == 0


def test_a_new_provider_that_needs_a_key_still_asks_for_it(home, names, capsys):
    assert cli("providers", "add", names[0], "--kind", "openai")[0] == 1
    assert "needs an API key" in capsys.readouterr().err


async def test_the_window_and_the_cli_share_one_save(home, names, sim, keystore):
    """ProviderChange with rename_from is the window's Save after editing the name."""
    eng = Engine.open(home, keystore=keystore)
    try:
        a, b, _ = names
        eng.providers_admin.save(ProviderChange(a, "openai", sim.openai_url, KEY))
        saved = eng.providers_admin.save(ProviderChange(b, "openai", sim.openai_url, rename_from=a))
        assert saved.info.name == b and saved.info.has_key and not saved.key_saved
        assert keystore.get(a) is None and keystore.get(b) == KEY
        check = await eng.providers_admin.test_connection(b, "openai", sim.openai_url, KEY)
        assert check.ok and "gpt-4o" in check.models
        assert eng.providers_admin.cached_models()[b] == list(check.models)
    finally:
        await eng.aclose()
