"""Evaluate the router recipe on ../shared/routing-bench/ and print the APGR/CPT table.

    python tools/eval_router.py [--data DIR] [--json] [--no-lodo] [--no-feedback]

MMLU is cross-validated grouped by domain (5 grouped folds, and leave-one-domain-out), GSM8K
with 5-fold; every test fold is scored by a model fitted only on the other rows. The router is
compared with a random router (APGR 0.5 by construction) and with prompt length. The recipe's
choice among router_training.recipe.CANDIDATES is also evaluated nested (chosen again by inner CV inside every
outer training fold), which is the honest estimate of the shipped recipe's performance. Then a
feedback simulation: for each of 5 simulated users, half of every held-out fold's prompts are
the user's stream (routed at a 50% share; the user rates the weak answers, up to N), and APGR is
measured on the other halves before and after that feedback. Chat (chat.jsonl.gz): the chat
part's nested figures (Mixtral and the mean over the 14 weaker models) beside the router without
chat data, prompt length, random and the ceiling, GSM8K with the chat part added, and a feedback
simulation on chat answers (router_training.chat_feedback).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

# One BLAS thread, as in tools/train_router.py: the same bits, and faster on a shared machine.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from router_training import chat as chat_training  # noqa: E402
from router_training.chat_feedback import chat_feedback_simulation  # noqa: E402
from router_training.cv import cross_validate, metrics_table, nested_cross_validate  # noqa: E402
from router_training.data import char_mean, default_data_dir, featurise, load_bench  # noqa: E402
from router_training.recipe import CANDIDATES, DATA_FILES, RECIPE, fit_recipe  # noqa: E402

from desktop.router.evaluation import apgr, routing_metrics  # noqa: E402
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

            def measure(fb: FeedbackModel, held: np.ndarray, todo: list[int], per_n: dict, given: int) -> None:
                vals = base[held] + np.array([fb.shift(view(j)) for j in held])
                per_n[todo.pop(0)] = (apgr(vals, ds.strong[held], ds.weak[held]), given)

            while todo and todo[0] == 0:
                measure(fb, held, todo, per_n, given)
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
                    measure(fb, held, todo, per_n, given)
            while todo:  # the stream ran out of weak answers to rate
                measure(fb, held, todo, per_n, given)
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
    # the chat part, exactly as tools/train_router.py fits it beside the full-data model
    final = fit_recipe(ds, dense, X, np.arange(len(ds)), RECIPE, dense.mean(axis=0)).calibrated(*cv.calibration)
    final.w_hash = final.w_hash.astype(np.float32).astype(np.float64)
    part = chat_training.fit_chat_part(args.data / chat_training.CHAT_FILE, ds, dense, cv, final)
    report["chat"] = part.metrics
    g5g = report["grouped_5fold"]["gsm8k"]
    g5g["router_before_chat_part"] = g5g["router"]
    g5g["router"] = routing_metrics(cv.oof_final[part.gsm8k_rows] + part.gsm8k_chat_logit,
                                    ds.strong[part.gsm8k_rows], ds.weak[part.gsm8k_rows]).to_dict()
    if not args.no_lodo:
        cv_lodo = cross_validate(ds, dense, X, RECIPE, leave_one_domain_out=True)
        report["leave_one_domain_out"] = metrics_table(ds, dense, cv_lodo)
    if not args.no_nested:
        cv_nested, chosen = nested_cross_validate(ds, dense, X, CANDIDATES)
        report["nested"] = metrics_table(ds, dense, cv_nested)
        report["nested"]["chosen_per_outer_fold"] = chosen
        ng = report["nested"]["gsm8k"]
        ng["router_before_chat_part"] = ng["router"]
        ng["router"] = routing_metrics(cv_nested.oof_final[part.gsm8k_rows] + part.gsm8k_chat_logit,
                                       ds.strong[part.gsm8k_rows], ds.weak[part.gsm8k_rows]).to_dict()
    if not args.no_feedback:
        report["feedback"] = feedback_simulation(ds, dense, X, cv, char_mean(X), RECIPE.seed)
        report["chat_feedback"] = chat_feedback_simulation(part, char_mean(X).astype(np.float32).astype(np.float64),
                                                           RECIPE.seed)
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
    ch = report["chat"]
    print(f"\nChat (chat.jsonl.gz, {len(part.data.prompts)} prompts; APGR on judge scores, strong = GPT-4), "
          "nested CV:")
    for k in ("router", "router_without_chat_data", "prompt_length", "random", "ceiling_mean_weak_score_known"):
        print(f"  {k:<30} Mixtral {ch[k]['mixtral_apgr']:.3f}   mean of 14 weak models {ch[k]['mean_apgr_14']:.3f}")
    print(f"  GSM8K with the chat part added: {g5g['router']['apgr']:.3f} "
          f"(before {g5g['router_before_chat_part']['apgr']:.3f})")
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
    if "chat_feedback" in report:
        cf = report["chat_feedback"]
        print(f"\nChat feedback ({cf['users']} users, each rating the Mixtral answers in half the chat prompts; "
              f"{cf['ratings']:.0f} ratings, {cf['thumbs_down']:.0f} thumbs-down):\n"
              f"  held-out half: APGR {cf['apgr_before']:.3f} -> {cf['apgr_after']:.3f}, sent to strong "
              f"{cf['held_strong_before']:.0%} -> {cf['held_strong_after']:.0%}\n"
              f"  re-asks of thumbs-downed prompts sent to strong: {cf['reask_strong']:.0%} "
              "(each had gone to the weak model when it was rated)")
    print(f"\n({report['seconds']}s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
