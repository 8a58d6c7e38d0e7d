"""Deterministic fitting: L2-regularised logistic regression by full-batch L-BFGS with a
backtracking line search from a fixed start, and Platt scaling by Newton's method. No
randomness, so the same data gives the same bits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .data import Sparse


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
    while it < max_iter:
        it += 1
        q = g.copy()
        alphas = []
        for s_, y_ in zip(reversed(s_hist), reversed(y_hist), strict=True):
            rho = 1.0 / float(y_ @ s_)
            a = rho * float(s_ @ q)
            alphas.append((a, rho))
            q -= a * y_
        if y_hist:
            q *= float(s_hist[-1] @ y_hist[-1]) / float(y_hist[-1] @ y_hist[-1])
        for (a, rho), s_, y_ in zip(reversed(alphas), s_hist, y_hist, strict=True):
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




def platt(raw: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Fit P(y) = sigmoid(a * raw + b) by Newton's method (deterministic)."""
    ybar = float(np.clip(y.mean(), 1e-6, 1 - 1e-6))
    a, b = 0.0, float(np.log(ybar / (1 - ybar)))
    for _ in range(100):
        z = a * raw + b
        p = 1.0 / (1.0 + np.exp(-z))
        g = np.array([np.sum((p - y) * raw), np.sum(p - y)])
        wgt = p * (1 - p)
        H = np.array([[np.sum(wgt * raw * raw), np.sum(wgt * raw)], [np.sum(wgt * raw), np.sum(wgt)]])
        step = np.linalg.solve(H + np.eye(2) * 1e-9, g)
        a -= step[0]
        b -= step[1]
        if np.max(np.abs(step)) < 1e-12:
            break
    return float(a), float(b)


