"""Fitting the router's logistic model (numpy only, deterministic).

Used by ``tools/train_router.py`` and ``tools/eval_router.py``; the app never imports it.
The model is a regularised logistic regression on standardised dense features plus hashed
n-grams (a sparse CSR matrix held as three numpy arrays), fitted by full-batch L-BFGS with a
backtracking line search from a zero start: no randomness, so the same data gives the same bits.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from .features import DENSE_NAMES, HASH_DIM, N_BLOCKS, PromptFeatures, text_features

__all__ = [
    "Dataset",
    "load_bench",
    "featurise",
    "Sparse",
    "FitConfig",
    "Fitted",
    "fit",
    "predict_logit",
    "make_labels",
    "grouped_folds",
    "kfold",
]

N_HASH = HASH_DIM * N_BLOCKS


@dataclass
class Dataset:
    benchmark: np.ndarray  # str
    domain: np.ndarray  # str
    prompt: list[str]
    strong: np.ndarray  # bool
    weak: np.ndarray  # bool

    def __len__(self) -> int:
        return len(self.prompt)

    def subset(self, idx: np.ndarray) -> "Dataset":
        return Dataset(
            self.benchmark[idx],
            self.domain[idx],
            [self.prompt[i] for i in idx],
            self.strong[idx],
            self.weak[idx],
        )


def sha256_file(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_bench(paths: Sequence[Path]) -> Dataset:
    rows = []
    for p in paths:
        with gzip.open(p, "rt", encoding="utf-8") as fh:
            rows.extend(json.loads(line) for line in fh if line.strip())
    return Dataset(
        np.array([r["benchmark"] for r in rows]),
        np.array([r["domain"] for r in rows]),
        [r["prompt"] for r in rows],
        np.array([bool(r["strong_correct"]) for r in rows]),
        np.array([bool(r["weak_correct"]) for r in rows]),
    )


@dataclass
class Sparse:
    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    n_cols: int

    @property
    def n_rows(self) -> int:
        return self.indptr.size - 1

    def rows(self, idx: np.ndarray) -> "Sparse":
        starts = self.indptr[idx]
        ends = self.indptr[idx + 1]
        lens = ends - starts
        take = np.concatenate([np.arange(a, b) for a, b in zip(starts, ends)]) if idx.size else np.zeros(0, np.int64)
        indptr = np.concatenate([[0], np.cumsum(lens)])
        return Sparse(indptr, self.indices[take], self.data[take], self.n_cols)

    def dot(self, w: np.ndarray) -> np.ndarray:
        prod = self.data * w[self.indices]
        out = np.zeros(self.n_rows)
        nz = self.indptr[1:] > self.indptr[:-1]
        out[nz] = np.add.reduceat(prod, self.indptr[:-1][nz])
        return out

    def tdot(self, r: np.ndarray) -> np.ndarray:
        lens = np.diff(self.indptr)
        return np.bincount(self.indices, weights=self.data * np.repeat(r, lens), minlength=self.n_cols)


def featurise(prompts: Sequence[str]) -> tuple[np.ndarray, Sparse]:
    feats: list[PromptFeatures] = [text_features(p) for p in prompts]
    dense = np.vstack([f.dense for f in feats]) if feats else np.zeros((0, len(DENSE_NAMES)))
    lens = np.array([f.idx.size for f in feats], dtype=np.int64)
    indptr = np.concatenate([[0], np.cumsum(lens)])
    indices = np.concatenate([f.idx for f in feats]) if feats else np.zeros(0, np.int64)
    data = np.concatenate([f.val for f in feats]) if feats else np.zeros(0)
    return dense, Sparse(indptr, indices, data, N_HASH)


def make_labels(ds: Dataset, label: str) -> np.ndarray:
    s = ds.strong.astype(np.float64)
    w = ds.weak.astype(np.float64)
    if label == "weak_fails":
        return 1.0 - w
    if label == "strong_wins":
        return s * (1.0 - w)
    if label == "soft":  # 1 strong better, 0.5 tie, 0 weak better
        return (s - w + 1.0) / 2.0
    raise ValueError(label)


@dataclass(frozen=True)
class FitConfig:
    label: str = "strong_wins"
    l2_dense: float = 1e-3
    l2_hash: float = 1e-3
    use_hash: bool = True
    max_iter: int = 200
    tol: float = 1e-7

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class Fitted:
    mean: np.ndarray
    scale: np.ndarray
    w_dense: np.ndarray
    w_hash: np.ndarray  # (N_HASH,), zeros when hashing is off
    bias: float
    iterations: int


def _lbfgs(fun, x0: np.ndarray, max_iter: int, tol: float, m: int = 10) -> tuple[np.ndarray, int]:
    x = x0.copy()
    f, g = fun(x)
    s_hist: list[np.ndarray] = []
    y_hist: list[np.ndarray] = []
    it = 0
    for it in range(1, max_iter + 1):
        q = g.copy()
        alphas = []
        for s_, y_ in zip(reversed(s_hist), reversed(y_hist)):
            rho = 1.0 / float(y_ @ s_)
            a = rho * float(s_ @ q)
            alphas.append((a, rho))
            q -= a * y_
        if y_hist:
            q *= float(s_hist[-1] @ y_hist[-1]) / float(y_hist[-1] @ y_hist[-1])
        for (a, rho), s_, y_ in zip(reversed(alphas), s_hist, y_hist):
            b = rho * float(y_ @ q)
            q += (a - b) * s_
        d = -q
        gd = float(g @ d)
        if gd >= 0:
            d = -g
            gd = -float(g @ g)
        step = 1.0 if y_hist else 1.0 / max(1.0, float(np.sqrt(g @ g)))
        while True:
            xn = x + step * d
            fn, gn = fun(xn)
            if fn <= f + 1e-4 * step * gd or step < 1e-12:
                break
            step *= 0.5
        s_new = xn - x
        y_new = gn - g
        if float(s_new @ y_new) > 1e-12:
            s_hist.append(s_new)
            y_hist.append(y_new)
            if len(s_hist) > m:
                s_hist.pop(0)
                y_hist.pop(0)
        done = abs(f - fn) <= tol * max(1.0, abs(f))
        x, f, g = xn, fn, gn
        if done:
            break
    return x, it


def fit(dense: np.ndarray, X: Sparse, y: np.ndarray, cfg: FitConfig, sample_weight=None) -> Fitted:
    n, p = dense.shape
    mean = dense.mean(axis=0)
    scale = dense.std(axis=0)
    scale[scale < 1e-9] = 1.0
    Z = (dense - mean) / scale
    sw = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    sw = sw / sw.sum()
    use_hash = cfg.use_hash
    nh = X.n_cols if use_hash else 0

    def fun(theta: np.ndarray):
        b = theta[0]
        wd = theta[1 : 1 + p]
        z = b + Z @ wd
        if use_hash:
            wh = theta[1 + p :]
            z = z + X.dot(wh)
        # logistic loss with soft labels, numerically stable
        lz = np.logaddexp(0.0, z)
        loss = float(sw @ (lz - y * z))
        r = sw * (1.0 / (1.0 + np.exp(-z)) - y)
        g = np.empty_like(theta)
        g[0] = r.sum()
        g[1 : 1 + p] = Z.T @ r + cfg.l2_dense * wd
        loss += 0.5 * cfg.l2_dense * float(wd @ wd)
        if use_hash:
            g[1 + p :] = X.tdot(r) + cfg.l2_hash * wh
            loss += 0.5 * cfg.l2_hash * float(wh @ wh)
        return loss, g

    theta0 = np.zeros(1 + p + nh)
    ybar = float(np.clip(sw @ y, 1e-6, 1 - 1e-6))
    theta0[0] = np.log(ybar / (1 - ybar))
    theta, it = _lbfgs(fun, theta0, cfg.max_iter, cfg.tol)
    w_hash = theta[1 + p :] if use_hash else np.zeros(X.n_cols)
    return Fitted(mean, scale, theta[1 : 1 + p].copy(), w_hash.copy(), float(theta[0]), it)


def predict_logit(m: Fitted, dense: np.ndarray, X: Sparse) -> np.ndarray:
    return m.bias + ((dense - m.mean) / m.scale) @ m.w_dense + X.dot(m.w_hash)


def grouped_folds(groups: np.ndarray, k: int) -> list[np.ndarray]:
    """Assign whole groups to k folds, largest group first into the fold with fewest rows
    (ties by name): deterministic, and no group appears in two folds."""
    names, counts = np.unique(groups, return_counts=True)
    order = sorted(range(len(names)), key=lambda i: (-counts[i], names[i]))
    sizes = [0] * k
    members: list[list[str]] = [[] for _ in range(k)]
    for i in order:
        f = min(range(k), key=lambda j: (sizes[j], j))
        sizes[f] += counts[i]
        members[f].append(names[i])
    return [np.nonzero(np.isin(groups, m))[0] for m in members]


def kfold(n: int, k: int, seed: int) -> list[np.ndarray]:
    perm = np.random.default_rng(seed).permutation(n)
    return [np.sort(perm[i::k]) for i in range(k)]


# --- the full recipe: configuration, cross-validation, final fit -------------------------

# Features whose meaning on the benchmark differs from chat (or that never vary in it) are not
# fitted; they get hand-set coefficients (per raw unit) so they behave sensibly on chat.
PRIOR_COEF: dict[str, float] = {
    "chat_words": -0.6,  # greetings and small talk: the weak model is fine
    "creative_words": -0.15,  # open creative writing: small quality gap
    "history_turns": 0.08,  # long conversations carry more context to track
    "history_log_chars": 0.04,
    "n_options": 0.0,  # constant on MMLU, absent on GSM8K: would only learn the benchmark
}


@dataclass(frozen=True)
class Recipe:
    fit: FitConfig
    balance_domains: bool
    calibration_label: str = "strong_wins"
    seed: int = 20240607
    gsm8k_folds: int = 5
    mmlu_folds: int = 5

    def to_dict(self) -> dict:
        return {
            "fit": self.fit.to_dict(),
            "balance_domains": self.balance_domains,
            "calibration_label": self.calibration_label,
            "seed": self.seed,
            "gsm8k_folds": self.gsm8k_folds,
            "mmlu_folds": self.mmlu_folds,
            "prior_coefficients": PRIOR_COEF,
        }


def fitted_mask() -> np.ndarray:
    return np.array([n not in PRIOR_COEF for n in DENSE_NAMES])


def _weights_for(ds: Dataset, idx: np.ndarray, balance: bool) -> np.ndarray | None:
    if not balance:
        return None
    keys = np.char.add(np.char.add(ds.benchmark[idx].astype(str), "/"), ds.domain[idx].astype(str))
    _, inv, cnt = np.unique(keys, return_inverse=True, return_counts=True)
    return 1.0 / cnt[inv]


def fit_recipe(ds: Dataset, dense: np.ndarray, X: Sparse, idx: np.ndarray, recipe: Recipe) -> Fitted:
    mask = fitted_mask()
    y = make_labels(ds, recipe.fit.label)
    Xs = X.rows(idx) if recipe.fit.use_hash else X
    m = fit(dense[idx][:, mask], Xs, y[idx], recipe.fit, _weights_for(ds, idx, recipe.balance_domains))
    mean = dense[idx].mean(axis=0)
    scale = np.ones(dense.shape[1])
    w = np.zeros(dense.shape[1])
    scale[mask] = m.scale
    mean[mask] = m.mean
    w[mask] = m.w_dense
    for j, name in enumerate(DENSE_NAMES):
        if name in PRIOR_COEF:
            w[j] = PRIOR_COEF[name]  # scale is 1: per raw unit
    return Fitted(mean, scale, w, m.w_hash, m.bias, m.iterations)


def raw_score(m: Fitted, dense: np.ndarray, X: Sparse, centre: np.ndarray) -> np.ndarray:
    """Logit without the intercept, centred on a fixed (label-free) point, so that scores
    from models fitted on different folds can be pooled without the fold-specific offset."""
    return ((dense - centre) / m.scale) @ m.w_dense + X.dot(m.w_hash)


@dataclass
class CVResult:
    oof: np.ndarray  # raw out-of-fold scores for every row
    mmlu_folds: list[np.ndarray]
    gsm8k_folds: list[np.ndarray]


def cross_validate(ds: Dataset, dense: np.ndarray, X: Sparse, recipe: Recipe,
                   progress=None) -> CVResult:
    """MMLU: folds grouped by domain; GSM8K: plain k-fold. Every test fold is scored by a model
    fitted on all other rows (both benchmarks), as the shipped model is."""
    is_m = ds.benchmark == "mmlu"
    m_idx = np.nonzero(is_m)[0]
    g_idx = np.nonzero(~is_m)[0]
    mf = [m_idx[f] for f in grouped_folds(ds.domain[m_idx], recipe.mmlu_folds)]
    gf = [g_idx[f] for f in kfold(g_idx.size, recipe.gsm8k_folds, recipe.seed)]
    centre = dense.mean(axis=0)
    oof = np.zeros(len(ds))
    everything = np.arange(len(ds))
    for k, te in enumerate(mf + gf):
        tr = np.setdiff1d(everything, te)
        m = fit_recipe(ds, dense, X, tr, recipe)
        oof[te] = raw_score(m, dense[te], X.rows(te), centre)
        if progress:
            progress(k + 1, len(mf) + len(gf))
    return CVResult(oof, mf, gf)


def platt(raw: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Fit P(y) = sigmoid(a * raw + b) (deterministic Newton steps)."""
    a, b = 1.0, 0.0
    ybar = float(np.clip(y.mean(), 1e-6, 1 - 1e-6))
    b = float(np.log(ybar / (1 - ybar)))
    a = 0.0
    for _ in range(50):
        z = a * raw + b
        p = 1.0 / (1.0 + np.exp(-z))
        g = np.array([np.sum((p - y) * raw), np.sum(p - y)])
        wgt = p * (1 - p)
        H = np.array([[np.sum(wgt * raw * raw), np.sum(wgt * raw)], [np.sum(wgt * raw), np.sum(wgt)]])
        H += np.eye(2) * 1e-9
        step = np.linalg.solve(H, g)
        a -= step[0]
        b -= step[1]
        if np.max(np.abs(step)) < 1e-10:
            break
    return float(a), float(b)


RECIPE = Recipe(
    fit=FitConfig(label="soft", l2_dense=10.0, l2_hash=1e-2, use_hash=False, max_iter=200),
    balance_domains=False,
)

DATA_FILES = ("mmlu.jsonl.gz", "gsm8k.jsonl.gz")


def metrics_table(ds: Dataset, dense: np.ndarray, cv: CVResult) -> dict:
    """APGR/CPT for the router (pooled out-of-fold scores), random and prompt length."""
    from .evaluation import apgr, routing_metrics

    length = dense[:, DENSE_NAMES.index("log_chars")]
    out: dict = {}
    for bench, folds in (("mmlu", cv.mmlu_folds), ("gsm8k", cv.gsm8k_folds)):
        idx = np.concatenate(folds)
        s, w = ds.strong[idx], ds.weak[idx]
        out[bench] = {
            "router": routing_metrics(cv.oof[idx], s, w).to_dict(),
            "random": routing_metrics(np.zeros(idx.size), s, w).to_dict(),
            "prompt_length": routing_metrics(length[idx], s, w).to_dict(),
            "router_mean_apgr_per_fold": float(np.mean([apgr(cv.oof[f], ds.strong[f], ds.weak[f]) for f in folds])),
            "prompt_length_mean_apgr_per_fold": float(np.mean([apgr(length[f], ds.strong[f], ds.weak[f]) for f in folds])),
            "folds": len(folds),
        }
    return out
