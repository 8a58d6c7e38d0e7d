"""API keys in the OS keyring, and nowhere else.

``KeyStore`` wraps the ``keyring`` package (macOS Keychain, Windows Credential Manager,
the Secret Service on Linux: GNOME Keyring or KWallet). When the only backend on offer
is unusable (keyring's ``fail``/``null`` backends, a chainer with nothing secure to
chain, a plaintext or file backend such as keyrings.alt's) or the keyring errors or is
locked, every call raises ``RouteDeskError(MISCONFIGURED)`` in plain words with a fix
for this platform. It never falls back to a file, and a key never appears in a message.

``keyring`` itself is imported on the first call that needs it, not with this module:
importing it loads importlib_metadata and its backend machinery (about 30 ms), and opening the
engine (the window's start, every command) constructs a KeyStore without reading a key.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from desktop.core.errors import ErrorKind, RouteDeskError
from desktop.core.paths import KEYRING_SERVICE

if TYPE_CHECKING:
    from keyring.backend import KeyringBackend

__all__ = ["KeyStore", "NO_KEYRING_MESSAGE", "keyring_fix", "backend_problem"]

NO_KEYRING_MESSAGE = "No secure keyring is available on this computer, so RouteDesk will not store the key."
LOCKED_MESSAGE = "Your keyring is locked, so RouteDesk can't read or store the key."
BROKEN_MESSAGE = "The keyring on this computer didn't answer, so RouteDesk can't read or store the key."


def keyring_fix(platform: str | None = None, *, locked: bool = False) -> str:
    """What the user can do now, for this platform."""
    platform = platform or sys.platform
    if platform == "darwin":
        if locked:
            return "Unlock your login keychain (open Keychain Access) and try again."
        return ("RouteDesk uses the macOS Keychain, which normally works out of the box. "
                "Make sure your login keychain exists and is unlocked (Keychain Access), then try again.")
    if platform.startswith("win"):
        if locked:
            return "Sign in to Windows again to unlock Credential Manager, then try again."
        return ("RouteDesk uses Windows Credential Manager, which normally works out of the box. "
                "Make sure you are signed in to a normal user account, then try again.")
    if locked:
        return ("Unlock your keyring (open Passwords and Keys / Seahorse, or KWallet Manager) "
                "and try again.")
    return ("Install and start a Secret Service keyring: GNOME Keyring (package gnome-keyring) "
            "or KWallet, make sure it is unlocked (it usually is after you log in), then try again.")


def backend_problem(backend: Any) -> str | None:
    """Why ``backend`` can't hold a key safely, or None when it can."""
    try:
        from keyring.backends import fail, null
    except ImportError:  # pragma: no cover
        fail = null = None  # type: ignore[assignment, unused-ignore]  # typed only where keyring is installed
    if fail is not None and isinstance(backend, fail.Keyring):
        return "no keyring backend (keyring.backends.fail)"
    if null is not None and isinstance(backend, null.Keyring):
        return "the null keyring backend"
    cls = type(backend)
    module = cls.__module__ or ""
    name = cls.__name__
    if module.startswith("keyrings.alt") or "plaintext" in name.lower() or "plaintext" in module.lower():
        return f"a file or plaintext keyring ({module}.{name})"
    if module.endswith(".file") or ".file." in module:
        return f"a file keyring ({module}.{name})"
    try:
        priority = cls.priority
    except Exception:  # priority raises when the backend can't run here
        return f"an unavailable keyring ({module}.{name})"
    if priority is None or priority <= 0:
        return f"an unusable keyring ({module}.{name})"
    return None


def _resolve(backend: Any) -> KeyringBackend:
    """The one secure backend keys go to. A chainer is unwrapped to its best secure
    member so that a plaintext backend it also chains can never receive a key."""
    from keyring.backends import chainer

    if isinstance(backend, chainer.ChainerBackend):
        members = [b for b in backend.backends if backend_problem(b) is None]
        if not members:
            raise _misconfigured(NO_KEYRING_MESSAGE, detail="keyring chainer with no secure backend")
        best: KeyringBackend = members[0]
        return best
    problem = backend_problem(backend)
    if problem is not None:
        raise _misconfigured(NO_KEYRING_MESSAGE, detail=problem)
    chosen: KeyringBackend = backend
    return chosen


def _misconfigured(message: str, *, locked: bool = False, detail: str = "") -> RouteDeskError:
    return RouteDeskError(
        ErrorKind.MISCONFIGURED, message, keyring_fix(locked=locked), provider="keyring", detail=detail
    )


def _wrap(exc: BaseException, *, key: str | None = None) -> RouteDeskError:
    text = f"{type(exc).__name__}: {exc}"
    if key:
        text = text.replace(key, "[redacted]")
    text = text[:200]
    import keyring.errors

    if isinstance(exc, keyring.errors.KeyringLocked) or "locked" in str(exc).lower():
        return _misconfigured(LOCKED_MESSAGE, locked=True, detail=text)
    if isinstance(exc, (keyring.errors.NoKeyringError, keyring.errors.InitError)):
        return _misconfigured(NO_KEYRING_MESSAGE, detail=text)
    return _misconfigured(BROKEN_MESSAGE, detail=text)


class KeyStore:
    """``set(name, key)``, ``get(name) -> str | None``, ``delete(name) -> bool``,
    ``check() -> str``. ``name`` is the provider's name; the keyring entry is
    (service, name). ``backend`` pins a keyring backend (tests); by default the one
    ``keyring.get_keyring()`` returns at each call is used."""

    def __init__(self, service: str = KEYRING_SERVICE, *, backend: KeyringBackend | None = None) -> None:
        self.service = service
        self._backend = backend

    def _keyring(self) -> KeyringBackend:
        try:
            import keyring

            backend = self._backend if self._backend is not None else keyring.get_keyring()
        except Exception as exc:
            raise _wrap(exc) from None
        return _resolve(backend)

    def check(self) -> str:
        """Raise MISCONFIGURED unless a secure keyring answers; return its name."""
        kr = self._keyring()
        try:
            kr.get_password(self.service, "__routedesk_check__")
        except Exception as exc:
            raise _wrap(exc) from None
        return f"{type(kr).__module__}.{type(kr).__name__}"

    def set(self, name: str, key: str) -> None:
        if not name:
            raise ValueError("name must not be empty")
        if not key or not key.strip():
            raise RouteDeskError(ErrorKind.MISCONFIGURED, "The key is empty, so there is nothing to store.",
                                 "Paste the whole key from the provider's website and try again.")
        kr = self._keyring()
        try:
            kr.set_password(self.service, name, key.strip())
        except Exception as exc:
            raise _wrap(exc, key=key) from None

    def get(self, name: str) -> str | None:
        kr = self._keyring()
        try:
            key: str | None = kr.get_password(self.service, name)
            return key
        except Exception as exc:
            raise _wrap(exc) from None

    def delete(self, name: str) -> bool:
        """Remove the key; False when there was none."""
        import keyring.errors

        kr = self._keyring()
        try:
            if kr.get_password(self.service, name) is None:
                return False
            kr.delete_password(self.service, name)
        except keyring.errors.PasswordDeleteError:
            return False
        except Exception as exc:
            raise _wrap(exc) from None
        return True

    def __repr__(self) -> str:
        return f"KeyStore(service={self.service!r})"
