"""Helpers for the health, discovery and catalog tests: an in-memory key store (these
tests are about probes, not the keyring), a controllable clock, and an engine wired to
the provider simulator with OpenAI (``work``), the implicit Ollama (OLLAMA_HOST) and
LM Studio (``lmstudio`` pointed at the simulator, so the machine's own port 1234 never
matters)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from desktop.core.errors import ErrorKind, RouteDeskError
from desktop.engine.app import Engine
from desktop.providers import Timeouts


class MemoryKeyStore:
    def __init__(self) -> None:
        self._keys: dict[str, str] = {}

    def get(self, name: str) -> str | None:
        return self._keys.get(name)

    def set(self, name: str, key: str) -> None:
        self._keys[name] = key

    def delete(self, name: str) -> None:
        self._keys.pop(name, None)

    def check(self) -> None:
        return None


class FakeClock:
    """Monotonic time that moves only when the test says so.

    ``sleep(seconds)`` returns a future at once (its deadline is fixed when it is called,
    not when a task first runs), resolved by ``advance`` moving past that deadline.
    """

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []
        self._sleepers: list[tuple[float, asyncio.Future]] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> asyncio.Future:
        self.sleeps.append(seconds)
        fut = asyncio.get_running_loop().create_future()
        self._sleepers.append((self.now + seconds, fut))
        return fut

    @property
    def sleeping(self) -> int:
        self._sleepers = [(d, f) for d, f in self._sleepers if not f.done()]
        return len(self._sleepers)

    def advance(self, seconds: float) -> None:
        self.now += seconds
        for deadline, fut in list(self._sleepers):
            if deadline <= self.now and not fut.done():
                fut.set_result(None)
        self._sleepers = [(d, f) for d, f in self._sleepers if not f.done()]


class Reports:
    """Collects a monitor's reports; ``next(name)`` awaits the next one for ``name``."""

    def __init__(self, monitor) -> None:
        self.queues: dict[str, asyncio.Queue] = {}
        self.all: list = []
        self.unsubscribe = monitor.subscribe(self._on)

    def _queue(self, name: str) -> asyncio.Queue:
        return self.queues.setdefault(name, asyncio.Queue())

    def _on(self, report) -> None:
        self.all.append(report)
        self._queue(report.name).put_nowait(report)

    async def next(self, name: str, within: float = 10.0):
        """The next report for ``name`` (``within`` seconds is only a safety net against a hang)."""
        return await asyncio.wait_for(self._queue(name).get(), within)


def unreachable(provider: str) -> RouteDeskError:
    return RouteDeskError(ErrorKind.UNREACHABLE, f"Can't reach {provider}.", "Check it.", provider=provider,
                          code="connection_refused")


@pytest.fixture
def keys() -> MemoryKeyStore:
    return MemoryKeyStore()


@pytest.fixture
async def heng(tmp_path, monkeypatch, sim, keys):
    """An engine on a temporary home, wired to the simulator (see the module docstring)."""
    monkeypatch.setenv("ROUTEDESK_HOME", str(tmp_path))
    monkeypatch.setenv("OLLAMA_HOST", sim.base_url)
    client = httpx.AsyncClient()
    eng = Engine.open(tmp_path, client=client, keystore=keys, timeouts=Timeouts(connect=2.0, read=5.0))
    eng.store.add_provider("work", "openai", sim.openai_url)
    keys.set("work", "sk-test-key")
    eng.store.add_provider("lmstudio", "lmstudio", sim.lmstudio_url)
    try:
        yield eng
    finally:
        await eng.aclose()
        await client.aclose()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
