"""Fault soak: a thousand messages through the engine against the provider simulator with
about 20 % of chat calls failing (every fault kind, before and after the first token),
health probes running (their own faults included), price overrides and the model pair
changed mid-run, and some answers stopped by the user.

What it proves, message by message and for the whole run:

* no user message is lost: every text sent is in the database, in order, each followed by
  exactly one answer row, and no row is left ``streaming``;
* every answer is either ``complete`` with the full reply, ``truncated`` with the part the
  provider sent before its length limit (and a notice), or stored with its error kind (one
  of DESIGN.md's kinds) and the partial text the user saw (``interrupted``/``stopped`` keep
  it, ``error`` has none; a filtered answer keeps its text as content_filtered); what the
  listener received equals what was stored;
* the ledger equals the usage the simulator actually sent, entry by entry and in order,
  priced independently (genai-prices asked directly, the overrides in force, 0 for local)
  with Decimal equality, and ``spend_total()`` equals the sum. In the last quarter the
  proxy answers gpt-4o with gpt-4o-mini (billed as gpt-4o-mini, ``served_model`` kept) and
  reports a cost header (LiteLLM's): a model with no price is billed that (``provider``);
  OpenRouter's ``usage.cost`` is kept beside every OpenRouter entry;
* every error kind of DESIGN.md was met; faults hit before and after the first token;
* tasks and connections stay bounded; PRAGMA integrity_check is ok from a fresh connection
  and the database reopens with nothing to recover.

Deterministic: one seed drives the prompts, modes, cancellations and the simulator's faults
(messages run one at a time, so each request meets the same fault on every run).
``ROUTEDESK_SOAK_MESSAGES`` / ``ROUTEDESK_SOAK_SEED`` change size and seed.
"""

from __future__ import annotations

import asyncio
import faulthandler
import os
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

import pytest

from desktop.core.errors import ErrorKind
from desktop.core.types import ModelRef
from desktop.engine.events import AnswerDelta, AnswerFinished, AnswerStarted, AttemptFailed
from desktop.engine.health import HealthMonitor
from desktop.storage import Store
from tests.simulator import Fault
from tests.simulator.faults import openrouter_cost
from tests.simulator.server import RANDOM_KINDS

from .conftest import MTOK, bundled_cost, eventually, integrity

N = int(os.environ.get("ROUTEDESK_SOAK_MESSAGES", "1000"))
SEED = int(os.environ.get("ROUTEDESK_SOAK_SEED", "20261124"))
RATE = 0.2
#: every kind the simulator has: HTTP errors, in-stream faults, stalls (-> timeout), slow starts.
KINDS = tuple(RANDOM_KINDS) + ("stall", "slow_first_token")
FINAL = {"complete", "truncated", "interrupted", "stopped", "error"}
#: The last quarter's proxy: gpt-4o answered by gpt-4o-mini, and a reported cost per call.
SERVED = {"gpt-4o": "gpt-4o-mini"}
HEADER_COST = Decimal("0.000042")
ALL_KINDS = {k.value for k in ErrorKind}
#: A stalled stream stays silent this long; the engine's timeouts (1.5 s) end it first.
STALL_S = 3.0

WORDS = [
    "the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "explain", "photosynthesis", "prove", "that",
    "every", "integer", "greater", "than", "one", "factors", "into", "primes", "write", "a", "python", "function",
    "sort", "list", "café", "naïve", "東京", "emoji", "🚀", "derivative", "of", "x", "squared", "summarize", "this",
    "paragraph", "please", "why", "is", "the", "sky", "blue", "compare", "tcp", "and", "udp", "refactor", "code",
]


def prompt(rng: random.Random) -> str:
    n = rng.choice([1, 3, 8, 15, 40])
    text = " ".join(rng.choice(WORDS) for _ in range(n))
    if rng.random() < 0.1:
        text += "\n```python\ndef f(x):\n    return x * 2\n```"
    return text


@dataclass
class Sent:
    index: int
    phase: int
    text: str
    mode: object
    cancel: str | None
    conversation_id: int | None = None
    user_id: int | None = None
    message_id: int | None = None
    deltas: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    status: str | None = None


def overrides_for(phase: int, rig) -> dict[ModelRef, tuple[Decimal, Decimal]]:
    """The price overrides in force during each quarter of the soak."""
    if phase == 1:
        return {rig.ref("openai", "gpt-4o"): (Decimal("3.1415926535"), Decimal("12.000000001")),
                rig.ref("anthropic", "claude-sonnet-4-5"): (Decimal("2.999999999"), Decimal("14.25"))}
    if phase == 2:
        return {rig.ref("openai", "gpt-4o"): (Decimal("1.10"), Decimal("4.40")),
                rig.ref("anthropic", "claude-sonnet-4-5"): (Decimal("2.999999999"), Decimal("14.25")),
                ModelRef("ollama", "llama3.2:latest"): (Decimal("0.05"), Decimal("0.15"))}  # beats "local"
    return {}


def apply_phase(phase: int, rig, sim) -> None:
    store = rig.engine.store
    sim.served_models = dict(SERVED) if phase == 3 else {}
    sim.chat_headers = {"x-litellm-response-cost": str(HEADER_COST)} if phase == 3 else {}
    for o in store.list_price_overrides():
        store.delete_price_override(o.ref)
    for ref, (inp, out) in overrides_for(phase, rig).items():
        store.set_price_override(ref, inp, out)
    if phase == 2:
        rig.engine.set_pair(rig.ref("anthropic", "claude-sonnet-4-5"), rig.ref("lmstudio", "qwen2.5-7b-instruct"))
    else:
        rig.engine.set_pair(rig.ref("openai", "gpt-4o"), ModelRef("ollama", "llama3.2:latest"))


def served(rig, phase: int, provider: str, model: str) -> str | None:
    """The model the simulator's proxy says answered, when another than the one asked."""
    return SERVED.get(model) if phase == 3 and provider == rig.names["openai"] else None


def expected_cost(rig, phase: int, provider: str, model: str, inp: int, out: int) -> Decimal | None:
    model = served(rig, phase, provider, model) or model  # billed as the model that answered
    ref = ModelRef(provider, model)
    over = overrides_for(phase, rig).get(ref)
    if over is not None:
        return (over[0] * inp + over[1] * out) / MTOK
    if provider in rig.local:
        return Decimal(0)
    kind = {rig.names["openai"]: "openai", rig.names["anthropic"]: "anthropic",
            rig.names["openrouter"]: "openrouter"}[provider]
    cost = bundled_cost(kind, model, inp, out)
    if cost is None and phase == 3 and kind == "openai":
        return HEADER_COST  # no price of its own: what the proxy reported
    return cost


def expected_reported(rig, phase: int, protocol: str, inp: int, out: int) -> Decimal | None:
    """The cost the provider reported: OpenRouter's usage.cost always, the header of the last
    quarter on the other OpenAI-wire answers (Anthropic's and Ollama's wires don't read it)."""
    if protocol == "openrouter":
        return openrouter_cost(inp, out)
    return HEADER_COST if phase == 3 and protocol in ("openai", "lmstudio") else None


def choose_mode(rng: random.Random, rig):
    r = rng.random()
    if r < 0.40:
        return "auto"
    if r < 0.60:
        return "strong"
    if r < 0.75:
        return "weak"
    return rng.choice([
        rig.ref("openai", "gpt-4o-mini"), rig.ref("openai", "my-private-finetune"),
        rig.ref("anthropic", "claude-3-5-haiku-latest"), rig.ref("openrouter", "openai/gpt-4o-mini"),
        rig.ref("lmstudio", "llama-3.2-3b-instruct"), ModelRef("ollama", "qwen2.5-coder:7b"),
        rig.ref("dead", "gpt-4o"), rig.ref("nokey", "gpt-4o-mini"),
    ])


@pytest.mark.timeouts(read=1.5, first_token=1.5)  # a busy CI loop must not look like a stall
@pytest.mark.parametrize("wired", [False, True], ids=["deterministic", "health-wired"])
async def test_fault_soak(rig, sim, wired):
    """``deterministic``: N messages, the engine alone decides (same faults every run).
    ``health-wired``: N/3 messages with the monitor wired into the engine as the window does
    (providers known down are skipped; traffic feeds the monitor), so which request meets
    which fault depends on probe timing - the invariants must hold all the same."""
    # A hang that blocks the loop itself (no await to time out) still leaves a trace.
    faulthandler.dump_traceback_later(170, exit=False)
    try:
        await _soak(rig, sim, N if not wired else max(100, N // 3), wired)
    finally:
        faulthandler.cancel_dump_traceback_later()


def _drop_chat_faults(sim, seed: int) -> None:
    """A queued chat fault no request took (every candidate was skipped): drop it."""
    if any(f.endpoint != "models" for f in sim.pending_faults):
        keep = [f for f in sim.pending_faults if f.endpoint == "models"]
        sim.clear_faults()
        for f in keep:
            sim.inject(f)
        sim.random_faults(rate=RATE, seed=seed, kinds=KINDS, stall_delay=STALL_S, slow_delay=0.02)


async def _soak(rig, sim, N: int, wired: bool):
    e = rig.engine
    rng = random.Random(SEED)
    sim.models["openai"].append("my-private-finetune")  # a model with no known price
    sim.random_faults(rate=RATE, seed=SEED, kinds=KINDS, stall_delay=STALL_S, slow_delay=0.02)

    monitor = HealthMonitor(e, interval=0.1, local_interval=0.1, backoff_base=0.1, max_backoff=0.4,
                            local_max_backoff=0.4, seed=SEED, timeout=1.0)
    probe_reports: Counter = Counter()
    monitor.subscribe(lambda r: probe_reports.update([r.status]))
    if wired:
        e.health = monitor
    monitor.start()

    sent: list[Sent] = []
    phase_start: list[int] = []  # len(sim.usage_log) when each phase began
    tasks_seen, conns_seen = [], []
    conv = None
    t0 = time.monotonic()
    try:
        for i in range(N):
            phase = i * 4 // N
            if len(phase_start) <= phase:
                apply_phase(phase, rig, sim)
                phase_start.append(len(sim.usage_log))
            if i % 50 == 25:  # probes meet faults of their own (no stalls: those are for chats)
                sim.inject(Fault(rng.choice(["server_error", "auth_invalid", "cut", "malformed_sse", "overloaded"]),
                                 endpoint="models", times=3))
            rig.clock.advance(45.0)  # cooldowns (20 s to 10 min) expire now and then, not never
            if i % 5 == 0:
                conv = None  # a new conversation every five messages

            r = rng.random()
            cancel = "stall" if r < 0.04 else "retry_sleep" if r < 0.06 else None
            s = Sent(i, phase, prompt(rng), "weak" if cancel else choose_mode(rng, rig), cancel)
            sent.append(s)
            holder: list[asyncio.Task] = []

            def on_event(ev, s=s, holder=holder):
                if isinstance(ev, AnswerStarted):
                    s.conversation_id, s.user_id, s.message_id = ev.conversation_id, ev.user_message_id, ev.message_id
                elif isinstance(ev, AnswerDelta):
                    s.deltas.append(ev.text)
                elif isinstance(ev, AttemptFailed):
                    s.failed.append(ev.error.kind)
                    if not wired:  # wired: the engine tells the monitor itself
                        monitor.record_failure(ev.model.provider, ev.error)
                    if s.cancel == "retry_sleep" and ev.will_retry and holder:
                        holder[0].cancel()  # lands on the backoff sleep
                elif isinstance(ev, AnswerFinished):
                    s.status = ev.result.status
                    if not wired and ev.result.status == "complete" and ev.result.model is not None:
                        monitor.record_success(ev.result.model.provider)

            async def run_one(s=s, cancel=cancel, on_event=on_event, holder=holder, conv=conv, i=i):
                if cancel == "stall":
                    after = rng.choice([None, 0, 2, 4])
                    # a stall an earlier timeout left behind ends within 0.25 s (client gone)
                    assert await asyncio.to_thread(sim.wait_for, lambda s_: s_.stalled == 0, 5.0)
                    sim.inject(Fault("stall", after_chunks=after, delay=None))
                    task = asyncio.create_task(e.send(conv, s.text, mode=s.mode, on_event=on_event))
                    assert await eventually(lambda: sim.stalled >= 1 or task.done(), 5.0), f"message {i}: no stall"
                    if task.done():  # health-wired: every candidate was skipped, no request made
                        assert wired and s.status == "error", (i, s)
                        s.cancel = None
                        _drop_chat_faults(sim, SEED + i)
                        return
                    assert await eventually(lambda: len(s.deltas) >= (after or 0)), f"message {i}: deltas {s.deltas}"
                    task.cancel()
                    with pytest.raises(asyncio.CancelledError):
                        await task
                    assert s.status == "stopped"
                elif cancel == "retry_sleep":
                    sim.inject(Fault("rate_limited", retry_after=0))
                    task = asyncio.create_task(e.send(conv, s.text, mode=s.mode, on_event=on_event))
                    holder.append(task)
                    try:
                        await task
                    except asyncio.CancelledError:
                        assert s.status == "stopped"
                    else:  # health-wired: every candidate was skipped, no request made
                        assert wired and s.status == "error", (i, s)
                        s.cancel = None
                        _drop_chat_faults(sim, SEED + i)
                else:
                    result = await e.send(conv, s.text, mode=s.mode, on_event=on_event)
                    assert result.status == s.status

            try:  # a hang is a failure with a name, not a stuck CI job
                await asyncio.wait_for(run_one(), 30)
            except TimeoutError:
                stacks = [t.get_stack() for t in asyncio.all_tasks()]
                pytest.fail(f"message {i} ({s.mode}, cancel={cancel}) hung: deltas {s.deltas}, failed {s.failed}, "
                            f"stalled {sim.stalled}, connections {sim.active_connections}, tasks {stacks}")
            assert not sim.pending_faults or all(f.endpoint == "models" for f in sim.pending_faults), i
            conv = s.conversation_id
            if i % 100 == 99:
                tasks_seen.append(len(asyncio.all_tasks()))
                conns_seen.append(sim.active_connections)
    finally:
        e.health = None
        await monitor.stop()
    elapsed = time.monotonic() - t0

    # --- no leaked tasks, bounded connections ------------------------------------------------
    def others() -> list[asyncio.Task]:
        return [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]

    # finalisers of abandoned stream generators (aclose tasks) run, then nothing is left
    assert await eventually(lambda: others() == []), others()
    assert max(tasks_seen) <= 12, tasks_seen
    assert max(conns_seen) <= 24, conns_seen
    sim.release_stalls()
    assert sim.wait_for(lambda s_: s_.active_connections <= 20, 5.0), sim.active_connections

    # --- every message is there, with one final answer ---------------------------------------
    store = e.store
    by_conv: dict[int, list] = {}
    for s in sent:
        assert s.conversation_id is not None and s.message_id is not None, s
        by_conv.setdefault(s.conversation_id, [])
    stored = {cid: store.messages(cid) for cid in by_conv}
    for cid, rows in stored.items():
        roles = [m.role for m in rows]
        assert roles == ["user", "assistant"] * (len(rows) // 2), (cid, roles)
    users = {m.id: m for rows in stored.values() for m in rows if m.role == "user"}
    answers = {m.id: m for rows in stored.values() for m in rows if m.role == "assistant"}
    assert len(users) == N and len(answers) == N
    statuses: Counter = Counter()
    final_kinds: Counter = Counter()
    for s in sent:
        u, a = users[s.user_id], answers[s.message_id]
        assert u.text == s.text and u.conversation_id == s.conversation_id
        assert a.status in FINAL, (s.index, a.status)
        statuses[a.status] += 1
        reply = sim.reply([{"role": "user", "content": s.text}])
        seen = "".join(s.deltas)
        assert a.text == seen, (s.index, a.status, a.text, seen)
        if a.status == "complete":
            assert a.text == reply and a.error is None and a.usage is not None
        elif a.status == "truncated":
            assert reply.startswith(a.text) and a.text != reply and a.error is None and a.usage is not None
        elif a.status == "error":
            assert a.text == "" and a.error is not None and a.error.kind in ALL_KINDS, s.index
            assert a.error.message and a.error.fix
            final_kinds[a.error.kind] += 1
        elif a.status == "interrupted":
            assert a.text and reply.startswith(a.text.rstrip()) and a.text != reply, (s.index, a.text)
            assert a.error is not None and a.error.kind in ALL_KINDS
            final_kinds[a.error.kind] += 1
        else:  # stopped by the user
            assert s.cancel is not None, s.index
            assert reply.startswith(a.text)
        for k in s.failed:
            assert k in ALL_KINDS
    assert store.conn.execute("SELECT count(*) FROM messages WHERE status = 'streaming'").fetchone()[0] == 0

    # --- every error kind, before and after the first token ----------------------------------
    met = {k for s in sent for k in s.failed} | set(final_kinds)
    stream_faults = [f.fault for f in sim.fault_log if f.fault.kind in ("cut", "malformed_sse", "midstream_error")]
    assert any((f.after_chunks or 0) == 0 for f in stream_faults)
    assert any((f.after_chunks or 0) >= 1 for f in stream_faults)
    assert statuses["interrupted"] > 0 and statuses["stopped"] > 0 and statuses["error"] > 0
    assert statuses["truncated"] > 0
    if not wired:
        assert met == ALL_KINDS, ALL_KINDS - met
    failed_calls = sum(len(s.failed) for s in sent)
    chat_paths = ("/chat/completions", "/v1/messages", "/api/chat", "/api/generate")
    chat_calls = [r for r in sim.requests if r.path.endswith(chat_paths)]
    chat_faults = [f for f in sim.fault_log if f.path.endswith(chat_paths)]
    assert 0.15 < len(chat_faults) / len(chat_calls) < 0.4, (len(chat_faults), len(chat_calls))

    # --- the ledger is the simulator's usage times the prices in force -----------------------
    usage = list(sim.usage_log)
    ledger = store.ledger()
    assert [(rig.provider_for_protocol(u.protocol), u.model, u.input_tokens, u.output_tokens) for u in usage] == [
        (x.ref.provider, x.ref.model, x.usage.input_tokens, x.usage.output_tokens) for x in ledger]
    phase_of = [sum(1 for p in phase_start if p <= i) - 1 for i in range(len(usage))]
    total = Decimal(0)
    sources: Counter = Counter()
    for u, x, ph in zip(usage, ledger, phase_of, strict=True):
        want = expected_cost(rig, ph, x.ref.provider, u.model, u.input_tokens, u.output_tokens)
        assert x.cost_usd == want, (x, ph, want)
        assert x.served_model == served(rig, ph, x.ref.provider, u.model), (x, ph)
        assert x.provider_cost_usd == expected_reported(rig, ph, u.protocol, u.input_tokens, u.output_tokens), x
        sources[x.price_source] += 1
        if want is not None:
            total += want
    assert store.spend_total() == total
    billed = sum((a.cost_usd for a in answers.values() if a.cost_usd is not None), Decimal(0))
    assert billed == total  # what each answer shows adds up to the ledger
    if not wired:
        assert {"bundled", "override", "local", "unknown", "provider"} <= set(sources), sources

    # --- the database is sound and reopens with nothing to repair ----------------------------
    assert integrity(rig.home / "routedesk.sqlite3") == ["ok"]
    again = Store(rig.home / "routedesk.sqlite3")
    try:
        assert again.recover_interrupted() == 0
        assert again.spend_total() == total
    finally:
        again.close()

    print(f"\nsoak ({'health-wired' if wired else 'deterministic'}): {N} messages in {elapsed:.1f} s; "
          f"{len(sim.requests)} requests, {len(chat_calls)} chat calls, {len(chat_faults)} with a fault "
          f"({len(sim.fault_log) - len(chat_faults)} on probes), "
          f"{failed_calls} failed attempts; answers {dict(statuses)}; "
          f"final error kinds {dict(final_kinds)}; ledger {len(ledger)} entries {dict(sources)}, "
          f"total ${total}; probe reports {dict(probe_reports)}; tasks {tasks_seen}; connections {conns_seen}")
