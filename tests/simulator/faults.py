"""Fault descriptions and the providers' literal error bodies.

Everything here is pure data: given a fault kind and a wire protocol it returns the HTTP status,
headers and body that the real cloud service sends (or the in-stream error it emits).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal

__all__ = [
    "Fault",
    "FAULT_KINDS",
    "HTTP_FAULT_KINDS",
    "RELAYED_FAULT_KINDS",
    "LITELLM_NO_DB",
    "LITELLM_UPSTREAM_KEY",
    "LITELLM_OWN_KEY",
    "OPENAI_REQUEST_TOO_LARGE",
    "OPENROUTER_UPSTREAM_RATE_LIMITED",
    "STREAM_FAULT_KINDS",
    "ENDING_KINDS",
    "ErrorResponse",
    "error_response",
    "mask_key",
    "midstream_error_payload",
    "openrouter_cost",
]

#: Kinds answered with an HTTP error status before any byte of a normal response.
HTTP_FAULT_KINDS = (
    "auth_invalid",
    "quota_exhausted",
    "rate_limited",
    "overloaded",
    "server_error",
    "server_error_html",
    "gateway_timeout",
    "model_not_found",
    "context_too_long",
    "content_filtered",
) + (
    # a proxy or router's readable words about its own set-up or its upstream (not random faults)
    "proxy_no_db",
    "proxy_upstream_auth",
    "proxy_own_key",
    "request_too_large",
    "upstream_rate_limited",
)
#: HTTP kinds that relay what a proxy or router says; left out of the default random faults.
RELAYED_FAULT_KINDS = ("proxy_no_db", "proxy_upstream_auth", "proxy_own_key", "request_too_large",
                       "upstream_rate_limited")
#: Kinds that shape the body (mostly streams) rather than the status.
STREAM_FAULT_KINDS = (
    "slow_first_token",
    "stall",
    "cut",
    "malformed_sse",
    "error_in_200",
    "midstream_error",
    "length",
    "content_filter",
    "keepalive",
)
#: Stream kinds that end a stream normally, with another end reason: after `after_chunks`
#: words, `length` ends as a reply cut at its limit (OpenAI/Ollama finish "length",
#: Anthropic stop_reason "max_tokens"), `content_filter` as a filtered one (OpenAI
#: "content_filter", Anthropic "refusal", Ollama - which has no filter - "stop"); both send
#: the usage of what was written. `keepalive` is not an ending: after `after_chunks` words
#: the stream sends only SSE comments (`: OPENROUTER PROCESSING`) for `delay` seconds, then
#: goes on.
ENDING_KINDS = ("length", "content_filter")
FAULT_KINDS = HTTP_FAULT_KINDS + STREAM_FAULT_KINDS

#: Fault.endpoint values: which requests a fault may hit.
ENDPOINTS = ("chat", "models", "pull", "any")


@dataclass
class Fault:
    """One queued fault.

    kind:          one of FAULT_KINDS.
    protocol:      "openai", "openrouter", "lmstudio", "anthropic", "ollama" or None (any).
                   "openai", "openrouter" and "lmstudio" all speak the OpenAI wire protocol and a
                   fault for any of them hits any OpenAI-wire request; protocol="openrouter" also
                   selects OpenRouter's error bodies (e.g. 402 for quota_exhausted).
    model:         only requests for this model (None: any).
    times:         how many matching requests get it (None: every matching request, forever).
    after_chunks:  for stream kinds: number of content chunks sent before the fault hits
                   (the protocol's preamble - OpenAI role chunk, Anthropic message_start /
                   content_block_start / ping - is sent first). None: before any byte.
    retry_after:   seconds for the Retry-After header (rate_limited, overloaded, ...).
    delay:         slow_first_token: wait before the first content chunk (default 1 s);
                   stall: give up stalling after this many seconds (None: until
                   Simulator.release_stalls(), the client going away, or stop()).
    status:        overrides the HTTP status (e.g. 403 for moderation, 503, 402).
    endpoint:      "chat" (default: chat/messages endpoints), "models" (model listings,
                   /api/tags, /api/show, /api/version), "pull" (/api/pull) or "any".
    """

    kind: str
    protocol: str | None = None
    model: str | None = None
    times: int | None = 1
    after_chunks: int | None = None
    retry_after: float | None = None
    delay: float | None = None
    status: int | None = None
    endpoint: str = "chat"

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {FAULT_KINDS}")
        if self.endpoint not in ENDPOINTS:
            raise ValueError(f"unknown endpoint {self.endpoint!r}; expected one of {ENDPOINTS}")


@dataclass
class ErrorResponse:
    status: int
    body: bytes
    content_type: str
    headers: dict[str, str]


def mask_key(key: str | None) -> str:
    """What OpenAI echoes of a wrong key: never more than the first five characters."""
    if not key:
        return ""
    return key[:5] + "****"


def _j(obj) -> bytes:
    return json.dumps(obj).encode()


def _openai_err(message: str, type_: str, code, param=None) -> dict:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def _anthropic_err(type_: str, message: str) -> dict:
    return {"type": "error", "error": {"type": type_, "message": message}}


def _openrouter_err(code: int, message: str, metadata: dict | None = None) -> dict:
    err: dict = {"code": code, "message": message}
    if metadata is not None:
        err["metadata"] = metadata
    return {"error": err}


HTML_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>cloudflare</center>\r\n"
    "</body>\r\n</html>\r\n"
)
HTML_504 = (
    "<html>\r\n<head><title>504 Gateway Time-out</title></head>\r\n<body>\r\n"
    "<center><h1>504 Gateway Time-out</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)

OPENAI_QUOTA = (
    "You exceeded your current quota, please check your plan and billing details. For more "
    "information on this error, read the docs: "
    "https://platform.openai.com/docs/guides/error-codes/api-errors."
)
ANTHROPIC_CREDIT = (
    "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing "
    "to upgrade or purchase credits."
)
OPENROUTER_CREDITS = "Insufficient credits. Add more using https://openrouter.ai/settings/credits"


# --- what proxies and routers say (each copied from the source that sends it) ----------------

#: LiteLLM proxy, 400, when the key it is sent isn't its master key and no database is connected:
#: litellm/proxy/auth/user_api_key_auth.py raises ProxyException(message="No connected db.",
#: type=ProxyErrorTypes.no_db_connection, code=400, param=None); ProxyException (litellm/proxy/
#: _types.py) keeps code as str(code) and the proxy answers {"error": to_dict()}. Reported in
#: https://github.com/BerriAI/litellm/issues/2532.
LITELLM_NO_DB = {"error": {"message": "No connected db.", "type": "no_db_connection", "param": None, "code": "400"}}

#: LiteLLM proxy, 401, relaying OpenAI's refusal of the proxy's own upstream key: the chat route
#: re-raises ProxyException(message=e.message, type=getattr(e, "type", "None"), param=...,
#: code=e.status_code) and litellm.exceptions.AuthenticationError prefixes the message with
#: "litellm.AuthenticationError: " (message as in https://github.com/BerriAI/litellm/issues/39258
#: and https://github.com/aliasrobotics/cai/issues/256; OpenAI's own part as OpenAI words it).
LITELLM_UPSTREAM_KEY = {"error": {
    "message": "litellm.AuthenticationError: AuthenticationError: OpenAIException - Incorrect API key provided: "
               "sk-proj-********************************************5678. You can find your API key at "
               "https://platform.openai.com/account/api-keys.",
    "type": None, "param": None, "code": "401"}}

#: LiteLLM proxy, 401, refusing the key RouteDesk sends it (a virtual key it doesn't know):
#: user_api_key_auth.py raises ProxyException(message="Authentication Error, " + str(e),
#: type=ProxyErrorTypes.auth_error, param=..., code=401); wording as reported in
#: https://github.com/OpenHands/OpenHands/issues/11140.
LITELLM_OWN_KEY = {"error": {
    "message": "Authentication Error, Invalid proxy server token passed. Received API Key = sk-...4f48, "
               "Key Hash (Token) =de7a08c7bb6b237d46c1534b5fe2b8f9664be56b40e831f7b86a21e11a612c4e. "
               "Unable to find token in cache or `LiteLLM_VerificationTokenTable`",
    "type": "auth_error", "param": "None", "code": "401"}}

#: OpenAI, 429, one request larger than the organisation's tokens-per-minute limit (waiting never
#: helps), literal from https://github.com/TheR1D/shell_gpt/issues/653 (same shape in
#: https://github.com/DrShushen/climb/issues/13).
OPENAI_REQUEST_TOO_LARGE = {"error": {
    "message": "Request too large for gpt-4o in organization org-78asdf87asdf9aaa8976 on tokens per min (TPM): "
               "Limit 30000, Requested 31538. The input or output tokens must be reduced in order to run "
               "successfully. Visit https://platform.openai.com/account/rate-limits to learn more.",
    "type": "tokens", "param": None, "code": "rate_limit_exceeded"}}

#: OpenRouter, 429, when the upstream provider it picked is rate-limited: OpenRouter's errors page
#: (https://openrouter.ai/docs/api/reference/errors-and-debugging, "Provider Errors": metadata
#: {provider_name, raw}); the raw wording as OpenRouter sends it, quoted in
#: https://gerrit.googlesource.com/plugins/scripts/+/022ec60f69932cbb358d7561977d69341bdfe612
#: ("qwen/qwen3-coder:free is temporarily rate-limited upstream. Please retry shortly, ...").
OPENROUTER_UPSTREAM_RATE_LIMITED = {"error": {
    "message": "Provider returned error", "code": 429,
    "metadata": {"raw": "meta-llama/llama-3.3-70b-instruct:free is temporarily rate-limited upstream. Please "
                        "retry shortly, or add your own key to accumulate your rate limits: "
                        "https://openrouter.ai/settings/integrations",
                 "provider_name": "BaseTen"}},
    "user_id": "user_2yU0simulated"}

#: kind -> (status, body) for the relayed kinds, whatever the URL's protocol.
_RELAYED = {
    "proxy_no_db": (400, LITELLM_NO_DB),
    "proxy_upstream_auth": (401, LITELLM_UPSTREAM_KEY),
    "proxy_own_key": (401, LITELLM_OWN_KEY),
    "request_too_large": (429, OPENAI_REQUEST_TOO_LARGE),
    "upstream_rate_limited": (429, OPENROUTER_UPSTREAM_RATE_LIMITED),
}


def openai_bad_key(key: str | None) -> dict:
    if not key:
        return _openai_err(
            "You didn't provide an API key. You need to provide your API key in an Authorization "
            "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password "
            "field (with blank username) if you're accessing the API from your browser and are "
            "prompted for a username and password. You can obtain an API key from "
            "https://platform.openai.com/account/api-keys.",
            "invalid_request_error",
            None,
        )
    return _openai_err(
        f"Incorrect API key provided: {mask_key(key)}. You can find your API key at "
        "https://platform.openai.com/account/api-keys.",
        "invalid_request_error",
        "invalid_api_key",
    )


def openai_model_not_found(model: str) -> dict:
    return _openai_err(
        f"The model `{model}` does not exist or you do not have access to it.",
        "invalid_request_error",
        "model_not_found",
    )


def anthropic_model_not_found(model: str) -> dict:
    return _anthropic_err("not_found_error", f"model: {model}")


def ollama_model_not_found(model: str) -> dict:
    return {"error": f'model "{model}" not found, try pulling it first'}


def error_response(
    kind: str,
    protocol: str,
    *,
    model: str = "",
    key: str | None = None,
    status: int | None = None,
    retry_after: float | None = None,
) -> ErrorResponse:
    """The status, headers and literal body a provider sends for an HTTP-level fault.

    `protocol` is the body style: "openai" (also lmstudio), "openrouter", "anthropic", "ollama".
    """
    headers: dict[str, str] = {}
    ctype = "application/json"
    wire = "openai" if protocol in ("openai", "lmstudio") else protocol
    forced_openrouter = wire == "openai" and status == 402 and kind == "quota_exhausted"
    if forced_openrouter:
        wire = "openrouter"
    code: int
    body: object

    if kind in _RELAYED:
        code, body = _RELAYED[kind]
    elif kind == "auth_invalid":
        code = 401
        body = {
            "openai": lambda: openai_bad_key(key or "sk-invalid"),
            "openrouter": lambda: _openrouter_err(401, "User not found."),
            "anthropic": lambda: _anthropic_err("authentication_error", "invalid x-api-key"),
            "ollama": lambda: {"error": "unauthorized"},
        }[wire]()
    elif kind == "quota_exhausted":
        if wire == "openai":
            code, body = 429, _openai_err(OPENAI_QUOTA, "insufficient_quota", "insufficient_quota")
        elif wire == "openrouter":
            code, body = 402, _openrouter_err(402, OPENROUTER_CREDITS)
        elif wire == "anthropic":
            code, body = 400, _anthropic_err("invalid_request_error", ANTHROPIC_CREDIT)
        else:
            code, body = 429, {"error": "you have reached your usage limit"}
    elif kind == "rate_limited":
        code = 429
        if wire == "openai":
            body = _openai_err(
                f"Rate limit reached for {model or 'gpt-4o-mini'} in organization org-simulator "
                "on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in "
                f"{retry_after if retry_after is not None else 20}s. Visit "
                "https://platform.openai.com/account/rate-limits to learn more.",
                "requests",
                "rate_limit_exceeded",
            )
            headers.update({
                "x-ratelimit-limit-requests": "3",
                "x-ratelimit-remaining-requests": "0",
                "x-ratelimit-reset-requests": f"{retry_after if retry_after is not None else 20}s",
            })
        elif wire == "openrouter":
            body = _openrouter_err(429, "Rate limit exceeded: free-models-per-min.")
        elif wire == "anthropic":
            body = _anthropic_err(
                "rate_limit_error",
                "This request would exceed the rate limit for your organization of 50 requests "
                "per minute. For details, refer to: "
                "https://docs.claude.com/en/api/rate-limits. You can see the response headers "
                "for current usage.",
            )
            headers["anthropic-ratelimit-requests-remaining"] = "0"
        else:
            body = {"error": "too many requests"}
    elif kind == "overloaded":
        if wire == "anthropic":
            code, body = 529, _anthropic_err("overloaded_error", "Overloaded")
        elif wire == "openai":
            code, body = 503, _openai_err(
                "The engine is currently overloaded, please try again later.", "server_error", None
            )
        elif wire == "openrouter":
            code, body = 503, _openrouter_err(
                503, "No instances available", {"provider_name": "OpenAI"}
            )
        else:
            code, body = 503, {"error": "server busy, please try again.  maximum pending requests exceeded"}
    elif kind == "server_error":
        code = 500
        body = {
            "openai": lambda: _openai_err(
                "The server had an error while processing your request. Sorry about that!",
                "server_error",
                None,
            ),
            "openrouter": lambda: _openrouter_err(500, "Internal Server Error"),
            "anthropic": lambda: _anthropic_err("api_error", "Internal server error"),
            "ollama": lambda: {"error": "llama runner process has terminated: exit status 2"},
        }[wire]()
    elif kind == "server_error_html":
        code, body, ctype = 502, HTML_502, "text/html"
    elif kind == "gateway_timeout":
        code, body, ctype = 504, HTML_504, "text/html"
    elif kind == "model_not_found":
        code = 404
        body = {
            "openai": lambda: openai_model_not_found(model),
            "openrouter": lambda: _openrouter_err(404, f"No endpoints found for {model}."),
            "anthropic": lambda: anthropic_model_not_found(model),
            "ollama": lambda: ollama_model_not_found(model),
        }[wire]()
    elif kind == "context_too_long":
        code = 400
        if wire in ("openai", "openrouter"):
            body = _openai_err(
                "This model's maximum context length is 128000 tokens. However, your messages "
                "resulted in 130000 tokens. Please reduce the length of the messages.",
                "invalid_request_error",
                "context_length_exceeded",
                param="messages",
            )
        elif wire == "anthropic":
            body = _anthropic_err(
                "invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum"
            )
        else:
            body = {"error": "the input length exceeds the context length"}
    elif kind == "content_filtered":
        if wire == "openai":
            code, body = 400, _openai_err(
                "Your request was rejected as a result of our safety system. Your prompt may "
                "contain text that is not allowed by our safety system.",
                "invalid_request_error",
                "content_policy_violation",
            )
        elif wire == "openrouter":
            code, body = 403, _openrouter_err(
                403,
                f"{model or 'openai/gpt-4o-mini'} requires moderation on OpenAI. Your input was "
                "flagged for \"violence\". No credits were charged.",
                {"reasons": ["violence"], "flagged_input": "...", "provider_name": "OpenAI"},
            )
        elif wire == "anthropic":
            code, body = 400, _anthropic_err(
                "invalid_request_error", "Output blocked by content filtering policy"
            )
        else:
            code, body = 400, {"error": "content filtered"}
    else:
        raise ValueError(f"{kind!r} is not an HTTP-level fault kind")

    if status is not None:
        code = status
    if retry_after is not None:
        r = retry_after
        headers["retry-after"] = str(int(r)) if float(r).is_integer() else str(r)
        if wire == "openai":
            headers["retry-after-ms"] = str(int(float(r) * 1000))
    raw = body.encode() if isinstance(body, str) else _j(body)
    ctype = "application/json; charset=utf-8" if ctype == "application/json" else "text/html; charset=utf-8"
    return ErrorResponse(code, raw, ctype, headers)


def error_in_200_body(protocol: str) -> bytes:
    if protocol == "anthropic":
        return _j(_anthropic_err("api_error", "Internal server error"))
    if protocol == "ollama":
        return _j({"error": "an error was encountered while running the model: unexpected EOF"})
    if protocol == "openrouter":
        return _j(_openrouter_err(502, "Provider returned error", {"provider_name": "OpenAI"}))
    return _j(
        _openai_err(
            "The server had an error processing your request. Sorry about that! You can retry "
            "your request, or contact us through our help center at help.openai.com if you keep "
            "seeing this error.",
            "server_error",
            None,
        )
    )


def openrouter_cost(input_tokens: int, output_tokens: int) -> Decimal:
    """What the simulated OpenRouter charges (its /models pricing), exactly."""
    return Decimal("0.00000015") * input_tokens + Decimal("0.0000006") * output_tokens


def midstream_error_payload(protocol: str) -> dict:
    """The in-stream error object (serialised by the protocol's framing)."""
    if protocol == "anthropic":
        return _anthropic_err("overloaded_error", "Overloaded")
    if protocol == "ollama":
        return {"error": "an error was encountered while running the model: unexpected EOF"}
    if protocol == "openrouter":
        # OpenRouter's "unified" mid-stream error, as its streaming docs show it
        # (https://openrouter.ai/docs/api/reference/streaming#handling-errors-during-streaming):
        # the error at the top level of a chunk, beside a choice with finish_reason "error".
        return {"id": "cmpl-abc123", "object": "chat.completion.chunk", "created": 1234567890,
                "model": "gpt-3.5-turbo", "provider": "openai",
                "error": {"code": "server_error", "message": "Provider disconnected unexpectedly"},
                "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "error"}]}
    return _openai_err(
        "The server had an error while processing your request. Sorry about that!",
        "server_error",
        None,
    )
