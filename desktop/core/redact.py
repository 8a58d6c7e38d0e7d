"""Remove anything key-like from text before it is stored, shown in "details" or kept in
an error.

One function for every layer: providers scrub what a server echoed back (and the key
they hold), the store scrubs every error text it persists. It is deliberately greedy:
a false positive costs a few characters of an error excerpt, a false negative leaks a
credential into a file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["redact", "REDACTED"]

REDACTED = "[redacted]"

# Provider key formats (prefix kept so the user can still tell which key it was).
_PREFIXED = re.compile(
    r"""
    \b(
        sk-ant-(?:api|admin)\d*-      # Anthropic: sk-ant-api03-...
      | sk-ant-
      | sk-or-v\d+-                   # OpenRouter: sk-or-v1-...
      | sk-or-
      | sk-proj-                      # OpenAI project keys
      | sk-svcacct-
      | sk-admin-
      | sk-
      | xai-                          # xAI
      | gsk_                          # Groq
      | hf_                           # Hugging Face
      | gh[pousr]_                    # GitHub tokens
      | github_pat_
      | glpat-                        # GitLab
      | AIza                          # Google API keys
      | pplx-                         # Perplexity
      | r8_                           # Replicate
      | xox[abposr]-                  # Slack
    )
    [A-Za-z0-9_\-*]{8,}
    """,
    re.VERBOSE,
)

# Prefixes that are also ordinary words ("key_", "sess-"), so they need a longer tail.
_PREFIXED_LONG = re.compile(r"\b((?:csk|sess|key|tgp_v1)[-_])[A-Za-z0-9_\-]{12,}")

# "Authorization: Bearer abc", "Bearer abc", "Basic abc"
_BEARER = re.compile(r"\b(Bearer|Basic|Token)(\s+)[A-Za-z0-9._~+/=\-]{6,}", re.IGNORECASE)

# key = value, "api_key": "value", x-api-key: value, ?key=value&...
_FIELD_NAMES = (
    r"(?:x-)?api[-_]?key|x-goog-api-key|apikey|key|secret|client[-_]?secret|password|passwd"
    r"|(?:access|refresh|id|auth|session|bearer)?[-_]?token|authorization|auth"
)
_FIELD = re.compile(
    r"""
    (?P<name>["']?\b(?:"""
    + _FIELD_NAMES
    + r""")["']?)
    (?P<sep>\s*[:=]\s*)
    (?P<q>["']?)
    (?P<value>(?:Bearer\s+)?[^\s"'&,;}\]]{4,})
    """,
    re.VERBOSE | re.IGNORECASE,
)

# Long opaque tokens that sit anywhere (JWTs, long hex or base64 blobs with mixed case/digits).
_JWT = re.compile(r"\beyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}")
_LONG_HEX = re.compile(r"\b[0-9a-fA-F]{40,}\b")
_LONG_TOKEN = re.compile(r"(?<![A-Za-z0-9+/_\-])[A-Za-z0-9+/_\-]{40,}={0,2}")


def _long_token(match: re.Match[str]) -> str:
    """Redact a long base64/base64url-looking blob, but not a long model id such as
    NousResearch/Nous-Hermes-2-Mixtral-8x7B-DPO: random tokens mix digits with letters
    throughout and have few separators (none at all, whatever their case, is a token)."""
    token = match.group(0)
    digits = sum(c.isdigit() for c in token)
    upper = sum(c.isupper() for c in token)
    lower = sum(c.islower() for c in token)
    separators = token.count("-") + token.count("/")
    if digits >= 4 and separators <= 2 and ((upper >= 2 and lower >= 2) or separators == 0):
        return REDACTED
    return token


def _field(match: re.Match[str]) -> str:
    value = match.group("value")
    if REDACTED[:-1] in value:
        return match.group(0)
    return f"{match.group('name')}{match.group('sep')}{match.group('q')}{REDACTED}"


def redact(text: str | None, secrets: Iterable[str | None] = ()) -> str:
    """Return ``text`` with API keys, bearer tokens and secret-looking values replaced,
    and every one of ``secrets`` (the key a provider holds, say) wherever it appears."""
    if not text:
        return text or ""
    try:
        out = str(text)
        for secret in secrets:
            if secret and len(secret) >= 4:
                out = out.replace(secret, REDACTED)
        out = _PREFIXED.sub(lambda m: m.group(1) + REDACTED, out)
        out = _PREFIXED_LONG.sub(lambda m: m.group(1) + REDACTED, out)
        out = _BEARER.sub(lambda m: m.group(1) + m.group(2) + REDACTED, out)
        out = _FIELD.sub(_field, out)
        out = _JWT.sub(REDACTED, out)
        out = _LONG_HEX.sub(REDACTED, out)
        return _LONG_TOKEN.sub(_long_token, out)
    except Exception:  # pragma: no cover - redaction must never be the thing that fails
        return "[unprintable]"
