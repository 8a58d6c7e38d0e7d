"""The chat part of the router: learnt from ``chat.jsonl.gz`` (298 real prompts, each answered
by 15 models and scored 1-10 by GPT-4).

Label: how badly the 14 weaker models do on a prompt, i.e. minus the mean of their judge
scores, standardised. Each weak model is one noisy view of how much the prompt needs a strong
model; their mean is far less noisy than any one pair, and on these prompts predicting it
perfectly would give APGR 0.659 against Mixtral (see ``ceiling``), while the GPT-4 side of the
gap is not predictable from the prompt (a ridge fit to GPT-4's own score ranks *worse* than
random). The model is a ridge regression on the standardised ``CHAT_NAMES`` features; its
penalty is chosen by an inner 5-fold CV (criterion: the mean APGR over the 14 weak models),
and the honest figure is the nested one: repeated 10-fold CV with the penalty chosen again
inside every outer training fold.
"""

from __future__ import annotations

import gzip
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from desktop.router.chat_features import CHAT_NAMES, chat_features
from desktop.router.evaluation import apgr
from desktop.router.features import DENSE_NAMES

from .cv import CVResult
from .data import Dataset, featurise
from .recipe import Model

STRONG = "gpt-4-1106-preview"
MIXTRAL = "Mixtral-8x7B-Instruct-v0.1"
CHAT_FILE = "chat.jsonl.gz"
LAMBDAS = (30.0, 100.0, 300.0, 1000.0)
# weights of the chat part (logit per standardised ridge unit) against the rest of the free-form logit
SCALES = (0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0)
# how far the chat part steps back on prompts with numbers in them, where the part learnt from
# GSM8K's maths word problems applies: factor 1 - strength * gate (gate 0 / 0.5 / 1 for 0 / 1 / 2+
# numbers, as for the hashed n-grams)
GATE_STRENGTHS = (1.0, 0.75, 0.5)


def number_gate(n_numbers: np.ndarray) -> np.ndarray:
    return np.asarray(np.minimum(1.0, n_numbers / 2.0))
OUTER_FOLDS, OUTER_REPEATS, INNER_FOLDS = 10, 3, 5
SEED = 20240607


@dataclass
class ChatData:
    prompts: list[str]
    models: list[str]
    scores: np.ndarray  # (n, models) judge scores, NaN where missing

    @property
    def strong(self) -> np.ndarray:
        return self.scores[:, self.models.index(STRONG)]

    @property
    def weak_models(self) -> list[str]:
        return [m for m in self.models if m != STRONG]

    def weak(self, model: str) -> np.ndarray:
        return self.scores[:, self.models.index(model)]


def load_chat(path: Path) -> ChatData:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    models = sorted({m for r in rows for m in r["scores"]})
    scores = np.array([[float(r["scores"].get(m, np.nan)) for m in models] for r in rows])
    return ChatData([r["prompt"] for r in rows], models, scores)


def chat_matrix(prompts: list[str]) -> np.ndarray:
    return np.array([chat_features(p) for p in prompts])


def need_label(cd: ChatData) -> np.ndarray:
    """Minus the mean weak-model score per prompt, standardised (a prompt no weak model was
    scored on gets the average)."""
    cols = [cd.models.index(m) for m in cd.weak_models]
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        v = -np.nanmean(np.where(np.isnan(cd.scores[:, cols]), np.nan, cd.scores[:, cols]), axis=1)
    v = np.where(np.isnan(v), np.nanmean(v), v)
    return (v - v.mean()) / v.std()


def clear_share(cd: ChatData) -> np.ndarray:
    """The share of weak models whose answer scored at least 2 points below GPT-4's: the
    calibration label (what the router's probability means on chat)."""
    cols = [cd.models.index(m) for m in cd.weak_models]
    gap = cd.strong[:, None] - cd.scores[:, cols]
    clear = np.where(np.isnan(gap), np.nan, (gap >= 2.0).astype(np.float64))
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a prompt no weak model was scored on
        out = np.nanmean(clear, axis=1)
    return np.where(np.isnan(out), np.nanmean(out), out)


def pair_apgr(cd: ChatData, scores: np.ndarray, model: str, rows: np.ndarray | None = None) -> float:
    rows = np.arange(len(cd.prompts)) if rows is None else rows
    s, w = cd.strong[rows], cd.weak(model)[rows]
    ok = ~np.isnan(s) & ~np.isnan(w)
    return apgr(scores[rows][ok], s[ok], w[ok])


def mean_apgr(cd: ChatData, scores: np.ndarray, rows: np.ndarray | None = None) -> float:
    return float(np.mean([pair_apgr(cd, scores, m, rows) for m in cd.weak_models]))


@dataclass
class Ridge:
    mean: np.ndarray
    scale: np.ndarray
    w: np.ndarray  # per standardised unit

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(((X - self.mean) / self.scale) @ self.w)


def fit_ridge(X: np.ndarray, y: np.ndarray, lam: float) -> Ridge:
    mean = X.mean(axis=0)
    scale = X.std(axis=0)
    scale[scale < 1e-9] = 1.0
    Z = (X - mean) / scale
    w = np.linalg.solve(Z.T @ Z + lam * np.eye(X.shape[1]), Z.T @ (y - y.mean()))
    return Ridge(mean, scale, w)


def _folds(rows: np.ndarray, k: int, seed: int | list[int]) -> list[np.ndarray]:
    perm = np.random.default_rng(seed).permutation(rows)
    return [np.sort(perm[i::k]) for i in range(k)]


def choose_lambda(cd: ChatData, X: np.ndarray, y: np.ndarray, rows: np.ndarray,
                  seed: int) -> tuple[float, np.ndarray]:
    """The penalty with the best inner-CV mean APGR over the weak models, on ``rows`` only, and
    its inner out-of-fold predictions (zero outside ``rows``)."""
    best: tuple[float, float, np.ndarray] | None = None
    folds = _folds(rows, INNER_FOLDS, seed)
    for lam in LAMBDAS:
        oof = np.zeros(len(cd.prompts))
        for te in folds:
            tr = np.setdiff1d(rows, te)
            oof[te] = fit_ridge(X[tr], y[tr], lam).predict(X[te])
        crit = mean_apgr(cd, oof, rows)
        if best is None or crit > best[0]:
            best = (crit, lam, oof)
    assert best is not None
    return best[1], best[2]


def choose_scale(cd: ChatData, offset: np.ndarray, pred: np.ndarray, gate: np.ndarray, rows: np.ndarray,
                 options: tuple[tuple[float, float], ...]) -> tuple[float, float]:
    """The weight of the chat part against the rest of the free-form logit and its gate strength:
    the (scale, strength) among ``options`` with the best mean APGR over the weak models on
    ``rows`` (out-of-fold ``pred``)."""
    return max(options, key=lambda o: (mean_apgr(cd, offset + o[0] * (1.0 - o[1] * gate) * pred, rows),
                                       -o[0], o[1]))


def nested_cv(cd: ChatData, X: np.ndarray, y: np.ndarray, offset: np.ndarray, gate: np.ndarray,
              options: tuple[tuple[float, float], ...]) -> dict[str, Any]:
    """Repeated 10-fold CV of the whole chat score as shipped: ``offset`` (the rest of the
    router's free-form logit, learnt without chat data) + a * (1 - strength * gate) * ridge
    prediction, with the penalty, the scale ``a`` and the gate strength (among ``options``)
    chosen again inside every outer training fold (inner CV), so the outer test fold plays no
    part. Returns the scores per repeat, the penalties chosen and the
    figures (the mean over repeats)."""
    n = len(cd.prompts)
    everything = np.arange(n)
    scores, chosen = [], []
    for rep in range(OUTER_REPEATS):
        out = np.zeros(n)
        for k, te in enumerate(_folds(everything, OUTER_FOLDS, [SEED, rep])):
            tr = np.setdiff1d(everything, te)
            lam, inner = choose_lambda(cd, X, y, tr, SEED + 100 * rep + k)
            a, strength = choose_scale(cd, offset, inner, gate, tr, options)
            chosen.append((lam, a, strength))
            out[te] = offset[te] + a * (1.0 - strength * gate[te]) * fit_ridge(X[tr], y[tr], lam).predict(X[te])
        scores.append(out)
    return {"scores": scores, "lambdas": chosen, **figures(cd, scores)}


def figures(cd: ChatData, scores: list[np.ndarray]) -> dict[str, Any]:
    """Mixtral's APGR, the mean over the 14 weak models and each one (mean over ``scores``)."""
    per_model = {m: float(np.mean([pair_apgr(cd, o, m) for o in scores])) for m in cd.weak_models}
    return {"mixtral_apgr": per_model[MIXTRAL], "mean_apgr_14": float(np.mean(list(per_model.values()))),
            "per_weak_model": per_model}


def baselines(cd: ChatData, X_length: np.ndarray, shipped: np.ndarray | None = None) -> dict[str, Any]:
    """Random (a constant score: exactly 0.5), prompt length, the oracle ceilings, and the router
    before chat data (``shipped``)."""
    out: dict[str, Any] = {
        "random": figures(cd, [np.zeros(len(cd.prompts))]),
        "prompt_length": figures(cd, [X_length]),
        "ceiling_mean_weak_score_known": figures(cd, [need_label(cd)]),
    }
    if shipped is not None:
        out["router_without_chat_data"] = figures(cd, [shipped])
    return out


def platt_with_offset(offset: np.ndarray, pred: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Fit P(y) = sigmoid(offset + a * pred + b) by Newton's method (deterministic)."""
    a, b = 0.0, 0.0
    for _ in range(100):
        z = offset + a * pred + b
        p = 1.0 / (1.0 + np.exp(-z))
        g = np.array([np.sum((p - y) * pred), np.sum(p - y)])
        wgt = p * (1 - p)
        H = np.array([[np.sum(wgt * pred * pred), np.sum(wgt * pred)], [np.sum(wgt * pred), np.sum(wgt)]])
        step = np.linalg.solve(H + np.eye(2) * 1e-9, g)
        a -= float(step[0])
        b -= float(step[1])
        if np.max(np.abs(step)) < 1e-12:
            break
    return a, b


@dataclass
class ChatPart:
    data: ChatData
    ridge: Ridge
    penalty: float
    scale: float
    strength: float
    allowed: tuple[tuple[float, float], ...]
    offset: np.ndarray  # the rest of the free-form logit on the chat prompts
    gate: np.ndarray  # the number gate of each chat prompt
    nested_scores: list[np.ndarray]  # the nested CV's scores per repeat (the whole chat score)
    gsm8k_rows: np.ndarray
    gsm8k_chat_logit: np.ndarray  # the chat part's logit on those GSM8K rows
    metrics: dict[str, Any]


def fit_chat_part(path: Path, ds: Dataset, dense: np.ndarray, cv: CVResult, final: Model) -> ChatPart:
    """Fit the chat part on ``path`` beside the MMLU/GSM8K model ``final`` (its free-form logit is
    the fixed offset), choose its penalty, scale and gate strength, and evaluate it nested.

    The chat part also moves GSM8K prompts (free-form too): only the (scale, gate strength)
    settings with which GSM8K's out-of-fold APGR (``cv``) does not fall are allowed; the chat
    fit never sees GSM8K, so that figure stays honest."""
    cd = load_chat(path)
    X = chat_matrix(cd.prompts)
    y = need_label(cd)
    c_dense, c_X = featurise(cd.prompts)
    offset = final.logit(c_dense, c_X)
    every = np.arange(len(cd.prompts))
    lam, oof_pred = choose_lambda(cd, X, y, every, SEED)
    ridge = fit_ridge(X, y, lam)
    g_idx = np.concatenate(cv.gsm8k_folds)
    g_pred = ridge.predict(chat_matrix([ds.prompt[i] for i in g_idx]))
    nnum = DENSE_NAMES.index("number_count")
    g_gate = number_gate(np.expm1(dense[g_idx, nnum]))
    c_gate = number_gate(np.expm1(c_dense[:, nnum]))
    g_before = apgr(cv.oof_final[g_idx], ds.strong[g_idx], ds.weak[g_idx])
    allowed = tuple((a, st) for a in SCALES for st in GATE_STRENGTHS
                    if apgr(cv.oof_final[g_idx] + a * (1.0 - st * g_gate) * g_pred, ds.strong[g_idx],
                            ds.weak[g_idx]) >= g_before) or ((0.0, 1.0),)
    a_chat, strength = choose_scale(cd, offset, oof_pred, c_gate, every, allowed)
    nested = nested_cv(cd, X, y, offset, c_gate, allowed)
    metrics = {
        "protocol": f"{OUTER_REPEATS} x {OUTER_FOLDS}-fold CV of the shipped chat score (the rest of the "
        "free-form logit + scale x (1 - strength x number gate) x ridge); the ridge penalty (among "
        f"{list(LAMBDAS)}), the scale and the gate strength (among the settings GSM8K allows) are "
        f"chosen again inside every outer training fold by a {INNER_FOLDS}-fold inner CV; APGR with "
        "GPT-4 (gpt-4-1106-preview) as the strong model, mean over the repeats",
        "router": {k: v for k, v in nested.items() if k not in ("scores", "lambdas")},
        "settings_chosen_per_outer_fold": [list(x) for x in sorted(set(nested["lambdas"]))],
        **baselines(cd, X[:, CHAT_NAMES.index("log_chars")], 1.0 / (1.0 + np.exp(-offset))),
    }
    return ChatPart(cd, ridge, lam, a_chat, strength, allowed, offset, c_gate, nested["scores"], g_idx,
                    a_chat * (1.0 - strength * g_gate) * g_pred, metrics)
