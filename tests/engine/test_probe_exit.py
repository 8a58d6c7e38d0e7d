"""``routedesk probe``'s exit status, in process through ``desktop.cli.main``: it fails for
a provider the user set up, uses or names, never for an Ollama or LM Studio that RouteDesk
only looks for and that was never installed (nothing listens at its usual address)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from desktop.providers import PRESETS
from desktop.storage import Store
from tests.engine._health_support import free_port
from tests.engine.test_probe_cli import run


@pytest.fixture
def bare_home(tmp_path, monkeypatch):
    """A machine with neither Ollama nor LM Studio: both usual addresses answer nothing."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("ROUTEDESK_HOME", str(home))
    monkeypatch.setenv("OLLAMA_HOST", f"http://127.0.0.1:{free_port()}")
    monkeypatch.delenv("ROUTEDESK_DEBUG", raising=False)
    monkeypatch.setitem(PRESETS, "lmstudio",
                        replace(PRESETS["lmstudio"], base_url=f"http://127.0.0.1:{free_port()}/v1"))
    return home


def _store(home) -> Store:
    return Store(home / "routedesk.sqlite3")


def test_an_ollama_never_installed_is_reported_but_not_a_failure(bare_home, capsys):
    code, out, _ = run(capsys, "probe")
    assert code == 0
    assert "isn't running" in out and "not set up or used, so this is not a problem" in out
    code, out, _ = run(capsys, "probe", "--json")
    data = json.loads(out)
    assert code == 0 and data["failing"] == []
    assert {p["name"]: p["status"] for p in data["providers"]} == {"ollama": "down"}


def test_an_ollama_the_pair_uses_fails_the_probe(bare_home, capsys):
    from desktop.engine.app import PAIR_SETTING

    s = _store(bare_home)
    try:
        s.set_setting(PAIR_SETTING, {"strong": "ollama/qwen2.5-coder:7b", "weak": "ollama/llama3.2"})
    finally:
        s.close()
    code, out, _ = run(capsys, "probe", "--json")
    assert code == 1 and json.loads(out)["failing"] == ["ollama"]


def test_an_ollama_the_user_added_fails_the_probe(bare_home, capsys):
    s = _store(bare_home)
    try:
        s.add_provider("ollama", "ollama", None)
    finally:
        s.close()
    code, out, _ = run(capsys, "probe")
    assert code == 1 and "not a problem" not in out


def test_naming_an_absent_ollama_fails_the_probe(bare_home, capsys):
    code, _, _ = run(capsys, "probe", "ollama")
    assert code == 1


def test_a_configured_server_that_is_down_fails_the_probe(bare_home, capsys):
    s = _store(bare_home)
    try:
        s.add_provider("lab", "openai-compatible", f"http://127.0.0.1:{free_port()}/v1")
    finally:
        s.close()
    code, out, _ = run(capsys, "probe", "--json")
    data = json.loads(out)
    assert code == 1 and data["failing"] == ["lab"]
    assert {p["name"] for p in data["providers"]} == {"lab", "ollama"}
