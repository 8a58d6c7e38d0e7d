"""Fixtures for provider tests: the simulator, one httpx.AsyncClient per test, helpers."""

from __future__ import annotations

import httpx
import pytest

from desktop.core.errors import RouteDeskError
from desktop.core.types import ChatMessage, StreamEnd, TextDelta, UsageReport
from tests.simulator.fixtures import sim  # noqa: F401

KEY = "sk-test-key"
MODELS = {
    "openai": "gpt-4o-mini",
    "openrouter": "openai/gpt-4o-mini",
    "lmstudio": "qwen2.5-7b-instruct",
    "anthropic": "claude-3-5-haiku-latest",
    "ollama": "llama3.2:latest",
}
MESSAGES = [ChatMessage("system", "You are brief."), ChatMessage("user", "Tell me about routing models please")]


@pytest.fixture
async def client():
    async with httpx.AsyncClient() as c:
        yield c


class Collected:
    def __init__(self) -> None:
        self.events: list = []
        self.error: RouteDeskError | None = None

    @property
    def text(self) -> str:
        return "".join(e.text for e in self.events if isinstance(e, TextDelta))

    @property
    def usage(self):
        reports = [e for e in self.events if isinstance(e, UsageReport)]
        return reports[-1].usage if reports else None

    @property
    def end(self) -> StreamEnd | None:
        return self.events[-1] if self.events and isinstance(self.events[-1], StreamEnd) else None


async def collect(provider, model, messages=MESSAGES, **kw) -> Collected:
    """Run a stream to its end; a RouteDeskError is kept, anything else propagates (a bug)."""
    out = Collected()
    try:
        async for event in provider.stream_chat(model, messages, **kw):
            out.events.append(event)
    except RouteDeskError as err:
        out.error = err
    return out


def assert_well_formed(events: list) -> None:
    """TextDelta*, at most one UsageReport, then StreamEnd last (when the stream completed)."""
    kinds = [type(e).__name__ for e in events]
    assert kinds.count("StreamEnd") <= 1
    if "StreamEnd" in kinds:
        assert kinds[-1] == "StreamEnd"
    assert kinds.count("UsageReport") <= 1
    if "UsageReport" in kinds:
        i = kinds.index("UsageReport")
        assert all(k == "TextDelta" for k in kinds[:i])
