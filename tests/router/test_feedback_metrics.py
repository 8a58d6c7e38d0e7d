"""Feedback (online, bounded, resettable), metrics, import hygiene, reproducible training."""

from __future__ import annotations

import ast
import hashlib
import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from router_training.data import default_data_dir

from desktop.core.types import ChatMessage
from desktop.router import FeedbackModel, apgr, cpt, load_router, routing_metrics

ROOT = Path(__file__).resolve().parents[2]


def user(t):
    return [ChatMessage("user", t)]


LAW = ("A landlord leased a warehouse to a tenant; the tenant subleased it without consent. "
       "Is the sublessee liable for rent under the covenant?")
LAW2 = ("A tenant subleased the leased warehouse without the landlord's consent. "
        "Can the landlord recover rent from the sublessee under the covenant?")
OTHER = "Give me a recipe for banana bread with walnuts."


def test_feedback_shifts_similar_prompts_and_reset_restores():
    r = load_router()
    before = {t: r.score(user(t)).value for t in (LAW, LAW2, OTHER)}
    for _ in range(3):
        r.learn(user(LAW), weak_was_worse=True)
    after = {t: r.score(user(t)).value for t in (LAW, LAW2, OTHER)}
    assert after[LAW] > before[LAW]
    assert after[LAW2] - before[LAW2] > 0.02  # a similar prompt moves
    assert abs(after[OTHER] - before[OTHER]) < 0.25 * (after[LAW2] - before[LAW2])  # an unrelated one barely
    assert any("feedback" in x for x in r.score(user(LAW2)).reasons)
    # round trip through bytes (what the engine stores in SQLite)
    blob = r.feedback.to_bytes()
    r2 = load_router(feedback=FeedbackModel.from_bytes(blob))
    assert r2.score(user(LAW2)).value == r.score(user(LAW2)).value
    r.feedback.reset()
    assert {t: r.score(user(t)).value for t in (LAW, LAW2, OTHER)} == before


def test_feedback_is_bounded_and_reversible_in_direction():
    r = load_router()
    base = r.score(user(LAW)).value
    for _ in range(500):
        r.learn(user(LAW), weak_was_worse=True)
    z = r.score(user(LAW)).logit
    base_z = np.log(base / (1 - base))
    assert z - base_z <= r.feedback.max_shift + 1e-9
    assert all(abs(v) <= r.feedback.max_weight for v in r.feedback.to_dict()["weights"].values())
    r.feedback.reset()
    for _ in range(3):
        r.learn(user(LAW), weak_was_worse=True)
    up = r.score(user(LAW)).logit
    for _ in range(10):
        r.learn(user(LAW), weak_was_worse=False)  # thumbs-up on weak answers pulls it back
    assert r.score(user(LAW)).logit < up


def test_one_thumbs_down_sends_the_next_request_of_the_same_kind_to_the_strong_model():
    """The memory of near-repeats: a single rating moves a paraphrase of the rated prompt past
    the share threshold, while prompts that merely share words with it do not move."""
    from desktop.router import ShareTargetPolicy

    r = load_router()
    thr = ShareTargetPolicy(0.3, r.reference_scores).threshold
    related = "Who is liable for the rent when a warehouse tenant sublets without the landlord's consent?"
    before = {t: r.score(user(t)).value for t in (LAW2, related, OTHER)}
    r.learn(user(LAW), weak_was_worse=True)
    after = {t: r.score(user(t)).value for t in (LAW2, related, OTHER)}
    assert after[LAW2] - before[LAW2] > 0.05
    assert after[LAW2] > thr
    assert abs(after[OTHER] - before[OTHER]) < 0.005
    assert after[LAW2] - before[LAW2] > 3 * (after[related] - before[related])
    # many unrelated ratings later the memory still holds it (the linear part has drifted a little)
    for k in range(100):
        r.learn(user(f"Write a two-line poem about the number {k}"), weak_was_worse=False)
    assert r.score(user(LAW2)).value - before[LAW2] > 0.03


def test_feedback_memory_is_bounded_and_old_state_still_loads():
    fb = FeedbackModel(max_memory=5)
    r = load_router(feedback=fb)
    for k in range(12):
        r.learn(user(f"{LAW} (case {k})"), weak_was_worse=True)
    d = fb.to_dict()
    assert len(d["memory"]) == 5 and d["version"] == 3
    assert all(len(m["terms"]) <= 64 for m in d["memory"])
    assert len(FeedbackModel.from_dict(d)._memory) == 5
    # similarity to what is remembered: 1 for the last rated prompt itself, high for its
    # near-repeats, low for an unrelated prompt
    from desktop.router.feedback import content_view

    sims = fb.similarities(content_view(r.features(user(f"{LAW} (case 11)"))))
    assert sims[-1] == pytest.approx(1.0) and np.all(sims > 0.8)
    assert np.all(fb.similarities(content_view(r.features(user(OTHER)))) < 0.2)
    # the stored state of the previous version (linear weights only) keeps its weights
    old = {"version": 2, "lr": 0.3, "events": 2, "c": 0.1, "weights": {"5": 0.5, "9": -0.25}}
    m = FeedbackModel.from_dict(old)
    assert m._w == {5: 0.5, 9: -0.25} and m._c == 0.1 and m.lr == FeedbackModel().lr
    assert m.to_dict()["memory"] == []


@pytest.mark.parametrize("max_entries", [200_000, 50])
def test_feedback_shift_follows_every_rating_and_reset(max_entries):
    """The linear part reads its weights from an array kept beside the stored dict; after each
    rating (and each pruning of the dict, with a small ``max_entries``) and after a reset the
    shift must be what a model restored from the stored state gives, never the weights the
    array held before."""
    from desktop.router.feedback import content_view

    r = load_router(feedback=FeedbackModel(max_entries=max_entries))
    fb, mean = r.feedback, r.weights.char_mean
    texts = (LAW, LAW2, OTHER, "Solve 3x + 4 = 19 for x, then explain each step.")
    views = [content_view(r.features(user(t))) for t in texts]
    for k in range(8):
        fb.shift(views[k % 4])  # reads (and builds) the array before the rating
        fb.update(views[k % 4], 0.3, float(k % 3 == 0))
        restored = FeedbackModel.from_dict(fb.to_dict(), mean)
        assert [fb.shift(v) for v in views] == pytest.approx([restored.shift(v) for v in views], abs=1e-9)
        assert fb._linear(views[(k + 1) % 4]) != 0.0
    fb.reset()
    assert [fb.shift(v) for v in views] == [0.0] * 4
    fb.update(views[2], 0.3, 1.0)
    restored = FeedbackModel.from_dict(fb.to_dict(), mean)
    assert [fb.shift(v) for v in views] == pytest.approx([restored.shift(v) for v in views], abs=1e-9)


def test_apgr_toy_example():
    s = [1, 1]
    w = [0, 1]  # strong 100%, weak 50%; only the first prompt gains from the strong model
    assert apgr([0.9, 0.1], s, w) == pytest.approx(0.75)
    assert apgr([0.1, 0.9], s, w) == pytest.approx(0.25)
    assert apgr([0.5, 0.5], s, w) == pytest.approx(0.5)  # ties: expectation, i.e. random
    assert cpt([0.9, 0.1], s, w, 0.5) == 0.5 and cpt([0.9, 0.1], s, w, 0.8) == 0.5
    assert cpt([0.1, 0.9], s, w, 0.8) == 1.0
    rng = np.random.default_rng(0)
    S = rng.random(5000) < 0.8
    W = rng.random(5000) < 0.6
    m = routing_metrics(np.zeros(5000), S, W)
    assert m.apgr == pytest.approx(0.5) and m.cpt50 == pytest.approx(0.5, abs=0.01)
    oracle = S.astype(float) - W
    assert apgr(oracle, S, W) > 0.8


def test_router_imports_only_numpy_stdlib_and_core():
    allowed_top = set(sys.stdlib_module_names) | {"numpy", "desktop"}
    for path in (ROOT / "desktop" / "router").glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    continue
                names = [node.module]
            else:
                continue
            for n in names:
                assert n.split(".")[0] in allowed_top, (path.name, n)
                if n.startswith("desktop."):
                    assert n.startswith(("desktop.core", "desktop.router")), (path.name, n)


DATA = default_data_dir()


@pytest.mark.skipif(not (DATA / "mmlu.jsonl.gz").exists(), reason="routing-bench data not available")
@pytest.mark.parametrize("blas_kernel", [None, "Prescott"])
def test_training_regenerates_shipped_weights_bit_for_bit(tmp_path, blas_kernel):
    """On this CPU's own BLAS kernels, and on the oldest x86-64 ones (SSE3, forced through
    OpenBLAS's OPENBLAS_CORETYPE): the weights must not depend on the machine that made them."""
    env = dict(os.environ)
    if blas_kernel is not None and platform.machine().lower() in ("x86_64", "amd64"):
        env["OPENBLAS_CORETYPE"] = blas_kernel
    subprocess.run([sys.executable, str(ROOT / "tools" / "train_router.py"), "--quiet",
                    "--data", str(DATA), "--out", str(tmp_path)], check=True, timeout=300, env=env)
    for name in ("weights.npz", "manifest.json", "NOTICE"):
        new = hashlib.sha256((tmp_path / name).read_bytes()).hexdigest()
        shipped = hashlib.sha256((ROOT / "resources" / "router" / name).read_bytes()).hexdigest()
        assert new == shipped, f"{name} differs from the shipped file: rerun tools/train_router.py"
