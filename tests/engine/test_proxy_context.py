"""``routedesk models --json`` shows a proxy's input window as the model's context length:
LiteLLM lists bare names at /v1/models and the window as ``model_info.max_input_tokens`` at
/v1/model/info (docs.litellm.ai/docs/proxy/model_management); the simulator answers both."""

from __future__ import annotations

import io
import json
import uuid
from contextlib import redirect_stdout

import pytest

from desktop.cli import main
from tests.simulator.fixtures import sim  # noqa: F401

KEY = "sk-test-key"


@pytest.fixture
def proxy(home, monkeypatch, keystore, sim):  # noqa: F811
    monkeypatch.setenv("OLLAMA_HOST", "http://127.0.0.1:9")  # no local models in the way
    name = f"litellm{uuid.uuid4().hex[:8]}"
    keystore.set(name, KEY)
    from desktop.storage import Store

    store = Store(home / "routedesk.sqlite3")
    try:
        store.add_provider(name, "openai-compatible", sim.openai_url)
    finally:
        store.close()
    return name


def models_json() -> dict:
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["models", "--json"]) == 0
    return {r["model"]: r for r in json.loads(out.getvalue())["models"]}


def test_a_litellm_proxys_max_input_tokens_is_the_context_length(proxy, sim):  # noqa: F811
    sim.litellm_model_info = {"gpt-4o": {"max_input_tokens": 128000, "max_tokens": 16384},
                              "gpt-4o-mini": {"max_input_tokens": 128000}}
    rows = models_json()
    assert rows[f"{proxy}/gpt-4o"]["context_length"] == 128000
    assert rows[f"{proxy}/gpt-4o-mini"]["context_length"] == 128000
    assert any(r.path == "/v1/model/info" for r in sim.requests)


def test_a_server_without_model_info_still_lists_its_models(proxy, sim):  # noqa: F811
    rows = models_json()  # /v1/model/info answers 404 here, as on most servers
    assert rows[f"{proxy}/gpt-4o"]["context_length"] is None


@pytest.mark.parametrize(("item", "ctx"), [
    ({"id": "m", "max_input_tokens": 200000}, 200000),  # a /v1/models item that carries it
    ({"model_name": "m", "model_info": {"max_input_tokens": 8192, "max_tokens": 4096}}, 8192),
    ({"id": "m", "context_length": 131072, "max_input_tokens": 1}, 131072),
    ({"id": "m", "model_info": None}, None),
])
def test_the_model_list_reads_each_way_of_writing_the_window(item, ctx):
    from desktop.providers.openai_compat import _context_of

    assert _context_of(item) == ctx
