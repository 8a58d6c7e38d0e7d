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

from desktop.core.errors import ErrorKind, RouteDeskError
from desktop.core.redact import redact
from desktop.providers.classify import who
from desktop.providers.presets import PRESETS

__all__ = ["explain"]

#: Kinds where the fallback simply takes over for now, vs. where it keeps answering for good.
_TRANSIENT = {ErrorKind.RATE_LIMITED, ErrorKind.OVERLOADED, ErrorKind.SERVER_ERROR,
              ErrorKind.UNREACHABLE, ErrorKind.TIMEOUT}
_GENERIC = {"invalid_request_error", "error", "requests", "tokens", "invalid_request", "bad_request"}
_LOCAL_KINDS = {"ollama", "lmstudio"}


def _bare(url: str | None) -> str | None:
    """platform.openai.com/api-keys: URLs read aloud without https://."""
    if not url:
        return None
    return re.sub(r"^https?://", "", url).rstrip("/")


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

    @property
    def note(self) -> str:
        if self.code:
            return f" ({self.code})"
        if self.err.status and self.err.status != 200:
            return f" (HTTP {self.err.status})"
        return ""

    @property
    def local(self) -> bool:
        return self.kind in _LOCAL_KINDS


def _sentence(text: str) -> str:
    text = text.strip()
    return text if not text or text[-1] in ".!?" else text + "."


def _with_fallback(action: str, ctx: _Ctx, fallback: str | None) -> str:
    action = action.strip().rstrip(".")
    if not fallback:
        return _sentence(action)
    k = ctx.err.kind
    if k is ErrorKind.CONTEXT_TOO_LONG:
        return f"{action}, or RouteDesk will try {fallback} instead."
    if k in _TRANSIENT:
        if ";" in action:
            return f"{action}. Meanwhile RouteDesk answers with {fallback}."
        return f"{action}; meanwhile RouteDesk answers with {fallback}."
    if ", or " in action:
        return f"{action}; until then RouteDesk keeps answering with {fallback}."
    return f"{action}, or RouteDesk will keep answering with {fallback}."


# --- one function per kind; each returns (message, action) -----------------------------


def _auth(c: _Ctx) -> tuple[str, str]:
    if c.local:
        return (f"{c.name} at {c.host} refused the request for {c.model}: it wants a different key{c.note}.",
                "Check the key set for this provider in Settings → Providers, or remove it")
    msg = f"{c.name} didn't accept the API key{c.note} when asked for {c.model}."
    if c.keys_url:
        return msg, f"Create a new key at {_bare(c.keys_url)} and paste it in Settings → Providers"
    return msg, "Check the key for this provider in Settings → Providers"


def _quota(c: _Ctx) -> tuple[str, str]:
    for_model = f" for {c.model}" if c.err.model else ""
    msg = f"{c.name} says this account has no credit left{for_model}{c.note}."
    if c.kind == "openai":
        return msg, f"Add a payment method at {_bare(c.billing_url)}"
    if c.kind == "anthropic":
        return msg, f"Buy credits at {_bare(c.billing_url)}"
    if c.kind == "openrouter":
        return msg, f"Add credits at {_bare(c.billing_url)}"
    if c.billing_url:
        return msg, f"Add credit at {_bare(c.billing_url)}"
    return msg, f"Add credit to the account behind {c.name}"


def _rate(c: _Ctx) -> tuple[str, str]:
    wait = c.err.retry_after
    asks = f" and asks to wait {wait:.0f}s" if wait else ""
    msg = f"{c.name} is limiting how fast this account can send requests to {c.model}{asks}{c.note}."
    action = f"Wait {wait:.0f}s and send again" if wait else "Wait a minute and send again"
    if c.kind == "openai":
        action += " (limits grow with usage: platform.openai.com/settings/organization/limits)"
    elif c.kind == "anthropic":
        action += " (limits are listed at console.anthropic.com/settings/limits)"
    elif c.kind == "openrouter" and ":free" in c.model:
        action += " (free models have low limits; a paid variant has higher ones)"
    return msg, action


def _overloaded(c: _Ctx) -> tuple[str, str]:
    msg = f"{c.name} is overloaded and couldn't run {c.model} right now{c.note}."
    if c.local:
        return msg, f"Wait for the other requests on {c.host} to finish, then send again"
    tail = f" (status: {_bare(c.status_url)})" if c.status_url else ""
    return msg, f"Try again in a minute{tail}"


def _server(c: _Ctx) -> tuple[str, str]:
    page = " and sent an error page instead of an answer" if "error page" in c.err.message else ""
    msg = f"{c.name} had a server error while running {c.model}{page}{c.note}."
    if c.kind == "ollama":
        return msg, "Try again; if it keeps happening, restart Ollama or try a smaller model (the model may not fit in memory)"
    if c.kind == "lmstudio":
        return msg, "Try again; if it keeps happening, reload the model in LM Studio"
    tail = f" and {_bare(c.status_url)}" if c.status_url else ""
    return msg, f"Try again in a minute; if it keeps happening, check the provider's status{tail}"


def _model(c: _Ctx) -> tuple[str, str]:
    if c.kind == "ollama":
        return (f"The model {c.model} isn't downloaded in Ollama on this computer.",
                f"Run `ollama pull {c.model}`, or pick a model you have in Settings")
    if c.kind == "lmstudio":
        return (f"LM Studio has no model called {c.model}.",
                "Download or load it in LM Studio, or pick another model in Settings")
    if c.kind == "openrouter":
        return (f"OpenRouter has no model called {c.model}{c.note}.",
                "Check the exact name at openrouter.ai/models (it looks like openai/gpt-4o-mini), "
                "or pick another model in Settings")
    return (f"{c.name} has no model called {c.model}, or this key can't use it{c.note}.",
            "Check the name for typos (`routedesk models` lists what each provider offers), "
            "or pick another model in Settings")


def _context(c: _Ctx) -> tuple[str, str]:
    return (f"This conversation is too long for {c.model} at {c.name}{c.note}.",
            "Start a new conversation or shorten the message")


def _filtered(c: _Ctx) -> tuple[str, str]:
    return (f"{c.name}'s content filter blocked this request to {c.model}{c.note}.",
            "Rephrase the message. RouteDesk doesn't pass it to another model, which would only hide the refusal")


def _unreachable(c: _Ctx) -> tuple[str, str]:
    code = c.err.code or ""
    if c.kind == "ollama" and code in ("connection_refused", "connect_error", ""):
        return (f"Ollama isn't running on {c.host}.",
                "Start it with `ollama serve`, or open the Ollama app")
    if c.kind == "lmstudio" and code in ("connection_refused", "connect_error", ""):
        return (f"LM Studio's server isn't running on {c.host}.",
                "Start it in LM Studio (Developer → Start Server) or with `lms server start`")
    if code == "dns":
        return (f"Can't find {c.host}, the address of {c.name}.",
                "Check your internet connection and the base URL in Settings → Providers")
    if code == "tls":
        return (f"Couldn't set up a secure connection to {c.name} at {c.host}.",
                "Check the base URL (https:// or http://) and any proxy or antivirus that inspects HTTPS")
    if code == "connection_refused":
        return (f"Nothing is answering at {c.host}, where {c.name} should be.",
                "Start the server, or correct the base URL in Settings → Providers")
    if code == "disconnected":
        return (f"{c.name} at {c.host} closed the connection without answering.",
                "Try again; if it keeps happening, check the server or any proxy in between")
    return (f"Can't reach {c.name} at {c.host}.",
            "Check your internet connection, then try again")


def _timeout(c: _Ctx) -> tuple[str, str]:
    m = re.search(r"(?:for|within) (\d+(?:\.\d+)?s)\b", c.err.message or "")
    secs = m.group(1) if m else None
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
    if c.local:
        return msg, "Try again; a large model may still be loading, or this computer may be busy"
    if c.err.code == "connect_timeout":
        return msg, "Check your internet connection, then try again"
    return msg, f"Try again; {c.name} may be slow right now"


def _interrupted(c: _Ctx) -> tuple[str, str]:
    return (f"The answer from {c.model} at {c.name} broke off before it was finished.",
            "The partial answer is kept; press Retry to ask again")


def _bad(c: _Ctx) -> tuple[str, str]:
    msg = f"{c.name} sent an answer RouteDesk couldn't read while running {c.model}{c.note}."
    if c.kind in ("openai-compatible", "lmstudio") or c.kind not in PRESETS:
        return msg, (f"Check that {c.base_url or 'the base URL'} is an OpenAI-compatible API "
                     "(it usually ends in /v1), then try again")
    return msg, "Try again; if it keeps happening, check the provider's status page"


def _misconfigured(c: _Ctx) -> tuple[str, str]:
    msg = c.err.message or f"{c.name} isn't set up correctly."
    fix = c.err.fix or "Check this provider in Settings → Providers"
    if "key" in msg.lower() and c.keys_url and c.keys_url not in fix and _bare(c.keys_url) not in fix:
        fix = fix.rstrip(".") + f"; create a key at {_bare(c.keys_url)}"
    return msg, fix


_BY_KIND: dict[ErrorKind, Callable[[_Ctx], tuple[str, str]]] = {
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
        )
        message, action = _BY_KIND[err.kind](ctx)
        fix = _with_fallback(action, ctx, None if err.kind in _NO_FALLBACK_MENTION else fallback)
        out = RouteDeskError(
            err.kind, redact(_sentence(message)), redact(fix),
            provider=err.provider, model=err.model, status=err.status, code=err.code,
            retry_after=err.retry_after, detail=err.detail,
        )
        out.__cause__ = err.__cause__
        return out
    except Exception:  # an explanation must never be the thing that fails
        return err
