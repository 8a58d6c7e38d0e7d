"""Time to first token added by the local endpoint, against calling the provider directly,
and 16 parallel streams sustained.

Three processes, as in use: this one is the tool (one httpx client), the provider
simulator runs in a second (``python -m tests.simulator``) and RouteDesk's endpoint in a
third (this file with ``--serve``: an engine over a fresh database, keys in memory, the
endpoint on a free port of 127.0.0.1). The tool streams either straight to the simulator
(the baseline) or through the endpoint (``model: sim/gpt-4o-mini``: client token check,
budget check, the engine's run, the provider adapter, SSE out again). The two are
interleaved so machine noise hits both alike.

``--one-process`` runs all three on one asyncio loop and one GIL instead (the earlier
method): the simulator's thread and the tool's client then compete with the endpoint for
the interpreter, which no real tool or provider does, so it overstates what is added.

    python benchmarks/bench_endpoint.py [--n 200] [--rounds 10] [--json] [--one-process]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

SELF = Path(__file__).resolve()
ROOT = SELF.parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.memory_keys import MemoryKeyStore  # noqa: E402
from desktop.core.types import ModelRef  # noqa: E402
from desktop.engine.app import Engine  # noqa: E402
from tests.simulator import Simulator  # noqa: E402

PROMPT = [{"role": "user", "content": "hello there"}]


async def ttft(client: httpx.AsyncClient, url: str, token: str, model: str) -> tuple[float, float]:
    """(seconds to the first content chunk, seconds to the end of the stream)."""
    body = {"model": model, "stream": True, "stream_options": {"include_usage": True}, "messages": PROMPT}
    t0 = time.perf_counter()
    first = None
    async with client.stream("POST", url + "/chat/completions", json=body,
                             headers={"Authorization": f"Bearer {token}"}) as r:
        if r.status_code != 200:
            raise RuntimeError(f"{url}: {r.status_code} {await r.aread()!r}")
        async for line in r.aiter_lines():
            if first is None and line.startswith("data: ") and line != "data: [DONE]":
                chunk = json.loads(line[6:])
                if chunk.get("choices") and chunk["choices"][0]["delta"].get("content"):
                    first = time.perf_counter() - t0
    if first is None:
        raise RuntimeError("no token")
    return first, time.perf_counter() - t0


def p(xs: list[float], q: float) -> float:
    return sorted(xs)[min(len(xs) - 1, int(len(xs) * q))] * 1000


async def parallel(client: httpx.AsyncClient, url: str, token: str, model: str, width: int,
                   rounds: int) -> tuple[list[float], float]:
    firsts: list[float] = []
    t0 = time.perf_counter()
    for _ in range(rounds):
        res = await asyncio.gather(*(ttft(client, url, token, model) for _ in range(width)))
        firsts += [f for f, _ in res]
    return firsts, (width * rounds) / (time.perf_counter() - t0)


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU of a process so far (Linux's /proc; None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure(client: httpx.AsyncClient, sim_url: str, url: str, token: str, n: int, rounds: int,
                  server_pid: int | None = None) -> tuple[list[float], list[float], tuple, tuple, float | None]:
    direct = lambda: ttft(client, sim_url, "sk-test-key", "gpt-4o-mini")  # noqa: E731
    through = lambda: ttft(client, url, token, "sim/gpt-4o-mini")  # noqa: E731
    for _ in range(20):  # warm both paths
        await direct()
        await through()
    bare: list[float] = []
    endp: list[float] = []
    cpu0 = None if server_pid is None else cpu_seconds(server_pid)
    for i in range(n):  # alternate which goes first
        if i % 2:
            bare.append((await direct())[0])
            endp.append((await through())[0])
        else:
            endp.append((await through())[0])
            bare.append((await direct())[0])
    cpu1 = None if server_pid is None else cpu_seconds(server_pid)
    # CPU the endpoint's process spent per request of the paired runs (the whole request):
    # the part of what it adds that machine load can't inflate
    cpu = None if cpu0 is None or cpu1 is None else (cpu1 - cpu0) * 1000 / n
    par_bare = await parallel(client, sim_url, "sk-test-key", "gpt-4o-mini", 16, rounds)
    par_endp = await parallel(client, url, token, "sim/gpt-4o-mini", 16, rounds)
    return bare, endp, par_bare, par_endp, cpu


async def open_engine(home: str, sim_url: str, upstream: httpx.AsyncClient) -> tuple[Engine, str, str]:
    os.environ["ROUTEDESK_HOME"] = home
    engine = Engine.open(Path(home), client=upstream, keystore=MemoryKeyStore({"sim": "sk-test-key"}))
    engine.store.add_provider("sim", "openai", sim_url)
    engine.set_pair(ModelRef("sim", "gpt-4o"), ModelRef("sim", "gpt-4o-mini"))
    _info, token = engine.clients.add("bench")
    url = await engine.endpoint.start("127.0.0.1", 0)
    return engine, url, token


async def serve(sim_url: str) -> None:
    """The endpoint's process: print {url, token}, serve until stdin closes, print the ledger's size."""
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    with tempfile.TemporaryDirectory() as home:
        async with httpx.AsyncClient(limits=limits, timeout=30) as upstream:
            engine, url, token = await open_engine(home, sim_url, upstream)
            print(json.dumps({"url": url, "token": token}), flush=True)
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
            print(json.dumps({"ledger_rows": len(engine.store.ledger())}), flush=True)
            await engine.endpoint.stop()
            await engine.aclose()


def _child(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, text=True, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE)


async def main(n: int, rounds: int, as_json: bool, one_process: bool = False) -> dict:
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    if one_process:
        with Simulator() as sim, tempfile.TemporaryDirectory() as home:
            async with httpx.AsyncClient(limits=limits, timeout=30) as upstream, \
                    httpx.AsyncClient(limits=limits, timeout=30) as client:
                engine, url, token = await open_engine(home, sim.openai_url, upstream)
                bare, endp, (par_bare, rate_bare), (par_endp, rate_endp), cpu = await measure(
                    client, sim.openai_url, url, token, n, rounds)
                ledger = len(engine.store.ledger())
                await engine.endpoint.stop()
                await engine.aclose()
    else:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        sim_proc = _child(["-m", "tests.simulator", "--port", "0"], env)
        try:
            assert sim_proc.stdout is not None
            sim_url = sim_proc.stdout.readline().split("listening on ", 1)[1].strip() + "/v1"
            server = _child([str(SELF), "--serve", sim_url], env)
            try:
                assert server.stdout is not None and server.stdin is not None
                info = json.loads(server.stdout.readline())
                async with httpx.AsyncClient(limits=limits, timeout=30) as client:
                    bare, endp, (par_bare, rate_bare), (par_endp, rate_endp), cpu = await measure(
                        client, sim_url, info["url"], info["token"], n, rounds, server.pid)
                server.stdin.close()
                ledger = json.loads(server.stdout.readline())["ledger_rows"]
                server.wait(30)
            finally:
                if server.poll() is None:
                    server.kill()
        finally:
            sim_proc.terminate()
            sim_proc.wait(30)
    paired = statistics.median(e - b for e, b in zip(endp, bare, strict=True)) * 1000
    out = {
        "n": n, "ttft_direct_median_ms": statistics.median(bare) * 1000, "ttft_direct_p90_ms": p(bare, 0.9),
        "ttft_endpoint_median_ms": statistics.median(endp) * 1000, "ttft_endpoint_p90_ms": p(endp, 0.9),
        "added_median_ms": (statistics.median(endp) - statistics.median(bare)) * 1000, "added_paired_ms": paired,
        "parallel_width": 16, "parallel_rounds": rounds,
        "parallel_direct_streams_per_s": rate_bare, "parallel_endpoint_streams_per_s": rate_endp,
        "parallel_direct_ttft_p50_ms": p(par_bare, 0.5), "parallel_endpoint_ttft_p50_ms": p(par_endp, 0.5),
        "parallel_direct_ttft_p90_ms": p(par_bare, 0.9), "parallel_endpoint_ttft_p90_ms": p(par_endp, 0.9),
        "ledger_rows": ledger, "processes": 1 if one_process else 3, "endpoint_cpu_ms_per_request": cpu,
    }
    if as_json:
        print(json.dumps(out, indent=2))
        return out
    how = "client, endpoint and simulator in one process" if one_process else "client, endpoint, simulator: 3 processes"
    print(f"time to first token over {n} streams (ms; {how})")
    print(f"{'':<34}{'median':>10}{'p90':>10}")
    print(f"{'direct to the provider simulator':<34}{out['ttft_direct_median_ms']:>10.2f}{p(bare, 0.9):>10.2f}")
    print(f"{'through the local endpoint':<34}{out['ttft_endpoint_median_ms']:>10.2f}{p(endp, 0.9):>10.2f}")
    print(f"endpoint adds {out['added_median_ms']:+.2f} ms between medians, {paired:+.2f} ms median of paired "
          "runs (target < 5 ms)")
    print(f"16 parallel streams x {rounds} rounds: direct {rate_bare:.0f} streams/s "
          f"(first token p50 {p(par_bare, 0.5):.1f} ms, p90 {p(par_bare, 0.9):.1f} ms); endpoint {rate_endp:.0f} "
          f"streams/s (p50 {p(par_endp, 0.5):.1f} ms, p90 {p(par_endp, 0.9):.1f} ms); {ledger} ledger rows")
    if cpu is not None:
        print(f"the endpoint's process used {cpu:.2f} ms of CPU per streamed request (the whole request)")
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--one-process", action="store_true", help="the earlier method: everything on one loop")
    ap.add_argument("--serve", metavar="SIM_URL", help=argparse.SUPPRESS)  # the endpoint's own process
    a = ap.parse_args()
    if a.serve:
        asyncio.run(serve(a.serve))
    else:
        asyncio.run(main(a.n, a.rounds, a.json, a.one_process))
