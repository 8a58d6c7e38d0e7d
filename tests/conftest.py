"""Fixtures shared by every test package. No Qt here: the core suite runs without it.

- ``home``: a temporary ``ROUTEDESK_HOME`` (the data folder), set for this test only.
- ``store``: a ``Store`` on a database inside ``home``, closed afterwards.
- ``keystore``: a real ``KeyStore`` on the OS keyring (service ``RouteDesk``, the one the
  command line and the window use). Every name set through it is deleted after the test.
- ``isolated_keystore``: a real ``KeyStore`` on the OS keyring under a service of its own,
  so a test sees only the keys it set itself (the window's tests: every one stores a key
  named ``openai``); deleted after the test.
- ``key_name``: a provider/key name unique to this test.

Both key stores need a Secret Service: run the suite through ``scripts/with-keyring.sh``,
which starts D-Bus and a throwaway GNOME keyring. Without one, a test that needs it (through
these fixtures, ``need_keyring()`` or the ``keyring`` marker) is skipped with the reason;
when ``CI`` is set it fails instead, because in CI the keyring is always there and a skip
would hide that the real keyring was never exercised.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from desktop.core.errors import RouteDeskError
from desktop.storage import KeyStore, Store


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "routedesk-home"
    path.mkdir()
    monkeypatch.setenv("ROUTEDESK_HOME", str(path))
    return path


@pytest.fixture
def store(home: Path) -> Iterator[Store]:
    s = Store(home / "routedesk.sqlite3")
    try:
        yield s
    finally:
        s.close()


class _TrackingKeyStore(KeyStore):
    """A real KeyStore that remembers what it set, so the fixture can clean up."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.names_set: set[str] = set()

    def set(self, name: str, key: str) -> None:
        super().set(name, key)
        self.names_set.add(name)

    def forget_all(self) -> None:
        for name in self.names_set:
            with contextlib.suppress(RouteDeskError):
                self.delete(name)
        self.names_set.clear()


def in_ci() -> bool:
    """True when the ``CI`` variable says this is a CI run (GitHub sets ``CI=true``)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


_keyring_problem: list[str] = []  # cached per session: [] unknown, [""] fine, [reason]


def _secret_service_problem() -> str:
    if not _keyring_problem:
        try:
            KeyStore().check()
            _keyring_problem.append("")
        except RouteDeskError as err:
            _keyring_problem.append(
                f"no usable OS keyring ({err.message} {err.detail}); "
                "run the tests through scripts/with-keyring.sh"
            )
    return _keyring_problem[0]


def need_keyring() -> None:
    """Skip this test when no Secret Service answers - or, in CI, fail it."""
    problem = _secret_service_problem()
    if not problem:
        return
    if in_ci():
        pytest.fail(f"CI is set, so the OS keyring must be there, but: {problem}", pytrace=False)
    pytest.skip(problem)


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("keyring") is not None:
        need_keyring()


@pytest.fixture
def keystore() -> Iterator[KeyStore]:
    need_keyring()
    ks = _TrackingKeyStore()
    try:
        yield ks
    finally:
        ks.forget_all()


@pytest.fixture
def isolated_keystore() -> Iterator[KeyStore]:
    need_keyring()
    ks = _TrackingKeyStore(f"RouteDesk-test-{uuid.uuid4().hex[:12]}")
    try:
        yield ks
    finally:
        ks.forget_all()


@pytest.fixture
def key_name() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"
