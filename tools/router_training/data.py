"""Training data for the router: the benchmark files, features as matrices, labels, folds.

Used by tools/train_router.py and tools/eval_router.py only; the app never imports it.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from desktop.core.types import ChatMessage
from desktop.router.features import DENSE_NAMES, HASH_DIM, N_BLOCKS, PromptFeatures, text_features

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

    def subset(self, idx: np.ndarray) -> Dataset:
        return Dataset(
            self.benchmark[idx],
            self.domain[idx],
            [self.prompt[i] for i in idx],
            self.strong[idx],
            self.weak[idx],
        )


def default_data_dir() -> Path:
    """``shared/routing-bench`` beside the checkout or beside any folder above it (a git
    worktree sits one level deeper than the main checkout); ``ROUTEDESK_BENCH`` overrides."""
    env = os.environ.get("ROUTEDESK_BENCH")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parents[2]
    for up in here.parents:
        cand = up / "shared" / "routing-bench"
        if cand.is_dir():
            return cand
    return here.parent / "shared" / "routing-bench"


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

    def rows(self, idx: np.ndarray) -> Sparse:
        starts = self.indptr[idx]
        ends = self.indptr[idx + 1]
        lens = ends - starts
        take = (np.concatenate([np.arange(a, b) for a, b in zip(starts, ends, strict=True)])
                if idx.size else np.zeros(0, np.int64))
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


def within_subject(y: np.ndarray, ds: Dataset, rows: np.ndarray) -> np.ndarray:
    """Labels relative to their subject: each training row's label minus its domain's mean
    label plus its benchmark's mean (over ``rows`` only), clipped to [0, 1]. The model then
    learns what makes a question harder than the others *of its subject* rather than which
    subjects are hard; with a few dozen subjects the between-subject part is mostly confounded
    (a subject's questions happen to be long, or to mention people) and does not carry over to
    subjects it never saw, while the within-subject cues do. GSM8K is one domain, so its labels
    are unchanged. Means are taken over the training rows only: no held-out label is read."""
    out = y.copy()
    sub = ds.benchmark[rows]
    dom = ds.domain[rows]
    for b in np.unique(sub):
        in_b = sub == b
        b_mean = float(y[rows[in_b]].mean())
        for d in np.unique(dom[in_b]):
            r = rows[in_b & (dom == d)]
            out[r] = np.clip(y[r] - y[r].mean() + b_mean, 0.0, 1.0)
    return out


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


def char_mean(X: Sparse) -> np.ndarray:
    """Mean character 4-gram vector over all prompts (no labels used): feedback's centre."""
    ch = X.indices >= HASH_DIM
    return np.bincount(X.indices[ch] - HASH_DIM, weights=X.data[ch], minlength=HASH_DIM) / X.n_rows


# --- the reference score distribution -------------------------------------------------------


def load_reference_prompts(path: Path) -> tuple[list[list[ChatMessage]], np.ndarray]:
    """Hand-written everyday chat prompts (JSON lines ``{"prompt", "category", "hard"}``, with
    an optional ``history``: earlier user turns, oldest first) as conversations, and whether
    each was written as a genuinely hard request. Not training data: only the population the
    share-target threshold is calibrated on."""
    convs: list[list[ChatMessage]] = []
    hard: list[bool] = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            row = json.loads(line)
            convs.append([ChatMessage("user", h) for h in row.get("history", ())]
                         + [ChatMessage("user", row["prompt"])])
            hard.append(bool(row.get("hard", False)))
    return convs, np.array(hard, dtype=bool)


def reference_quantiles(scores: np.ndarray, n: int = 201) -> np.ndarray:
    """``n`` evenly spaced quantiles (0 to 1) of the reference prompts' scores."""
    return np.quantile(np.asarray(scores, dtype=np.float64), np.linspace(0.0, 1.0, n))
