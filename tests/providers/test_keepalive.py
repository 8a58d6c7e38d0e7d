"""A finished stream gives its connection back to the shared httpx client's pool: the
next message to the same provider skips a TCP connect (and, behind the local endpoint,
the time to first token it would add). The adapters stop at the end marker ([DONE],
message_stop, done: true); the few bytes after it must still be read."""

from __future__ import annotations

import pytest

from desktop.providers import make_provider
from tests.providers.conftest import KEY, MODELS, assert_well_formed, collect


@pytest.mark.parametrize("kind", ["openai", "anthropic", "ollama"])
async def test_three_answers_in_a_row_share_one_connection(sim, client, kind):
    base = {"openai": sim.openai_url, "anthropic": sim.anthropic_url, "ollama": sim.base_url}[kind]
    p = make_provider(kind, kind, base, None if kind == "ollama" else KEY, client)
    for _ in range(3):
        got = await collect(p, MODELS[kind])
        assert got.error is None and got.end is not None and got.text
        assert_well_formed(got.events)
    assert sim.connections == 1
