"""Classification of literal provider error bodies (each copied from the provider's own
responses) and of error objects inside a 200 stream."""

from __future__ import annotations

import json

import pytest

from desktop.core.errors import ErrorKind, RouteDeskError
from desktop.providers import classify_http_error
from desktop.providers.classify import classify_error_payload
from tests.providers.bodies import an, oa, orr

K = ErrorKind


HTML_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway"
    "</h1></center>\r\n<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n"
)
HTML_504 = HTML_502.replace("502 Bad Gateway", "504 Gateway Time-out").replace("cloudflare", "nginx")

# (id, provider kind, status, headers, body, expected kind)
CASES = [
    # --- OpenAI -------------------------------------------------------------------
    (
        "openai-bad-key",
        "openai",
        401,
        {},
        oa(
            "Incorrect API key provided: sk-ab****. You can find your API key at https://platform.openai.com/account/api-keys.",
            "invalid_request_error",
            "invalid_api_key",
        ),
        K.AUTH_INVALID,
    ),
    (
        "openai-no-key",
        "openai",
        401,
        {},
        oa("You didn't provide an API key.", "invalid_request_error", None),
        K.AUTH_INVALID,
    ),
    (
        "openai-region",
        "openai",
        403,
        {},
        oa("Country, region, or territory not supported", "request_forbidden", "unsupported_country_region_territory"),
        K.AUTH_INVALID,
    ),
    (
        "openai-quota",
        "openai",
        429,
        {},
        oa(
            "You exceeded your current quota, please check your plan and billing details.",
            "insufficient_quota",
            "insufficient_quota",
        ),
        K.QUOTA_EXHAUSTED,
    ),
    (
        "openai-rate",
        "openai",
        429,
        {"retry-after": "20"},
        oa(
            "Rate limit reached for gpt-4o-mini on requests per min (RPM): Limit 3, Used 3. Please try again in 20s. You can increase your rate limit by adding a payment method to your account at https://platform.openai.com/account/billing.",  # noqa: E501 (the provider's literal words)
            "requests",
            "rate_limit_exceeded",
        ),
        K.RATE_LIMITED,
    ),
    (
        "openai-context",
        "openai",
        400,
        {},
        oa(
            "This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens.",
            "invalid_request_error",
            "context_length_exceeded",
            "messages",
        ),
        K.CONTEXT_TOO_LONG,
    ),
    (
        "openai-filter",
        "openai",
        400,
        {},
        oa(
            "Your request was rejected as a result of our safety system.",
            "invalid_request_error",
            "content_policy_violation",
        ),
        K.CONTENT_FILTERED,
    ),
    (
        "openai-model",
        "openai",
        404,
        {},
        oa(
            "The model `gpt-5-turbo` does not exist or you do not have access to it.",
            "invalid_request_error",
            "model_not_found",
        ),
        K.MODEL_NOT_FOUND,
    ),
    (
        "openai-bad-path",
        "openai",
        404,
        {},
        oa("Invalid URL (POST /chat/completions)", "invalid_request_error", None),
        K.MISCONFIGURED,
    ),
    (
        "openai-500",
        "openai",
        500,
        {},
        oa("The server had an error while processing your request. Sorry about that!", "server_error", None),
        K.SERVER_ERROR,
    ),
    (
        "openai-503",
        "openai",
        503,
        {},
        oa("The engine is currently overloaded, please try again later.", "server_error", None),
        K.OVERLOADED,
    ),
    ("openai-502-html", "openai", 502, {"content-type": "text/html"}, HTML_502, K.SERVER_ERROR),
    ("openai-504-html", "openai", 504, {"content-type": "text/html"}, HTML_504, K.SERVER_ERROR),
    ("openai-500-empty", "openai", 500, {}, b"", K.SERVER_ERROR),
    (
        "azure-filter",
        "openai-compatible",
        400,
        {},
        json.dumps(
            {
                "error": {
                    "code": "content_filter",
                    "message": "The response was filtered due to the prompt triggering Azure OpenAI's content management policy.",  # noqa: E501 (the provider's literal words)
                }
            }
        ),
        K.CONTENT_FILTERED,
    ),
    # --- Anthropic ----------------------------------------------------------------
    ("anthropic-bad-key", "anthropic", 401, {}, an("authentication_error", "invalid x-api-key"), K.AUTH_INVALID),
    (
        "anthropic-permission",
        "anthropic",
        403,
        {},
        an("permission_error", "Your API key does not have permission to use the specified resource."),
        K.AUTH_INVALID,
    ),
    (
        "anthropic-credit",
        "anthropic",
        400,
        {},
        an(
            "invalid_request_error",
            "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.",  # noqa: E501 (the provider's literal words)
        ),
        K.QUOTA_EXHAUSTED,
    ),
    (
        "anthropic-billing",
        "anthropic",
        402,
        {},
        an("billing_error", "There is an issue with your billing."),
        K.QUOTA_EXHAUSTED,
    ),
    (
        "anthropic-rate",
        "anthropic",
        429,
        {"retry-after": "7"},
        an(
            "rate_limit_error",
            "This request would exceed the rate limit for your organization of 50 requests per minute.",
        ),
        K.RATE_LIMITED,
    ),
    ("anthropic-529", "anthropic", 529, {}, an("overloaded_error", "Overloaded"), K.OVERLOADED),
    ("anthropic-500", "anthropic", 500, {}, an("api_error", "Internal server error"), K.SERVER_ERROR),
    ("anthropic-model", "anthropic", 404, {}, an("not_found_error", "model: claude-9"), K.MODEL_NOT_FOUND),
    ("anthropic-bad-path", "anthropic", 404, {}, an("not_found_error", "Not Found"), K.MISCONFIGURED),
    (
        "anthropic-too-long",
        "anthropic",
        400,
        {},
        an("invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum"),
        K.CONTEXT_TOO_LONG,
    ),
    (
        "anthropic-413",
        "anthropic",
        413,
        {},
        an("request_too_large", "Request exceeds the maximum allowed number of bytes."),
        K.CONTEXT_TOO_LONG,
    ),
    (
        "anthropic-filter",
        "anthropic",
        400,
        {},
        an("invalid_request_error", "Output blocked by content filtering policy"),
        K.CONTENT_FILTERED,
    ),
    # --- OpenRouter ---------------------------------------------------------------
    (
        "openrouter-credits",
        "openrouter",
        402,
        {},
        orr(402, "Insufficient credits. Add more using https://openrouter.ai/settings/credits"),
        K.QUOTA_EXHAUSTED,
    ),
    ("openrouter-user", "openrouter", 401, {}, orr(401, "User not found."), K.AUTH_INVALID),
    ("openrouter-no-auth", "openrouter", 401, {}, orr(401, "No auth credentials found"), K.AUTH_INVALID),
    (
        "openrouter-moderation",
        "openrouter",
        403,
        {},
        orr(
            403,
            'openai/gpt-4o requires moderation on OpenAI. Your input was flagged for "violence".',
            {"reasons": ["violence"]},
        ),
        K.CONTENT_FILTERED,
    ),
    ("openrouter-rate", "openrouter", 429, {}, orr(429, "Rate limit exceeded: free-models-per-min."), K.RATE_LIMITED),
    (
        "openrouter-no-endpoints",
        "openrouter",
        404,
        {},
        orr(404, "No endpoints found for meta/llama-9."),
        K.MODEL_NOT_FOUND,
    ),
    ("openrouter-invalid-model", "openrouter", 400, {}, orr(400, "foo/bar is not a valid model ID"), K.MODEL_NOT_FOUND),
    ("openrouter-408", "openrouter", 408, {}, orr(408, "Request timed out"), K.TIMEOUT),
    (
        "openrouter-502",
        "openrouter",
        502,
        {},
        orr(502, "Provider returned error", {"provider_name": "OpenAI"}),
        K.SERVER_ERROR,
    ),
    (
        "openrouter-503",
        "openrouter",
        503,
        {},
        orr(503, "No instances available", {"provider_name": "OpenAI"}),
        K.OVERLOADED,
    ),
    # --- Ollama -------------------------------------------------------------------
    (
        "ollama-not-pulled",
        "ollama",
        404,
        {},
        json.dumps({"error": 'model "llama9" not found, try pulling it first'}),
        K.MODEL_NOT_FOUND,
    ),
    (
        "ollama-not-pulled-old",
        "ollama",
        404,
        {},
        json.dumps({"error": "model 'llama9' not found, try pulling it first"}),
        K.MODEL_NOT_FOUND,
    ),
    ("ollama-bad-path", "ollama", 404, {"content-type": "text/plain"}, b"404 page not found", K.MISCONFIGURED),
    (
        "ollama-runner",
        "ollama",
        500,
        {},
        json.dumps({"error": "llama runner process has terminated: exit status 2"}),
        K.SERVER_ERROR,
    ),
    (
        "ollama-context",
        "ollama",
        400,
        {},
        json.dumps({"error": "the input length exceeds the context length"}),
        K.CONTEXT_TOO_LONG,
    ),
    ("ollama-unauthorized", "ollama", 401, {}, json.dumps({"error": "unauthorized"}), K.AUTH_INVALID),
    (
        "ollama-busy",
        "ollama",
        503,
        {},
        json.dumps({"error": "server busy, please try again.  maximum pending requests exceeded"}),
        K.OVERLOADED,
    ),
    (
        "ollama-cloud-limit",
        "ollama",
        429,
        {},
        json.dumps({"error": "you have reached your usage limit"}),
        K.QUOTA_EXHAUSTED,
    ),
    (
        "deepseek-balance",
        "deepseek",
        402,
        {},
        oa("Insufficient Balance", "unknown_error", "invalid_request_error"),
        K.QUOTA_EXHAUSTED,
    ),
    (
        "monthly-quota",
        "openai-compatible",
        403,
        {},
        json.dumps({"error": {"message": "You have exceeded your monthly quota"}}),
        K.QUOTA_EXHAUSTED,
    ),
    (
        "openai-unsupported-param",
        "openai",
        400,
        {},
        oa("Unsupported parameter: 'temperature'", "invalid_request_error", "unsupported_parameter"),
        K.MISCONFIGURED,  # a readable refusal: the server's words say why, it is not an unreadable answer
    ),
    # --- odd ones -----------------------------------------------------------------
    ("fastapi-400", "openai-compatible", 400, {}, json.dumps({"detail": "Unsupported parameter"}), K.MISCONFIGURED),
    ("garbage-400", "openai-compatible", 400, {}, b"\xff\xfe\x00garbage", K.BAD_RESPONSE),
    ("html-200", "openai-compatible", 200, {}, "<html><body>Login</body></html>", K.BAD_RESPONSE),
    ("plain-429", "openai-compatible", 429, {}, b"Too Many Requests", K.RATE_LIMITED),
    ("teapot", "openai-compatible", 418, {}, b"", K.BAD_RESPONSE),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_literal_bodies(case):
    _, kind, status, headers, body, expected = case
    err = classify_http_error(status, headers, body, provider=kind, kind=kind, model="m-1")
    assert isinstance(err, RouteDeskError)
    assert err.kind is expected, (err.kind, err.message, err.detail)
    assert err.status == status
    assert err.message and str(err.fix)
    assert err.model == "m-1"


@pytest.mark.parametrize(
    "payload, expected",
    [
        (
            {"error": {"message": "The server had an error", "type": "server_error", "param": None, "code": None}},
            K.SERVER_ERROR,
        ),
        ({"error": {"code": 502, "message": "Provider returned error"}, "choices": []}, K.SERVER_ERROR),
        ({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}, K.OVERLOADED),
        ({"type": "error", "error": {"type": "api_error", "message": "Internal server error"}}, K.SERVER_ERROR),
        ({"error": "an error was encountered while running the model: unexpected EOF"}, K.SERVER_ERROR),
        ({"error": {"message": "Rate limit", "type": "rate_limit_error"}}, K.RATE_LIMITED),
        ({"error": "something odd"}, K.BAD_RESPONSE),
        ({"error": {"code": "context_length_exceeded", "message": "too long"}}, K.CONTEXT_TOO_LONG),
    ],
)
def test_in_stream_error_objects(payload, expected):
    err = classify_error_payload(payload, provider="p", kind="openai", model="m")
    assert err.kind is expected, err.message


def test_error_in_200_body_is_classified():
    body = {"error": {"message": "The server had an error", "type": "server_error", "code": None}}
    assert classify_http_error(200, {}, json.dumps(body), provider="p", kind="openai", model="m").kind is K.SERVER_ERROR
    assert (
        classify_http_error(200, {}, b'{"error": "weird"}', provider="p", kind="ollama", model="m").kind
        is K.BAD_RESPONSE
    )


def test_bad_base_url_404_hints_at_v1():
    err = classify_http_error(
        404,
        {},
        b"404 page not found",
        provider="lab",
        kind="openai-compatible",
        model="m",
        base_url="http://127.0.0.1:8000",
    )
    assert err.kind is K.MISCONFIGURED
    assert "/v1" in str(err.fix) and "127.0.0.1:8000" in err.message


def test_messages_name_provider_and_model():
    err = classify_http_error(
        429, {}, oa("quota", "insufficient_quota", "insufficient_quota"), provider="work", kind="openai", model="gpt-4o"
    )
    assert "work (OpenAI)" in err.message and "insufficient_quota" in err.message
    err = classify_http_error(
        529, {}, an("overloaded_error", "Overloaded"), provider="anthropic", kind="anthropic", model="claude-sonnet-4-5"
    )
    assert err.message.startswith("Anthropic ") and "claude-sonnet-4-5" in err.message
