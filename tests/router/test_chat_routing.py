"""The chat part of the router: what a request asks for moves its score, the reasons say so in
words that match the prompt, and feedback on a chat answer moves the same request asked again."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from desktop.core.types import ChatMessage
from desktop.router import ShareTargetPolicy, load_router
from desktop.router.chat_features import CHAT_NAMES, chat_features, conversation_chat_features
from desktop.router.model import Router

IDEAS = "Give me some ideas for a birthday party for my sister"
CODE = "Write a Python function that parses a log file and returns the ten most frequent error codes"
PUZZLE = ("A man has to cross a river with a wolf, a goat and a cabbage; the boat holds only one of them. "
          "Suppose he must never leave the goat alone with the wolf. Explain step by step how he does it.")


def user(text: str) -> list[ChatMessage]:
    return [ChatMessage("user", text)]


@pytest.fixture(scope="module")
def router() -> Router:
    return load_router()


def test_shipped_router_has_a_chat_part_learnt_from_chat(router):
    assert router.weights.w_chat is not None and router.weights.w_chat.size == len(CHAT_NAMES)
    chat = router.manifest["model"]["chat_part"]
    assert chat["scale"] > 0 and "14 weaker models" in chat["label"]


def test_code_and_puzzles_score_above_a_list_of_ideas(router):
    ideas = router.score(user(IDEAS)).value
    assert router.score(user(CODE)).value > ideas
    assert router.score(user(PUZZLE)).value > ideas


def test_reasons_describe_the_prompt_as_it_is(router):
    code = router.score(user(CODE))
    assert any("code" in r or "programming" in r for r in code.reasons), code.reasons
    ideas = router.score(user(IDEAS))
    # the ideas prompt goes weak, and the reason names what it is, not what it is not
    thr = ShareTargetPolicy(0.3, router.reference_scores).threshold
    assert ideas.value <= thr
    assert "an open list of ideas or suggestions" in ideas.reasons, ideas.reasons
    assert not any(r.startswith("no code") for r in code.reasons)


def test_chat_features_count_phrases_and_carry_task_families_over_turns():
    f = dict(zip(CHAT_NAMES, chat_features("How many primes are there? Explain step by step."), strict=True))
    assert f["maths_any"] == 1.0 and f["stepwise"] == pytest.approx(np.log1p(2))  # "explain", "step by step"
    follow_up = dict(zip(CHAT_NAMES, conversation_chat_features("now make it faster", [CODE]), strict=True))
    assert follow_up["code_lang_any"] == pytest.approx(0.6) and follow_up["ideas_any"] == 0.0


def test_a_thumbs_down_on_a_chat_answer_moves_the_same_request_asked_again():
    r = load_router()
    thr = ShareTargetPolicy(0.3, r.reference_scores).threshold
    asked = "What are good ways to learn to play the guitar as an adult with little free time?"
    again = "Again, please: what are good ways to learn to play the guitar as an adult with little free time?"
    other = "Translate 'good morning, how did you sleep?' into French"
    before = {t: r.score(user(t)).value for t in (again, other)}
    assert before[again] <= thr  # the weak model would have answered it
    r.learn(user(asked), weak_was_worse=True)
    after = {t: r.score(user(t)).value for t in (again, other)}
    # one rating moves it most of the way to the threshold (about 0.24 -> 0.60 against 0.64; a
    # request that was nearer the threshold crosses it, see test_feedback_metrics), and says why
    assert after[again] - before[again] > 0.25
    assert "your feedback on similar prompts" in r.score(user(again)).reasons
    assert abs(after[other] - before[other]) < 0.005


def test_weights_without_a_chat_part_still_load(router, tmp_path):
    w = dataclasses.replace(router.weights, w_chat=None, chat_mean=None, chat_scale=None)
    w.save(tmp_path / "weights.npz")
    from desktop.router.model import RouterWeights

    old = Router(RouterWeights.load(tmp_path / "weights.npz"))
    assert old.weights.w_chat is None
    assert 0.0 <= old.score(user(CODE)).value <= 1.0


def test_a_decision_names_the_factors_on_the_side_it_went(router):
    """A lookup that scores above the typical chat prompt but still goes to the weak model is
    explained by what lowered its score, not by what raised it."""
    policy = ShareTargetPolicy(0.3, router.reference_scores)
    s = router.score(user("What is the capital of Australia?"))
    d = policy.decide(s, record=False)
    assert d.choice == "weak"
    assert d.reasons and set(d.reasons) <= set(s.lowered)
    assert not set(d.reasons) & set(s.raised)
    strong = policy.decide(router.score(user(CODE + " in O(n) time, without any imports")), record=False)
    assert strong.choice == "strong" and "names a programming language or tool" in strong.reasons
