"""The last word on an error: a plain-language message that names the provider and the
model, and a fix the user can do now (mentioning the fallback model when there is one).

    OpenAI says this account has no credit left (insufficient_quota).
    Add a payment method at platform.openai.com/settings/organization/billing, or RouteDesk
    will keep answering with ollama/llama3.2.

Pure functions over ``RouteDeskError``; imports nothing outside desktop.core and
desktop.providers (no Qt, no storage), so the CLI, the UI and the tests share it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from desktop.core.errors import TRANSPORT_CODES, ErrorInfo, ErrorKind, RouteDeskError
from desktop.core.fix_words import sentence
from desktop.core.fixes import Fix, FixAction, bare_url
from desktop.core.redact import redact
from desktop.providers.classify import who
from desktop.providers.presets import PRESETS, display_name

__all__ = ["explain", "said"]

#: Kinds where the fallback simply takes over for now, vs. where it keeps answering for good.
_TRANSIENT = {ErrorKind.RATE_LIMITED, ErrorKind.OVERLOADED, ErrorKind.SERVER_ERROR,
              ErrorKind.UNREACHABLE, ErrorKind.TIMEOUT}
_GENERIC = {"invalid_request_error", "error", "requests", "tokens", "invalid_request", "bad_request"}


def _host(base_url: str | None) -> str:
    if not base_url:
        return "its address"
    try:
        return urlsplit(base_url).netloc or base_url
    except ValueError:
        return base_url


@dataclass(frozen=True)
class _Ctx:
    err: RouteDeskError
    kind: str                 # provider kind ("openai", "ollama", ...)
    name: str                 # "OpenAI" or "work (OpenAI)"
    model: str                # the model's name, or "the model"
    host: str
    base_url: str | None
    code: str | None          # a code worth showing, e.g. insufficient_quota
    keys_url: str | None
    billing_url: str | None
    status_url: str | None
    models_url: str | None
    limits_url: str | None

    @property
    def note(self) -> str:
        if self.code:
            return f" ({self.code})"
        if self.err.status and self.err.status != 200:
            return f" (HTTP {self.err.status})"
        return ""

    @property
    def local(self) -> bool:
        preset = PRESETS.get(self.kind)
        return preset is not None and preset.local


# --- one function per kind; each returns (message, fix) ---------------------------------


def _at(c: _Ctx, **params: str | None) -> dict[str, str]:
    """The parameters every fix about this provider carries, and ``params`` (empty ones dropped)."""
    every = {"provider": c.err.provider or c.kind, "kind": c.kind, "base_url": c.base_url, **params}
    return {k: v for k, v in every.items() if v}


def _auth(c: _Ctx) -> tuple[str, Fix]:
    if c.err.upstream and c.err.fix:  # a proxy's upstream refused the proxy's key, not the user's
        return c.err.message, c.err.fix
    if c.local:
        return (f"{c.name} at {c.host} refused the request for {c.model}: it wants a different key{c.note}.",
                Fix(FixAction.ADD_KEY, _at(c, why="rejected", local="yes")))
    msg = f"{c.name} didn't accept the API key{c.note} when asked for {c.model}."
    return msg, Fix(FixAction.ADD_KEY, _at(c, why="rejected", keys_url=c.keys_url))


def _quota(c: _Ctx) -> tuple[str, Fix]:
    for_model = f" for {c.model}" if c.err.model else ""
    msg = f"{c.name} says this account has no credit left{for_model}{c.note}."
    return msg, Fix(FixAction.ADD_CREDIT, _at(c, url=c.billing_url, who=c.name))


def _rate(c: _Ctx) -> tuple[str, Fix]:
    wait = c.err.retry_after
    asks = f" and asks to wait {wait:.0f}s" if wait else ""
    msg = f"{c.name} is limiting how fast this account can send requests to {c.model}{asks}{c.note}."
    hint = None
    if c.limits_url:
        grows = "limits grow with usage" if c.kind == "openai" else "limits are listed at"
        hint = f"{grows}{':' if c.kind == 'openai' else ''} {bare_url(c.limits_url)}"
    if c.kind == "openrouter" and ":free" in c.model:
        hint = "free models have low limits; a paid variant has higher ones"
    return msg, Fix(FixAction.WAIT_AND_RETRY, _at(c, seconds=f"{wait:.0f}" if wait else None, hint=hint))


def _overloaded(c: _Ctx) -> tuple[str, Fix]:
    msg = f"{c.name} is overloaded and couldn't run {c.model} right now{c.note}."
    if c.local:
        return msg, Fix(FixAction.RETRY, _at(c, when="once the other requests on " + c.host + " finish"))
    hint = f"status: {bare_url(c.status_url)}" if c.status_url else None
    return msg, Fix(FixAction.RETRY, _at(c, when="in a minute", hint=hint))


def _server(c: _Ctx) -> tuple[str, Fix]:
    page = " and sent an error page instead of an answer" if "error page" in c.err.message else ""
    msg = f"{c.name} had a server error while running {c.model}{page}{c.note}."
    if c.kind == "ollama":
        then = "restart Ollama or try a smaller model (the model may not fit in memory)"
        return msg, Fix(FixAction.RETRY, _at(c, then=then))
    if c.kind == "lmstudio":
        return msg, Fix(FixAction.RETRY, _at(c, then="reload the model in LM Studio"))
    tail = f" and {bare_url(c.status_url)}" if c.status_url else ""
    return msg, Fix(FixAction.RETRY, _at(c, when="in a minute", then=f"check the provider's status{tail}"))


def _model(c: _Ctx) -> tuple[str, Fix]:
    if c.kind == "ollama":
        return (f"The model {c.model} isn't downloaded in Ollama on this computer.",
                Fix(FixAction.PULL_MODEL, _at(c, model=c.model)))
    if c.kind == "lmstudio":
        return (f"{display_name(c.kind)} has no model called {c.model}.",
                Fix(FixAction.LOAD_LOCAL_MODEL, _at(c, model=c.model)))
    if c.kind == "openrouter":
        return (f"OpenRouter has no model called {c.model}{c.note}.",
                Fix(FixAction.CHOOSE_MODELS, _at(c, model=c.model, catalog_url=c.models_url)))
    return (f"{c.name} has no model called {c.model}, or this key can't use it{c.note}.",
            Fix(FixAction.CHOOSE_MODELS, _at(c, model=c.model)))


def _context(c: _Ctx) -> tuple[str, Fix]:
    if c.err.retry_override is False and c.err.message:  # larger than a per-minute limit: said in classify
        return c.err.message, Fix(FixAction.SHORTEN_CONVERSATION, _at(c, model=c.model, hint=c.err.fix.get("hint")))
    return (f"This conversation is too long for {c.model} at {c.name}{c.note}.",
            Fix(FixAction.SHORTEN_CONVERSATION, _at(c, model=c.model)))


def _filtered(c: _Ctx) -> tuple[str, Fix]:
    if c.err.code == "refusal":  # Anthropic's stop_reason: the model itself declined to go on
        return (f"{c.model} at {c.name} refused to go on with this answer (refusal).",
                Fix(FixAction.REPHRASE, _at(c)))
    if c.err.code == "content_filter":  # a stream that ended with finish_reason content_filter
        return (f"{c.name}'s content filter stopped the answer from {c.model} (content_filter).",
                Fix(FixAction.REPHRASE, _at(c)))
    return (f"{c.name}'s content filter blocked this request to {c.model}{c.note}.",
            Fix(FixAction.REPHRASE, _at(c)))


def _unreachable(c: _Ctx) -> tuple[str, Fix]:
    code = c.err.code or ""
    if c.kind == "ollama" and code in ("connection_refused", "connect_error", ""):
        return f"Ollama isn't running on {c.host}.", Fix(FixAction.START_OLLAMA, _at(c, host=c.host))
    if c.kind == "lmstudio" and code in ("connection_refused", "connect_error", ""):
        return (f"{display_name(c.kind)}'s server isn't running on {c.host}.",
                Fix(FixAction.START_LOCAL_SERVER, _at(c, host=c.host)))
    if code == "dns":
        return (f"Can't find {c.host}, the address of {c.name}.",
                Fix(FixAction.CHECK_NETWORK, _at(c, host=c.host, check_base_url="yes")))
    if code == "tls" and "certificate" in (c.err.detail or "").lower():
        return (f"{c.name} at {c.host} showed a certificate RouteDesk couldn't verify, so nothing was sent.",
                Fix(FixAction.OPEN_PROVIDER_SETTINGS, _at(
                    c, hint="check the address; a self-signed certificate, or a proxy or antivirus that "
                            "inspects HTTPS, causes this")))
    if code == "tls":
        return (f"Couldn't set up a secure connection to {c.name} at {c.host}.",
                Fix(FixAction.OPEN_PROVIDER_SETTINGS, _at(
                    c, hint="https:// or http://; and any proxy or antivirus that inspects HTTPS")))
    if code == "connection_refused":
        return (f"Nothing is answering at {c.host}, where {c.name} should be.",
                Fix(FixAction.OPEN_PROVIDER_SETTINGS, _at(c, hint="or start the server")))
    if code == "disconnected":
        return (f"{c.name} at {c.host} closed the connection without answering.",
                Fix(FixAction.RETRY, _at(c, then="check the server or any proxy in between")))
    return f"Can't reach {c.name} at {c.host}.", Fix(FixAction.CHECK_NETWORK, _at(c, host=c.host))


def _timeout(c: _Ctx) -> tuple[str, Fix]:
    m = re.search(r"(?:for|within) (\d+(?:\.\d+)?)s\b", c.err.message or "")
    secs = f"{m.group(1)}s" if m else None
    if c.err.code == "connect_timeout":
        msg = f"{c.name} at {c.host} didn't accept a connection in time, so {c.model} couldn't answer."
    elif c.err.code == "pool_timeout":
        msg = f"Too many requests to {c.name} were waiting at once; {c.model} didn't get a turn."
    elif "didn't start" in (c.err.message or ""):
        msg = f"{c.model} at {c.name} didn't start answering" + (f" within {secs}." if secs else " in time.")
    elif "stopped" in (c.err.message or ""):
        msg = f"{c.model} at {c.name} stopped sending its answer" + (f": nothing arrived for {secs}." if secs else ".")
    else:
        msg = f"{c.model} at {c.name} took too long to answer" + (f" (waited {secs})." if secs else ".")
    because = ("a large model may still be loading, or this computer may be busy" if c.local
               else f"{c.name} may be slow right now")
    if c.err.code == "read_timeout":  # the request was sent: the fix is more time, not a resend
        return msg, Fix(FixAction.RAISE_TIMEOUT, _at(c, because=because, **_more_time(c, m.group(1) if m else None)))
    if c.local:
        return msg, Fix(FixAction.RETRY, _at(c, because=because))
    if c.err.code == "connect_timeout":
        return msg, Fix(FixAction.CHECK_NETWORK, _at(c, host=c.host))
    return msg, Fix(FixAction.RETRY, _at(c, because=because))


def _more_time(c: _Ctx, limit: str | None) -> dict[str, str | None]:
    """The limit that ran out and a figure to raise it to: twice as long, at least a local
    server's first-token allowance (one timeout sets both), at most an hour."""
    if limit is None:
        return {}
    now = float(limit)
    preset = PRESETS.get(c.kind)
    floor = (preset.first_token_s if preset else None) or 0.0
    suggest = min(3600.0, max(now * 2, floor, 1.0))
    return {"seconds": f"{now:g}", "suggest": f"{suggest:.0f}"}


def _interrupted(c: _Ctx) -> tuple[str, Fix]:
    if c.err.code == "stream_error":  # an error event inside the 200 stream; its words are the detail
        return (f"The answer from {c.model} at {c.name} broke off: {c.name} reported an error partway through.",
                Fix(FixAction.RETRY_PARTIAL, _at(c)))
    return (f"The answer from {c.model} at {c.name} broke off before it was finished.",
            Fix(FixAction.RETRY_PARTIAL, _at(c)))


def _bad(c: _Ctx) -> tuple[str, Fix]:
    msg = f"{c.name} sent an answer RouteDesk couldn't read while running {c.model}{c.note}."
    if c.kind in ("openai-compatible", "lmstudio") or c.kind not in PRESETS:
        return msg, Fix(FixAction.OPEN_PROVIDER_SETTINGS, _at(
            c, example="an OpenAI-compatible API, ending in /v1", usually="it should be"))
    return msg, Fix(FixAction.RETRY, _at(c, then="check the provider's status page"))


def _misconfigured(c: _Ctx) -> tuple[str, Fix]:
    msg = c.err.message or f"{c.name} isn't set up correctly."
    fix = c.err.fix or Fix(FixAction.OPEN_PROVIDER_SETTINGS, _at(c))
    if fix.action is FixAction.ADD_KEY and c.keys_url and not fix.get("keys_url"):
        fix = fix.with_params(keys_url=c.keys_url)
    return msg, fix


_BY_KIND: dict[ErrorKind, Callable[[_Ctx], tuple[str, Fix]]] = {
    ErrorKind.AUTH_INVALID: _auth,
    ErrorKind.QUOTA_EXHAUSTED: _quota,
    ErrorKind.RATE_LIMITED: _rate,
    ErrorKind.OVERLOADED: _overloaded,
    ErrorKind.SERVER_ERROR: _server,
    ErrorKind.MODEL_NOT_FOUND: _model,
    ErrorKind.CONTEXT_TOO_LONG: _context,
    ErrorKind.CONTENT_FILTERED: _filtered,
    ErrorKind.UNREACHABLE: _unreachable,
    ErrorKind.TIMEOUT: _timeout,
    ErrorKind.INTERRUPTED: _interrupted,
    ErrorKind.BAD_RESPONSE: _bad,
    ErrorKind.MISCONFIGURED: _misconfigured,
}
_NO_FALLBACK_MENTION = {ErrorKind.CONTENT_FILTERED, ErrorKind.INTERRUPTED}


def explain(
    err: RouteDeskError,
    *,
    provider_kind: str,
    base_url: str | None,
    fallback: str | None,
) -> RouteDeskError:
    """Return ``err`` reworded: ``message`` names provider and model, ``fix`` is something
    to do now and mentions ``fallback`` (e.g. "ollama/llama3.2") where one will answer.
    Kind, status, code, retry_after and detail are kept. Never raises."""
    try:
        preset = PRESETS.get(provider_kind)
        code = err.code if err.code and err.code.lower() not in _GENERIC and not err.code.isdigit() else None
        if code and not re.fullmatch(r"[A-Za-z0-9_.\-]{1,64}", code):
            code = None
        ctx = _Ctx(
            err=err,
            kind=provider_kind,
            name=who(err.provider, provider_kind),
            model=err.model or "the model",
            host=_host(base_url),
            base_url=base_url,
            code=code if err.kind not in (ErrorKind.UNREACHABLE, ErrorKind.TIMEOUT, ErrorKind.INTERRUPTED) else None,
            keys_url=preset.keys_url if preset else None,
            billing_url=preset.billing_url if preset else None,
            status_url=preset.status_url if preset else None,
            models_url=preset.models_url if preset else None,
            limits_url=preset.limits_url if preset else None,
        )
        message, fix = _BY_KIND[err.kind](ctx)
        if err.upstream and err.message:  # classify's words name the upstream a router blamed
            message = err.message
        if fallback and err.kind not in _NO_FALLBACK_MENTION:
            how = ("instead" if err.kind is ErrorKind.CONTEXT_TOO_LONG
                   else "meanwhile" if err.kind in _TRANSIENT else "keeps")
            fix = fix.with_fallback(fallback, how)
        out = RouteDeskError(
            err.kind, redact(sentence(message)), fix.redacted(),
            provider=err.provider, model=err.model, status=err.status, code=err.code,
            retry_after=err.retry_after, detail=err.detail, retryable=err.retry_override,
            upstream=err.upstream,
        )
        out.__cause__ = err.__cause__
        return out
    except Exception:  # an explanation must never be the thing that fails
        return err


def said(info: ErrorInfo | RouteDeskError) -> str:
    """The line each surface shows beside the explanation: "OpenAI said: ..." for the
    server's own words, "Details: ..." for the system's (a failure on the way to the
    server); "" when there are none."""
    detail = " ".join((info.detail or "").split())
    if not detail:
        return ""
    if info.code in TRANSPORT_CODES and not info.status:
        return f"Details: {detail}"
    kind = info.fix.get("kind") if info.fix else ""
    name = who(info.provider, kind or info.provider)
    if name.startswith("the "):  # no provider name: "The provider said"
        name = name[:1].upper() + name[1:]
    return f"{name} said: {detail}"
