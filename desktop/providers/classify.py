"""Turn whatever a provider or the network throws at us into one ``RouteDeskError``.

Both entry points are total: for any input (random bytes, truncated JSON, odd headers,
any exception) they return a ``RouteDeskError`` and never raise. Messages here are
already plain and name the provider and model; ``desktop.engine.explain`` refines them
with per-provider fixes. Nothing here ever sees request headers; response bodies are
redacted before any excerpt is kept in ``detail``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from desktop.core.errors import ErrorKind, RouteDeskError
from desktop.core.fixes import Fix, FixAction
from desktop.core.redact import redact
from desktop.providers.error_parts import STATUS_PAGE, excerpt, fix_about, model_part, preset_url, who
from desktop.providers.presets import PRESETS
from desktop.providers.retry_after import RETRY_AFTER_CAP, parse_retry_after
from desktop.providers.transport_errors import classify_transport_error

__all__ = [
    "classify_http_error",
    "classify_transport_error",
    "classify_error_payload",
    "bad_response",
    "parse_retry_after",
    "RETRY_AFTER_CAP",
    "who",
]

_SCAN_LIMIT = 20_000


def _to(model: str | None) -> str:
    return f" to {model}" if model else ""


#: Error types too generic to be worth showing in a message (still kept in ``code``).
_GENERIC_CODES = {"invalid_request_error", "error", "invalid_request", "bad_request", "requests", "tokens"}


def _as_text(body: Any) -> str:
    if body is None:
        return ""
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body[:_SCAN_LIMIT * 4]).decode("utf-8", errors="replace")
    if isinstance(body, str):
        return body
    try:
        return json.dumps(body)[: _SCAN_LIMIT * 4]
    except Exception:
        return repr(body)[: _SCAN_LIMIT]


def _parse_body(text: str) -> tuple[Any, bool]:
    try:
        return json.loads(text), True
    except Exception:
        return None, False


def _str(x: Any) -> str:
    if x is None:
        return ""
    if isinstance(x, str):
        return x
    if isinstance(x, (int, float, bool)):
        return str(x)
    try:
        return json.dumps(x)[:2000]
    except Exception:
        return ""


def _fields(obj: Any) -> tuple[str, str, str, int | None]:
    """(code, type, message, numeric code) from the error shapes providers use:
    OpenAI {"error": {message, type, code}}, Anthropic {"type": "error", "error": {type, message}},
    OpenRouter {"error": {code: 402, message, metadata}}, Ollama {"error": "text"},
    FastAPI {"detail": ...}, or a bare {"message": ...}."""
    code = etype = message = ""
    numeric: int | None = None
    if isinstance(obj, list) and obj:
        obj = obj[0]
    if not isinstance(obj, dict):
        return code, etype, _str(obj) if obj is not None else "", numeric
    err = obj.get("error", obj)
    if isinstance(err, str):
        message = err
        etype = _str(obj.get("type")) if obj.get("type") != "error" else ""
        code = _str(obj.get("code"))
    elif isinstance(err, dict):
        raw_code = err.get("code")
        if isinstance(raw_code, int) and not isinstance(raw_code, bool):
            numeric = raw_code
        elif isinstance(raw_code, str) and raw_code.isdigit() and len(raw_code) == 3:
            numeric = int(raw_code)
        code = _str(raw_code)
        etype = _str(err.get("type"))
        if etype == "error":
            etype = ""
        message = _str(err.get("message") or err.get("detail") or err.get("msg"))
        if not message and "error" not in obj:
            message = _str(obj.get("detail") or obj.get("message"))
    else:
        message = _str(err)
    return code, etype, message, numeric


def _upstream(obj: Any) -> tuple[str, str]:
    """(provider name, its words) when a router relays an upstream provider's error:
    OpenRouter's ``error.metadata`` ``{"provider_name", "raw"}`` (OpenRouter's docs, API reference,
    "Errors and Debugging": provider errors). ``raw`` is the upstream's body, often JSON of its own:
    its message is used."""
    err = obj.get("error") if isinstance(obj, dict) else None
    meta = err.get("metadata") if isinstance(err, dict) else None
    if not isinstance(meta, dict) or not meta.get("raw"):
        return "", ""
    raw = meta.get("raw")
    words = _str(raw)
    inner, ok = _parse_body(raw) if isinstance(raw, str) and raw.strip()[:1] in ("{", "[") else (raw, True)
    if ok and isinstance(inner, dict | list):
        words = _fields(inner)[2] or words
    name = meta.get("provider_name")
    return (name.strip()[:60] if isinstance(name, str) else ""), words


#: LiteLLM relays an upstream provider's failure as "litellm.AuthenticationError:
#: AuthenticationError: OpenAIException - Incorrect API key provided: ..." (its exception
#: classes prefix the message with "litellm."; the provider's own exception names it).
_LITELLM = re.compile(r"\blitellm\.\w+(?:Error|Exception)\b")
_RELAYED = re.compile(r"\b([A-Z][A-Za-z]{1,30}?)Exception\s+-\s")


def _relayed_by_litellm(message: str) -> str:
    """The upstream provider a LiteLLM proxy's message blames ("OpenAI"), or ""."""
    if not _LITELLM.search(message):
        return ""
    m = _RELAYED.search(message)
    if not m:
        return ""
    name = m.group(1)
    preset = PRESETS.get(name.lower())
    return preset.display_name if preset else name


#: OpenAI's 429 for a single request larger than a per-minute token limit: waiting never helps
#: ("Request too large for gpt-4o in organization org-... on tokens per min (TPM): Limit 30000,
#: Requested 31538. The input or output tokens must be reduced in order to run successfully.").
_TOO_LARGE = re.compile(r"request too large for\b.{0,160}\bper min|must be reduced in order to run successfully",
                        re.IGNORECASE | re.DOTALL)
_LIMIT_REQUESTED = re.compile(r"Limit (\d+), Requested (\d+)")


def _readable(text: str) -> bool:
    """Whether a body (or its message) is words a person can read, not bytes RouteDesk
    couldn't decode."""
    sample = text.strip()[:400]
    if not sample or "\ufffd" in sample:
        return False
    printable = sum(c.isprintable() or c.isspace() for c in sample)
    return printable >= 0.95 * len(sample) and any(c.isalpha() for c in sample)


def _looks_html(text: str) -> bool:
    head = text.lstrip()[:512].lower()
    return head.startswith("<!doctype html") or head.startswith("<html") or "<body" in head or "<title" in head


_CONTEXT = re.compile(
    r"context_length_exceeded|prompt is too long|maximum context length|context length|context window"
    r"|too many tokens|input is too long|string_above_max_length|reduce the length of the messages"
    r"|exceeds? the (?:model'?s? )?(?:maximum|context)|request_too_large|prompt too long",
    re.IGNORECASE,
)
_QUOTA = re.compile(
    r"insufficient_quota|credit balance is too low|exceeded your current quota|insufficient credits"
    r"|insufficient_balance|insufficient balance|payment required|more credits|out of credits"
    r"|quota exceeded|no credits|reached your usage limit|exceeded (?:your|the) [a-z ]{0,20}quota",
    re.IGNORECASE,
)
_FILTER = re.compile(
    r"content_policy_violation|content[_ ]filter|content policy|moderation|flagged|safety system"
    r"|responsible ?ai|prohibited content|violat\w* (?:our|the) (?:usage )?polic",
    re.IGNORECASE,
)
_AUTH = re.compile(
    r"invalid_api_key|authentication_error|incorrect api key|invalid api key|invalid x-api-key"
    r"|no auth credentials|unauthori[sz]ed|api key not valid|invalid_authentication|missing api key"
    r"|permission_error|permission denied|not allowed to|does not have access",
    re.IGNORECASE,
)
_MODEL_MISSING = re.compile(
    r"model_not_found|try pulling it first|(?:model|deployment)\b[^.]{0,120}\b(?:not found|does not exist|"
    r"is not a valid model|not available|unknown|no such|not supported|do(?:es)? not have access)"
    r"|(?:not found|unknown|invalid|no such|no endpoints found for)\b[^.]{0,20}\bmodel"
    r"|is not a valid model id|no endpoints found",
    re.IGNORECASE,
)
_RATE = re.compile(r"rate_limit|rate limit|too many requests|requests per|tokens per min", re.IGNORECASE)
_OVERLOAD = re.compile(r"overloaded|over capacity|capacity|temporarily unavailable|service unavailable",
                       re.IGNORECASE)
_SERVER = re.compile(r"server_error|internal server error|internal error|api_error|bad gateway|upstream"
    r"|error was encountered while running the model|llama runner|provider returned error",
                     re.IGNORECASE)
_TIMEOUTISH = re.compile(r"timed? ?out|timeout", re.IGNORECASE)


def _error(kind: ErrorKind, message: str, fix: Fix, *, provider: str | None, model: str | None,
           status: int | None, code: str | None, detail: str, retry_after: float | None = None,
           retryable: bool | None = None, upstream: str = "") -> RouteDeskError:
    return RouteDeskError(
        kind, message, fix, provider=provider, model=model, status=status,
        code=code or None, retry_after=retry_after, detail=detail, retryable=retryable, upstream=upstream,
    )


def classify_http_error(
    status: int | None,
    headers: Any,
    body: Any,
    *,
    provider: str | None,
    kind: str | None,
    model: str | None,
    base_url: str | None = None,
) -> RouteDeskError:
    """Map an HTTP error response (or a 200 whose body is an error) to a RouteDeskError."""
    try:
        return _classify_http(status, headers, body, provider=provider, kind=kind, model=model,
                              base_url=base_url)
    except Exception as exc:  # pragma: no cover - belt and braces: this function is total
        return RouteDeskError(
            ErrorKind.BAD_RESPONSE,
            f"{who(provider, kind)} sent an answer RouteDesk couldn't read.",
            fix_about(FixAction.RETRY, provider, kind, then=STATUS_PAGE),
            provider=provider, model=model, detail=f"classifier: {type(exc).__name__}",
        )


def _classify_http(raw_status: Any, headers: Any, body: Any, *, provider: str | None, kind: str | None,
                   model: str | None, base_url: str | None) -> RouteDeskError:
    status: int | None
    try:
        status = int(raw_status) if raw_status is not None else None
    except Exception:
        status = None
    text = _as_text(body)
    scan = text[:_SCAN_LIMIT]
    obj, is_json = _parse_body(scan) if scan.strip()[:1] in ("{", "[", '"') else (None, False)
    code, etype, message, numeric = _fields(obj) if is_json else ("", "", "", None)
    via, raw_words = _upstream(obj) if is_json else ("", "")
    if status is None or status == 200:
        status_for_rules = numeric if numeric and 400 <= numeric <= 599 else None
    else:
        status_for_rules = status
    html = not is_json and _looks_html(scan)
    if is_json:
        hay = " ".join(x for x in (code, etype, message, raw_words) if x)
        if not hay:
            hay = scan
    else:
        hay = scan if not html else _html_title(scan)
    short = _short_code(code or etype)
    # The server's own words, as the user will see them beside RouteDesk's explanation.
    if raw_words:
        words = f"{message or 'Provider returned error'}" + (f" ({via})" if via else "") + f": {raw_words}"
    elif is_json:
        words = message if _readable(message) else ""
    elif html:
        words = _html_words(scan)
    else:
        words = scan if _readable(scan) else ""
    detail = excerpt(words)
    name = who(provider, kind)
    if via:  # OpenRouter relays the upstream's failure: name the provider that failed
        name = f"{via} (through {name})"
    m = model_part(model)
    st = status_for_rules
    common: dict[str, Any] = dict(provider=provider, model=model, status=status, code=short, detail=detail,
                                  upstream=via)
    shown = short if short and short.lower() not in _GENERIC_CODES and not short.isdigit() else ""
    code_note = f" ({shown})" if shown else (f" (HTTP {status})" if status and status != 200 else "")

    def filtered() -> RouteDeskError:
        return _error(ErrorKind.CONTENT_FILTERED,
                      f"{name}'s content filter blocked this request to {model or 'the model'}{code_note}.",
                      fix_about(FixAction.REPHRASE, provider, kind), **common)

    def too_long() -> RouteDeskError:
        return _error(ErrorKind.CONTEXT_TOO_LONG,
                      f"The conversation is too long for {model or 'the model'} at {name}{code_note}.",
                      fix_about(FixAction.SHORTEN_CONVERSATION, provider, kind, model=model), **common)

    def too_large_for_limit() -> RouteDeskError:
        nums = _LIMIT_REQUESTED.search(hay)
        limits = (f"this account may send it {nums.group(1)} tokens a minute and this request needs "
                  f"{nums.group(2)}, so " if nums else "")
        return _error(ErrorKind.CONTEXT_TOO_LONG,
                      f"The request is too large for {model or 'the model'} at {name}: {limits}"
                      "waiting and sending it again won't help.",
                      fix_about(FixAction.SHORTEN_CONVERSATION, provider, kind, model=model,
                                hint="or pick a model with a larger tokens-per-minute limit"),
                      retryable=False, **common)

    def quota() -> RouteDeskError:
        return _error(ErrorKind.QUOTA_EXHAUSTED,
                      f"{name} says this account has no credit left{code_note}.",
                      fix_about(FixAction.ADD_CREDIT, provider, kind, url=preset_url(kind, "billing_url"), who=name),
                      **common)

    def auth() -> RouteDeskError:
        return _error(ErrorKind.AUTH_INVALID,
                      f"{name} didn't accept the API key{code_note}.",
                      fix_about(FixAction.ADD_KEY, provider, kind, why="rejected",
                                keys_url=preset_url(kind, "keys_url")),
                      **common)

    def upstream_auth(upstream: str) -> RouteDeskError:
        env = getattr(PRESETS.get(upstream.lower()), "key_env", None)
        where = f" (its config or {env})" if env else " (its config file or environment)"
        return _error(ErrorKind.AUTH_INVALID,
                      f"{name} is a LiteLLM proxy, and it reports that {upstream} refused the proxy's own "
                      f"{upstream} key{m}; the key RouteDesk sends to the proxy was accepted.",
                      fix_about(FixAction.NOTE, provider, kind,
                                text=f"Check the {upstream} key configured in the proxy{where} and restart it; "
                                     f"the key RouteDesk holds for {provider or kind or 'this provider'} is not "
                                     "the one at fault."),
                      **{**common, "upstream": upstream})

    def no_db() -> RouteDeskError:
        return _error(ErrorKind.MISCONFIGURED,
                      f"{name} answered \u201cNo connected db.\u201d{m}: a LiteLLM proxy says this when the key it "
                      "gets isn't its master key and it has no database of virtual keys.",
                      fix_about(FixAction.ADD_KEY, provider, kind, why="rejected", base_url=base_url),
                      **common)

    def refused() -> RouteDeskError:
        return _error(ErrorKind.MISCONFIGURED,
                      f"{name} refused the request{m} (HTTP {status}{', ' + shown if shown else ''}); "
                      "its own words say why.",
                      fix_about(FixAction.NOTE, provider, kind,
                                text="Read what the server says: the request may use something this server or "
                                     "model doesn't support, or the server itself needs setting up."),
                      **common)

    def missing_model() -> RouteDeskError:
        return _error(ErrorKind.MODEL_NOT_FOUND,
                      f"{name} doesn't have the model {model or '(unnamed)'}{code_note}.",
                      fix_about(FixAction.CHOOSE_MODELS, provider, kind, model=model), **common)

    def rate() -> RouteDeskError:
        ra = parse_retry_after(headers, scan)
        when = f" It asks to wait {ra:.0f}s." if ra else ""
        return _error(ErrorKind.RATE_LIMITED,
                      f"{name} is rate-limiting requests{_to(model)}{code_note}.{when}",
                      fix_about(FixAction.WAIT_AND_RETRY, provider, kind, seconds=f"{ra:.0f}" if ra else None),
                      retry_after=ra, **common)

    def overloaded() -> RouteDeskError:
        ra = parse_retry_after(headers, scan)
        return _error(ErrorKind.OVERLOADED,
                      f"{name} is overloaded and couldn't run {model or 'the model'} right now{code_note}.",
                      fix_about(FixAction.RETRY, provider, kind, when="in a minute"), retry_after=ra, **common)

    def server() -> RouteDeskError:
        what = " (it sent an error page)" if html else ""
        return _error(ErrorKind.SERVER_ERROR,
                      f"{name} had a server error while running {model or 'the model'}{code_note}{what}.",
                      fix_about(FixAction.RETRY, provider, kind, then=STATUS_PAGE), **common)

    # 0. what a relaying proxy says about its upstream, and limits no wait can lift
    relayed = _relayed_by_litellm(message) if is_json else ""
    if relayed and (st in (401, 403) or re.search(r"AuthenticationError|PermissionDenied", message)):
        return upstream_auth(relayed)
    if _TOO_LARGE.search(hay) and st in (None, 400, 413, 429):
        return too_large_for_limit()

    # 1. explicit machine-readable codes are the strongest signal
    codes = {code.lower(), etype.lower()} - {""}
    if codes & {"content_policy_violation", "content_filter", "moderation_blocked"}:
        return filtered()
    if codes & {"context_length_exceeded", "string_above_max_length", "request_too_large"}:
        return too_long()
    if codes & {"insufficient_quota", "billing_error", "insufficient_balance", "billing_hard_limit_reached"}:
        return quota()
    if codes & {"rate_limit_exceeded", "rate_limit_error", "rate_limited", "tokens_exceeded"}:
        return rate()
    if codes & {"overloaded_error", "overloaded"}:
        return overloaded()
    if codes & {"model_not_found"} or ("not_found_error" in codes and re.search(r"(?i)model", hay)):
        return missing_model()
    if codes & {"invalid_api_key", "authentication_error", "invalid_authentication", "permission_error",
                "unauthorized", "invalid_key"}:
        return auth()
    if "no_db_connection" in codes and st == 400:
        return no_db()

    # 2. then the words providers use, guarded by the status where one is known
    if _FILTER.search(hay) and st in (None, 400, 403, 422, 451):
        return filtered()
    if _CONTEXT.search(hay) or st == 413:
        return too_long()
    if st == 402 or (_QUOTA.search(hay) and st in (None, 400, 402, 403, 429)):
        return quota()
    if st in (401, 403) or (st is None and _AUTH.search(hay)):
        return auth()
    if _MODEL_MISSING.search(hay) and st in (None, 400, 404, 422):
        return missing_model()
    if st == 404:
        where = base_url or "the base URL"
        return _error(ErrorKind.MISCONFIGURED,
                      f"{name} answered 404 Not Found at {where}: the address is probably wrong.",
                      fix_about(FixAction.OPEN_PROVIDER_SETTINGS, provider, kind, base_url=base_url,
                           usually="OpenAI-compatible servers usually end in /v1, for example",
                           example=PRESETS["lmstudio"].base_url), **common)
    if st == 429 or (st is None and _RATE.search(hay)):
        return rate()
    if st in (503, 529) or (st is None and _OVERLOAD.search(hay)):
        return overloaded()
    if st == 408:
        return _error(ErrorKind.TIMEOUT, f"{name} timed out{m}{code_note}.", fix_about(FixAction.RETRY, provider, kind),
                      **common)
    if st is not None and 500 <= st <= 599:
        return server()
    if st is None and (codes & {"api_error", "server_error", "internal_error"} or _SERVER.search(hay)):
        return server()
    if st is None and _TIMEOUTISH.search(hay):
        return _error(ErrorKind.TIMEOUT, f"{name} timed out{m}{code_note}.", fix_about(FixAction.RETRY, provider, kind),
                      **common)
    if st is not None and 400 <= st <= 499:
        if words and not html:  # a readable refusal is not "an answer RouteDesk couldn't read"
            return refused()
        return _error(ErrorKind.BAD_RESPONSE,
                      f"{name} rejected the request{m} (HTTP {status}{', ' + short if short else ''}).",
                      fix_about(FixAction.RETRY, provider, kind, then="the server may not support this request"),
                      **common)
    return _error(ErrorKind.BAD_RESPONSE,
                  f"{name} sent an answer RouteDesk couldn't use{m}"
                  + (f" (HTTP {status})." if status and status != 200 else "."),
                  fix_about(FixAction.RETRY, provider, kind, then=STATUS_PAGE), **common)


def _short_code(text: str) -> str:
    """An error code fit to show: a short identifier, redacted; anything else is dropped."""
    text = redact(text.strip())
    if not text or len(text) > 64 or not re.fullmatch(r"[A-Za-z0-9_.\-]+", text):
        return ""
    return text


def _html_words(text: str) -> str:
    """What an HTML error page says: its title, else its visible text."""
    if re.search(r"(?is)<title[^>]*>\s*[^<\s]", text):
        return _html_title(text)
    body = re.sub(r"(?is)<(script|style)\b.*?</\1>|<[^>]*>", " ", text)
    words = " ".join(body.split())[:200]
    return words if _readable(words) else ""


def _html_title(text: str) -> str:
    m = re.search(r"(?is)<title[^>]*>(.*?)</title>", text)
    title = m.group(1) if m else ""
    return " ".join(title.split())[:200] or "HTML error page"


def classify_error_payload(
    payload: Any, *, provider: str | None, kind: str | None, model: str | None,
    base_url: str | None = None,
) -> RouteDeskError:
    """An error object seen inside a stream or a 200 body (``{"error": ...}``,
    Anthropic's ``event: error``, an Ollama ``{"error": "..."}`` line)."""
    try:
        status = None
        if isinstance(payload, dict):
            err = payload.get("error")
            if isinstance(err, dict):
                c = err.get("code")
                if isinstance(c, int) and not isinstance(c, bool) and 400 <= c <= 599:
                    status = c
                elif isinstance(err.get("status"), int) and 400 <= err["status"] <= 599:
                    status = err["status"]
        e = classify_http_error(status, None, payload if not isinstance(payload, (bytes, str)) else payload,
                                provider=provider, kind=kind, model=model, base_url=base_url)
        return e
    except Exception:  # pragma: no cover
        return bad_response("an error it couldn't describe", provider=provider, kind=kind, model=model)


def bad_response(what: str, *, provider: str | None, kind: str | None, model: str | None,
                 detail: str = "", status: int | None = None) -> RouteDeskError:
    return RouteDeskError(
        ErrorKind.BAD_RESPONSE,
        f"{who(provider, kind)} sent {what}{model_part(model)}.",
        fix_about(FixAction.RETRY, provider, kind, then="check the provider's status page or the server's logs"),
        provider=provider, model=model, status=status, detail=excerpt(detail),
    )


