"""The self-test's local endpoint check: ``routedesk serve``'s server started inside the
app on a free port of 127.0.0.1, asked by a tool with its own client token for
``/v1/models`` and one streamed chat completion (answered through the engine by the
self-test's own OpenAI-wire server), then stopped. In the frozen app it proves aiohttp
and its compiled parts were collected and that a token, a route and a bill go through.

Kept beside ``selftest.py`` (which registers it) so that module stays readable.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from desktop.storage import KeyStore

__all__ = ["check_endpoint"]


def check_endpoint(ctx: Any) -> str:
    import httpx

    from desktop.core.types import ModelRef
    from desktop.engine.app import Engine
    from desktop.engine.provider_admin import ProviderChange
    from desktop.selftest import STRONG_MODEL, WEAK_MODEL, CheckFailed, _MemoryKeys, _run_async
    from desktop.selftest_server import SelfTestServer, reply_for

    home = ctx.home / "endpoint"  # a database of its own: the message check has one in ctx.home
    home.mkdir(exist_ok=True)

    async def go(base_url: str) -> tuple[Any, ...]:
        upstream = httpx.AsyncClient(timeout=httpx.Timeout(20.0, connect=5.0), trust_env=False)
        engine = Engine.open(home=home, client=upstream, keystore=cast("KeyStore", _MemoryKeys()))
        try:
            engine.providers_admin.save(ProviderChange("selftest", "openai-compatible", base_url))
            engine.routing_admin.set_pair(ModelRef.parse(f"selftest/{STRONG_MODEL}"),
                                          ModelRef.parse(f"selftest/{WEAK_MODEL}"))
            _info, token = engine.clients.add("selftest")
            url = await engine.endpoint.start("127.0.0.1", 0)
            try:
                async with httpx.AsyncClient(base_url=url + "/", headers={"Authorization": f"Bearer {token}"},
                                             timeout=httpx.Timeout(20.0, connect=5.0), trust_env=False) as tool:
                    listed = await tool.get("models")
                    body = {"model": "auto", "stream": True, "stream_options": {"include_usage": True},
                            "messages": [{"role": "user", "content": "Say hello to the self-test."}]}
                    async with tool.stream("POST", "chat/completions", json=body) as r:
                        lines = [ln async for ln in r.aiter_lines() if ln.startswith("data: ")]
                        status, route = r.status_code, r.headers.get("x-routedesk-route", "")
            finally:
                await engine.endpoint.stop()
            spend = engine.spend.summary().by_client
            return url, listed, status, route, lines, spend, engine.endpoint.running
        finally:
            await engine.aclose()
            await upstream.aclose()

    with SelfTestServer([STRONG_MODEL, WEAK_MODEL]) as server:
        url, listed, status, route, lines, spend, running = _run_async(ctx, asyncio.wait_for(go(server.base_url), 30))
    if listed.status_code != 200:
        raise CheckFailed(f"GET /v1/models answered {listed.status_code}: {listed.text[:200]}")
    ids = [m.get("id") for m in listed.json().get("data", [])]
    if not {"auto", f"selftest/{STRONG_MODEL}", f"selftest/{WEAK_MODEL}"} <= set(ids):
        raise CheckFailed(f"GET /v1/models didn't list auto and the self-test's models (got {ids})")
    if status != 200 or not lines or lines[-1] != "data: [DONE]":
        raise CheckFailed(f"the streamed chat completion answered {status} and ended with {lines[-1:]!r}")
    chunks = [json.loads(ln[6:]) for ln in lines[:-1]]
    text = "".join((c["choices"][0]["delta"].get("content") or "") for c in chunks if c.get("choices"))
    model = next((c["model"] for c in chunks if c.get("model")), "")
    if text != reply_for(model.split("/", 1)[-1]):
        raise CheckFailed(f"the endpoint's answer {text!r} isn't what the local server sent for {model!r}")
    if not any("usage" in c for c in chunks):
        raise CheckFailed("the stream had no usage chunk although stream_options.include_usage was set")
    if [(c.name, c.requests) for c in spend] != [("selftest", 1)]:
        raise CheckFailed(f"the request wasn't booked to its client (spend by client: {spend})")
    if running:
        raise CheckFailed("the endpoint still runs after stop")
    return (f"local endpoint on {url}: {len(ids)} models listed, one streamed answer routed {route} "
            f"-> {model}, billed to its client token, stopped")
