"""desktop.engine.explain: the final message and fix for every kind x provider kind."""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from desktop.core.errors import FALLBACK, ErrorKind, RouteDeskError
from desktop.core.fixes import Fix, FixAction
from desktop.engine.explain import explain
from desktop.providers import classify_http_error, classify_transport_error

K = ErrorKind
PROVIDER_KINDS = ["openai", "anthropic", "openrouter", "ollama", "lmstudio", "openai-compatible", "groq"]
BASES = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com",
    "openrouter": "https://openrouter.ai/api/v1",
    "ollama": "http://127.0.0.1:11434",
    "lmstudio": "http://127.0.0.1:1234/v1",
    "openai-compatible": "http://10.0.0.5:8000/v1",
    "groq": "https://api.groq.com/openai/v1",
}
DISPLAY = {
    "openai": "OpenAI",
    "anthropic": "Anthropic",
    "openrouter": "OpenRouter",
    "ollama": "Ollama",
    "lmstudio": "LM Studio",
    "openai-compatible": "OpenAI-compatible server",
    "groq": "Groq",
}


def make(kind: ErrorKind, pk: str, **kw) -> RouteDeskError:
    kw.setdefault("provider", pk)
    kw.setdefault("model", "model-x")
    return RouteDeskError(kind, "raw message", "raw fix", **kw)


@pytest.mark.parametrize("pk", PROVIDER_KINDS)
@pytest.mark.parametrize("kind", list(ErrorKind), ids=[k.value for k in ErrorKind])
def test_every_kind_for_every_provider(kind, pk):
    err = make(kind, pk, code="some_code", status=500, retry_after=3.0, detail="d")
    out = explain(err, provider_kind=pk, base_url=BASES[pk], fallback="ollama/llama3.2")
    assert out.kind is kind
    assert (out.status, out.code, out.retry_after, out.detail, out.model) == (500, "some_code", 3.0, "d", "model-x")
    assert out.message and str(out.fix) and str(out.fix).endswith(".") and out.message.endswith(".")
    if kind is not K.MISCONFIGURED:
        assert out.message != "raw message"
        assert DISPLAY[pk] in out.message or "127.0.0.1" in out.message
    if kind not in (K.UNREACHABLE, K.MISCONFIGURED):
        assert "model-x" in out.message
    mentions = "ollama/llama3.2" in str(out.fix)
    if kind in (K.CONTENT_FILTERED, K.INTERRUPTED):
        assert not mentions
    else:
        assert mentions, str(out.fix)
    assert "ollama/llama3.2" not in out.message


@pytest.mark.parametrize("kind", list(ErrorKind))
def test_without_fallback_no_mention(kind):
    out = explain(make(kind, "openai"), provider_kind="openai", base_url=BASES["openai"], fallback=None)
    assert "RouteDesk will" not in str(out.fix) and "meanwhile" not in str(out.fix) and str(out.fix).endswith(".")


def test_design_examples():
    body = json.dumps(
        {
            "error": {
                "message": "You exceeded your current quota",
                "type": "insufficient_quota",
                "code": "insufficient_quota",
            }
        }
    )
    err = classify_http_error(429, {}, body, provider="openai", kind="openai", model="gpt-4o")
    out = explain(err, provider_kind="openai", base_url=BASES["openai"], fallback="llama3.2 on this computer")
    assert out.message == "OpenAI says this account has no credit left for gpt-4o (insufficient_quota)."
    assert str(out.fix).startswith("Add a payment method at platform.openai.com")
    assert str(out.fix).endswith(", or RouteDesk will keep answering with llama3.2 on this computer.")

    err = classify_transport_error(
        httpx.ConnectError("[Errno 111] Connection refused"),
        provider="ollama",
        kind="ollama",
        model="llama3.2",
        base_url=BASES["ollama"],
        midstream=False,
    )
    out = explain(err, provider_kind="ollama", base_url=BASES["ollama"], fallback=None)
    assert out.message == "Ollama isn't running on 127.0.0.1:11434."
    assert str(out.fix) == "Start it with `ollama serve`, or open the Ollama app."


def test_ollama_model_not_pulled():
    err = classify_http_error(
        404,
        {},
        json.dumps({"error": 'model "qwen3:8b" not found, try pulling it first'}),
        provider="ollama",
        kind="ollama",
        model="qwen3:8b",
    )
    out = explain(err, provider_kind="ollama", base_url=BASES["ollama"], fallback="work/gpt-4o-mini")
    assert "Run `ollama pull qwen3:8b`" in str(out.fix) and "work/gpt-4o-mini" in str(out.fix)
    assert "qwen3:8b" in out.message


@pytest.mark.parametrize(
    "pk, kind, url",
    [
        ("openai", K.AUTH_INVALID, "platform.openai.com/api-keys"),
        ("anthropic", K.AUTH_INVALID, "console.anthropic.com/settings/keys"),
        ("openrouter", K.AUTH_INVALID, "openrouter.ai/settings/keys"),
        ("openai", K.QUOTA_EXHAUSTED, "platform.openai.com/settings/organization/billing"),
        ("anthropic", K.QUOTA_EXHAUSTED, "console.anthropic.com/settings/billing"),
        ("openrouter", K.QUOTA_EXHAUSTED, "openrouter.ai/settings/credits"),
        ("groq", K.AUTH_INVALID, "console.groq.com/keys"),
        ("anthropic", K.OVERLOADED, "status.anthropic.com"),
        ("openai", K.SERVER_ERROR, "status.openai.com"),
        ("openrouter", K.MODEL_NOT_FOUND, "openrouter.ai/models"),
    ],
)
def test_fix_urls(pk, kind, url):
    out = explain(make(kind, pk), provider_kind=pk, base_url=BASES[pk], fallback=None)
    assert url in str(out.fix)
    assert "https://" not in str(out.fix)


def test_custom_provider_name_is_shown_with_its_kind():
    out = explain(make(K.AUTH_INVALID, "work"), provider_kind="openai", base_url=BASES["openai"], fallback=None)
    assert out.message.startswith("work (OpenAI) ")


def test_rate_limit_mentions_the_wait():
    out = explain(
        make(K.RATE_LIMITED, "anthropic", retry_after=12.0),
        provider_kind="anthropic",
        base_url=BASES["anthropic"],
        fallback="ollama/llama3.2",
    )
    assert (
        "12s" in out.message and "Wait 12s" in str(out.fix) and "RouteDesk answers with ollama/llama3.2" in str(out.fix)
    )


def test_unreachable_variants():
    base = "https://api.example.com/v1"
    for code, phrase in [
        ("dns", "Can't find api.example.com"),
        ("tls", "secure connection"),
        ("connection_refused", "Nothing is answering at api.example.com"),
        ("disconnected", "closed the connection"),
    ]:
        out = explain(
            make(K.UNREACHABLE, "lab", code=code), provider_kind="openai-compatible", base_url=base, fallback=None
        )
        assert phrase in out.message, out.message
    out = explain(
        make(K.UNREACHABLE, "lm", code="connection_refused"),
        provider_kind="lmstudio",
        base_url=BASES["lmstudio"],
        fallback=None,
    )
    assert out.message == "LM Studio's server isn't running on 127.0.0.1:1234."


def test_context_too_long_offers_the_fallback():
    out = explain(
        make(K.CONTEXT_TOO_LONG, "openai"),
        provider_kind="openai",
        base_url=BASES["openai"],
        fallback="anthropic/claude-sonnet-4-5",
    )
    assert str(out.fix).endswith("or RouteDesk will try anthropic/claude-sonnet-4-5 instead.")


def test_misconfigured_keeps_the_specific_message():
    err = RouteDeskError(
        K.MISCONFIGURED,
        "No API key is set for OpenAI.",
        Fix(FixAction.ADD_KEY, {"provider": "openai", "kind": "openai", "why": "missing"}),
        provider="openai",
    )
    out = explain(err, provider_kind="openai", base_url=None, fallback="ollama/llama3.2")
    assert out.message == "No API key is set for OpenAI."
    assert out.fix.action is FixAction.ADD_KEY and out.fix.get("keys_url") == "https://platform.openai.com/api-keys"
    assert "platform.openai.com/api-keys" in str(out.fix) and "ollama/llama3.2" in str(out.fix)


def test_keys_never_appear():
    key = "sk-proj-" + "A1b2C3d4" * 5
    err = RouteDeskError(K.MISCONFIGURED, f"bad key {key}", f"fix {key}", provider="openai", model="m")
    out = explain(err, provider_kind="openai", base_url=None, fallback=None)
    assert key not in out.message and key not in str(out.fix)


@settings(max_examples=300, deadline=None)
@given(
    kind=st.sampled_from(list(ErrorKind)),
    pk=st.one_of(st.sampled_from(PROVIDER_KINDS), st.text(max_size=10)),
    provider=st.one_of(st.none(), st.text(max_size=15)),
    model=st.one_of(st.none(), st.text(max_size=20)),
    code=st.one_of(st.none(), st.text(max_size=20)),
    status=st.one_of(st.none(), st.integers(-1, 999)),
    retry_after=st.one_of(st.none(), st.floats(0, 100)),
    base_url=st.one_of(st.none(), st.text(max_size=30), st.just("http://[::1")),
    fallback=st.one_of(st.none(), st.text(max_size=20)),
)
def test_explain_is_total(kind, pk, provider, model, code, status, retry_after, base_url, fallback):
    err = RouteDeskError(
        kind, "m", "f", provider=provider, model=model, code=code, status=status, retry_after=retry_after
    )
    out = explain(err, provider_kind=pk, base_url=base_url, fallback=fallback)
    assert isinstance(out, RouteDeskError) and out.kind is kind and out.message


def test_explain_imports_only_core_and_providers():
    path = Path(sys.modules["desktop.engine.explain"].__file__)
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        for name in names:
            top = name.split(".")[0]
            if top == "desktop":
                assert name.startswith(("desktop.core", "desktop.providers")), name
            else:
                assert top in sys.stdlib_module_names or top == "__future__", name


def test_fallback_kinds_match_core():
    # explain mentions the fallback exactly where the engine will use one
    for kind in ErrorKind:
        out = explain(make(kind, "openai"), provider_kind="openai", base_url=BASES["openai"], fallback="x/y")
        assert ("x/y" in str(out.fix)) == (kind in FALLBACK or kind is K.CONTENT_FILTERED and False), kind
