"""Feedback on chat answers, simulated on chat.jsonl.gz with held-out scores.

For each simulated user the 298 prompts are split in two halves at random: the first half is
the user's stream, routed at a 50% share by the nested out-of-fold chat scores (the router never
trained on the prompt it scores) plus the feedback so far; the user rates the weak (Mixtral)
answers they get: a thumbs-down and a retry with the strong model when the weak answer scored at
least 2 points below GPT-4's (label 1), a thumbs-up otherwise (label 0). Measured:

* APGR (Mixtral) on the other half, which no rating touched, before and after the ratings;
* the re-asks: every thumbs-downed prompt sent again later, in other words ("Again, please: "
  before it and a different closing), whether it now goes to the strong model, against the
  share of the held-out half that went to strong before and after (an unrelated prompt should
  not move).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from desktop.router.evaluation import apgr
from desktop.router.features import text_features
from desktop.router.feedback import FeedbackModel, content_view

from .chat import MIXTRAL, ChatPart

USERS = 5
REASK = "Again, please: {} Thanks."


def chat_feedback_simulation(part: ChatPart, char_mean: np.ndarray, seed: int) -> dict[str, Any]:
    cd = part.data
    base = part.nested_scores[0]
    s, w = cd.strong, cd.weak(MIXTRAL)
    ok = ~np.isnan(s) & ~np.isnan(w)
    idx = np.nonzero(ok)[0]
    views = [content_view(text_features(p)) for p in cd.prompts]
    runs = []
    for user in range(USERS):
        rng = np.random.default_rng([seed, user])
        perm = rng.permutation(idx)
        stream, held = perm[: perm.size // 2], np.sort(perm[perm.size // 2:])
        thr = float(np.median(base[stream]))
        fb = FeedbackModel(mean=char_mean)
        before = apgr(base[held], s[held], w[held])
        held_strong_before = float(np.mean(base[held] > thr))
        downs = []
        for i in stream:
            z = base[i] + fb.shift(views[i])
            if z > thr:
                continue  # went to the strong model: no weak answer to rate
            label = 1.0 if s[i] - w[i] >= 2.0 else 0.0
            fb.update(views[i], 1.0 / (1.0 + np.exp(-z)), label)
            if label:
                downs.append(i)
        shifted = base[held] + np.array([fb.shift(views[j]) for j in held])
        reask = [content_view(text_features(REASK.format(cd.prompts[i]))) for i in downs]
        reask_strong = [base[i] + fb.shift(v) > thr for i, v in zip(downs, reask, strict=True)]
        runs.append({
            "ratings": fb.events, "thumbs_down": len(downs),
            "apgr_before": before, "apgr_after": apgr(shifted, s[held], w[held]),
            "held_strong_before": held_strong_before, "held_strong_after": float(np.mean(shifted > thr)),
            "reask_strong": float(np.mean(reask_strong)) if downs else 0.0,
        })
    return {k: float(np.mean([r[k] for r in runs])) for k in runs[0]} | {"users": USERS}
