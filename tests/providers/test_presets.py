"""Presets, base URL normalisation and make_provider."""

from __future__ import annotations

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import desktop.providers as providers
from desktop.core.errors import ErrorKind, RouteDeskError
from desktop.providers import PRESETS, Timeouts, make_provider, normalize_base_url
from desktop.providers.anthropic import AnthropicProvider
from desktop.providers.ollama import OllamaProvider
from desktop.providers.openai_compat import OpenAICompatProvider, OpenRouterProvider


@pytest.mark.parametrize(
    "kind, url, expected",
    [
        ("openai", "https://api.openai.com", "https://api.openai.com/v1"),
        ("openai", "https://api.openai.com/", "https://api.openai.com/v1"),
        ("openai", "https://api.openai.com/v1", "https://api.openai.com/v1"),
        ("openai", "https://api.openai.com/v1/", "https://api.openai.com/v1"),
        ("openai", "  HTTPS://API.OpenAI.com/v1//  ", "https://api.openai.com/v1"),
        ("openai", "https://api.openai.com/v1/chat/completions", "https://api.openai.com/v1"),
        ("openrouter", "https://openrouter.ai/api", "https://openrouter.ai/api/v1"),
        ("openrouter", "https://openrouter.ai/api/v1/", "https://openrouter.ai/api/v1"),
        ("groq", "https://api.groq.com/openai/v1", "https://api.groq.com/openai/v1"),
        ("openai-compatible", "https://generativelanguage.googleapis.com/v1beta/openai/",
         "https://generativelanguage.googleapis.com/v1beta/openai"),
        ("openai-compatible", "http://localhost:8000", "http://localhost:8000/v1"),
        ("openai-compatible", "http://[::1]:8080/", "http://[::1]:8080/v1"),
        ("lmstudio", "http://127.0.0.1:1234", "http://127.0.0.1:1234/v1"),
        ("lmstudio", None, "http://127.0.0.1:1234/v1"),
        ("anthropic", "https://api.anthropic.com", "https://api.anthropic.com"),
        ("anthropic", "https://api.anthropic.com/", "https://api.anthropic.com"),
        ("anthropic", "https://api.anthropic.com/v1", "https://api.anthropic.com"),
        ("anthropic", "https://api.anthropic.com/v1/messages", "https://api.anthropic.com"),
        ("anthropic", "https://proxy.example.com/anthropic/v1/", "https://proxy.example.com/anthropic"),
        ("ollama", "http://127.0.0.1:11434", "http://127.0.0.1:11434"),
        ("ollama", "http://127.0.0.1:11434/", "http://127.0.0.1:11434"),
        ("ollama", "http://127.0.0.1:11434/api", "http://127.0.0.1:11434"),
        ("ollama", "http://127.0.0.1:11434/api/", "http://127.0.0.1:11434"),
        ("ollama", "http://127.0.0.1:11434/v1", "http://127.0.0.1:11434"),
        ("ollama", "http://gpu-box:11434/v1/", "http://gpu-box:11434"),
        ("openai", "", "https://api.openai.com/v1"),
        ("openai", None, "https://api.openai.com/v1"),
    ],
)
def test_normalize(kind, url, expected):
    assert normalize_base_url(kind, url) == expected
    assert normalize_base_url(kind, expected) == expected  # idempotent


def test_ollama_default_follows_ollama_host(monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", "0.0.0.0:5555")
    assert normalize_base_url("ollama", None) == "http://127.0.0.1:5555"
    monkeypatch.delenv("OLLAMA_HOST")
    assert normalize_base_url("ollama", None) == "http://127.0.0.1:11434"


@pytest.mark.parametrize(
    "kind, url, why",
    [
        ("openai", "api.openai.com/v1", "http"),
        ("openai", "https://api.openai .com/v1", "spaces"),
        ("openai", "https:///v1", "host"),
        ("openai", "ftp://example.com", "ftp"),
        ("openai", "http://example.com:99999", "port"),
        ("openai", "http://example.com:abc", "port"),
        ("openai", "https://api.openai.com/v1?x=1", "query"),
        ("openai", "https://user:pw@api.openai.com/v1", "password"),
        ("openai", "https://exa mple.com", "spaces"),
        ("openai", "https://api.openai.com/v1\x00", "control"),
        ("openai-compatible", "", "base URL"),
        ("openai-compatible", None, "base URL"),
        ("anthropic", "localhost:8080", "http"),
        ("ollama", "127.0.0.1:11434", "http"),
    ],
)
def test_normalize_rejects(kind, url, why):
    with pytest.raises(RouteDeskError) as info:
        normalize_base_url(kind, url)
    err = info.value
    assert err.kind is ErrorKind.MISCONFIGURED
    assert why.lower() in (err.message + str(err.fix)).lower()
    if url:
        assert repr(url)[1:20] in err.message or url[:15] in err.message  # names the bad value
    assert "http" in str(err.fix)  # shows a good example


def test_unknown_kind():
    with pytest.raises(RouteDeskError) as info:
        normalize_base_url("openia", "https://x")
    assert info.value.kind is ErrorKind.MISCONFIGURED and "openai" in str(info.value.fix)


def test_presets_table():
    for kind in ["openai", "anthropic", "openrouter", "ollama", "lmstudio", "openai-compatible",
                 "groq", "together", "deepseek", "mistral"]:
        assert kind in PRESETS
    assert PRESETS["openai"].key_env == "OPENAI_API_KEY" and PRESETS["openai"].needs_key
    assert PRESETS["anthropic"].key_env == "ANTHROPIC_API_KEY"
    assert PRESETS["openrouter"].key_env == "OPENROUTER_API_KEY"
    assert PRESETS["ollama"].local and not PRESETS["ollama"].needs_key
    assert PRESETS["lmstudio"].local and PRESETS["lmstudio"].base_url == "http://127.0.0.1:1234/v1"
    assert PRESETS["openai-compatible"].base_url_required and not PRESETS["openai-compatible"].needs_key
    for p in PRESETS.values():
        if p.base_url:
            assert normalize_base_url(p.kind, p.base_url) == p.base_url


async def test_make_provider_kinds():
    async with httpx.AsyncClient() as client:
        t = Timeouts(connect=1, read=2)
        p = make_provider("openai", "work", None, "sk-x", client, t)
        assert isinstance(p, OpenAICompatProvider) and p.kind == "openai" and p.needs_key and not p.local
        assert p.base_url == "https://api.openai.com/v1" and p.timeouts is t and p.client is client
        assert isinstance(make_provider("openrouter", "or", None, "k", client), OpenRouterProvider)
        assert isinstance(make_provider("anthropic", "a", None, "k", client), AnthropicProvider)
        o = make_provider("ollama", "ollama", None, None, client)
        assert isinstance(o, OllamaProvider) and o.local and not o.needs_key
        lm = make_provider("lmstudio", "lm", None, None, client)
        assert lm.local and lm.kind == "lmstudio"
        g = make_provider("groq", "groq", None, "gsk_x", client)
        assert isinstance(g, OpenAICompatProvider) and g.kind == "groq" and g.needs_key
        assert g.base_url == "https://api.groq.com/openai/v1"
        assert type(make_provider("groq", "g2", None, "k", client)) is type(g)
        c = make_provider("openai-compatible", "lab", "http://127.0.0.1:8000", None, client)
        assert c.base_url == "http://127.0.0.1:8000/v1" and not c.needs_key
        with pytest.raises(RouteDeskError) as info:
            make_provider("openai-compatible", "lab", None, None, client)
        assert info.value.kind is ErrorKind.MISCONFIGURED
        with pytest.raises(RouteDeskError):
            make_provider("nope", "x", None, None, client)


async def test_repr_never_shows_the_key():
    async with httpx.AsyncClient() as client:
        p = make_provider("openai", "work", None, "sk-secret-abcdefghijkl", client)
        assert "sk-secret" not in repr(p) and "sk-secret" not in str(vars(p).get("name"))


def test_timeouts():
    t = Timeouts()
    assert (t.connect, t.read, t.first) == (5.0, 60.0, 60.0)
    t2 = Timeouts(read=10, first_token=30)
    h = t2.as_httpx()
    assert t2.first == 30 and h.read == 30 and h.connect == 5.0


def test_facade_all():
    for name in ["make_provider", "PRESETS", "normalize_base_url", "classify_http_error",
                 "classify_transport_error", "Provider", "Timeouts"]:
        assert name in providers.__all__
    for name in providers.__all__:
        assert hasattr(providers, name), name


url_parts = st.one_of(
    st.text(max_size=40),
    st.builds(lambda scheme, host, port, path, slash: f"{scheme}{host}{port}{path}{slash}",
              st.sampled_from(["http://", "https://", "HTTP://", "ftp://", "", "http:/"]),
              st.sampled_from(["api.openai.com", "127.0.0.1", "localhost", "[::1]", "", "exa mple", "h_st"]),
              st.sampled_from(["", ":1234", ":0", ":99999", ":x"]),
              st.sampled_from(["", "/v1", "/api", "/api/v1", "/openai/v1", "/v1/chat/completions", "/v1beta/openai"]),
              st.sampled_from(["", "/", "//", "?q=1", "#f"])),
)


@settings(max_examples=400, deadline=None)
@given(kind=st.sampled_from(sorted(PRESETS)), url=url_parts)
def test_normalize_is_total_and_idempotent(kind, url):
    try:
        out = normalize_base_url(kind, url)
    except RouteDeskError as err:
        assert err.kind is ErrorKind.MISCONFIGURED and err.message and str(err.fix)
        return
    assert out.startswith(("http://", "https://")) and not out.endswith("/")
    assert normalize_base_url(kind, out) == out


def test_addresses_and_help_pages_live_only_in_the_presets():
    """Messages and probes take base URLs, ports and help pages from the presets, so a
    preset that changes changes every sentence that names it."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "desktop"
    owned = [root / "providers" / n for n in ("classify.py", "error_parts.py", "transport_errors.py", "base.py")]
    owned += [root / "engine" / n for n in ("explain.py", "health.py", "health_probe.py", "health_report.py")]
    owned += [root / "terminal.py", root / "core" / "fix_words.py", root / "ui" / "error_card.py"]
    for path in owned:
        text = path.read_text(encoding="utf-8")
        for literal in ("11434", "127.0.0.1:1234", "api.openai.com", "console.anthropic.com", "openrouter.ai/"):
            assert literal not in text, f"{path.name} repeats {literal} from the presets"
