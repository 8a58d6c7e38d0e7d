"""The local endpoint on 127.0.0.1 (any free port), over an engine wired to the provider
simulator (keys in the real OS keyring), and the official ``openai`` client pointed at it.

Every client token a test creates is remembered in ``ISSUED`` (in memory only), so the key
scan at the end of the session (tests/zz_secrets) can prove none reached the disk.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import httpx
import openai
import pytest

from desktop.core.types import ModelRef
from desktop.engine.app import Engine
from desktop.providers import Timeouts
from tests.simulator.fixtures import sim  # noqa: F401

#: Every client token issued in this session (never written anywhere).
ISSUED: set[str] = set()


class InstantSleep:
    """Retries wait through this: recorded, one loop turn instead of seconds."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        import asyncio

        self.delays.append(seconds)
        await asyncio.sleep(0)


@dataclass
class Endpoint:
    engine: Engine
    url: str
    token: str
    names: dict[str, str]
    opened: list = field(default_factory=list)

    def client(self, token: str | None = None, **kw) -> openai.AsyncOpenAI:
        c = openai.AsyncOpenAI(base_url=self.url, api_key=token or self.token, max_retries=0, **kw)
        self.opened.append(c)
        return c

    def http(self, token: str | None = None) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url.removesuffix("/v1"), timeout=10.0,
                                 headers={"Authorization": f"Bearer {token or self.token}"})

    def add_client(self, name: str, budget=None) -> str:
        _info, token = self.engine.clients.add(name, budget)
        ISSUED.add(token)
        return token

    def ref(self, role: str, model: str) -> ModelRef:
        return ModelRef(self.names[role], model)


@pytest.fixture
async def endpoint(tmp_path, monkeypatch, sim, keystore):  # noqa: F811
    monkeypatch.setenv("ROUTEDESK_HOME", str(tmp_path))
    monkeypatch.setenv("OLLAMA_HOST", sim.base_url)
    tag = uuid.uuid4().hex[:8]
    names = {"openai": f"work{tag}", "anthropic": f"claude{tag}"}
    client = httpx.AsyncClient()
    eng = Engine.open(tmp_path, client=client, keystore=keystore, sleep=InstantSleep(),
                      timeouts=Timeouts(connect=2.0, read=5.0))
    eng.store.add_provider(names["openai"], "openai", sim.openai_url)
    keystore.set(names["openai"], "sk-test-key")
    eng.store.add_provider(names["anthropic"], "anthropic", sim.anthropic_url)
    keystore.set(names["anthropic"], "sk-test-key")
    eng.set_pair(ModelRef(names["openai"], "gpt-4o"), ModelRef("ollama", "llama3.2:latest"))
    url = await eng.endpoint.start("127.0.0.1", 0)
    ep = Endpoint(eng, url, "", names)
    ep.token = ep.add_client("tests")
    try:
        yield ep
    finally:
        for c in ep.opened:
            await c.close()
        await eng.endpoint.stop()
        await eng.aclose()
        await client.aclose()
