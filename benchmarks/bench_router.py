"""Decision time per prompt: features + score + reasons + share-target policy.

    python benchmarks/bench_router.py [--runs N] [--json]

Prints p50/p99 in milliseconds for prompts of 100, 2,000 and 20,000 characters, beside a
baseline (``len()`` of the same prompt, and scoring without reasons) measured in the same run.
Requirement: p99 under 1 ms at 2,000 characters.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from desktop.core.types import ChatMessage  # noqa: E402
from desktop.router import ShareTargetPolicy, load_router  # noqa: E402

WORDS = [
    "the", "a", "of", "to", "and", "in", "is", "that", "for", "it", "with", "as", "was", "on",
    "be", "by", "this", "are", "from", "at", "or", "an", "which", "but", "not", "have", "has",
    "had", "were", "can", "all", "their", "more", "one", "will", "would", "there", "what", "about",
    "when", "if", "so", "no", "function", "return", "value", "list", "python", "error", "compute",
    "solve", "equation", "integral", "probability", "prove", "court", "plaintiff", "contract",
    "patient", "dose", "cells", "energy", "velocity", "12", "3.5", "42", "1999", "x", "=", "y",
    "+", "2", "*", "z", "explain", "why", "how", "many", "each", "total", "remaining", "then",
    "after", "write", "summarize", "translate", "json", "table",
]


def make_prompt(n_chars: int, rng: random.Random) -> str:
    out = []
    size = 0
    while size < n_chars:
        sentence = " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 18)))
        sentence = sentence[0].upper() + sentence[1:] + rng.choice([". ", "? ", ".\n"])
        out.append(sentence)
        size += len(sentence)
    return "".join(out)[:n_chars]


def timed(fn, prompts, runs):
    times = np.empty(runs)
    for i in range(runs):
        p = prompts[i % len(prompts)]
        t = time.perf_counter()
        fn(p)
        times[i] = time.perf_counter() - t
    return times * 1e3


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=3000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    router = load_router()
    policy = ShareTargetPolicy(0.3, router.reference_scores)
    rng = random.Random(7)

    def decide(text):
        s = router.score((ChatMessage("user", text),))
        return policy.decide(s)

    def score_only(text):
        return router.score_texts([text])

    results = {}
    gc.disable()
    try:
        for n in (100, 2_000, 20_000):
            prompts = [make_prompt(n, rng) for _ in range(50)]
            runs = args.runs if n <= 2_000 else max(300, args.runs // 5)
            for p in prompts[:5]:
                decide(p)  # warm caches
            d = timed(decide, prompts, runs)
            s = timed(score_only, prompts, runs)
            b = timed(len, prompts, runs)
            results[n] = {
                "decision_p50_ms": float(np.percentile(d, 50)),
                "decision_p99_ms": float(np.percentile(d, 99)),
                "score_only_p50_ms": float(np.percentile(s, 50)),
                "score_only_p99_ms": float(np.percentile(s, 99)),
                "len_baseline_p50_ms": float(np.percentile(b, 50)),
                "len_baseline_p99_ms": float(np.percentile(b, 99)),
                "runs": runs,
            }
    finally:
        gc.enable()
    # an active user: 500 ratings remembered (the memory's bound) and the linear part trained
    for k in range(500):
        router.learn((ChatMessage("user", make_prompt(rng.choice([100, 500, 2000]), rng)),),
                     weak_was_worse=k % 3 == 0)
    prompts = [make_prompt(2_000, rng) for _ in range(50)]
    gc.disable()
    try:
        for p in prompts[:5]:
            decide(p)
        d = timed(decide, prompts, args.runs)
    finally:
        gc.enable()
    with_feedback = {"decision_p50_ms": float(np.percentile(d, 50)),
                     "decision_p99_ms": float(np.percentile(d, 99)), "ratings": 500}
    router.feedback.reset()
    texts = [make_prompt(rng.choice([100, 500, 2000]), rng) for _ in range(2000)]
    t = time.perf_counter()
    router.score_texts(texts)
    batch_rate = len(texts) / (time.perf_counter() - t)
    if args.json:
        print(json.dumps({"per_prompt": results, "with_500_ratings_2000_chars": with_feedback,
                          "batch_prompts_per_second": batch_rate}, indent=2))
    else:
        print("Router decision time per prompt (features + score + reasons + policy), ms")
        print(f"{'chars':>7} {'p50':>8} {'p99':>8}   {'score p50':>9} {'score p99':>9}   "
              f"{'len() p50':>9} {'len() p99':>9}")
        for n, r in results.items():
            print(f"{n:>7} {r['decision_p50_ms']:>8.3f} {r['decision_p99_ms']:>8.3f}   "
                  f"{r['score_only_p50_ms']:>9.3f} {r['score_only_p99_ms']:>9.3f}   "
                  f"{r['len_baseline_p50_ms']:>9.5f} {r['len_baseline_p99_ms']:>9.5f}")
        print(f"2,000 chars with 500 ratings remembered: p50 {with_feedback['decision_p50_ms']:.3f} ms, "
              f"p99 {with_feedback['decision_p99_ms']:.3f} ms")
        print(f"batch: {batch_rate:,.0f} prompts/s (score_texts, mixed 100-2,000 chars)")
        ok = results[2_000]["decision_p99_ms"] < 1.0
        print(f"p99 at 2,000 chars under 1 ms: {'yes' if ok else 'NO'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
