"""The server's own words reach the user: every error keeps what the provider or proxy said
(``detail``, redacted), a readable refusal is not called unreadable, a proxy's upstream key
failure is not blamed on the user's key, a request larger than a per-minute limit and a
certificate that doesn't verify are not retried, and OpenRouter's upstream is named.
The bodies are the literal ones in tests/simulator/faults.py, each with its source."""

from __future__ import annotations

import json
import ssl

import httpx
import pytest

from desktop.core.errors import ErrorInfo, ErrorKind, RouteDeskError
from desktop.core.fixes import FixAction
from desktop.engine.explain import explain, said
from desktop.providers import classify_http_error, classify_transport_error
from desktop.providers.classify import classify_error_payload
from desktop.terminal import fix_text
from tests.providers.bodies import (
    LITELLM_NO_DB,
    LITELLM_OWN_KEY,
    LITELLM_UPSTREAM_KEY,
    OPENAI_REQUEST_TOO_LARGE,
    OPENROUTER_UPSTREAM_RATE_LIMITED,
)
from tests.providers.test_classify import CASES

K = ErrorKind


def _classify(body, status, *, kind="openai-compatible", provider="proxy", model="gpt-4o"):
    return classify_http_error(status, {}, json.dumps(body), provider=provider, kind=kind, model=model)


def _explained(err, kind="openai-compatible", fallback="ollama/llama3.2"):
    return explain(err, provider_kind=kind, base_url="http://127.0.0.1:4000/v1", fallback=fallback)


# --- a readable 4xx from a proxy is a refusal in its own words ----------------------------------


def test_litellm_no_connected_db_is_not_an_unreadable_answer():
    err = _explained(_classify(LITELLM_NO_DB, 400))
    assert err.kind is K.MISCONFIGURED and err.status == 400
    assert err.detail == "No connected db."
    assert "couldn't read" not in err.message and "No connected db." in err.message
    assert "master key" in err.message  # what LiteLLM means by it
    assert err.fix.action is FixAction.ADD_KEY
    assert said(err) == "proxy (OpenAI-compatible server) said: No connected db."


@pytest.mark.parametrize("body", [
    {"error": {"message": "Invalid model name passed in model=gpt-9", "type": "invalid_request_error",
               "param": None, "code": "400"}},
    {"detail": "Unsupported parameter"},
])
def test_any_readable_4xx_keeps_the_servers_words(body):
    err = _explained(_classify(body, 400))
    assert err.kind is not K.BAD_RESPONSE
    assert err.detail and err.detail in json.dumps(body)
    assert "couldn't read" not in err.message


# --- a proxy's upstream key is not the user's key ----------------------------------------------


def test_upstream_key_failure_relayed_by_litellm_points_at_the_proxy():
    raw = _classify(LITELLM_UPSTREAM_KEY, 401)
    err = _explained(raw)
    assert err.kind is K.AUTH_INVALID and err.upstream == "OpenAI"
    assert "proxy" in err.message and "OpenAI refused the proxy's own OpenAI key" in err.message
    assert "didn't accept the API key" not in err.message
    words = fix_text(err.fix)
    assert "configured in the proxy" in words and "OPENAI_API_KEY" in words
    assert "providers add" not in words  # not "replace your RouteDesk key"
    assert err.detail.startswith("litellm.AuthenticationError: AuthenticationError: OpenAIException - "
                                 "Incorrect API key provided: sk-proj-[redacted]")
    assert "5678" not in err.detail


def test_the_proxy_refusing_routedesks_own_key_is_still_the_users_key():
    err = _explained(_classify(LITELLM_OWN_KEY, 401))
    assert err.kind is K.AUTH_INVALID and not err.upstream
    assert err.fix.action is FixAction.ADD_KEY
    assert err.detail.startswith("Authentication Error, Invalid proxy server token")
    assert "de7a08c7bb6b237d46c1534b5fe2b8f9664be56b40e831f7b86a21e11a612c4e" not in err.detail


# --- futile retries ----------------------------------------------------------------------------


def test_request_larger_than_the_tokens_per_minute_limit_is_not_retried():
    raw = _classify(OPENAI_REQUEST_TOO_LARGE, 429, kind="openai", provider="openai")
    assert raw.kind is K.CONTEXT_TOO_LONG and raw.retryable is False and raw.code == "rate_limit_exceeded"
    err = _explained(raw, kind="openai")
    assert err.retryable is False
    assert "30000" in err.message and "31538" in err.message and "won't help" in err.message
    assert err.fix.action is FixAction.SHORTEN_CONVERSATION
    assert "larger tokens-per-minute limit" in str(err.fix) and "larger tokens-per-minute limit" in fix_text(err.fix)
    assert err.detail.startswith("Request too large for gpt-4o in organization")
    assert said(err).startswith("OpenAI said: Request too large for gpt-4o")


def test_the_same_limit_relayed_by_litellm_is_not_retried_either():
    inner = OPENAI_REQUEST_TOO_LARGE["error"]["message"]
    body = {"error": {"message": f"litellm.RateLimitError: RateLimitError: OpenAIException - {inner}",
                      "type": None, "param": None, "code": "429"}}
    err = _explained(_classify(body, 429))
    assert err.kind is K.CONTEXT_TOO_LONG and err.retryable is False and "31538" in err.message


def test_an_ordinary_rate_limit_is_still_retried():
    body = {"error": {"message": "Rate limit reached for gpt-4o on requests per min (RPM): Limit 3, Used 3. "
                                 "Please try again in 20s.", "type": "requests", "param": None,
                      "code": "rate_limit_exceeded"}}
    err = _explained(_classify(body, 429, kind="openai"))
    assert err.kind is K.RATE_LIMITED and err.retryable is True


def _tls_error() -> httpx.ConnectError:
    cause = ssl.SSLCertVerificationError(
        1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate (_ssl.c:1006)")
    exc = httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed "
                             "certificate (_ssl.c:1006)")
    exc.__cause__ = cause
    return exc


def test_a_certificate_that_does_not_verify_says_so_and_is_not_retried():
    raw = classify_transport_error(_tls_error(), provider="lab", kind="openai-compatible", model="m",
                                   base_url="https://127.0.0.1:8443/v1", midstream=False)
    assert raw.kind is K.UNREACHABLE and raw.code == "tls" and raw.retryable is False
    assert "certificate" in raw.message
    err = _explained(raw)
    assert err.retryable is False and "certificate" in err.message
    assert "self-signed certificate" in err.detail
    assert said(err).startswith("Details: [SSL: CERTIFICATE_VERIFY_FAILED]")


def test_connection_refused_is_still_retried_once_and_keeps_the_systems_words():
    exc = httpx.ConnectError("[Errno 111] Connection refused")
    err = classify_transport_error(exc, provider="lab", kind="openai-compatible", model="m",
                                   base_url="http://127.0.0.1:9/v1", midstream=False)
    assert err.kind is K.UNREACHABLE and err.retryable is True
    assert err.detail == "[Errno 111] Connection refused"


# --- OpenRouter's real cause -------------------------------------------------------------------


def test_openrouter_provider_returned_error_names_the_upstream_and_keeps_raw():
    raw = _classify(OPENROUTER_UPSTREAM_RATE_LIMITED, 429, kind="openrouter", provider="openrouter",
                    model="meta-llama/llama-3.3-70b-instruct:free")
    err = _explained(raw, kind="openrouter")
    assert err.kind is K.RATE_LIMITED and err.upstream == "BaseTen"
    assert err.message.startswith("BaseTen (through OpenRouter)")
    assert err.detail.startswith("Provider returned error (BaseTen): meta-llama/llama-3.3-70b-instruct:free is "
                                 "temporarily rate-limited upstream.")
    assert said(err).startswith("OpenRouter said: Provider returned error (BaseTen)")


def test_openrouter_raw_that_is_the_upstreams_json_shows_its_message():
    body = {"error": {"code": 502, "message": "Provider returned error",
                      "metadata": {"provider_name": "Vertex",
                                   "raw": json.dumps({"error": {"code": 504, "message": "Deadline exceeded"}})}}}
    err = classify_error_payload(body, provider="openrouter", kind="openrouter", model="google/gemini-2.5-pro")
    assert err.kind is K.SERVER_ERROR and err.upstream == "Vertex"
    assert err.detail == "Provider returned error (Vertex): Deadline exceeded"
    assert "Vertex" in err.message


# --- every body keeps its words; old rows still read ------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_every_literal_body_keeps_the_servers_words(case):
    _, kind, status, headers, body, _expected = case
    err = classify_http_error(status, headers, body, provider=kind, kind=kind, model="m-1")
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    shown = text.replace('\\"', '"')  # the words as they read, not as JSON escapes them
    if not text.strip() or "\ufffd" in text:
        assert err.detail == ""  # nothing readable was said
    else:
        assert err.detail, (err.kind, err.message)
        first_words = err.detail.split(":")[-1].strip()[:12]
        assert first_words in shown, (err.detail, text)


def test_detail_is_stored_and_rows_without_it_still_read():
    info = _classify(LITELLM_NO_DB, 400).info()
    assert info.detail == "No connected db."
    again = ErrorInfo.from_dict(json.loads(json.dumps(info.to_dict())))
    assert again == info and again.detail == "No connected db."
    old = {k: v for k, v in info.to_dict().items() if k != "detail"}
    assert ErrorInfo.from_dict(old).detail == ""
    assert ErrorInfo.from_dict({**old, "detail": 7}).detail == ""


def test_error_info_redacts_detail_whoever_builds_it():
    info = ErrorInfo("auth_invalid", "m", detail="Incorrect API key provided: sk-proj-abcdefghijklmnop1234")
    assert "abcdefghijklmnop1234" not in info.detail and "[redacted]" in info.detail
    assert "abcdefghijklmnop1234" not in json.dumps(info.to_dict())


def test_retryable_override_only_ever_removes_retries():
    assert RouteDeskError(K.RATE_LIMITED, "x").retryable is True
    assert RouteDeskError(K.RATE_LIMITED, "x", retryable=False).retryable is False
    assert RouteDeskError(K.AUTH_INVALID, "x", retryable=True).retryable is False
