"""A fix as a value: what the user can do about an error, as an action and its parameters.

The engine decides the fix once (``Fix(FixAction.PULL_MODEL, {"provider": "ollama",
"model": "llama3.2"})``); each surface says it in its own words: the window as a button
that does it (``desktop.ui.fix_buttons``), the command line as a command that works
(``desktop.terminal``). No surface reads another's sentence back.

``Fix.text`` (also ``str(fix)``) is the plain wording every surface without its own
words falls back on (a dialog's message, a log line); it names the app's screens, never
a command line. Parameters are strings; the JSON form (``to_json``/``from_json``) is what
the store keeps, redacted, and a fix stored as a sentence by an older RouteDesk reads back
as a ``NOTE``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from desktop.core.redact import redact

__all__ = ["Fix", "FixAction", "FixLike", "NO_FIX", "bare_url"]


class FixAction(StrEnum):
    """What the user can do. The parameters each action uses are listed beside it;
    ``fallback``/``fallback_how`` (a PROVIDER/MODEL that answers meanwhile) and ``hint`` (a
    plain-language aside, never a command) may come with any of them."""

    NONE = "none"  # nothing to do
    NOTE = "note"  # text: advice that no action does for the user
    RETRY = "retry"  # provider, when ("in a minute"), because, then (if it keeps happening, ...)
    WAIT_AND_RETRY = "wait_and_retry"  # provider, seconds
    ADD_PROVIDER = "add_provider"  # provider: a name no provider has
    ADD_KEY = "add_key"  # provider, kind, why (missing | rejected), keys_url, key_env, base_url, local
    OPEN_PROVIDER_SETTINGS = "open_provider_settings"  # provider, kind, base_url: check the address
    SET_BASE_URL = "set_base_url"  # provider, kind, base_url (one that answers), needs_key
    ADD_CREDIT = "add_credit"  # provider, kind, url
    PULL_MODEL = "pull_model"  # provider, model
    START_OLLAMA = "start_ollama"  # provider, host
    START_LOCAL_SERVER = "start_local_server"  # provider, kind (lmstudio), host
    LOAD_LOCAL_MODEL = "load_local_model"  # provider, model (LM Studio has no pull)
    CHOOSE_MODELS = "choose_models"  # provider, model, catalog_url: check the name or pick another
    SHORTEN_CONVERSATION = "shorten_conversation"
    REPHRASE = "rephrase"
    CHECK_NETWORK = "check_network"  # provider, host
    RETRY_PARTIAL = "retry_partial"  # the partial answer is kept
    RAISE_TIMEOUT = "raise_timeout"  # provider, kind, base_url, seconds (the limit now), suggest, because
    CONTINUE_ANSWER = "continue_answer"  # provider, model: the answer was cut at its length limit


def bare_url(url: str | None) -> str:
    """platform.openai.com/api-keys: an address read aloud, without https://."""
    return re.sub(r"^https?://", "", url or "").rstrip("/")


@dataclass(frozen=True, eq=False)
class Fix:
    """One thing the user can do now. Falsy when there is nothing to do."""

    action: FixAction = FixAction.NONE
    params: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "action", FixAction(self.action))
        clean = {str(k): str(v) for k, v in dict(self.params).items() if v is not None and str(v) != ""}
        object.__setattr__(self, "params", MappingProxyType(clean))

    # --- building --------------------------------------------------------------------

    @classmethod
    def note(cls, text: str) -> Fix:
        """Advice no action does for the user (and every fix stored as a sentence)."""
        return cls(FixAction.NOTE, {"text": text}) if text and text.strip() else NO_FIX

    @classmethod
    def coerce(cls, value: FixLike | None) -> Fix:
        """A Fix from a Fix, its JSON form, or a sentence (an older row, a caller that still
        writes one)."""
        if value is None:
            return NO_FIX
        if isinstance(value, Fix):
            return value
        if isinstance(value, str):
            return cls.note(value)
        return cls.from_json(value)

    def with_params(self, **params: str | None) -> Fix:
        merged = dict(self.params)
        for k, v in params.items():
            if v is None or v == "":
                merged.pop(k, None)
            else:
                merged[k] = v
        return Fix(self.action, merged)

    def with_fallback(self, ref: str | None, how: str = "keeps") -> Fix:
        """The same fix, promising that ``ref`` (PROVIDER/MODEL) answers: ``how`` is
        "meanwhile" (the failure should pass), "instead" (this model can't take the
        conversation) or "keeps" (until the user acts)."""
        if not self or not ref:
            return self
        return self.with_params(fallback=ref, fallback_how=how)

    def without_fallback(self) -> Fix:
        """The same fix without a promise: what to show when the fallback failed too."""
        return self.with_params(fallback=None, fallback_how=None)

    def redacted(self, secrets: Iterable[str | None] = ()) -> Fix:
        keep = list(secrets)
        return Fix(self.action, {k: redact(v, keep) for k, v in self.params.items()})

    # --- reading -------------------------------------------------------------------------

    def __hash__(self) -> int:
        return hash((self.action, tuple(sorted(self.params.items()))))

    def __bool__(self) -> bool:
        return self.action is not FixAction.NONE

    def get(self, name: str, default: str = "") -> str:
        return self.params.get(name, default)

    @property
    def fallback(self) -> str:
        return self.params.get("fallback", "")

    @property
    def fallback_promise(self) -> str:
        """The promise in a few words ("" without one)."""
        ref = self.fallback
        if not ref:
            return ""
        how = self.params.get("fallback_how", "keeps")
        if how == "instead":
            return f"or RouteDesk will try {ref} instead"
        if how == "meanwhile":
            return f"meanwhile RouteDesk answers with {ref}"
        return f"or RouteDesk will keep answering with {ref}"

    @property
    def text(self) -> str:
        from desktop.core.fix_words import plain_words

        return plain_words(self)

    def __str__(self) -> str:
        return self.text

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Fix):
            return NotImplemented
        return self.action is other.action and dict(self.params) == dict(other.params)

    # --- the stored form ---------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """``{"action": ..., "params": {...}}``, redacted: what the store keeps."""
        return {"action": self.action.value, "params": {k: redact(v) for k, v in self.params.items()}}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | str | None) -> Fix:
        if data is None:
            return NO_FIX
        if isinstance(data, str):
            return cls.note(data)
        try:
            action = FixAction(str(data.get("action", "none")))
        except ValueError:  # written by a newer RouteDesk: keep what can be said
            params = data.get("params") or {}
            return cls.note(str(params.get("text", ""))) if isinstance(params, Mapping) else NO_FIX
        params = data.get("params") or {}
        if not isinstance(params, Mapping):
            params = {}
        return cls(action, {str(k): str(v) for k, v in params.items() if v is not None})


NO_FIX = Fix()

#: What constructors accept for a fix.
FixLike = Fix | str | Mapping[str, Any]
