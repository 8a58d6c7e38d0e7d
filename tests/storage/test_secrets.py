"""Keys live in the OS keyring or nowhere."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import keyring
import keyring.errors
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import chainer, fail, null

from desktop.core.errors import ErrorKind, RouteDeskError
from desktop.storage import KeyStore, Store
from desktop.storage.secrets import NO_KEYRING_MESSAGE, backend_problem, keyring_fix

KEY = "sk-ant-api03-Zq8vT3xY1bN6mK2pL9wR4sD7fG0hJ5cV-EXAMPLEKEYdoNotUse_abcdefghij"


# --- fake backends --------------------------------------------------------------------


class _Memory(KeyringBackend):
    priority = 5  # type: ignore[assignment]
    # Every KeyringBackend subclass registers itself for keyring's auto-detection;
    # viable = False keeps these fakes out of it (and out of other tests' keyring).
    viable = False  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.data: dict[tuple[str, str], str] = {}

    def get_password(self, service, username):
        return self.data.get((service, username))

    def set_password(self, service, username, password):
        self.data[(service, username)] = password

    def delete_password(self, service, username):
        try:
            del self.data[(service, username)]
        except KeyError:
            raise keyring.errors.PasswordDeleteError("no such password") from None


class FakeSecure(_Memory):
    """Stands in for a real OS keyring."""


class PlaintextKeyring(_Memory):
    """Looks like keyrings.alt's file backend (which writes keys to a file in clear)."""

    priority = 1  # type: ignore[assignment]


PlaintextKeyring.__module__ = "keyrings.alt.file"


class Locked(_Memory):
    def get_password(self, service, username):
        raise keyring.errors.KeyringLocked("Failed to unlock the collection!")

    set_password = delete_password = get_password  # type: ignore[assignment]


class Leaky(_Memory):
    def set_password(self, service, username, password):
        raise keyring.errors.PasswordSetError(f"could not store {password!r} for {username}")


@pytest.fixture
def restore_keyring() -> Iterator[None]:
    previous = keyring.get_keyring()
    try:
        yield
    finally:
        keyring.set_keyring(previous)


def _assert_refused(ks: KeyStore, *, message: str = NO_KEYRING_MESSAGE) -> None:
    for call in (lambda: ks.set("work", KEY), lambda: ks.get("work"), lambda: ks.delete("work"), ks.check):
        with pytest.raises(RouteDeskError) as info:
            call()
        err = info.value
        assert err.kind is ErrorKind.MISCONFIGURED
        assert err.message == message
        assert err.fix
        for text in (err.message, str(err.fix), err.detail, str(err), repr(err)):
            assert KEY not in text


# --- refusing unusable backends (no Secret Service needed) -----------------------------


def test_fail_backend_is_refused(restore_keyring):
    keyring.set_keyring(fail.Keyring())
    _assert_refused(KeyStore())


def test_null_backend_is_refused(restore_keyring):
    keyring.set_keyring(null.Keyring())
    _assert_refused(KeyStore())


def test_plaintext_backend_is_refused_and_gets_nothing(restore_keyring):
    plain = PlaintextKeyring()
    keyring.set_keyring(plain)
    _assert_refused(KeyStore())
    assert plain.data == {}
    assert "plaintext" in backend_problem(plain)


def test_chainer_with_nothing_secure_is_refused(restore_keyring):
    class EmptyChainer(chainer.ChainerBackend):
        viable = False  # type: ignore[assignment]
        backends = []  # type: ignore[assignment]

    class PlainOnlyChainer(chainer.ChainerBackend):
        viable = False  # type: ignore[assignment]
        backends = [PlaintextKeyring()]  # type: ignore[assignment]

    for backend in (EmptyChainer(), PlainOnlyChainer()):
        keyring.set_keyring(backend)
        _assert_refused(KeyStore())
    assert PlainOnlyChainer.backends[0].data == {}


def test_chainer_writes_only_to_its_secure_member(restore_keyring):
    secure, plain = FakeSecure(), PlaintextKeyring()

    class Mixed(chainer.ChainerBackend):
        viable = False  # type: ignore[assignment]
        backends = [plain, secure]  # type: ignore[assignment]

    keyring.set_keyring(Mixed())
    ks = KeyStore()
    ks.set("work", KEY)
    assert ks.get("work") == KEY
    assert secure.data == {("RouteDesk", "work"): KEY} and plain.data == {}


def test_locked_keyring_says_so():
    _assert_refused(
        KeyStore(backend=Locked()),
        message="Your keyring is locked, so RouteDesk can't read or store the key.",
    )


def test_backend_errors_never_carry_the_key():
    with pytest.raises(RouteDeskError) as info:
        KeyStore(backend=Leaky()).set("work", KEY)
    err = info.value
    assert err.kind is ErrorKind.MISCONFIGURED
    assert "PasswordSetError" in err.detail
    for text in (err.message, str(err.fix), err.detail, str(err), repr(err)):
        assert KEY not in text
    assert err.__cause__ is None and err.__suppress_context__


def test_pinned_backend_round_trip_and_empty_key():
    mem = FakeSecure()
    ks = KeyStore("RouteDesk", backend=mem)
    assert ks.check().endswith("FakeSecure")
    ks.set("work", f"  {KEY}\n")  # pasted with whitespace
    assert ks.get("work") == KEY
    assert ks.delete("work") is True and ks.delete("work") is False
    assert ks.get("work") is None
    with pytest.raises(RouteDeskError) as info:
        ks.set("work", "   ")
    assert info.value.kind is ErrorKind.MISCONFIGURED


@pytest.mark.parametrize("platform", ["linux", "darwin", "win32"])
def test_fix_fits_the_platform(platform):
    fix = keyring_fix(platform)
    expected = {"linux": "GNOME Keyring", "darwin": "Keychain", "win32": "Credential Manager"}[platform]
    assert expected in fix
    assert keyring_fix(platform, locked=True) != fix


# --- the real OS keyring (scripts/with-keyring.sh) ------------------------------------


@pytest.mark.keyring
def test_round_trip_on_the_real_keyring(keystore: KeyStore, key_name: str):
    assert keystore.check().startswith("keyring.backends.")  # the OS keyring, not a fake
    assert keystore.get(key_name) is None
    keystore.set(key_name, KEY)
    assert keystore.get(key_name) == KEY
    assert KeyStore().get(key_name) == KEY  # another instance (another process) sees it
    keystore.set(key_name, KEY + "2")  # replace
    assert keystore.get(key_name) == KEY + "2"
    assert keystore.delete(key_name) is True
    assert keystore.get(key_name) is None
    assert keystore.delete(key_name) is False


@pytest.mark.keyring
def test_key_is_in_no_file_after_storing_it(keystore: KeyStore, key_name: str, home: Path):
    secret = f"sk-proj-{os.urandom(24).hex()}"
    with Store(home / "routedesk.sqlite3") as store:
        store.add_provider(key_name, "openai", "https://api.openai.com/v1")
        keystore.set(key_name, secret)
        store.set_setting("pair", {"strong": f"{key_name}/gpt-4o"})
        assert keystore.get(key_name) == secret
    roots = [home]
    if os.environ.get("XDG_DATA_HOME"):  # the keyring's own files: encrypted, so no clear key
        roots.append(Path(os.environ["XDG_DATA_HOME"]))
    scanned = 0
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file():
                scanned += 1
                data = path.read_bytes()
                assert secret.encode() not in data, f"the key is in {path}"
                assert secret.encode("utf-16-le") not in data, f"the key is in {path}"
    assert scanned >= 1
