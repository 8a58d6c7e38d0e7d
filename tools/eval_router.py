"""Evaluate the router recipe on ../shared/routing-bench/ and print the APGR/CPT table.

    python tools/eval_router.py [--data DIR] [--json] [--no-lodo] [--no-feedback]

MMLU is cross-validated grouped by domain (5 grouped folds, and leave-one-domain-out), GSM8K
with 5-fold; every test fold is scored by a model fitted only on the other rows. The router is
compared with a random router (APGR 0.5 by construction) and with prompt length. The recipe's
choice among router_training.recipe.CANDIDATES is also evaluated nested (chosen again by inner CV inside every
outer training fold), which is the honest estimate of the shipped recipe's performance. Then a
feedback simulation: for each of 5 simulated users, half of every held-out fold's prompts are
the user's stream (routed at a 50% share; the user rates the weak answers, up to N), and APGR is
measured on the other halves before and after that feedback.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from router_training.cv import cross_validate, metrics_table, nested_cross_validate  # noqa: E402
from router_training.data import char_mean, default_data_dir, featurise, load_bench  # noqa: E402
from router_training.recipe import CANDIDATES, DATA_FILES, RECIPE  # noqa: E402

from desktop.router.evaluation import apgr  # noqa: E402
from desktop.router.features import PromptFeatures  # noqa: E402
from desktop.router.feedback import FeedbackModel, content_view  # noqa: E402

# ratings per user; GSM8K has about 330 prompts per stream, half of them answered by the weak model
FEEDBACK_N = {"mmlu": (0, 400, 800, 1600, 3000), "gsm8k": (0, 50, 100, 150)}
FEEDBACK_USERS = 5  # simulated users (random streams) averaged


def row_features(dense, X, i) -> PromptFeatures:
    a, b = X.indptr[i], X.indptr[i + 1]
    return PromptFeatures(dense[i], X.indices[a:b], X.data[a:b])


def feedback_simulation(ds, dense, X, cv, mean, seed: int) -> dict:
    """Simulated users on held-out data. For each user, every test fold's prompts are split in
    two halves at random; the first halves (shuffled together) are the user's stream, routed at
    a 50% share by the out-of-fold scores plus the feedback so far. The user rates the weak
    answers they get: a wrong one gets a thumbs-down and a retry with the strong model (label 1
    if the strong answer is right, 0 if it is wrong too), a right one a thumbs-up (label 0),
    until N ratings have been given. APGR is then measured on the second halves, which no
    rating touched. Reported: the mean over FEEDBACK_USERS users and the smallest gain."""
    base = cv.oof_final  # calibrated out-of-fold logits
    views = {}

    def view(i):
        v = views.get(i)
        if v is None:
            v = views[i] = content_view(row_features(dense, X, i))
        return v

    results: dict = {}
    for bench, folds in (("mmlu", cv.mmlu_folds), ("gsm8k", cv.gsm8k_folds)):
        runs = []
        for user in range(FEEDBACK_USERS):
            rng = np.random.default_rng([seed, user])
            stream_parts, held_parts = [], []
            for te in folds:
                perm = rng.permutation(te)
                stream_parts.append(perm[: perm.size // 2])
                held_parts.append(perm[perm.size // 2:])
            stream = rng.permutation(np.concatenate(stream_parts))
            held = np.sort(np.concatenate(held_parts))
            thr = float(np.median(base[stream]))
            fb = FeedbackModel(mean=mean)
            given = 0
            per_n = {}
            todo = list(FEEDBACK_N[bench])

            def measure():
                vals = base[held] + np.array([fb.shift(view(j)) for j in held])
                per_n[todo.pop(0)] = (apgr(vals, ds.strong[held], ds.weak[held]), given)

            while todo and todo[0] == 0:
                measure()
            for i in stream:
                if not todo:
                    break
                z = base[i] + fb.shift(view(i))
                if z > thr:
                    continue  # went to the strong model: no weak answer to rate
                label = 0.0 if ds.weak[i] else (1.0 if ds.strong[i] else 0.0)
                fb.update(view(i), 1.0 / (1.0 + np.exp(-z)), label)
                given += 1
                while todo and given >= todo[0]:
                    measure()
            while todo:  # the stream ran out of weak answers to rate
                measure()
            runs.append(per_n)
        results[bench] = {
            n: {"apgr": float(np.mean([r[n][0] for r in runs])),
                "min_gain": float(min(r[n][0] - r[0][0] for r in runs)),
                "events": int(min(r[n][1] for r in runs))}
            for n in FEEDBACK_N[bench]
        }
    return results


def fmt_row(name, m):
    return f"  {name:<16} APGR {m['apgr']:.3f}   CPT(50%) {m['cpt50']:.3f}   CPT(80%) {m['cpt80']:.3f}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, default=default_data_dir())
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--no-lodo", action="store_true", help="skip leave-one-domain-out (45 fits)")
    ap.add_argument("--no-feedback", action="store_true")
    ap.add_argument("--no-nested", action="store_true",
                    help="skip the nested evaluation of the recipe choice (inner CV in every outer fold)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    ds = load_bench([args.data / f for f in DATA_FILES])
    dense, X = featurise(ds.prompt)
    report: dict = {}
    cv = cross_validate(ds, dense, X, RECIPE)
    report["grouped_5fold"] = metrics_table(ds, dense, cv)
    if not args.no_lodo:
        cv_lodo = cross_validate(ds, dense, X, RECIPE, leave_one_domain_out=True)
        report["leave_one_domain_out"] = metrics_table(ds, dense, cv_lodo)
    if not args.no_nested:
        cv_nested, chosen = nested_cross_validate(ds, dense, X, CANDIDATES)
        report["nested"] = metrics_table(ds, dense, cv_nested)
        report["nested"]["chosen_per_outer_fold"] = chosen
    if not args.no_feedback:
        report["feedback"] = feedback_simulation(ds, dense, X, cv, char_mean(X), RECIPE.seed)
    report["seconds"] = round(time.perf_counter() - t0, 1)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    g5 = report["grouped_5fold"]
    print("Router evaluation on routing-bench (out-of-fold scores; strong = GPT-4, weak = Mixtral)\n")
    print(f"MMLU, {g5['mmlu']['folds']} folds grouped by domain ({int(g5['mmlu']['router']['n'])} prompts)")
    for k in ("router", "prompt_length", "random"):
        print(fmt_row(k, g5["mmlu"][k]))
    print(f"  (router: mean of per-fold APGRs {g5['mmlu']['router_mean_apgr_per_fold']:.3f})")
    if "leave_one_domain_out" in report:
        lo = report["leave_one_domain_out"]
        print(f"MMLU, leave-one-domain-out ({lo['mmlu']['folds']} folds)")
        for k in ("router", "prompt_length", "random"):
            print(fmt_row(k, lo["mmlu"][k]))
    print(f"GSM8K, {g5['gsm8k']['folds']}-fold ({int(g5['gsm8k']['router']['n'])} prompts)")
    for k in ("router", "prompt_length", "random"):
        print(fmt_row(k, g5["gsm8k"][k]))
    if "nested" in report:
        ne = report["nested"]
        print("\nNested (the recipe chosen among the candidates by an inner 4-fold CV inside every outer "
              "training fold;\nthe outer test fold plays no part in the choice), same outer folds as above:")
        for bench in ("mmlu", "gsm8k"):
            print(fmt_row(f"{bench} router", ne[bench]["router"])
                  + f"   (mean per fold {ne[bench]['router_mean_apgr_per_fold']:.3f})")
        picks = sorted(set(ne["chosen_per_outer_fold"]))
        print("  chosen: " + ", ".join(f"{p} x{ne['chosen_per_outer_fold'].count(p)}" for p in picks))
    if "feedback" in report:
        print(f"\nFeedback simulation: APGR on the held-out halves of the test folds after N ratings of weak answers\n"
              f"in the other halves (routed at a 50% share; thumbs-up if right; thumbs-down + retry with the\n"
              f"strong model if wrong, label = whether the strong retry was right); mean of {FEEDBACK_USERS} "
              f"simulated users\n(random streams), and in brackets the smallest gain among them:")
        for bench, per_n in report["feedback"].items():
            print(f"  {bench:<6} " + "  ".join(
                f"N={v['events']}: {v['apgr']:.3f}" + (f" ({v['min_gain']:+.3f})" if v["events"] else "")
                for v in per_n.values()))
    print(f"\n({report['seconds']}s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
