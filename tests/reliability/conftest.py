"""Shared pieces of the reliability suite: an engine on a temporary data folder wired to
the provider simulator through every wire protocol (keys in the real OS keyring), an
independent price calculator for the ledger check, and helpers to inspect the database
the way a fresh process would.

No Qt here: this package runs in the core suite.
"""

from __future__ import annotations

import socket
import sqlite3
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from desktop.core.types import ModelRef
from desktop.engine.app import Engine
from desktop.providers import Timeouts
from tests.simulator.fixtures import sim  # noqa: F401

KEY = "sk-test-key"
MTOK = Decimal(1_000_000)


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (connection refused)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class InstantSleep:
    """Retries and backoffs wait through this: recorded, and one loop turn instead of seconds."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        import asyncio

        self.delays.append(seconds)
        await asyncio.sleep(0)


async def eventually(condition, within: float = 5.0) -> bool:
    """Whether ``condition()`` comes true within ``within`` seconds, re-checked every few
    milliseconds while the loop runs everything else (what it waits for - a finaliser, a
    connection closing - has no event of its own to await)."""
    import asyncio
    import time

    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.002)
    return True


class StepClock:
    """The engine's clock (cooldowns): stands still until the test moves it, so which model
    is cooling down depends on the message sequence only, never on how fast the machine is."""

    def __init__(self) -> None:
        import time

        self.start = time.time()
        self.offset = 0.0

    def __call__(self) -> float:
        return self.start + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@dataclass
class Rig:
    engine: Engine
    names: dict[str, str]
    home: Path
    sleep: InstantSleep
    clock: StepClock
    local: set[str] = field(default_factory=set)

    def ref(self, role: str, model: str) -> ModelRef:
        return ModelRef(self.names[role], model)

    def provider_for_protocol(self, protocol: str) -> str:
        return {"openai": self.names["openai"], "anthropic": self.names["anthropic"],
                "openrouter": self.names["openrouter"], "lmstudio": self.names["lmstudio"],
                "ollama": "ollama"}[protocol]


def bundled_cost(provider_kind: str, model: str, input_tokens: int, output_tokens: int) -> Decimal | None:
    """genai-prices, asked directly (not through the engine's PriceBook)."""
    from genai_prices import Usage as GUsage
    from genai_prices import calc_price

    from desktop.engine.pricing import provider_id_for_kind

    try:
        calc = calc_price(GUsage(input_tokens=input_tokens, output_tokens=output_tokens),
                          model_ref=model, provider_id=provider_id_for_kind(provider_kind))
    except (LookupError, ValueError):
        return None
    return Decimal(calc.total_price)


def integrity(path: Path) -> list[str]:
    """PRAGMA integrity_check from a separate, plain sqlite3 connection."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return [r[0] for r in conn.execute("PRAGMA integrity_check")]
    finally:
        conn.close()


@pytest.fixture
async def rig(request, tmp_path, monkeypatch, sim, keystore):  # noqa: F811
    """Providers: OpenAI wire, Anthropic, OpenRouter, LM Studio (local) and the implicit
    Ollama on the simulator; ``dead`` (connection refused) and ``nokey`` (no key stored).

    Timeouts are short (stalls in the soak must end quickly); ``@pytest.mark.timeouts(read=...)``
    changes them. Keep ``read`` well above the longest event-loop stall the machine may
    cause: a deadline that fires while the loop was busy reads as the provider's silence."""
    mark = request.node.get_closest_marker("timeouts")
    tkw = {"connect": 1.0, "read": 0.75, "first_token": 0.75, **(mark.kwargs if mark else {})}
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("ROUTEDESK_HOME", str(home))
    monkeypatch.setenv("OLLAMA_HOST", sim.base_url)
    tag = uuid.uuid4().hex[:8]
    names = {"openai": f"work{tag}", "anthropic": f"claude{tag}", "openrouter": f"orx{tag}",
             "lmstudio": f"lms{tag}", "dead": f"dead{tag}", "nokey": f"nokey{tag}"}
    client = httpx.AsyncClient()
    sleep = InstantSleep()
    clock = StepClock()
    eng = Engine.open(home, client=client, keystore=keystore, sleep=sleep, clock=clock,
                      timeouts=Timeouts(**tkw))
    s = eng.store
    s.add_provider(names["openai"], "openai", sim.openai_url)
    s.add_provider(names["anthropic"], "anthropic", sim.anthropic_url)
    s.add_provider(names["openrouter"], "openrouter", sim.openrouter_url)
    s.add_provider(names["lmstudio"], "lmstudio", sim.lmstudio_url)
    s.add_provider(names["dead"], "openai", f"http://127.0.0.1:{closed_port()}/v1")
    s.add_provider(names["nokey"], "openai", sim.openai_url)
    for role in ("openai", "anthropic", "openrouter", "dead"):
        keystore.set(names[role], KEY)
    eng.set_pair(ModelRef(names["openai"], "gpt-4o"), ModelRef("ollama", "llama3.2:latest"))
    r = Rig(eng, names, home, sleep, clock, local={"ollama", names["lmstudio"]})
    try:
        yield r
    finally:
        await eng.aclose()
        await client.aclose()


def pytest_configure(config):
    config.addinivalue_line("markers", "timeouts(**kw): provider Timeouts for the ``rig`` engine")
