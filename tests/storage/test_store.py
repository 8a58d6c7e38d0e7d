"""Every Store method, through the public API."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from desktop.core.errors import ErrorInfo
from desktop.core.types import ModelRef, RouteDecision, Usage
from desktop.storage import Store

STRONG = ModelRef("work", "gpt-4o")
WEAK = ModelRef("ollama", "llama3.2:latest")
ROUTE = RouteDecision("weak", 0.23, 0.5, "looks easy", "share-target", ("short prompt", "no code"))


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def tick(self, **kw) -> None:
        self.now += timedelta(**kw)


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))


@pytest.fixture
def timed(home: Path, clock: Clock):
    with Store(home / "timed.sqlite3", now=clock) as s:
        yield s


# --- providers ------------------------------------------------------------------------


def test_provider_crud(store: Store):
    rec = store.add_provider("work", "openai", "https://api.openai.com/v1")
    assert (rec.name, rec.kind, rec.base_url) == ("work", "openai", "https://api.openai.com/v1")
    with pytest.raises(ValueError, match="already exists"):
        store.add_provider("work", "openai", None)
    store.add_provider("local", "ollama", None)
    assert [p.name for p in store.list_providers()] == ["local", "work"]

    upd = store.update_provider("work", base_url="https://proxy.example/v1")
    assert (upd.kind, upd.base_url) == ("openai", "https://proxy.example/v1")
    with pytest.raises(KeyError):
        store.update_provider("nope", kind="openai")
    store.add_provider("work", "openrouter", "https://openrouter.ai/api/v1", replace=True)
    assert store.get_provider("work").kind == "openrouter"

    assert store.remove_provider("work") is True
    assert store.remove_provider("work") is False
    assert store.get_provider("work") is None


def test_providers_hold_only_what_the_engine_reads(store: Store):
    """No switch that does nothing: a provider is its name, kind, address and the options
    the engine reads (its timeout)."""
    columns = [r[1] for r in store.conn.execute("PRAGMA table_info(providers)")]
    assert columns == ["name", "kind", "base_url", "options", "created_at", "updated_at"]
    with pytest.raises(TypeError):
        store.add_provider("x", "openai", None, enabled=False)  # type: ignore[call-arg]
    store.add_provider("slow", "ollama", None, options={"timeout": 300})
    assert store.get_provider("slow").options == {"timeout": 300}
    store.update_provider("slow", base_url="http://box:11434")
    assert store.get_provider("slow").options == {"timeout": 300}  # untouched unless given


# --- settings -------------------------------------------------------------------------


def test_settings_are_json(store: Store):
    assert store.get_setting("pair") is None
    assert store.get_setting("pair", {"x": 1}) == {"x": 1}
    value = {"strong": "work/gpt-4o", "weak": "ollama/llama3.2", "share": 0.3, "list": [1, None, True]}
    store.set_setting("pair", value)
    assert store.get_setting("pair") == value
    store.set_setting("pair", "changed")
    assert store.get_setting("pair") == "changed"
    store.set_setting("budget", Decimal("12.50"))
    assert store.get_setting("budget") == "12.50"  # Decimal survives as its exact text
    store.set_setting("falsy", 0)
    assert store.get_setting("falsy", 7) == 0
    assert store.settings() == {"budget": "12.50", "falsy": 0, "pair": "changed"}
    assert store.delete_setting("pair") and not store.delete_setting("pair")


def test_error_text_inside_settings_is_redacted(store: Store):
    key = "sk-proj-AbCdEf0123456789AbCdEf0123456789"
    store.set_setting("cooldowns", {"work": {"until": 1.5, "error": {
        "kind": "auth_invalid", "message": f"Incorrect API key provided: {key}", "fix": "Check it."}}})
    got = store.get_setting("cooldowns")["work"]
    assert key not in got["error"]["message"] and got["error"]["fix"] == "Check it."
    assert got["until"] == 1.5


# --- prices ---------------------------------------------------------------------------


def test_price_override_round_trip(store: Store):
    ref = ModelRef("openrouter", "openai/gpt-4o")  # model part holds a slash
    store.set_price_override(ref, Decimal("2.50"), Decimal("10.000001"))
    got = store.get_price_override(ref)
    assert got.ref == ref
    assert got.input_per_mtok == Decimal("2.50") and str(got.input_per_mtok) == "2.50"
    assert got.output_per_mtok == Decimal("10.000001")
    assert store.get_price_override("openrouter/openai/gpt-4o") == got
    store.set_price_override("work/gpt-4o", Decimal("0"), Decimal("0"))
    assert [p.ref for p in store.list_price_overrides()] == [ref, STRONG]
    with pytest.raises(TypeError):
        store.set_price_override(STRONG, 2.5, Decimal("1"))  # floats are refused
    with pytest.raises(ValueError):
        store.set_price_override(STRONG, Decimal("-1"), Decimal("1"))
    assert store.delete_price_override(ref) is True
    assert store.get_price_override(ref) is None
    assert store.delete_price_override(ref) is False


# --- conversations --------------------------------------------------------------------


def test_conversations_newest_activity_first_and_soft_delete(timed: Store, clock: Clock):
    a = timed.create_conversation("first")
    clock.tick(seconds=1)
    b = timed.create_conversation("second")
    clock.tick(seconds=1)
    assert [c.id for c in timed.list_conversations()] == [b, a]
    timed.add_user_message(a, "bump")  # activity moves it to the top
    assert [c.id for c in timed.list_conversations()] == [a, b]
    assert timed.list_conversations()[0].message_count == 1

    timed.rename_conversation(b, "renamed")
    assert timed.get_conversation(b).title == "renamed"
    with pytest.raises(KeyError):
        timed.rename_conversation(999, "x")

    timed.delete_conversation(a)
    assert [c.id for c in timed.list_conversations()] == [b]
    assert [c.id for c in timed.list_conversations(include_deleted=True)] == [a, b]
    assert timed.get_conversation(a).deleted
    timed.restore_conversation(a)
    assert [c.id for c in timed.list_conversations()] == [a, b]
    assert timed.messages(a)[0].text == "bump"  # undo brings everything back

    timed.delete_conversation(a)
    clock.tick(days=2)
    assert timed.purge_deleted(older_than=timedelta(days=7)) == 0
    assert timed.purge_deleted() == 1
    assert timed.get_conversation(a) is None
    assert timed.messages(a) == []


def test_message_in_unknown_conversation_is_refused(store: Store):
    with pytest.raises(KeyError, match="No conversation 12345"):
        store.add_user_message(12345, "hello")
    with pytest.raises(KeyError, match="No conversation 12345"):
        store.start_answer(12345, route=ROUTE, model=WEAK)
    assert store.list_conversations() == []
    assert store.conn.execute("SELECT count(*) FROM messages").fetchone()[0] == 0


# --- messages -------------------------------------------------------------------------


def test_answer_lifecycle(store: Store):
    conv = store.create_conversation("chat")
    uid = store.add_user_message(conv, "What is 2+2?")
    mid = store.start_answer(conv, route=ROUTE, model=WEAK)
    m = store.get_message(mid)
    assert (m.role, m.status, m.text, m.model, m.route) == ("assistant", "streaming", "", WEAK, ROUTE)

    store.save_partial(mid, "It is")
    assert store.get_message(mid).text == "It is"
    store.add_attempt(mid, STRONG, ok=False,
                      error=ErrorInfo("quota_exhausted", "OpenAI says no credit left.", "Add a payment method."),
                      started_at=datetime(2026, 1, 1, tzinfo=UTC), ended_at=1767225601.5)
    store.add_attempt(mid, WEAK, ok=True, usage=Usage(12, 3))
    store.finish_answer(mid, text="It is 4.", status="complete", model=WEAK, usage=Usage(12, 3),
                        cost_usd=Decimal("0"), ttft_ms=123.4, fallback_used=True)

    user, answer = store.messages(conv)
    assert (user.id, user.role, user.status, user.text) == (uid, "user", "complete", "What is 2+2?")
    assert answer.status == "complete" and answer.text == "It is 4."
    assert answer.usage == Usage(12, 3) and answer.cost_usd == Decimal("0")
    assert answer.ttft_ms == pytest.approx(123.4) and answer.fallback_used is True
    assert answer.route == ROUTE  # kept from start_answer
    assert answer.error is None
    assert [a.ref for a in answer.attempts] == [STRONG, WEAK]
    failed, ok = answer.attempts
    assert not failed.ok and failed.error.kind == "quota_exhausted"
    assert failed.started_at == datetime(2026, 1, 1, tzinfo=UTC)
    assert failed.ended_at == datetime(2026, 1, 1, 0, 0, 1, 500000, tzinfo=UTC)
    assert ok.ok and ok.usage == Usage(12, 3)

    # save_partial after the end changes nothing
    store.save_partial(mid, "late chunk")
    assert store.get_message(mid).text == "It is 4."


def test_finish_can_replace_route_and_model_and_rejects_bad_status(store: Store):
    conv = store.create_conversation("c")
    mid = store.start_answer(conv, route=None, model=None)
    assert store.get_message(mid).route is None and store.get_message(mid).model is None
    fixed = RouteDecision("fixed", None, None, "you chose the strong model", "manual")
    store.finish_answer(mid, text="", status="error", route=fixed,
                        error=ErrorInfo("misconfigured", "No key for work.", "Add one."))
    m = store.get_message(mid)
    assert m.route == fixed and m.status == "error" and str(m.error.fix) == "Add one."
    with pytest.raises(ValueError):
        store.finish_answer(mid, text="", status="streaming")
    with pytest.raises(TypeError):
        store.finish_answer(mid, text="", status="complete", cost_usd=0.1)
    with pytest.raises(KeyError):
        store.finish_answer(99999, text="", status="complete")


def test_errors_are_redacted_before_they_are_stored(store: Store, home: Path):
    conv = store.create_conversation("c")
    mid = store.start_answer(conv, route=ROUTE, model=STRONG)
    key = "sk-proj-AbCdEf0123456789AbCdEf0123456789"
    err = ErrorInfo("auth_invalid", f"Incorrect API key provided: {key}.",
                    "Check the key (Authorization: Bearer abcdef123456).", provider="work", model="gpt-4o")
    store.add_attempt(mid, STRONG, ok=False, error=err)
    store.finish_answer(mid, text="", status="error", error=err)
    m = store.get_message(mid)
    assert key not in m.error.message and "[redacted]" in m.error.message
    assert "abcdef123456" not in str(m.error.fix)
    assert key not in m.attempts[0].error.message
    store.close()
    for f in home.iterdir():
        assert key.encode() not in f.read_bytes()


def test_partial_save_then_recover_interrupted(home: Path):
    path = home / "db.sqlite3"
    first = Store(path)  # the session that "crashes"
    conv = first.create_conversation("c")
    mid = first.start_answer(conv, route=ROUTE, model=STRONG)
    first.save_partial(mid, "The first half of")
    assert first.recover_interrupted() == 0  # its own live stream is left alone
    done = first.start_answer(conv, route=ROUTE, model=STRONG)
    first.finish_answer(done, text="done", status="complete")
    # no close(): the process died mid-stream
    with Store(path) as second:
        assert second.recover_interrupted() == 1
        m = second.get_message(mid)
        assert (m.status, m.text) == ("interrupted", "The first half of")
        assert m.error.kind == "interrupted"
        assert second.get_message(done).status == "complete"
        assert second.recover_interrupted() == 0
        assert [h.message_id for h in second.search("half")] == [mid]  # indexed once final
    first.close()


# --- ledger ---------------------------------------------------------------------------


def test_ledger_totals_are_exact_over_many_small_costs(store: Store):
    conv = store.create_conversation("c")
    mid = store.start_answer(conv, route=ROUTE, model=STRONG)
    rng = random.Random(7)
    expected = Decimal(0)
    float_total = 0.0
    for _ in range(2000):
        # prices like $0.15/Mtok * 7 tokens = 0.00000105: far below a cent
        cost = Decimal(rng.randint(1, 99999)) * Decimal("0.000000001") + Decimal("0.00000105")
        expected += cost
        float_total += float(cost)
        store.add_ledger_entry(mid, STRONG, Usage(7, 3), cost, "genai-prices", cost * 10, "weak")
    store.add_ledger_entry(mid, WEAK, Usage(1, 1), None, "unknown", None, "weak")  # unknown price
    total = store.spend_total()
    assert isinstance(total, Decimal)
    assert total == expected  # exact, not approximately
    assert str(total) == str(expected)
    entries = store.ledger()
    assert len(entries) == 2001
    assert sum((e.cost_usd for e in entries if e.cost_usd is not None), Decimal(0)) == expected
    assert entries[0].strong_cost_usd == entries[0].cost_usd * 10
    assert entries[-1].cost_usd is None and entries[-1].price_source == "unknown"
    assert entries[0].usage == Usage(7, 3) and entries[0].choice == "weak" and entries[0].message_id == mid


def test_ledger_since_and_survives_purge(timed: Store, clock: Clock):
    conv = timed.create_conversation("c")
    mid = timed.start_answer(conv, route=ROUTE, model=STRONG)
    timed.add_ledger_entry(mid, STRONG, Usage(1, 1), Decimal("0.10"), "override", None, "strong")
    clock.tick(days=31)
    since = clock.now
    timed.add_ledger_entry(mid, STRONG, Usage(1, 1), Decimal("0.02"), "override", None, "strong")
    assert timed.spend_total() == Decimal("0.12")
    assert timed.spend_total(since=since) == Decimal("0.02")
    assert [e.cost_usd for e in timed.ledger(since=since)] == [Decimal("0.02")]
    assert timed.spend_total(since=since + timedelta(seconds=1)) == Decimal(0)
    timed.delete_conversation(conv)
    timed.purge_deleted()
    assert timed.spend_total() == Decimal("0.12")  # money spent stays spent
    assert all(e.message_id is None for e in timed.ledger())
    with pytest.raises(TypeError):
        timed.add_ledger_entry(None, STRONG, Usage(), 0.01, "x", None, "strong")


# --- router scores and feedback -------------------------------------------------------


def test_recent_scores(store: Store):
    conv = store.create_conversation("c")
    for score in (0.1, 0.2, 0.3):
        store.start_answer(conv, route=RouteDecision("weak", score, 0.5, "r", "p"), model=WEAK)
    store.start_answer(conv, route=RouteDecision("fixed", None, None, "manual", "manual"), model=WEAK)
    store.add_router_score(0.9, features={"length": 3})
    assert store.recent_scores(10) == [0.9, 0.3, 0.2, 0.1]
    assert store.recent_scores(2) == [0.9, 0.3]
    assert store.router_scores(1)[0].features == {"length": 3}
    assert store.clear_router_scores() == 4 and store.recent_scores() == []


def test_feedback(store: Store):
    conv = store.create_conversation("c")
    mid = store.start_answer(conv, route=ROUTE, model=WEAK, features={"code": 1.0})
    store.finish_answer(mid, text="ok", status="complete")
    store.add_feedback(mid, -1, "thumbs")
    store.add_feedback(mid, 1, "retry_strong")
    fb = store.list_feedback()
    assert [(f.message_id, f.value, f.kind) for f in fb] == [(mid, -1, "thumbs"), (mid, 1, "retry_strong")]
    assert fb[0].score == pytest.approx(0.23) and fb[0].features == {"code": 1.0}
    assert store.clear_feedback() == 2 and store.list_feedback() == []


def test_timestamps_are_aware_utc(store: Store):
    conv = store.create_conversation("c")
    rec = store.get_conversation(conv)
    assert rec.created_at.tzinfo is UTC
    assert abs(datetime.now(UTC) - rec.created_at) < timedelta(minutes=1)


def test_store_is_a_context_manager_and_refuses_use_after_close(home: Path):
    with Store(home / "x.sqlite3") as s:
        s.create_conversation("c")
    with pytest.raises(RuntimeError):
        s.list_conversations()


def test_default_uses_routedesk_home(home: Path):
    with Store.default() as s:
        s.set_setting("k", 1)
    assert (home / "routedesk.sqlite3").exists()


def test_broken_unicode_is_stored_not_refused(store: Store):
    conv = store.create_conversation("c")
    uid = store.add_user_message(conv, "half an emoji \ud83e and a pair \ud83e\udd5a")
    assert store.get_message(uid).text == "half an emoji \ufffd and a pair \U0001f95a"
    mid = store.start_answer(conv, route=ROUTE, model=WEAK)
    store.save_partial(mid, "x\udc00")
    store.finish_answer(mid, text="y\udc00", status="complete")
    assert store.get_message(mid).text == "y\ufffd"


def test_messages_page_reads_the_latest_page_then_older_ones(store: Store):
    conv = store.create_conversation("long")
    other = store.create_conversation("other")
    ids = [store.add_user_message(conv, f"message {i}") for i in range(7)]
    store.add_user_message(other, "not in this conversation")
    mid = store.start_answer(conv, route=ROUTE, model=WEAK)
    store.add_attempt(mid, WEAK, ok=True, usage=Usage(5, 2))
    ids.append(mid)

    page, more = store.messages_page(conv, limit=3)
    assert [m.id for m in page] == ids[-3:] and more
    assert [a.ref for a in page[-1].attempts] == [WEAK]  # attempts come with their message
    older, more = store.messages_page(conv, before_id=page[0].id, limit=3)
    assert [m.id for m in older] == ids[-6:-3] and more
    oldest, more = store.messages_page(conv, before_id=older[0].id, limit=3)
    assert [m.id for m in oldest] == ids[:2] and not more
