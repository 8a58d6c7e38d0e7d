"""Retry-After parsing, redaction, transport exceptions, and hypothesis properties that
every classifier is total (any input gives one of RouteDesk's error kinds)."""

from __future__ import annotations

import json
import ssl
from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from desktop.core.errors import ErrorKind, RouteDeskError
from desktop.core.fixes import Fix
from desktop.core.redact import redact
from desktop.providers import classify_http_error, classify_transport_error, parse_retry_after
from desktop.providers.classify import RETRY_AFTER_CAP, classify_error_payload
from desktop.providers.error_parts import DETAIL_LIMIT
from tests.providers.bodies import an, oa

K = ErrorKind



# --- Retry-After ----------------------------------------------------------------------

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    "headers, body, expected",
    [
        ({"Retry-After": "7"}, "", 7.0),
        ({"retry-after": "1.5"}, "", 1.5),
        ({"retry-after-ms": "250", "retry-after": "1"}, "", 0.25),
        ({"retry-after": format_datetime(datetime.fromtimestamp(NOW + 12, UTC), usegmt=True)}, "", 12.0),
        ({"retry-after": format_datetime(datetime.fromtimestamp(NOW - 100, UTC), usegmt=True)}, "", 0.0),
        ({"retry-after": "3600"}, "", RETRY_AFTER_CAP),
        ({"retry-after": "-5"}, "", 0.0),
        ({"retry-after": "soon"}, "", None),
        ({"x-ratelimit-reset-requests": "1s", "x-ratelimit-reset-tokens": "6m0s"}, "", RETRY_AFTER_CAP),
        ({"x-ratelimit-reset-requests": "20ms"}, "", 0.02),
        ({"x-ratelimit-reset-tokens": "1m2.5s"}, "", 60.0),
        ({"x-ratelimit-reset-requests": "2.5s"}, "", 2.5),
        (
            {
                "anthropic-ratelimit-requests-reset": datetime.fromtimestamp(NOW + 9, UTC)
                .isoformat()
                .replace("+00:00", "Z")
            },
            "",
            9.0,
        ),
        ({"x-ratelimit-reset": str(int((NOW + 4) * 1000))}, "", 4.0),
        ({}, "Rate limit reached. Please try again in 20s. Visit ...", 20.0),
        ({}, "Please try again in 350ms.", 0.35),
        ({}, "", None),
        ([("Retry-After", "3")], "", 3.0),
        ([(b"retry-after", b"4")], "", 4.0),
        ({"retry-after": "nan"}, "", None),
        ({"retry-after": "inf"}, "", None),
    ],
)
def test_retry_after(headers, body, expected):
    got = parse_retry_after(headers, body, now=NOW)
    if expected is None:
        assert got is None
    else:
        assert got == pytest.approx(expected, abs=0.01)


def test_rate_limited_carries_retry_after():
    err = classify_http_error(
        429,
        httpx.Headers({"retry-after": "3"}),
        an("rate_limit_error", "slow down"),
        provider="a",
        kind="anthropic",
        model="m",
    )
    assert err.kind is K.RATE_LIMITED and err.retry_after == 3.0
    assert err.retryable


# --- redaction ------------------------------------------------------------------------

SECRETS = [
    "sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
    "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-xyz",
    "sk-or-v1-0123456789abcdef0123456789abcdef0123456789abcdef",
    "gsk_AbCdEfGhIjKlMnOpQrStUvWx",
]


@pytest.mark.parametrize("secret", SECRETS)
def test_redact_keys(secret):
    text = f'{{"error": "bad key {secret}", "authorization": "Bearer {secret}", "api_key": "{secret}"}}'
    out = redact(text)
    assert secret not in out
    assert "[redacted]" in out
    assert "Bearer " + secret[:8] not in out


@pytest.mark.parametrize("secret", SECRETS)
def test_key_echoed_in_body_never_reaches_the_error(secret):
    body = oa(
        f"Incorrect API key provided: {secret}. Authorization: Bearer {secret}",
        "invalid_request_error",
        "invalid_api_key",
    )
    err = classify_http_error(
        401, {"authorization": f"Bearer {secret}", "x-api-key": secret}, body, provider="p", kind="openai", model="m"
    )
    for text in (err.message, str(err.fix), err.detail, repr(err), str(err), json.dumps(err.info().to_dict())):
        assert secret not in text
        assert secret[:16] not in text and secret[-16:] not in text  # a known prefix may stay, nothing more


def test_detail_is_short_and_single_line():
    body = oa("line one\nline two " + "x " * 5000, "server_error", None)
    err = classify_http_error(500, {}, body, provider="p", kind="openai", model="m")
    assert "\n" not in err.detail and len(err.detail) <= DETAIL_LIMIT
    assert err.detail.startswith("line one line two x x")  # the server's words, not RouteDesk's


# --- transport errors -----------------------------------------------------------------

REQ = httpx.Request("POST", "http://127.0.0.1:9/v1/chat/completions")


@pytest.mark.parametrize(
    "exc, midstream, expected, code",
    [
        (httpx.ConnectError("[Errno 111] Connection refused", request=REQ), False, K.UNREACHABLE, "connection_refused"),
        (httpx.ConnectError("[Errno -2] Name or service not known", request=REQ), False, K.UNREACHABLE, "dns"),
        (
            httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed", request=REQ),
            False,
            K.UNREACHABLE,
            "tls",
        ),
        (httpx.ConnectError("boom", request=REQ), False, K.UNREACHABLE, "connect_error"),
        (httpx.ConnectTimeout("timed out", request=REQ), False, K.TIMEOUT, "connect_timeout"),
        (httpx.ReadTimeout("timed out", request=REQ), True, K.TIMEOUT, "read_timeout"),
        (httpx.ReadTimeout("timed out", request=REQ), False, K.TIMEOUT, "read_timeout"),
        (httpx.WriteTimeout("timed out", request=REQ), False, K.TIMEOUT, "read_timeout"),
        (httpx.PoolTimeout("timed out", request=REQ), False, K.TIMEOUT, "pool_timeout"),
        (TimeoutError(), True, K.TIMEOUT, "read_timeout"),
        (
            httpx.RemoteProtocolError("peer closed connection without sending complete message body", request=REQ),
            True,
            K.INTERRUPTED,
            "interrupted",
        ),
        (httpx.ReadError("connection reset", request=REQ), True, K.INTERRUPTED, "interrupted"),
        (
            httpx.RemoteProtocolError("Server disconnected without sending a response.", request=REQ),
            False,
            K.UNREACHABLE,
            "disconnected",
        ),
        (httpx.WriteError("broken pipe", request=REQ), False, K.UNREACHABLE, "write_error"),
        (
            httpx.UnsupportedProtocol("Request URL is missing an 'http://' or 'https://' protocol."),
            False,
            K.MISCONFIGURED,
            None,
        ),
        (httpx.DecodingError("bad gzip", request=REQ), True, K.BAD_RESPONSE, "decoding"),
        (ConnectionRefusedError(111, "Connection refused"), False, K.UNREACHABLE, "connection_refused"),
        (ssl.SSLError("bad handshake"), False, K.UNREACHABLE, "tls"),
        (ValueError("what"), True, K.BAD_RESPONSE, "ValueError"),
        (json.JSONDecodeError("x", "doc", 0), True, K.BAD_RESPONSE, "JSONDecodeError"),
    ],
)
def test_transport_errors(exc, midstream, expected, code):
    err = classify_transport_error(
        exc,
        provider="local",
        kind="openai-compatible",
        model="m",
        base_url="http://127.0.0.1:9/v1",
        midstream=midstream,
    )
    assert err.kind is expected, err.message
    if code is not None:
        assert err.code == code
    assert err.message and str(err.fix)


def test_ollama_refused_reads_like_the_design():
    err = classify_transport_error(
        httpx.ConnectError("[Errno 111] Connection refused"),
        provider="ollama",
        kind="ollama",
        model="llama3.2",
        base_url="http://127.0.0.1:11434",
        midstream=False,
    )
    assert err.message == "Ollama isn't running on 127.0.0.1:11434."


def test_route_desk_error_passes_through():
    original = RouteDeskError(K.QUOTA_EXHAUSTED, "x")
    assert classify_transport_error(original, provider="p", kind="openai", model="m") is original


# --- properties: both classifiers are total -------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
error_keys = st.sampled_from(["error", "type", "code", "message", "detail", "metadata", "raw", "status"])
error_like = st.recursive(
    json_values,
    lambda children: st.dictionaries(error_keys, children, max_size=5),
    max_leaves=25,
)
bodies = st.one_of(
    st.none(),
    st.binary(max_size=400),
    st.text(max_size=400),
    error_like.map(lambda v: json.dumps(v, allow_nan=True)),
    error_like.map(lambda v: json.dumps(v, allow_nan=True)[: len(json.dumps(v, allow_nan=True)) // 2]),
    error_like,
)
header_values = st.one_of(st.text(max_size=40), st.binary(max_size=20), st.integers(), st.none())
header_names = st.one_of(
    st.sampled_from(
        [
            "retry-after",
            "Retry-After",
            "retry-after-ms",
            "x-ratelimit-reset-requests",
            "x-ratelimit-reset-tokens",
            "x-ratelimit-reset",
            "anthropic-ratelimit-tokens-reset",
            "content-type",
        ]
    ),
    st.text(max_size=20),
)
headers_st = st.one_of(
    st.none(),
    st.dictionaries(header_names, header_values, max_size=5),
    st.lists(st.tuples(header_names, header_values), max_size=5),
    st.lists(st.one_of(st.integers(), st.text(max_size=5)), max_size=3),
    st.integers(),
)
statuses = st.one_of(st.none(), st.integers(min_value=-5, max_value=1000), st.text(max_size=4), st.floats())


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    status=statuses,
    headers=headers_st,
    body=bodies,
    kind=st.sampled_from(["openai", "anthropic", "openrouter", "ollama", "openai-compatible", "nonsense", None]),
    model=st.one_of(st.none(), st.text(max_size=30)),
)
def test_classify_http_error_is_total(status, headers, body, kind, model):
    err = classify_http_error(status, headers, body, provider="p", kind=kind, model=model)
    assert isinstance(err, RouteDeskError)
    assert isinstance(err.kind, ErrorKind)
    assert isinstance(err.message, str) and err.message
    assert isinstance(err.fix, Fix) and err.fix
    assert isinstance(err.detail, str) and len(err.detail) <= DETAIL_LIMIT and "\n" not in err.detail
    assert err.retry_after is None or 0 <= err.retry_after <= RETRY_AFTER_CAP
    repr(err)
    err.info().to_dict()


@settings(max_examples=300, deadline=None)
@given(payload=error_like, kind=st.sampled_from(["openai", "anthropic", "ollama"]))
def test_classify_error_payload_is_total(payload, kind):
    err = classify_error_payload(payload, provider="p", kind=kind, model="m")
    assert isinstance(err, RouteDeskError) and err.message


key_alphabet = st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


@settings(max_examples=300, deadline=None)
@given(
    prefix=st.sampled_from(["sk-", "sk-ant-api03-", "sk-proj-", "sk-or-v1-"]),
    tail=st.text(key_alphabet, min_size=24, max_size=64),
    before=st.text(max_size=60),
    after=st.text(max_size=60),
    status=st.sampled_from([400, 401, 403, 404, 429, 500, 502, 529, 200]),
    wrap=st.sampled_from(["openai", "anthropic", "ollama", "raw"]),
)
def test_a_key_in_the_body_never_reaches_the_error(prefix, tail, before, after, status, wrap):
    key = prefix + tail
    text = f"{before} {key} {after}"
    body = {
        "openai": lambda: oa(text, "invalid_request_error", "invalid_api_key"),
        "anthropic": lambda: an("authentication_error", text),
        "ollama": lambda: json.dumps({"error": text}),
        "raw": lambda: text,
    }[wrap]()
    err = classify_http_error(status, {"authorization": f"Bearer {key}"}, body, provider="p", kind="openai", model="m")
    for s in (err.message, str(err.fix), err.detail, repr(err), str(err), json.dumps(err.info().to_dict())):
        assert key not in s


plain_words = st.from_regex(r"[A-Za-z][a-z]{3,12}( [a-z]{2,10}){1,5}", fullmatch=True)


@settings(max_examples=300, deadline=None)
@given(
    prefix=st.sampled_from(["sk-", "sk-ant-api03-", "sk-proj-", "sk-or-v1-"]),
    tail=st.text(key_alphabet, min_size=24, max_size=64),
    words=plain_words,
    noise=error_like,
    status=st.sampled_from([None, 400, 401, 403, 404, 408, 422, 429, 500, 502, 503, 529, 200]),
    wrap=st.sampled_from(["openai", "anthropic", "ollama", "openrouter_raw", "openrouter_raw_json", "litellm", "text"]),
    in_stream=st.booleans(),
)
def test_detail_keeps_the_servers_words_and_never_a_key(prefix, tail, words, noise, status, wrap, in_stream):
    """Whatever shape the error takes (a provider's own, OpenRouter's metadata.raw as text or as
    the upstream's JSON, LiteLLM's relayed exception, plain text; as a response or inside a
    stream), ``detail`` holds the server's words and never the key planted beside them."""
    key = prefix + tail
    text = f"{words}: {key} and more"
    body = {
        "openai": lambda: {"error": {"message": text, "type": "invalid_request_error", "code": None, "x": noise}},
        "anthropic": lambda: {"type": "error", "error": {"type": "api_error", "message": text}},
        "ollama": lambda: {"error": text},
        "openrouter_raw": lambda: {"error": {"code": status or 502, "message": "Provider returned error",
                                             "metadata": {"raw": text, "provider_name": "BaseTen"}}},
        "openrouter_raw_json": lambda: {"error": {"code": status or 502, "message": "Provider returned error",
                                                  "metadata": {"raw": json.dumps({"error": {"message": text}}),
                                                               "provider_name": "BaseTen"}}},
        "litellm": lambda: {"error": {"message": f"litellm.APIError: APIError: OpenAIException - {text}",
                                      "type": None, "param": None, "code": str(status or 500)}},
        "text": lambda: text,
    }[wrap]()
    if in_stream and isinstance(body, dict):
        err = classify_error_payload(body, provider="p", kind="openai", model="m")
    else:
        raw = body if isinstance(body, str) else json.dumps(body)
        err = classify_http_error(status, {}, raw, provider="p", kind="openai", model="m")
    assert words in err.detail, (wrap, err.detail)
    for s in (err.message, str(err.fix), err.detail, repr(err), json.dumps(err.info().to_dict())):
        assert key not in s and tail[-16:] not in s


exceptions = st.one_of(
    st.builds(httpx.ConnectError, st.text(max_size=60)),
    st.builds(httpx.ReadTimeout, st.text(max_size=60)),
    st.builds(httpx.ConnectTimeout, st.text(max_size=60)),
    st.builds(httpx.RemoteProtocolError, st.text(max_size=60)),
    st.builds(httpx.ReadError, st.text(max_size=60)),
    st.builds(httpx.WriteError, st.text(max_size=60)),
    st.builds(httpx.LocalProtocolError, st.text(max_size=60)),
    st.builds(httpx.DecodingError, st.text(max_size=60)),
    st.builds(httpx.InvalidURL, st.text(max_size=60)),
    st.builds(OSError, st.integers(), st.text(max_size=30)),
    st.builds(ValueError, st.text(max_size=30)),
    st.builds(RuntimeError, st.text(max_size=30)),
    st.builds(KeyError, st.text(max_size=30)),
    st.builds(TimeoutError),
    st.builds(
        UnicodeDecodeError,
        st.just("utf-8"),
        st.binary(min_size=2, max_size=5),
        st.just(0),
        st.just(1),
        st.text(max_size=5),
    ),
)


@settings(max_examples=300, deadline=None)
@given(
    exc=exceptions,
    midstream=st.booleans(),
    base_url=st.one_of(st.none(), st.text(max_size=40), st.just("http://[::1")),
    kind=st.sampled_from(["openai", "ollama", "lmstudio", None]),
)
def test_classify_transport_error_is_total(exc, midstream, base_url, kind):
    err = classify_transport_error(exc, provider="p", kind=kind, model="m", base_url=base_url, midstream=midstream)
    assert isinstance(err, RouteDeskError) and err.message and str(err.fix)
    assert isinstance(err.detail, str) and len(err.detail) <= DETAIL_LIMIT and "\n" not in err.detail


@settings(max_examples=200, deadline=None)
@given(
    prefix=st.sampled_from(["sk-", "sk-ant-api03-", "sk-proj-", "sk-or-v1-"]),
    tail=st.text(key_alphabet, min_size=24, max_size=64),
    words=st.text(max_size=40),
    wrap=st.sampled_from([httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError, httpx.ConnectTimeout]),
    midstream=st.booleans(),
)
def test_a_key_in_a_transport_error_never_reaches_its_detail(prefix, tail, words, wrap, midstream):
    key = prefix + tail
    exc = wrap(f"{words} Authorization: Bearer {key} {key}")
    exc.__cause__ = OSError(f"proxy said {key}")
    err = classify_transport_error(exc, provider="p", kind="openai", model="m", midstream=midstream)
    for s in (err.message, str(err.fix), err.detail, repr(err), json.dumps(err.info().to_dict())):
        assert key not in s and tail[-16:] not in s


@settings(max_examples=300, deadline=None)
@given(headers=headers_st, body=st.text(max_size=200))
def test_parse_retry_after_is_total_and_capped(headers, body):
    got = parse_retry_after(headers, body)
    assert got is None or 0.0 <= got <= RETRY_AFTER_CAP
