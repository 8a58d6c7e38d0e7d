"""Provider administration: add, update, rename and remove providers, their keys in the
OS keyring, Test connection, the cached model lists and importing a key from the
environment. ``routedesk providers ...`` and the Settings dialog both call this.

A key is written to the keyring before the database row, so a keyring that fails
leaves nothing half-added; updating a provider keeps its stored key unless a new one
is given, so changing a URL or timeout never asks for the key again.
"""

from __future__ import annotations

import builtins
import contextlib
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from desktop.core.errors import ErrorKind, RouteDeskError
from desktop.core.fixes import Fix, FixAction
from desktop.core.types import ModelRef
from desktop.engine.provider_settings import TIMEOUT_OPTION, timeout_of
from desktop.providers import PRESETS, make_provider, normalize_base_url

if TYPE_CHECKING:
    from desktop.engine.app import Engine

__all__ = ["ConnectionCheck", "ProviderAdmin", "ProviderChange", "ProviderInfo", "SavedProvider",
           "ENV_KEYS", "MODELS_CACHE_SETTING", "TIMEOUT_OPTION"]

#: Provider kind -> the environment variable people keep its key in (offered, never used silently).
ENV_KEYS: dict[str, str] = {k: p.key_env for k, p in PRESETS.items() if p.key_env}
MODELS_CACHE_SETTING = "ui.models_cache"



@dataclass(frozen=True)
class ProviderInfo:
    name: str
    kind: str
    base_url: str | None
    display_name: str
    local: bool
    has_key: bool | None  # None: the keyring could not be read (or was not asked)
    timeout_s: float | None = None

    def to_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "base_url": self.base_url, "has_key": self.has_key,
                "local": self.local, "timeout_s": self.timeout_s}


@dataclass(frozen=True)
class ProviderChange:
    """Add or update ``name``. ``key`` None keeps the stored key; ``clear_key`` deletes it.
    ``timeout_s`` (the seconds allowed to the first token and between tokens) None keeps the
    stored timeout; ``clear_timeout`` goes back to the default. ``rename_from`` renames that provider
    to ``name`` first (its key, pair, price overrides and cooldowns follow)."""

    name: str
    kind: str
    base_url: str | None = None
    key: str | None = None
    clear_key: bool = False
    timeout_s: float | None = None
    clear_timeout: bool = False
    rename_from: str | None = None


@dataclass(frozen=True)
class SavedProvider:
    info: ProviderInfo
    created: bool
    key_saved: bool  # a new key went to the keyring


@dataclass(frozen=True)
class ConnectionCheck:
    ok: bool
    message: str  # plain words: "Connected to OpenAI (version x). 2 models available."
    fix: Fix | str  # a value for a failure; "" when connected
    models: tuple[str, ...] = ()
    version: str | None = None

    @property
    def sentence(self) -> str:
        return f"{self.message} {self.fix}".strip()


def check_name(name: str) -> str:
    clean = (name or "").strip()
    if not clean or "/" in clean or any(c.isspace() for c in clean):
        raise RouteDeskError(
            ErrorKind.MISCONFIGURED,
            f"{name!r} can't be a provider name: it must be one word without '/'.",
            "Pick a short name such as work, home or groq.",
        )
    return clean


def _check_timeout(seconds: float | None) -> float | None:
    if seconds is None:
        return None
    if not (0 < seconds <= 3600):
        raise RouteDeskError(ErrorKind.MISCONFIGURED, f"{seconds} s is not a usable timeout.",
                             "Give a number of seconds between 1 and 3600, for example 120.")
    return float(seconds)


def _unknown(name: str) -> RouteDeskError:
    return RouteDeskError(ErrorKind.MISCONFIGURED, f"There is no provider called {name!r}.",
                          Fix(FixAction.ADD_PROVIDER, {"provider": name}), provider=name)


class ProviderAdmin:
    def __init__(self, engine: Engine) -> None:
        self._e = engine

    # --- reading ------------------------------------------------------------------------

    def list(self, *, with_keys: bool = True) -> builtins.list[ProviderInfo]:
        """Every configured provider; ``with_keys`` False skips the keyring (has_key None)."""
        return [self._info(r.name, r.kind, r.base_url, r.options, with_keys) for r in self._e.store.list_providers()]

    def get(self, name: str, *, with_key: bool = True) -> ProviderInfo | None:
        rec = self._e.store.get_provider(name)
        return None if rec is None else self._info(rec.name, rec.kind, rec.base_url, rec.options, with_key)

    def exists(self, name: str) -> bool:
        return self._e.store.get_provider(name) is not None

    def names(self) -> set[str]:
        return {r.name for r in self._e.store.list_providers()}

    def stored_key(self, name: str) -> str | None:
        """The key in the keyring (raises RouteDeskError when the keyring is unavailable)."""
        return self._e.keystore.get(name)

    def _info(self, name: str, kind: str, base_url: str | None, options: dict, with_key: bool = True) -> ProviderInfo:
        preset = PRESETS.get(kind)
        has_key: bool | None = None
        if with_key:
            with contextlib.suppress(RouteDeskError):
                has_key = self._e.keystore.get(name) is not None
        return ProviderInfo(name, kind, base_url, preset.display_name if preset else kind,
                            bool(preset and preset.local), has_key, timeout_of(options))

    # --- changing -----------------------------------------------------------------------

    def save(self, change: ProviderChange) -> SavedProvider:
        """Add or update a provider (see ProviderChange)."""
        store, keys = self._e.store, self._e.keystore
        name = check_name(change.name)
        preset = PRESETS.get(change.kind)
        if preset is None:
            raise RouteDeskError(ErrorKind.MISCONFIGURED, f"{change.kind!r} is not a kind RouteDesk knows.",
                                 "Use one of: " + ", ".join(sorted(PRESETS)) + ".")
        url = change.base_url or preset.base_url
        if not url and change.kind != "ollama":
            raise RouteDeskError(
                ErrorKind.MISCONFIGURED, f"A {change.kind} provider needs the address of its API.",
                "Add --base-url, for example --base-url http://127.0.0.1:8000/v1")
        base_url = normalize_base_url(change.kind, url)
        timeout = _check_timeout(change.timeout_s)
        key = (change.key or "").strip() or None
        renaming = bool(change.rename_from) and change.rename_from != name
        current = change.rename_from if renaming else name
        # checked before anything changes: a refused save renames nothing either
        if preset.needs_key and key is None and (change.clear_key or keys.get(current or name) is None):
            raise RouteDeskError(
                ErrorKind.MISCONFIGURED, f"{preset.display_name} needs an API key.",
                Fix(FixAction.ADD_KEY, {"provider": name, "kind": change.kind, "why": "missing",
                                        "base_url": change.base_url or "", "key_env": preset.key_env or "",
                                        "keys_url": preset.keys_url or ""}),
                provider=name)
        if renaming and change.rename_from:
            self.rename(change.rename_from, name)
        existing = store.get_provider(name)
        if key is not None:
            keys.set(name, key)  # first: with no keyring, nothing is half-added
        options = dict(existing.options) if existing is not None else {}
        if timeout is not None:
            options[TIMEOUT_OPTION] = timeout
        elif change.clear_timeout:
            options.pop(TIMEOUT_OPTION, None)
        if existing is None:
            store.add_provider(name, change.kind, base_url, options=options)
        else:
            store.update_provider(name, kind=change.kind, base_url=base_url, options=options)
        if change.clear_key and key is None:
            with contextlib.suppress(RouteDeskError):
                keys.delete(name)
        self._e.forget_provider(name)  # a new key or URL gets a fresh chance
        info = self.get(name)
        assert info is not None
        return SavedProvider(info, existing is None, key is not None)

    def rename(self, old: str, new: str) -> ProviderInfo:
        """Rename a provider: its key moves in the keyring; the pair, price overrides,
        cooldowns and cached model list follow."""
        store, keys = self._e.store, self._e.keystore
        new = check_name(new)
        rec = store.get_provider(old)
        if rec is None:
            raise _unknown(old)
        if new == old:
            info = self.get(old)
            assert info is not None
            return info
        if store.get_provider(new) is not None:
            raise RouteDeskError(ErrorKind.MISCONFIGURED, f"There is already a provider called {new!r}.",
                                 f"Pick another name, or remove {new} first.", provider=new)
        key = keys.get(old)
        if key is not None:
            keys.set(new, key)  # first: a keyring failure leaves the old provider intact
        store.add_provider(new, rec.kind, rec.base_url, options=rec.options)
        store.remove_provider(old)
        if key is not None:
            with contextlib.suppress(RouteDeskError):
                keys.delete(old)
        moved = lambda r: ModelRef(new, r.model) if r is not None and r.provider == old else r  # noqa: E731
        pair = self._e.pair()
        if (moved(pair.strong), moved(pair.weak)) != (pair.strong, pair.weak):
            self._e.set_pair(moved(pair.strong), moved(pair.weak))
        for o in store.list_price_overrides():
            if o.ref.provider == old:
                store.set_price_override(ModelRef(new, o.ref.model), o.input_per_mtok, o.output_per_mtok)
                store.delete_price_override(o.ref)
        self._e.cooldowns.rename_provider(old, new)
        cache = dict(store.get_setting(MODELS_CACHE_SETTING, {}) or {})
        if old in cache:
            cache[new] = cache.pop(old)
            store.set_setting(MODELS_CACHE_SETTING, cache)
        self._e.forget_provider(old, keep_cooldowns=True)
        self._e.forget_provider(new, keep_cooldowns=True)
        info = self.get(new)
        assert info is not None
        return info

    def remove(self, name: str, *, keep_key: bool = False) -> None:
        """Forget a provider and (unless ``keep_key``) delete its key."""
        if not self._e.store.remove_provider(name):
            raise _unknown(name)
        if not keep_key:
            with contextlib.suppress(RouteDeskError):
                self._e.keystore.delete(name)
        self._e.forget_provider(name)

    # --- environment keys -----------------------------------------------------------------

    def env_keys(self) -> dict[str, str]:
        """Provider kind -> variable name, for keys present in the environment."""
        return {kind: var for kind, var in ENV_KEYS.items() if os.environ.get(var, "").strip()}

    def import_env_key(self, kind: str, name: str | None = None) -> SavedProvider:
        """Store the key from the kind's environment variable under ``name`` (default: the kind)."""
        var = ENV_KEYS.get(kind)
        key = os.environ.get(var, "").strip() if var else ""
        if not var or not key:
            what = var or f"a {kind} key variable"
            raise RouteDeskError(ErrorKind.MISCONFIGURED, f"{what} is empty.",
                                 Fix(FixAction.ADD_KEY, {"provider": name or kind, "kind": kind, "why": "missing",
                                                         "key_env": var or ""}))
        return self.save(ProviderChange(name or kind, kind, None, key))

    # --- connection test and model lists --------------------------------------------------

    async def test_connection(self, name: str, kind: str, base_url: str | None, key: str | None) -> ConnectionCheck:
        """Try unsaved settings: the provider's version and model list, in plain words.
        A success caches the model list under ``name``."""
        from desktop.engine.explain import explain

        preset = PRESETS.get(kind)
        label = preset.display_name if preset else kind
        try:
            if preset is not None and preset.needs_key and not key:
                where = f" from {preset.keys_url}" if preset.keys_url else ""
                raise RouteDeskError(ErrorKind.MISCONFIGURED, f"{label} needs an API key and none is filled in.",
                                     f"Paste your key{where}.")
            provider = make_provider(kind, name, normalize_base_url(kind, base_url), key, self._e.client)
            version = await provider.check()
            models = tuple(sorted(m.ref.model for m in await provider.list_models()))
        except RouteDeskError as err:
            err = explain(err, provider_kind=kind, base_url=base_url, fallback=None)
            return ConnectionCheck(False, err.message, err.fix or "")
        except Exception as exc:  # a provider's bug must not hang the Settings dialog
            return ConnectionCheck(False, f"Could not reach {label} ({type(exc).__name__}).", "")
        self.cache_models(name, list(models))
        found = f"{len(models)} model{'s' if len(models) != 1 else ''} available"
        ver = f" (version {version})" if version else ""
        return ConnectionCheck(True, f"Connected to {label}{ver}. {found}.", "", models, version)

    def cached_models(self) -> dict[str, builtins.list[str]]:
        """Provider -> the model names last seen (Test connection, probes)."""
        raw = self._e.store.get_setting(MODELS_CACHE_SETTING, {}) or {}
        return {str(k): [str(m) for m in v] for k, v in raw.items() if isinstance(v, list)}

    def cache_models(self, name: str, models: builtins.list[str]) -> bool:
        """Remember ``name``'s model list; False when it was already known."""
        cache = self.cached_models()
        if cache.get(name) == list(models):
            return False
        cache[name] = list(models)
        self._e.store.set_setting(MODELS_CACHE_SETTING, cache)
        return True
