"""OpenAI's chat-completions wire, as the local endpoint speaks it: reading a request
into the engine's terms, and turning an answer or a failure into OpenAI's shapes.

Pure functions over plain values (no HTTP server here; ``endpoint_server.py`` serves
them), so every shape is tested without a socket.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from desktop.core.errors import ErrorInfo, ErrorKind
from desktop.core.fix_words import sentence
from desktop.core.fixes import Fix
from desktop.core.types import ChatMessage, ModelRef
from desktop.engine.events import AnswerResult
from desktop.engine.explain import said

__all__ = [
    "BadRequest", "ChatRequest", "ROUTED_MODELS", "chunk", "completion", "error_body", "failure",
    "parse_chat_request", "usage_dict",
]

#: The model names that let RouteDesk choose (``auto``) or pick a side of the pair.
ROUTED_MODELS = ("auto", "strong", "weak")

#: OpenAI parameters read and honoured.
_USED = {"model", "messages", "stream", "stream_options", "max_tokens", "max_completion_tokens", "n"}
#: OpenAI parameters accepted and left to the upstream model's defaults (sampling, tracing):
#: an answer without them is still a right answer.
_IGNORED = {"temperature", "top_p", "frequency_penalty", "presence_penalty", "seed", "user", "metadata", "store",
            "service_tier", "stop", "logit_bias", "parallel_tool_calls", "reasoning_effort", "verbosity",
            "safety_identifier", "prompt_cache_key"}
#: OpenAI parameters that would change what the answer is; RouteDesk can't honour them, so
#: it says so instead of answering something else.
_UNSUPPORTED = {"tools", "tool_choice", "functions", "function_call", "response_format", "logprobs",
                "top_logprobs", "audio", "modalities", "prediction", "web_search_options"}
_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}


class BadRequest(Exception):
    """A request RouteDesk won't run: a 400 (or the status given) in OpenAI's shape."""

    def __init__(self, message: str, *, code: str, param: str | None = None, status: int = 400,
                 type_: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.param = param
        self.status = status
        self.type = type_

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "code": self.code, "param": self.param}}


@dataclass(frozen=True)
class ChatRequest:
    model: str  # as the client named it
    mode: str | ModelRef  # what Engine.run_detached takes
    messages: tuple[ChatMessage, ...]
    stream: bool
    include_usage: bool
    max_tokens: int | None


def _text_of(content: Any, i: int) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                kind = part.get("type") if isinstance(part, dict) else type(part).__name__
                raise BadRequest(f"messages[{i}].content has a {kind!r} part; RouteDesk's endpoint takes text only.",
                                 code="unsupported_content", param=f"messages[{i}].content")
            parts.append(part["text"])
        return "".join(parts)
    if content is None:
        return ""
    raise BadRequest(f"messages[{i}].content must be a string or a list of text parts.",
                     code="invalid_type", param=f"messages[{i}].content")


def _positive_int(body: dict, key: str) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise BadRequest(f"{key} must be a whole number of tokens, 1 or more.", code="invalid_value", param=key)
    return value


def parse_chat_request(body: Any) -> ChatRequest:
    """The request as the engine needs it, or BadRequest saying what is wrong with it."""
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.", code="invalid_json")
    for key in body:
        if key in _UNSUPPORTED:
            raise BadRequest(f"RouteDesk's endpoint does not support {key!r}; send plain chat messages.",
                             code="unsupported_parameter", param=key)
        if key not in _USED and key not in _IGNORED:
            raise BadRequest(f"Unknown parameter {key!r}.", code="unknown_parameter", param=key)
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise BadRequest("Name a model: auto, strong, weak or PROVIDER/MODEL (GET /v1/models lists them).",
                         code="missing_model", param="model")
    model = model.strip()
    if model in ROUTED_MODELS:
        mode: str | ModelRef = model
    else:
        try:
            mode = ModelRef.parse(model)
        except ValueError:
            raise BadRequest(f"The model {model!r} does not exist here. Use auto, strong, weak or PROVIDER/MODEL "
                             "(GET /v1/models lists them).", code="model_not_found", param="model",
                             status=404) from None
    raw = body.get("messages")
    if not isinstance(raw, list) or not raw:
        raise BadRequest("messages must be a non-empty list of {role, content} objects.",
                         code="missing_messages", param="messages")
    messages = []
    for i, m in enumerate(raw):
        if not isinstance(m, dict):
            raise BadRequest(f"messages[{i}] must be an object with role and content.", code="invalid_type",
                             param=f"messages[{i}]")
        role = _ROLES.get(m.get("role"))  # type: ignore[arg-type]
        if role is None:
            raise BadRequest(f"messages[{i}].role {m.get('role')!r} is not one RouteDesk's endpoint takes "
                             "(system, developer, user, assistant).", code="invalid_value", param=f"messages[{i}].role")
        messages.append(ChatMessage(role, _text_of(m.get("content"), i)))  # type: ignore[arg-type]
    if not any(m.role == "user" and m.content.strip() for m in messages):
        raise BadRequest("messages has no user message with text.", code="missing_messages", param="messages")
    n = body.get("n")
    if n not in (None, 1):
        raise BadRequest("RouteDesk's endpoint gives one answer per request (n = 1).", code="unsupported_value",
                         param="n")
    stream = body.get("stream", False)
    if not isinstance(stream, bool) and stream is not None:
        raise BadRequest("stream must be true or false.", code="invalid_type", param="stream")
    options = body.get("stream_options") or {}
    if not isinstance(options, dict):
        raise BadRequest("stream_options must be an object.", code="invalid_type", param="stream_options")
    max_tokens = _positive_int(body, "max_completion_tokens") or _positive_int(body, "max_tokens")
    return ChatRequest(model, mode, tuple(messages), bool(stream), bool(options.get("include_usage")), max_tokens)


# --- answers --------------------------------------------------------------------------


def new_id() -> str:
    return "chatcmpl-rd" + uuid.uuid4().hex[:24]


def usage_dict(result: AnswerResult) -> dict | None:
    if result.usage is None:
        return None
    i, o = result.usage.input_tokens, result.usage.output_tokens
    return {"prompt_tokens": i, "completion_tokens": o, "total_tokens": i + o}


def routedesk_dict(result: AnswerResult) -> dict:
    """RouteDesk's own account of the answer (an extra key OpenAI clients ignore)."""
    return {
        "route": result.route.to_dict(),
        "cost_usd": None if result.cost_usd is None else str(result.cost_usd),
        "price_source": result.price_source,
        "fallback_used": result.fallback_used,
        "attempts": [a.to_dict() for a in result.attempts],
    }


def finish_reason(result: AnswerResult) -> str | None:
    """OpenAI's finish_reason for a run that gave an answer: ``length`` for one cut at its
    limit, ``content_filter`` for one a filter stopped after some text (kept, as OpenAI
    keeps it); None for a failure."""
    if result.status == "complete":
        return "stop"
    if result.status == "truncated":
        return "length"
    if result.text and result.error is not None and result.error.kind == ErrorKind.CONTENT_FILTERED.value:
        return "content_filter"
    return None


def completion(result: AnswerResult, request_id: str | None = None) -> dict:
    return {
        "id": request_id or new_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": str(result.model),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": result.text},
                     "finish_reason": finish_reason(result) or "stop", "logprobs": None}],
        "usage": usage_dict(result),
        "routedesk": routedesk_dict(result),
    }


def chunk(request_id: str, model: str, created: int, *, delta: dict | None = None, finish: str | None = None,
          usage: dict | None = None, extra: dict | None = None) -> dict:
    out: dict[str, Any] = {"id": request_id, "object": "chat.completion.chunk", "created": created, "model": model}
    out["choices"] = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish,
                                                "logprobs": None}]
    if usage is not None:
        out["usage"] = usage
    if extra is not None:
        out["routedesk"] = extra
    return out


# --- failures -------------------------------------------------------------------------

#: kind -> (HTTP status, OpenAI error type, code). The upstream provider's own key failing
#: is not the client's 401: the client's token was fine, RouteDesk's provider was not.
_STATUS: dict[str, tuple[int, str, str]] = {
    ErrorKind.QUOTA_EXHAUSTED.value: (429, "insufficient_quota", "insufficient_quota"),
    ErrorKind.RATE_LIMITED.value: (429, "rate_limit_exceeded", "rate_limit_exceeded"),
    ErrorKind.MODEL_NOT_FOUND.value: (404, "invalid_request_error", "model_not_found"),
    ErrorKind.CONTEXT_TOO_LONG.value: (400, "invalid_request_error", "context_length_exceeded"),
    ErrorKind.CONTENT_FILTERED.value: (400, "invalid_request_error", "content_filter"),
    ErrorKind.TIMEOUT.value: (504, "upstream_error", "timeout"),
    ErrorKind.UNREACHABLE.value: (502, "upstream_error", "unreachable"),
    ErrorKind.OVERLOADED.value: (503, "upstream_error", "overloaded"),
    ErrorKind.SERVER_ERROR.value: (502, "upstream_error", "server_error"),
    ErrorKind.AUTH_INVALID.value: (502, "upstream_error", "upstream_auth_invalid"),
    ErrorKind.BAD_RESPONSE.value: (502, "upstream_error", "bad_response"),
    ErrorKind.INTERRUPTED.value: (502, "upstream_error", "interrupted"),
    ErrorKind.MISCONFIGURED.value: (503, "routedesk_error", "misconfigured"),
}


def failure(info: ErrorInfo, attempts: list | None = None, *,
            word_fix: Callable[[Fix], str] | None = None) -> tuple[int, dict]:
    """(status, body) for a failure RouteDesk understands: never a 500. ``word_fix`` is the
    surface's wording of a fix (the command line's commands under `routedesk serve`, the
    window's screens when the window serves); the plain text otherwise."""
    status, type_, code = _STATUS.get(info.kind, (502, "upstream_error", info.kind))
    if info.code == "client_budget_exceeded":
        code = info.code
    return status, error_body(info, type_, code, attempts, word_fix=word_fix)


def error_body(info: ErrorInfo, type_: str, code: str, attempts: list | None = None, *,
               word_fix: Callable[[Fix], str] | None = None) -> dict:
    fix = Fix.coerce(info.fix)
    words = (word_fix or (lambda f: f.text))(fix) if fix else ""
    message = " ".join(x for x in (info.message, sentence(said(info)), words) if x)  # the server's words beside ours
    return {"error": {
        "message": message, "type": type_, "code": code, "param": None,
        "routedesk": {"kind": info.kind, "message": info.message, "detail": info.detail, "fix": words,
                      "fix_action": fix.to_json() if fix else None, "provider": info.provider,
                      "model": info.model, "attempts": attempts or []},
    }}
