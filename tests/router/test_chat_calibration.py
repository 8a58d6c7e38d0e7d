"""The share-target threshold is calibrated on everyday chat, not on benchmark prompts.

``resources/router/reference_prompts.jsonl`` holds hand-written everyday chat prompts (the
population the shipped reference quantiles come from); ``chat_holdout.jsonl`` beside this file
is a second, separately written set of everyday prompts that played no part in calibration.
At the default 30% target, a fresh install must send roughly 20-40% of such prompts to the
strong model, and the prompts that are genuinely hard must still score above small talk.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from desktop.core.types import ChatMessage
from desktop.router import ShareTargetPolicy, load_router
from desktop.router.model import default_resource_dir

REFERENCE = default_resource_dir() / "reference_prompts.jsonl"
HOLDOUT = Path(__file__).with_name("chat_holdout.jsonl")


def load(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def conversation(row: dict) -> list[ChatMessage]:
    return [ChatMessage("user", h) for h in row.get("history", ())] + [ChatMessage("user", row["prompt"])]


@pytest.fixture(scope="module")
def router():
    return load_router()


@pytest.fixture(scope="module", params=["reference", "holdout"])
def chat_set(request, router):
    rows = load(REFERENCE if request.param == "reference" else HOLDOUT)
    scores = np.array([router.score(conversation(r)).value for r in rows])
    hard = np.array([bool(r["hard"]) for r in rows])
    cats = np.array([r["category"] for r in rows])
    return request.param, rows, scores, hard, cats


def test_sets_are_realistic_and_separate():
    ref, hold = load(REFERENCE), load(HOLDOUT)
    assert len(ref) >= 200 and len(hold) >= 100
    for rows in (ref, hold):
        share_hard = np.mean([r["hard"] for r in rows])
        assert 0.2 <= share_hard <= 0.35
        assert {"small_talk", "quick_fact", "email", "translate", "code_easy", "code_hard",
                "maths_easy", "maths_hard", "multi_turn"} <= {r["category"] for r in rows}
    assert not {r["prompt"] for r in ref} & {r["prompt"] for r in hold}


def test_manifest_records_the_reference_set(router):
    ref = router.manifest["reference_distribution"]
    assert ref["file"] == REFERENCE.name
    assert ref["sha256"] == hashlib.sha256(REFERENCE.read_bytes()).hexdigest()
    assert ref["rows"] == len(load(REFERENCE))


def test_shipped_quantiles_are_the_reference_prompts_scores(router):
    rows = load(REFERENCE)
    scores = np.array([router.score(conversation(r)).value for r in rows])
    expected = np.quantile(scores, np.linspace(0.0, 1.0, router.reference_scores.size))
    np.testing.assert_allclose(router.reference_scores, expected, rtol=0, atol=1e-9)


def test_share_target_30_percent_on_chat(chat_set, router):
    name, rows, scores, hard, cats = chat_set
    # a fresh install: no recent prompts yet, the threshold comes from the shipped reference
    pol = ShareTargetPolicy(0.3, router.reference_scores)
    realised = float(np.mean(scores > pol.threshold))
    assert 0.2 <= realised <= 0.4, (name, realised)
    # the same prompts, in a mixed order, as a stream through the adapting policy
    pol = ShareTargetPolicy(0.3, router.reference_scores)
    order = np.random.default_rng(7).permutation(scores.size)
    streamed = np.mean([pol.decide(float(scores[i])).choice == "strong" for i in order])
    assert 0.2 <= streamed <= 0.4, (name, streamed)
    # most genuinely hard prompts are among those sent to the strong model
    thr = ShareTargetPolicy(0.3, router.reference_scores).threshold
    assert np.mean(scores[hard] > thr) >= 0.6, name
    assert np.mean(scores[~hard] > thr) <= 0.25, name


def test_hard_prompts_score_above_small_talk(chat_set):
    name, rows, scores, hard, cats = chat_set
    small = scores[cats == "small_talk"]
    for cat in ("maths_hard", "code_hard", "reasoning_hard"):
        assert np.all(scores[cats == cat] > np.median(small)), (name, cat)
        assert np.median(scores[cats == cat]) > small.max(), (name, cat)
    # hard vs everything written as easy: the ranking is clearly better than chance
    auc = float(np.mean(scores[hard][:, None] > scores[~hard][None, :]))
    assert auc >= 0.8, (name, auc)
