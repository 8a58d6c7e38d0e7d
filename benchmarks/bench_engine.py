"""Time to first token added by the engine, against a bare httpx stream.

Both run in this process against the same provider simulator on 127.0.0.1,
interleaved, so machine noise hits both alike. The engine's figure includes
everything a user waits for: saving the message, routing, the provider adapter,
SSE parsing and the first event reaching the listener.

    python benchmarks/bench_engine.py [--n 300]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.memory_keys import MemoryKeyStore  # noqa: E402
from desktop.core.types import ModelRef  # noqa: E402
from desktop.engine.app import Engine  # noqa: E402
from desktop.engine.events import AnswerDelta  # noqa: E402
from tests.simulator import Simulator  # noqa: E402


async def bare_ttft(client: httpx.AsyncClient, url: str) -> float:
    body = {"model": "gpt-4o-mini", "stream": True, "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": "hello there"}]}
    t0 = time.perf_counter()
    first = None
    async with client.stream("POST", url + "/chat/completions", json=body,
                             headers={"Authorization": "Bearer sk-test-key"}) as r:
        async for line in r.aiter_lines():  # read to the end, as the engine does
            if first is None and line.startswith("data: ") and line != "data: [DONE]":
                chunk = json.loads(line[6:])
                if chunk.get("choices") and chunk["choices"][0]["delta"].get("content"):
                    first = time.perf_counter() - t0
    if first is None:
        raise RuntimeError("no token")
    return first


async def engine_ttft(engine: Engine, conv: int | None) -> tuple[float, int]:
    first: list[float] = []
    t0 = time.perf_counter()

    def on_event(ev):
        if isinstance(ev, AnswerDelta) and not first:
            first.append(time.perf_counter() - t0)

    result = await engine.send(conv, "hello there", mode=ModelRef("sim", "gpt-4o-mini"), on_event=on_event)
    return first[0], result.conversation_id


async def main(n: int) -> None:
    with Simulator() as sim, tempfile.TemporaryDirectory() as home:
        os.environ["ROUTEDESK_HOME"] = home
        async with httpx.AsyncClient() as client:
            engine = Engine.open(Path(home), client=client, keystore=MemoryKeyStore({"sim": "sk-test-key"}))
            engine.store.add_provider("sim", "openai", sim.openai_url)
            bare, eng = [], []
            conv = None
            for _ in range(20):  # warm up both paths
                await bare_ttft(client, sim.openai_url)
                _, conv = await engine_ttft(engine, None)
            for i in range(n):  # alternate which goes first, so neither gets a warmer path
                if i % 2:
                    bare.append(await bare_ttft(client, sim.openai_url))
                    eng.append((await engine_ttft(engine, None))[0])
                else:
                    eng.append((await engine_ttft(engine, None))[0])
                    bare.append(await bare_ttft(client, sim.openai_url))
            await engine.aclose()
    mb, me = statistics.median(bare) * 1000, statistics.median(eng) * 1000
    p90 = lambda xs: sorted(xs)[int(len(xs) * 0.9)] * 1000  # noqa: E731
    print(f"time to first token over {n} streams (ms)")
    print(f"{'':<22}{'median':>10}{'p90':>10}")
    print(f"{'bare httpx stream':<22}{mb:>10.2f}{p90(bare):>10.2f}")
    print(f"{'RouteDesk engine':<22}{me:>10.2f}{p90(eng):>10.2f}")
    paired = statistics.median(e - b for e, b in zip(eng, bare, strict=True)) * 1000
    print(f"engine overhead: {me - mb:+.2f} ms between medians, {paired:+.2f} ms median of paired runs (target < 3 ms)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=300)
    asyncio.run(main(ap.parse_args().n))
