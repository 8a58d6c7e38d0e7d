"""Concurrency: several conversations streaming at once through one engine (one httpx
client, one database), health probes running, some faults - and no cross-talk.

* every request the simulator received carries the messages of exactly one conversation;
* every answer (events and stored text) is the reply to its own conversation's prompt;
* the ledger matches the usage the simulator sent (as a multiset: order interleaves);
* tasks and connections stay bounded and return to their baseline between rounds.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from decimal import Decimal

import pytest

from desktop.core.types import ModelRef
from desktop.engine.events import AnswerDelta, AnswerStarted
from desktop.engine.health import HealthMonitor

from .conftest import bundled_cost, eventually, integrity


def _name(task: asyncio.Task) -> str:
    coro = task.get_coro()
    return getattr(coro, "__qualname__", type(coro).__name__)


def _where(task: asyncio.Task) -> str:
    code = getattr(task.get_coro(), "cr_code", None)
    return "" if code is None else code.co_filename.rsplit("/", 1)[-1]


MONITOR_TASKS = {"sleep", "Event.wait", "async_generator_athrow", "TaskHandle._run_coro"}
MONITOR_FILES = ("health.py", "discovery.py")
CONVERSATIONS = 8
TURNS = 6
ROUNDS = 3


@pytest.mark.timeouts(read=10.0, first_token=10.0)  # no stalls here; don't let a busy loop look like one
async def test_parallel_conversations_do_not_cross_talk(rig, sim):
    e = rig.engine
    sim.chunk_delay = 0.002  # streams overlap word by word
    sim.random_faults(rate=0.1, seed=7, kinds=["server_error", "rate_limited", "overloaded", "cut",
                                               "malformed_sse", "midstream_error", "slow_first_token"])
    monitor = HealthMonitor(e, interval=0.05, local_interval=0.05, backoff_base=0.05, max_backoff=0.2,
                            local_max_backoff=0.2, seed=1, timeout=1.0)
    e.health = monitor  # as the window wires it: skips providers known down, learns from traffic
    monitor.start()
    rng = random.Random(3)
    models = [rig.ref("openai", "gpt-4o"), rig.ref("openai", "gpt-4o-mini"),
              rig.ref("anthropic", "claude-3-5-haiku-latest"), ModelRef("ollama", "llama3.2:latest"),
              rig.ref("lmstudio", "qwen2.5-7b-instruct")]
    peak_tasks = peak_conns = 0
    peak_what: Counter = Counter()
    answers: dict[int, tuple[str, str, list[str]]] = {}  # message id -> (tag, prompt, deltas)
    after_round = []

    def others() -> list[asyncio.Task]:
        return [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]

    def stray() -> list[asyncio.Task]:
        # between rounds only the health monitor runs: its loop, a probe in flight, and the
        # sleep / wake-up pair it waits on; finalisers of abandoned streams run once
        return [t for t in others() if _name(t) not in MONITOR_TASKS and _where(t) not in MONITOR_FILES]

    async def conversation(tag: str, ref: ModelRef) -> int | None:
        conv = None
        for turn in range(TURNS):
            text = f"{tag} turn {turn} " + " ".join(rng.choice(["alpha", "beta", "gamma", "delta"]) for _ in range(5))
            deltas: list[str] = []
            mid: list[int] = []

            def on_event(ev, deltas=deltas, mid=mid):
                if isinstance(ev, AnswerStarted):
                    mid.append(ev.message_id)
                elif isinstance(ev, AnswerDelta):
                    assert ev.message_id == mid[0], "an event for another answer reached this listener"
                    deltas.append(ev.text)

            result = await e.send(conv, text, mode=ref, on_event=on_event)
            conv = result.conversation_id
            answers[result.message_id] = (tag, text, deltas)
        return conv

    async def sampler(stop: asyncio.Event):
        nonlocal peak_tasks, peak_conns
        while not stop.is_set():
            now = asyncio.all_tasks()
            if len(now) > peak_tasks:
                peak_tasks = len(now)
                peak_what.clear()
                peak_what.update(Counter(_name(t) for t in now))
            peak_conns = max(peak_conns, sim.active_connections)
            await asyncio.sleep(0.005)  # the sampling period, not a wait for anything

    convs: dict[str, int] = {}
    try:
        for rnd in range(ROUNDS):
            stop = asyncio.Event()
            s = asyncio.create_task(sampler(stop))
            tags = [f"conv{rnd}x{i}" for i in range(CONVERSATIONS)]
            ids = await asyncio.gather(*(conversation(t, models[i % len(models)]) for i, t in enumerate(tags)))
            convs.update(zip(tags, ids, strict=True))
            stop.set()
            await s

            assert await eventually(lambda: not stray()), stray()
            left = others()
            after_round.append((len(left), sim.active_connections))
    finally:
        e.health = None
        await monitor.stop()

    # bounded: a task per conversation, the monitor's probes, and short-lived connect tasks
    # (anyio's happy-eyeballs TaskHandles while connections open); never growing round to round
    assert peak_tasks <= 4 * CONVERSATIONS + 20, (peak_tasks, peak_what)
    assert peak_conns <= 2 * CONVERSATIONS + 10, peak_conns
    print(f"\nconcurrency: peak tasks {peak_tasks} {dict(peak_what)}, peak connections {peak_conns}, "
          f"after each round (tasks, connections) {after_round}")
    assert await eventually(lambda: others() == []), others()  # the monitor stopped, finalisers ran

    # no cross-talk on the wire: each request holds one conversation's messages only
    for req in sim.requests:
        body = req.json_body
        if not isinstance(body, dict) or "messages" not in body:
            continue
        users = [m["content"] for m in body["messages"] if m.get("role") == "user"]
        tags = {u.split()[0] for u in users}
        assert len(tags) == 1, users
        assert [int(u.split()[2]) for u in users] == list(range(len(users)))

    # no cross-talk in storage or events
    for tag, cid in convs.items():
        rows = e.store.messages(cid)
        for m in rows:
            if m.role == "user":
                assert m.text.startswith(tag + " ")
            else:
                want_tag, prompt, deltas = answers[m.id]
                assert want_tag == tag
                assert m.text == "".join(deltas)
                reply = sim.reply([{"role": "user", "content": prompt}])
                assert reply.startswith(m.text)
                if m.status == "complete":
                    assert m.text == reply
        assert len(rows) == 2 * TURNS

    # the ledger is the usage sent, whatever the interleaving
    sent = Counter((rig.provider_for_protocol(u.protocol), u.model, u.input_tokens, u.output_tokens)
                   for u in sim.usage_log)
    booked = Counter((x.ref.provider, x.ref.model, x.usage.input_tokens, x.usage.output_tokens)
                     for x in e.store.ledger())
    if sent != booked:
        missing = sent - booked
        odd = [(m.id, m.model, m.status, m.error and (m.error.kind, m.error.code), m.usage)
               for cid in convs.values() for m in e.store.messages(cid)
               if m.role == "assistant" and m.status != "complete"]
        odd += [(m.id, m.status, [(str(a.ref), a.error.kind, a.error.code) for a in m.attempts if a.error])
                for cid in convs.values() for m in e.store.messages(cid)
                if m.role == "assistant" and m.status == "complete" and any(a.error for a in m.attempts)]
        raise AssertionError(f"usage sent but not booked: {missing}; booked but not sent: {booked - sent}; "
                             f"answers not complete: {odd}")
    kinds = {rig.names["openai"]: "openai", rig.names["anthropic"]: "anthropic"}
    want = Decimal(0)
    for (prov, model, i, o), n in sent.items():
        if prov in rig.local:
            continue
        want += bundled_cost(kinds[prov], model, i, o) * n
    assert e.store.spend_total() == want
    assert integrity(rig.home / "routedesk.sqlite3") == ["ok"]
