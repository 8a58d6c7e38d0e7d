"""Routing as the engine does it: the learned router plus the user's policy, every
decision stored with its score and threshold, feedback that moves future scores."""

from __future__ import annotations

from decimal import Decimal

from desktop.core.types import ChatMessage
from desktop.engine.app import Engine
from desktop.engine.routing import RoutingSettings

HARD = ("A train leaves at 3:15 pm at 72 km/h; a second leaves the same station 40 minutes later "
        "at 90 km/h on a parallel track. Show step by step when and where the second overtakes the "
        "first, then prove your answer is the only solution.")
EASY = "hi! how are you today?"


async def test_a_hard_prompt_goes_strong_at_the_default_share_and_says_why(engine, sim):
    result = await engine.send(None, HARD, mode="auto")
    route = result.route
    assert (route.choice, route.policy) == ("strong", "share_target")
    assert result.model == engine.pair().strong  # the paid model answered
    assert route.score > route.threshold
    # the sentence shown next to the answer names the side, the threshold and the share
    assert "strong model" in route.reason and f"{route.threshold:.2f}" in route.reason and "30%" in route.reason
    stored = engine.store.get_message(result.message_id).route
    assert (stored.score, stored.threshold, stored.choice, stored.reason) == (
        route.score, route.threshold, route.choice, route.reason)
    assert engine.store.recent_scores(1) == [route.score]


async def test_an_easy_prompt_goes_weak_at_the_default_share_and_says_why(engine, sim):
    result = await engine.send(None, EASY, mode="auto")
    route = result.route
    assert (route.choice, route.policy) == ("weak", "share_target")
    assert result.model == engine.pair().weak  # the free local model answered
    assert route.score <= route.threshold
    assert "weak model" in route.reason and "small talk" in route.reason
    assert engine.store.get_message(result.message_id).route.choice == "weak"


async def test_target_share_moves_the_threshold(engine):
    msgs = [ChatMessage("user", HARD)]
    engine.set_routing_settings(RoutingSettings("share", target_share=0.05))
    strict = engine.decide(msgs)
    engine.set_routing_settings(RoutingSettings("share", target_share=0.95))
    loose = engine.decide(msgs)
    assert strict.threshold > loose.threshold
    assert loose.choice == "strong"
    assert strict.score == loose.score


async def test_spent_budget_routes_weak_and_says_so(engine, sim):
    engine.set_routing_settings(RoutingSettings("budget", monthly_budget_usd=Decimal("0.000001")))
    await engine.send(None, "hello", mode="strong")  # spends more than the whole budget
    result = await engine.send(None, HARD, mode="auto")
    assert result.route.choice == "weak" and result.route.policy == "budget"
    assert "budget" in result.route.reason and "spent" in result.route.reason
    assert result.model == engine.pair().weak


async def test_thumbs_down_on_a_weak_answer_raises_similar_prompts_and_reset_undoes_it(engine, sim):
    prompt = "Summarise the causes of the French Revolution in three bullet points"
    similar = [ChatMessage("user", "Summarise the causes of the French Revolution in five bullet points")]
    before = engine.router.score(similar).value
    result = await engine.send(None, prompt, mode="weak")
    assert result.route.choice == "fixed"  # forced side: feedback still counts when asked to retry strong
    engine.feedback.give(result.message_id, "retry_strong")
    after = engine.router.score(similar).value
    assert after > before
    assert [f.kind for f in engine.store.list_feedback()] == ["retry_strong"]
    # The update persists: a fresh engine on the same database sees it.
    fresh = Engine(engine.store, client=engine.client, keystore=engine.keystore)
    assert fresh.router.score(similar).value == after
    engine.feedback.reset()
    assert abs(engine.router.score(similar).value - before) < 1e-9
    assert engine.store.list_feedback() == []
