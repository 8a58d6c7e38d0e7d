"""Train the router from ../shared/routing-bench/ and write resources/router/.

    python tools/train_router.py [--data DIR] [--out DIR]

Deterministic: the same data gives byte-identical weights.npz and manifest.json (BLAS is held
to one thread, see below).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

# One BLAS thread: a multi-threaded matrix product sums in an order that depends on the thread
# count, which changes the last bits of the weights from one machine to the next.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from router_training import chat as chat_training  # noqa: E402
from router_training.cv import cross_validate, metrics_table  # noqa: E402
from router_training.data import (  # noqa: E402
    char_mean,
    default_data_dir,
    featurise,
    load_bench,
    load_reference_prompts,
    reference_quantiles,
    sha256_file,
)
from router_training.recipe import DATA_FILES, RECIPE, fit_recipe  # noqa: E402

from desktop.router.chat_features import CHAT_NAMES  # noqa: E402
from desktop.router.evaluation import routing_metrics  # noqa: E402
from desktop.router.features import DENSE_NAMES, HASH_BITS, MAX_CHARS, N_BLOCKS  # noqa: E402
from desktop.router.model import Router, RouterWeights  # noqa: E402

LICENCE = (
    "Trained on labelled prompts derived from the evaluation responses published with the "
    "RouteLLM project (lm-sys/RouteLLM, Apache-2.0; paper arXiv 2406.18665). MMLU (Hendrycks "
    "et al.) and GSM8K (Cobbe et al.) are MIT-licensed. The chat prompts and scores are "
    "arena-bench-v1 from lmarena/arena-hard-auto (Apache-2.0; commit 4a705dd); its prompts come from "
    "LMSYS-Chat-1M and its scores are GPT-4 judgments. Keep this notice wherever the data or "
    "weights trained on it are shipped."
)

CHAT_WHAT = (
    "Free-form prompts (every chat message) also get a chat part learnt from routing-bench/chat.jsonl.gz "
    "(298 Chatbot Arena prompts, each answered by 15 models and scored by GPT-4): word families "
    "counted and flagged (code to write, languages named, puzzles, proofs, maths, reasoning asked for, "
    "creative writing, lists of ideas, advice, lookups, rewriting, constraints, specialist vocabulary, "
    "long or short answers asked for, personas, greetings), length and its square, pasted code, "
    "numbers, questions, lines, an opening instruction or question, capitals, maths symbols."
)

MULTI_TURN = (
    "The last user message is the prompt. Earlier user turns (up to 4) add their word and "
    "character n-grams at half weight (the previous turn) or a quarter (older turns); task-type "
    "features (maths, code, reasoning, law, ...) take the larger of the last message's value and "
    "0.6 x the value over earlier user turns; history_turns and history_log_chars record the "
    "conversation's length (hand-set coefficients, the benchmark has no conversations). "
    "Assistant turns are not read; system prompts contribute their constraint words at half weight."
)


def r6(x):
    if isinstance(x, float):
        return round(x, 6)
    if isinstance(x, dict):
        return {k: r6(v) for k, v in x.items()}
    if isinstance(x, list):
        return [r6(v) for v in x]
    return x


def settle(x):
    """``x`` to 10 significant digits. Which BLAS kernel OpenBLAS picks for the machine's CPU
    (AVX2 or AVX-512) changes the last bits of sums, so unrounded weights regenerate bit for
    bit only on the CPU that made them; a change of 1e-15 crosses a 10-digit rounding step
    for about one value in 100,000. Applied before anything else is derived from them."""
    if isinstance(x, np.ndarray):
        return np.array([float(f"{v:.10g}") for v in x.ravel()], dtype=x.dtype).reshape(x.shape)
    return float(f"{x:.10g}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, default=default_data_dir())
    ap.add_argument("--out", type=Path, default=ROOT / "resources" / "router")
    ap.add_argument("--reference", type=Path, default=ROOT / "resources" / "router" / "reference_prompts.jsonl",
                    help="hand-written everyday chat prompts the share-target threshold is calibrated on")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    log = (lambda *a: None) if args.quiet else (lambda *a: print(*a, file=sys.stderr, flush=True))

    paths = [args.data / f for f in DATA_FILES]
    ds = load_bench(paths)
    log(f"loaded {len(ds)} prompts")
    dense, X = featurise(ds.prompt)
    log(f"features: {dense.shape[1]} dense + hashed ({X.indices.size} non-zeros) in {time.perf_counter() - t0:.1f}s")

    recipe = RECIPE
    cv = cross_validate(ds, dense, X, recipe, progress=lambda k, n: log(f"  cv fold {k}/{n}"))
    metrics = metrics_table(ds, dense, cv)
    a, b = cv.calibration
    log(f"calibration: P = sigmoid({a:.4f} * fitted + {b:.4f})")

    centre = dense.mean(axis=0)
    final = fit_recipe(ds, dense, X, np.arange(len(ds)), recipe, centre).calibrated(a, b)
    for name in ("mean", "scale", "w_mc", "w_ff", "bias_mc", "bias_ff"):
        setattr(final, name, settle(getattr(final, name)))
    weights = RouterWeights(
        mean=final.mean, scale=final.scale, w_mc=final.w_mc, w_ff=final.w_ff,
        bias_mc=final.bias_mc, bias_ff=final.bias_ff,
        w_hash=final.w_hash.astype(np.float32).astype(np.float64), ref_quantiles=np.zeros(2),
    )
    final.w_hash = weights.w_hash
    weights.char_mean = char_mean(X).astype(np.float32).astype(np.float64)

    # the chat part: a ridge regression on the chat features, fitted on chat.jsonl.gz with the
    # rest of the free-form logit (learnt without chat data) as a fixed offset
    chat_path = args.data / chat_training.CHAT_FILE
    part = chat_training.fit_chat_part(chat_path, ds, dense, cv, final)
    cd, a_chat, strength, lam = part.data, part.scale, part.strength, part.penalty
    weights.chat_mean, weights.chat_scale = settle(part.ridge.mean), settle(part.ridge.scale)
    weights.w_chat = settle(a_chat * part.ridge.w)
    weights.chat_gate = settle(strength)
    log(f"chat: ridge penalty {lam:g}, scale {a_chat:g}, gate strength {strength:g} "
        f"({len(part.allowed)} settings allowed by GSM8K)")
    chat_metrics = part.metrics
    allowed = part.allowed
    g_idx = part.gsm8k_rows
    metrics["gsm8k"]["router_before_chat_part"] = metrics["gsm8k"]["router"]
    metrics["gsm8k"]["router"] = routing_metrics(cv.oof_final[g_idx] + part.gsm8k_chat_logit, ds.strong[g_idx],
                                                 ds.weak[g_idx]).to_dict()
    # the reference score distribution: the shipped scorer (exactly as the app runs it) on
    # hand-written everyday chat prompts, not on the benchmark, whose prompts score differently
    convs, hard = load_reference_prompts(args.reference)
    scorer = Router(weights)
    ref_scores = np.array([scorer.score_features(scorer.features(c), explain=False).value for c in convs])
    weights.ref_quantiles = settle(reference_quantiles(ref_scores))
    bench_scores = 1.0 / (1.0 + np.exp(-final.logit(dense, X)))
    thr_bench = float(np.quantile(bench_scores, 0.7))
    log(f"reference: {len(convs)} chat prompts ({hard.mean():.0%} written as hard); "
        f"the old benchmark-based 30% threshold {thr_bench:.3f} would send "
        f"{np.mean(ref_scores > thr_bench):.0%} of them to strong")

    args.out.mkdir(parents=True, exist_ok=True)
    weights.save(args.out / "weights.npz")
    manifest = {
        "name": "routedesk-router",
        "version": 1,
        "score": "P(the weak model's answer is worse than the strong model's), i.e. "
        "P(strong correct and weak wrong), Platt-calibrated on out-of-fold scores",
        "strong_model": "gpt-4-1106-preview",
        "weak_model": "Mixtral-8x7B-Instruct-v0.1",
        "data": [
            *({"file": f"routing-bench/{p.name}", "sha256": sha256_file(p),
               "rows": int(np.sum(ds.benchmark == p.name.split(".")[0]))} for p in paths),
            {"file": f"routing-bench/{chat_path.name}", "sha256": sha256_file(chat_path), "rows": len(cd.prompts)},
        ],
        "licence": LICENCE,
        "features": {
            "dense": list(DENSE_NAMES),
            "hashed": {"blocks": ["word uni+bigrams (numbers folded to 0), CRC32",
                                  "character 4-grams, numpy polynomial hash"][:N_BLOCKS],
                       "bits_per_block": HASH_BITS, "max_chars_read": MAX_CHARS,
                       "used": recipe.fit.use_hash},
            "chat": {"names": list(CHAT_NAMES), "what": CHAT_WHAT},
            "multi_turn": MULTI_TURN,
            "multiple_choice": "answer-option lines (A. ...) and a trailing 'Answer:' are stripped; "
            "the options' text is kept as content",
        },
        "model": {
            "type": "L2-regularised logistic regression (full-batch L-BFGS from zero, deterministic)",
            "recipe": recipe.to_dict(),
            "calibration": {"a": a, "b": b, "label": recipe.calibration_label,
                            "fitted_on": "out-of-fold scores of the cross-validation below"},
            "iterations": final.iterations,
            "chat_part": {
                "type": "ridge regression on the standardised chat features (free-form prompts only)",
                "label": "minus the mean GPT-4 judge score of the 14 weaker models, standardised",
                "penalty": lam,
                "scale": a_chat,
                "gate_strength_on_prompts_with_numbers": strength,
                "scale_choice": "among SCALES allowed by GSM8K (its out-of-fold APGR with the chat part "
                "added no lower than without), the best inner-CV mean APGR over the 14 weaker models "
                "on chat; weights stored already multiplied by it",
                "settings_allowed_by_gsm8k": [list(o) for o in allowed],
            },
        },
        "seed": recipe.seed,
        "metrics": {
            "protocol": "MMLU: 5 folds grouped by domain (no subject in two folds); GSM8K: 5-fold. "
            "Each test fold is scored by a model fitted on every other row of both files. "
            "APGR/CPT on the pooled out-of-fold scores (fold intercepts removed, features "
            "centred on one label-free point); also the mean of per-fold APGRs. "
            "tools/eval_router.py also reports leave-one-domain-out.",
            **metrics,
            "chat": chat_metrics,
        },
        "reference_distribution": {
            "what": "201 quantiles (0 to 1) of the shipped model's scores on hand-written everyday chat "
            "prompts: small talk, quick facts, rewriting, e-mail, translation, how-to, brainstorming, "
            "planning, simple explanations, easy and hard code and maths, reasoning, science, "
            "demanding writing, follow-ups in conversations. Not training data: only the population "
            "the share-target threshold is calibrated on (the benchmark's prompts score differently "
            "from chat, so its distribution is not used).",
            "file": args.reference.name,
            "sha256": sha256_file(args.reference),
            "rows": len(convs),
            "written_as_hard": int(hard.sum()),
            "median_score": float(np.median(ref_scores)),
            "threshold_at_30_percent": float(np.quantile(ref_scores, 0.7)),
        },
        "weights_file": "weights.npz",
    }
    (args.out / "manifest.json").write_text(json.dumps(r6(manifest), indent=2, sort_keys=False) + "\n",
                                          encoding="utf-8")
    (args.out / "NOTICE").write_text(LICENCE + "\n", encoding="utf-8")
    cm = chat_metrics["router"]
    log(f"chat (nested): Mixtral APGR {cm['mixtral_apgr']:.3f}, mean over 14 weak models {cm['mean_apgr_14']:.3f}; "
        f"length {chat_metrics['prompt_length']['mixtral_apgr']:.3f}")
    for bench in ("mmlu", "gsm8k"):
        m = metrics[bench]
        log(f"{bench}: router APGR {m['router']['apgr']:.3f} (per-fold mean {m['router_mean_apgr_per_fold']:.3f}), "
            f"length {m['prompt_length']['apgr']:.3f}")
    log(f"done in {time.perf_counter() - t0:.1f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
