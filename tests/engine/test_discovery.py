"""Local discovery against the simulator: Ollama at OLLAMA_HOST with its model details,
the localhost / 127.0.0.1 spellings, LM Studio, absent servers, and the detail cache."""

from __future__ import annotations

from desktop.core.paths import ollama_base_url
from desktop.core.types import ModelRef
from desktop.engine.discovery import DetailCache, discover, discover_one, host_variants, same_model
from tests.engine._health_support import free_port, heng, keys  # noqa: F401


def show_requests(sim):
    return [r for r in sim.requests if r.path == "/api/show"]


def test_host_variants_try_the_other_loopback_spellings():
    assert host_variants("http://127.0.0.1:11434") == [
        "http://127.0.0.1:11434", "http://localhost:11434", "http://[::1]:11434"]
    assert host_variants("http://localhost:1234/v1") == [
        "http://localhost:1234/v1", "http://127.0.0.1:1234/v1", "http://[::1]:1234/v1"]
    assert host_variants("http://[::1]:11434")[1:] == ["http://127.0.0.1:11434", "http://localhost:11434"]
    assert host_variants("http://gpu-box.lan:11434") == ["http://gpu-box.lan:11434"]  # never guess other machines


def test_same_model_knows_ollamas_latest_tag():
    assert same_model("llama3.2", "llama3.2:latest")
    assert same_model("llama3.2:latest", "llama3.2")
    assert not same_model("llama3.2:1b", "llama3.2")
    assert same_model("openai/gpt-4o", "openai/gpt-4o")


def test_ollama_is_looked_for_at_ollama_host_or_the_default(monkeypatch):
    monkeypatch.delenv("OLLAMA_HOST", raising=False)
    assert ollama_base_url() == "http://127.0.0.1:11434"
    monkeypatch.setenv("OLLAMA_HOST", "0.0.0.0:9999")
    assert ollama_base_url() == "http://127.0.0.1:9999"


async def test_ollama_found_with_no_set_up_and_its_model_details(heng, sim):
    found = await discover_one(heng, "ollama")
    assert found.found and found.kind == "ollama" and found.version == sim.ollama_version
    assert found.base_url == sim.base_url and not found.moved and found.note is None
    by_name = {m.ref.model: m for m in found.models}
    assert set(by_name) == {"llama3.2:latest", "qwen2.5-coder:7b"}
    llama = by_name["llama3.2:latest"]
    assert llama.local and llama.ref == ModelRef("ollama", "llama3.2:latest")
    assert llama.size_bytes and llama.size_bytes > 1_000_000_000
    assert llama.parameter_size == "3.2B" and llama.quantization == "Q4_K_M"
    assert llama.context_length == 131072
    assert by_name["qwen2.5-coder:7b"].context_length == 32768
    assert found.to_dict()["models"][0]["context_length"] in (131072, 32768)


async def test_details_are_cached_until_the_model_changes(heng, sim):
    cache = DetailCache()
    await discover_one(heng, "ollama", cache=cache)
    assert len(show_requests(sim)) == 2
    await discover_one(heng, "ollama", cache=cache)
    assert len(show_requests(sim)) == 2  # steady state: one list call, no per-model calls
    sim.add_model("ollama", "phi3:mini")
    found = await discover_one(heng, "ollama", cache=cache)
    assert len(show_requests(sim)) == 3  # only the new model is asked about
    assert {m.ref.model for m in found.models} == {"llama3.2:latest", "qwen2.5-coder:7b", "phi3:mini"}


async def test_models_added_and_removed_between_discoveries(heng, sim):
    sim.remove_model("ollama", "qwen2.5-coder:7b")
    first = await discover_one(heng, "ollama")
    assert [m.ref.model for m in first.models] == ["llama3.2:latest"]
    sim.models["ollama"].append("gemma2:2b")
    second = await discover_one(heng, "ollama")
    assert [m.ref.model for m in second.models] == ["llama3.2:latest", "gemma2:2b"]


async def test_a_model_whose_details_fail_is_still_listed(heng, sim):
    from tests.simulator import Fault

    # only /api/show for llama3.2 fails (the list and version calls name no model)
    sim.inject(Fault("server_error", protocol="ollama", endpoint="models", model="llama3.2:latest"))
    found = await discover_one(heng, "ollama")
    assert found.found
    by_name = {m.ref.model: m for m in found.models}
    assert by_name["llama3.2:latest"].context_length is None
    assert by_name["llama3.2:latest"].parameter_size == "3.2B"  # from the list itself
    assert by_name["qwen2.5-coder:7b"].context_length == 32768


async def test_ollama_host_spelled_localhost_works(heng, sim, monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", f"localhost:{sim.port}")
    heng.forget_provider("ollama")
    found = await discover_one(heng, "ollama")
    assert found.found and len(found.models) == 2
    assert found.base_url in (f"http://localhost:{sim.port}", f"http://127.0.0.1:{sim.port}")


async def test_ollama_answering_only_under_another_loopback_name_is_found_and_explained(heng, sim, monkeypatch):
    # Configured for the IPv6 loopback, listening on 127.0.0.1 only.
    monkeypatch.setenv("OLLAMA_HOST", f"[::1]:{sim.port}")
    heng.forget_provider("ollama")
    found = await discover_one(heng, "ollama")
    assert found.found and found.moved
    assert found.base_url in (f"http://127.0.0.1:{sim.port}", f"http://localhost:{sim.port}")
    assert found.tried[0] == f"http://[::1]:{sim.port}"
    assert "OLLAMA_HOST=" in found.note_fix and f":{sim.port}" in found.note_fix
    assert len(found.models) == 2


async def test_stopped_ollama_is_not_found_and_says_why(heng, sim):
    sim.stop()
    found = await discover_one(heng, "ollama")
    assert not found.found and found.models == []
    assert found.error is not None and found.error.kind.value == "unreachable"
    assert len(found.tried) == 3  # the address and both other spellings


async def test_lm_studio_is_found_with_its_models(heng, sim):
    found = await discover_one(heng, "lmstudio")
    assert found.found and found.kind == "lmstudio" and found.version is None
    assert {m.ref.model for m in found.models} == {"qwen2.5-7b-instruct", "llama-3.2-3b-instruct"}
    assert all(m.local for m in found.models)


async def test_discover_both_at_once_and_absent_lm_studio(heng, sim):
    heng.store.update_provider("lmstudio", kind="lmstudio", base_url=f"http://127.0.0.1:{free_port()}/v1")
    heng.forget_provider("lmstudio")
    results = {d.name: d for d in await discover(heng)}
    assert results["ollama"].found
    assert not results["lmstudio"].found
    assert results["lmstudio"].error.kind.value == "unreachable"


async def test_ollama_appearing_after_start(heng, sim):
    sim.stop()
    assert not (await discover_one(heng, "ollama")).found
    sim.start()
    assert (await discover_one(heng, "ollama")).found


async def test_lm_studio_details_from_its_own_rest_api():
    """LM Studio's /api/v0/models adds quantisation and context length (mocked: the
    simulator speaks only LM Studio's OpenAI-compatible API)."""
    import httpx

    from desktop.engine.discovery import _lmstudio_details
    from desktop.providers import make_provider

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/models":
            return httpx.Response(200, json={"data": [{"id": "qwen2.5-7b-instruct"}, {"id": "other"}]})
        if request.url.path == "/api/v0/models":
            return httpx.Response(200, json={"data": [
                {"id": "qwen2.5-7b-instruct", "quantization": "Q4_K_M", "max_context_length": 32768,
                 "state": "not-loaded"}]})
        return httpx.Response(404)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        provider = make_provider("lmstudio", "lmstudio", "http://127.0.0.1:1234/v1", None, client)
        models = await provider.list_models()
        detailed = {m.ref.model: m for m in await _lmstudio_details(provider, models)}
    assert detailed["qwen2.5-7b-instruct"].quantization == "Q4_K_M"
    assert detailed["qwen2.5-7b-instruct"].context_length == 32768
    assert detailed["other"].context_length is None
