"""Many tools at once, tools that leave mid-answer, tokens revoked while the server runs,
and budgets reached in the middle of the month."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import httpx
import openai
import pytest

from desktop.cli import main
from desktop.storage import ClientStore, Store
from tests.reliability.conftest import eventually
from tests.simulator import Fault

HELLO = [{"role": "user", "content": "hello there"}]


def others() -> list[asyncio.Task]:
    return [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]


async def test_sixteen_parallel_streams_each_get_their_own_answer(endpoint, sim):
    n = 16
    baseline = len(others())
    sim.inject(Fault("stall", after_chunks=1, times=n))  # every stream holds after one word
    clients = [endpoint.client(endpoint.add_client(f"tool{i}")) for i in range(n)]
    prompts = [f"question number {i} about topic {i * 7}" for i in range(n)]

    async def one(i: int) -> tuple[str, str]:
        stream = await clients[i].chat.completions.create(
            model="weak", messages=[{"role": "user", "content": prompts[i]}], stream=True,
            stream_options={"include_usage": True})
        text, model = "", ""
        async for c in stream:
            model = c.model
            if c.choices:
                text += c.choices[0].delta.content or ""
        return text, model

    tasks = [asyncio.create_task(one(i)) for i in range(n)]
    assert await asyncio.to_thread(sim.wait_stalled, n, 10.0), sim.stalled  # all 16 in flight at once
    assert len(endpoint.engine.endpoint.server.active) == n  # one engine run per request, no more
    sim.release_stalls()
    results = await asyncio.wait_for(asyncio.gather(*tasks), 30)
    for i, (text, model) in enumerate(results):
        assert text == sim.reply([{"role": "user", "content": prompts[i]}]), i  # no cross-talk
        assert model == "ollama/llama3.2:latest"
    spend = {c.name: c for c in ClientStore(endpoint.engine.store).spend_by_client()}
    assert all(spend[f"tool{i}"].requests == 1 for i in range(n))
    assert not endpoint.engine.endpoint.server.active
    for c in clients:
        await c.close()  # their keep-alive connections hold one aiohttp handler task each
    assert await eventually(lambda: len(others()) <= baseline), others()


async def test_a_client_that_leaves_mid_stream_stops_the_upstream_call_and_is_billed(endpoint, sim, capsys):
    ref = str(endpoint.ref("openai", "gpt-4o"))
    sim.inject(Fault("stall", protocol="openai", after_chunks=3))
    async with endpoint.http() as http:
        req = http.build_request("POST", "/v1/chat/completions",
                                 json={"model": ref, "messages": HELLO, "stream": True})
        resp = await http.send(req, stream=True)
        assert resp.status_code == 200
        seen = b""
        async for part in resp.aiter_bytes():
            seen += part
            if seen.count(b"data: ") >= 4:  # the role chunk and three words
                break
        assert await asyncio.to_thread(sim.wait_stalled, 1, 5.0)
        await resp.aclose()
    # the upstream stream is closed (the stall ends because its client went away) ...
    assert await asyncio.to_thread(sim.wait_for, lambda s: s.stalled == 0, 5.0)
    # ... and what was used is in the ledger, marked as an estimate, under the client's name
    store = endpoint.engine.store
    assert await eventually(lambda: len(store.ledger()) == 1)
    [entry] = store.ledger()
    assert str(entry.ref) == ref and entry.usage.output_tokens >= 1 and entry.cost_usd > 0
    [spend] = ClientStore(store).spend_by_client()
    assert (spend.name, spend.estimated) == ("tests", 1)
    assert sim.usage_log == []  # the provider never reported usage: the bill is RouteDesk's estimate
    assert endpoint.engine.spend.summary().to_dict()["by_client"][0]["estimated"] == 1
    capsys.readouterr()
    assert await asyncio.to_thread(main, ["spend"]) == 0  # `routedesk spend` says so in words
    assert "1 billed on an estimate (the tool left mid-answer)" in capsys.readouterr().out
    assert await eventually(lambda: not endpoint.engine.endpoint.server.active)


async def test_a_revoked_token_is_refused_at_once_while_others_keep_working(endpoint, sim):
    doomed = endpoint.add_client("doomed")
    c = endpoint.client(doomed)
    await c.chat.completions.create(model="weak", messages=HELLO)
    # revoked from another connection to the database, as `routedesk clients remove` does
    with Store(endpoint.engine.store.path) as other:
        assert ClientStore(other).revoke("doomed")
    with pytest.raises(openai.AuthenticationError):
        await c.chat.completions.create(model="weak", messages=HELLO)
    await endpoint.client().chat.completions.create(model="weak", messages=HELLO)  # the others still work
    assert [x.name for x in endpoint.engine.clients.list()] == ["tests"]
    # its spend stays attributed after removal
    assert {s.name: s.requests for s in ClientStore(endpoint.engine.store).spend_by_client()} == {
        "doomed": 1, "tests": 1}


async def test_a_token_removed_or_capped_in_this_app_takes_effect_at_the_next_request(endpoint, sim):
    token = endpoint.add_client("editor")
    c = endpoint.client(token)
    await c.chat.completions.create(model="weak", messages=HELLO)
    seen = {x.name: x for x in endpoint.engine.clients.list()}
    assert seen["editor"].last_used_at is not None  # stamped, though after the answer
    endpoint.engine.clients.set_budget("editor", Decimal(0))
    with pytest.raises(openai.RateLimitError) as caught:
        await c.chat.completions.create(model="weak", messages=HELLO)
    assert "$0.00" in caught.value.message
    endpoint.engine.clients.remove("editor")
    with pytest.raises(openai.AuthenticationError):
        await c.chat.completions.create(model="weak", messages=HELLO)


async def test_a_client_over_its_monthly_budget_is_refused_with_the_budget_named(endpoint, sim):
    ref = str(endpoint.ref("openai", "gpt-4o"))
    token = endpoint.add_client("capped", Decimal("0.00005"))
    c = endpoint.client(token)
    await c.chat.completions.create(model=ref, messages=HELLO)  # spends more than the whole budget
    store = endpoint.engine.store
    assert endpoint.engine.clients.month_spent(ClientStore(store).get("capped")) >= Decimal("0.00005")
    requests_before = len(sim.requests)
    with pytest.raises(openai.RateLimitError) as caught:
        await c.chat.completions.create(model=ref, messages=HELLO)
    err = caught.value
    assert err.code == "client_budget_exceeded" and err.type == "insufficient_quota"
    assert "'capped'" in err.message and "$0.00005" in err.message and "monthly budget" in err.message
    assert len(sim.requests) == requests_before  # nothing was sent upstream
    await endpoint.client().chat.completions.create(model=ref, messages=HELLO)  # another client is not capped

    # last month's spend does not count against this month's budget
    store.conn.execute("UPDATE ledger SET created_at = '2000-01-15T12:00:00.000000Z'")
    await c.chat.completions.create(model=ref, messages=HELLO)

    # raising the budget lets it through at once
    endpoint.engine.clients.set_budget("capped", Decimal("5"))
    await c.chat.completions.create(model=ref, messages=HELLO)


async def test_the_server_stops_cleanly_with_a_stream_in_flight(endpoint, sim):
    sim.inject(Fault("stall", after_chunks=1))
    http = httpx.AsyncClient(base_url=endpoint.url.removesuffix("/v1"), timeout=10.0,
                             headers={"Authorization": f"Bearer {endpoint.token}"})
    req = http.build_request("POST", "/v1/chat/completions", json={"model": "weak", "messages": HELLO, "stream": True})
    resp = await http.send(req, stream=True)
    assert await asyncio.to_thread(sim.wait_stalled, 1, 5.0)
    await endpoint.engine.endpoint.stop()
    assert not endpoint.engine.endpoint.running and endpoint.engine.endpoint.url is None
    assert await asyncio.to_thread(sim.wait_for, lambda s: s.stalled == 0, 5.0)
    await resp.aclose()
    await http.aclose()
