"""Fixtures shared by every test package. No Qt here: the core suite runs without it.

- ``home``: a temporary ``ROUTEDESK_HOME`` (the data folder), set for this test only.
- ``store``: a ``Store`` on a database inside ``home``, closed afterwards.
- ``keystore``: a real ``KeyStore`` on the OS keyring (service ``RouteDesk``). Skipped
  with a reason when no Secret Service is running: run the suite through
  ``scripts/with-keyring.sh``, which starts D-Bus and a throwaway GNOME keyring.
  Every name set through it is deleted after the test.
- ``key_name``: a provider/key name unique to this test.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

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

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.names_set: set[str] = set()

    def set(self, name: str, key: str) -> None:
        super().set(name, key)
        self.names_set.add(name)


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


@pytest.fixture
def keystore() -> Iterator[KeyStore]:
    problem = _secret_service_problem()
    if problem:
        pytest.skip(problem)
    ks = _TrackingKeyStore()
    try:
        yield ks
    finally:
        for name in ks.names_set:
            try:
                ks.delete(name)
            except RouteDeskError:
                pass


@pytest.fixture
def key_name() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"
