"""An engine on a temporary data folder, wired to the provider simulator.

Providers: ``work`` (OpenAI wire), ``claude`` (Anthropic Messages) and the implicit
``ollama`` (found through OLLAMA_HOST, as a user's Ollama would be). Keys go to the
real OS keyring. Retries wait through ``sleeps`` (recorded, not slept) so tests
are fast and can assert the Retry-After the engine honoured.
"""

from __future__ import annotations

import uuid

import httpx
import pytest

from desktop.core.types import ModelRef
from desktop.engine.app import Engine
from desktop.providers import Timeouts
from tests.simulator.fixtures import sim  # noqa: F401


class RecordedSleep:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def sleeps() -> RecordedSleep:
    return RecordedSleep()


@pytest.fixture
def names():
    """Provider names unique to this test, so keys in the shared keyring never collide."""
    tag = uuid.uuid4().hex[:8]
    return {"openai": f"work{tag}", "anthropic": f"claude{tag}"}


@pytest.fixture
async def engine(tmp_path, monkeypatch, sim, keystore, sleeps, names):  # noqa: F811
    monkeypatch.setenv("ROUTEDESK_HOME", str(tmp_path))
    monkeypatch.setenv("OLLAMA_HOST", sim.base_url)
    client = httpx.AsyncClient()
    eng = Engine.open(tmp_path, client=client, keystore=keystore, sleep=sleeps,
                      timeouts=Timeouts(connect=2.0, read=2.0))
    eng.store.add_provider(names["openai"], "openai", sim.openai_url)
    keystore.set(names["openai"], "sk-test-key")
    eng.store.add_provider(names["anthropic"], "anthropic", sim.anthropic_url)
    keystore.set(names["anthropic"], "sk-test-key")
    eng.set_pair(ModelRef(names["openai"], "gpt-4o"), ModelRef("ollama", "llama3.2:latest"))
    try:
        yield eng
    finally:
        await eng.aclose()
        await client.aclose()
        for n in names.values():
            keystore.delete(n)
