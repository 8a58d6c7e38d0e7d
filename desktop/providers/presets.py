"""Known providers: their wire protocol, default base URL, key variable and help pages,
plus ``normalize_base_url`` which turns whatever the user pasted into the stored form."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from desktop.core.errors import ErrorKind, RouteDeskError
from desktop.core.paths import OLLAMA_DEFAULT_URL, ollama_base_url

__all__ = ["Preset", "PRESETS", "preset_for", "normalize_base_url", "display_name", "OPENAI_COMPATIBLE_PROTOCOL",
           "LOCAL_FIRST_TOKEN_S"]

#: Wire protocols; every preset speaks exactly one of them.
OPENAI_COMPATIBLE_PROTOCOL = "openai"
ANTHROPIC_PROTOCOL = "anthropic"
OLLAMA_PROTOCOL = "ollama"


@dataclass(frozen=True)
class Preset:
    kind: str                       # what the user types after --kind
    display_name: str               # what messages call it ("OpenAI", "Ollama")
    protocol: str                   # "openai" (chat/completions), "anthropic" (Messages) or "ollama"
    base_url: str | None            # default; None when the user must give one
    needs_key: bool                 # a request without a key cannot work
    local: bool                     # runs on this computer, costs nothing
    key_env: str | None = None      # environment variable people usually keep the key in
    keys_url: str | None = None     # where to create or check a key
    billing_url: str | None = None  # where to add credit
    status_url: str | None = None   # where outages are announced
    models_url: str | None = None   # where the exact model names are listed
    limits_url: str | None = None   # where the account's rate limits are listed
    supports_usage_in_stream: bool = True
    #: Seconds allowed to the first token when the user set no timeout (None: the app's
    #: default, 60 s). A local server loads the model on first use, which can take minutes.
    first_token_s: float | None = None

    @property
    def base_url_required(self) -> bool:
        return self.base_url is None


def _p(**kw: Any) -> Preset:
    return Preset(**kw)


#: A local server's first token can wait for the model to load from disk into memory: five
#: minutes, the time Ollama itself lets a load stall before giving up (OLLAMA_LOAD_TIMEOUT,
#: default "5m", ollama/ollama envconfig/config.go and `ollama serve --help`), so RouteDesk
#: never gives up on a load that Ollama is still doing. LM Studio loads models the same way
#: (its just-in-time loading), so it gets the same allowance.
LOCAL_FIRST_TOKEN_S = 300.0


PRESETS: dict[str, Preset] = {
    p.kind: p
    for p in [
        _p(kind="openai", display_name="OpenAI", protocol=OPENAI_COMPATIBLE_PROTOCOL,
           base_url="https://api.openai.com/v1", needs_key=True, local=False,
           key_env="OPENAI_API_KEY", keys_url="https://platform.openai.com/api-keys",
           billing_url="https://platform.openai.com/settings/organization/billing",
           status_url="https://status.openai.com",
           limits_url="https://platform.openai.com/settings/organization/limits"),
        _p(kind="anthropic", display_name="Anthropic", protocol=ANTHROPIC_PROTOCOL,
           base_url="https://api.anthropic.com", needs_key=True, local=False,
           key_env="ANTHROPIC_API_KEY", keys_url="https://console.anthropic.com/settings/keys",
           billing_url="https://console.anthropic.com/settings/billing",
           status_url="https://status.anthropic.com",
           limits_url="https://console.anthropic.com/settings/limits"),
        _p(kind="openrouter", display_name="OpenRouter", protocol=OPENAI_COMPATIBLE_PROTOCOL,
           base_url="https://openrouter.ai/api/v1", needs_key=True, local=False,
           key_env="OPENROUTER_API_KEY", keys_url="https://openrouter.ai/settings/keys",
           billing_url="https://openrouter.ai/settings/credits",
           status_url="https://status.openrouter.ai", models_url="https://openrouter.ai/models"),
        _p(kind="ollama", display_name="Ollama", protocol=OLLAMA_PROTOCOL,
           base_url=OLLAMA_DEFAULT_URL, needs_key=False, local=True, first_token_s=LOCAL_FIRST_TOKEN_S),
        _p(kind="lmstudio", display_name="LM Studio", protocol=OPENAI_COMPATIBLE_PROTOCOL,
           base_url="http://127.0.0.1:1234/v1", needs_key=False, local=True,
           supports_usage_in_stream=True, first_token_s=LOCAL_FIRST_TOKEN_S),
        _p(kind="openai-compatible", display_name="OpenAI-compatible server",
           protocol=OPENAI_COMPATIBLE_PROTOCOL, base_url=None, needs_key=False, local=False,
           supports_usage_in_stream=False),
        _p(kind="groq", display_name="Groq", protocol=OPENAI_COMPATIBLE_PROTOCOL,
           base_url="https://api.groq.com/openai/v1", needs_key=True, local=False,
           key_env="GROQ_API_KEY", keys_url="https://console.groq.com/keys",
           billing_url="https://console.groq.com/settings/billing"),
        _p(kind="together", display_name="Together AI", protocol=OPENAI_COMPATIBLE_PROTOCOL,
           base_url="https://api.together.xyz/v1", needs_key=True, local=False,
           key_env="TOGETHER_API_KEY", keys_url="https://api.together.ai/settings/api-keys",
           billing_url="https://api.together.ai/settings/billing"),
        _p(kind="deepseek", display_name="DeepSeek", protocol=OPENAI_COMPATIBLE_PROTOCOL,
           base_url="https://api.deepseek.com/v1", needs_key=True, local=False,
           key_env="DEEPSEEK_API_KEY", keys_url="https://platform.deepseek.com/api_keys",
           billing_url="https://platform.deepseek.com/top_up"),
        _p(kind="mistral", display_name="Mistral", protocol=OPENAI_COMPATIBLE_PROTOCOL,
           base_url="https://api.mistral.ai/v1", needs_key=True, local=False,
           key_env="MISTRAL_API_KEY", keys_url="https://console.mistral.ai/api-keys",
           billing_url="https://console.mistral.ai/billing"),
    ]
}


def display_name(kind: str | None) -> str:
    preset = PRESETS.get(kind or "")
    return preset.display_name if preset else (kind or "the provider")


def default_base_url(kind: str) -> str | None:
    if kind == "ollama":
        return ollama_base_url()
    preset = PRESETS.get(kind)
    return preset.base_url if preset else None


_EXAMPLES = {
    ANTHROPIC_PROTOCOL: "https://api.anthropic.com",
    OLLAMA_PROTOCOL: "http://127.0.0.1:11434",
    OPENAI_COMPATIBLE_PROTOCOL: "https://api.openai.com/v1",
}
_VERSION_SEGMENT = re.compile(r"^v\d+(?:[a-z]+\d*)?$", re.IGNORECASE)
_ENDPOINT_SUFFIXES = ("/chat/completions", "/completions", "/models", "/messages", "/responses")


def preset_for(kind: str) -> Preset:
    """The preset for a kind; MISCONFIGURED, naming the known kinds, for an unknown one."""
    preset = PRESETS.get(kind)
    if preset is None:
        raise RouteDeskError(
            ErrorKind.MISCONFIGURED,
            f"{kind!r} is not a provider kind RouteDesk knows.",
            "Use one of: " + ", ".join(PRESETS) + ".",
            provider=kind,
        )
    return preset


def _protocol(kind: str) -> str:
    return preset_for(kind).protocol


def normalize_base_url(kind: str, url: str | None) -> str:
    """Return the stored form of a base URL for ``kind``.

    Accepts the URL with or without ``/v1`` and with or without a trailing slash, and
    forgives a pasted endpoint (``.../chat/completions``). OpenAI-compatible kinds end in
    a versioned path (``/v1`` is added unless one such as ``/api/v1`` is there already);
    Anthropic's is the bare host (the client adds ``/v1/messages``); Ollama's is the
    bare host (``/api`` and ``/v1`` are stripped). Anything malformed raises
    ``RouteDeskError(MISCONFIGURED)`` naming the value and showing a good one.
    """
    protocol = _protocol(kind)
    example = default_base_url(kind) or _EXAMPLES[protocol]
    if url is None or not str(url).strip():
        default = default_base_url(kind)
        if default is None:
            raise RouteDeskError(
                ErrorKind.MISCONFIGURED,
                f"RouteDesk needs the address (base URL) of the {display_name(kind)}, and none was given.",
                "Give the server's address (base URL), for example http://127.0.0.1:8000/v1.",
                provider=kind,
            )
        url = default
    raw = str(url)
    text = raw.strip()

    def bad(why: str) -> RouteDeskError:
        shown = raw if len(raw) <= 120 else raw[:117] + "..."
        return RouteDeskError(
            ErrorKind.MISCONFIGURED,
            f"{shown!r} is not a usable base URL for {display_name(kind)}: {why}.",
            f"Use a full address such as {example}",
            provider=kind,
        )

    if any(ch.isspace() for ch in text):
        raise bad("it contains spaces")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise bad("it contains control characters")
    if "://" not in text:
        raise bad("it has no http:// or https:// at the start")
    try:
        parts = urlsplit(text)
        port = parts.port  # raises ValueError on a non-numeric or out-of-range port
    except ValueError:
        raise bad("the host or port can't be read") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise bad(f"it starts with {scheme or 'nothing'}:// instead of http:// or https://")
    host = parts.hostname
    if not host:
        raise bad("it has no host name")
    if parts.query or parts.fragment:
        raise bad("a base URL has no ?query or #fragment")
    if "@" in parts.netloc:
        raise bad("it has a user name or password in it; keys are stored separately")
    if not re.fullmatch(r"[A-Za-z0-9.\-_:\[\]%]+", host if ":" not in host else f"[{host}]"):
        raise bad("the host name has characters a host name can't have")

    netloc = host.lower()
    if ":" in netloc:  # IPv6 literal
        netloc = f"[{netloc}]"
    if port is not None:
        netloc += f":{port}"

    segments = [s for s in parts.path.split("/") if s]
    path = "/" + "/".join(segments) if segments else ""

    def strip_suffix(p: str, suffixes: tuple[str, ...]) -> str:
        changed = True
        while changed:
            changed = False
            for suf in suffixes:
                if p.lower().endswith(suf):
                    p = p[: -len(suf)]
                    changed = True
        return p

    if protocol == OPENAI_COMPATIBLE_PROTOCOL:
        path = strip_suffix(path, _ENDPOINT_SUFFIXES)
        segs = [s for s in path.split("/") if s]
        if not any(_VERSION_SEGMENT.match(s) for s in segs):
            path = path + "/v1"
    elif protocol == ANTHROPIC_PROTOCOL:
        path = strip_suffix(path, ("/messages", "/models", "/v1"))
    else:  # ollama
        path = strip_suffix(path, ("/chat", "/generate", "/tags", "/api", "/v1", "/chat/completions"))
    return urlunsplit((scheme, netloc, path, "", ""))
