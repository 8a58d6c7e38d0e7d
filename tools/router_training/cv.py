"""Cross-validation (MMLU grouped by domain, GSM8K k-fold), nested selection, metrics."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from desktop.router.evaluation import apgr, routing_metrics
from desktop.router.features import DENSE_NAMES

from .data import Dataset, Sparse, grouped_folds, kfold, make_labels
from .optimise import platt
from .recipe import Recipe, _prior_vector, fit_recipe, free_form_mask


@dataclass
class CVResult:
    oof: np.ndarray  # out-of-fold fitted logits (no priors) for every row
    oof_final: np.ndarray  # the same with the free-form priors, after calibration
    mmlu_folds: list[np.ndarray]
    gsm8k_folds: list[np.ndarray]
    calibration: tuple[float, float]
    models: list = None  # the fold models, in the order mmlu_folds + gsm8k_folds


def mmlu_gsm8k_folds(ds: Dataset, recipe: Recipe, leave_one_domain_out: bool = False):
    is_m = ds.benchmark == "mmlu"
    m_idx = np.nonzero(is_m)[0]
    g_idx = np.nonzero(~is_m)[0]
    if leave_one_domain_out:
        mf = [m_idx[ds.domain[m_idx] == d] for d in np.unique(ds.domain[m_idx])]
    else:
        mf = [m_idx[f] for f in grouped_folds(ds.domain[m_idx], recipe.mmlu_folds)]
    gf = [g_idx[f] for f in kfold(g_idx.size, recipe.gsm8k_folds, recipe.seed)]
    return mf, gf


def cross_validate(ds: Dataset, dense: np.ndarray, X: Sparse, recipe: Recipe, *,
                   leave_one_domain_out: bool = False, progress=None) -> CVResult:
    """MMLU: folds grouped by domain; GSM8K: plain k-fold. Every test fold is scored by a model
    fitted on all other rows (both benchmarks), as the shipped model is. Scores from all folds
    share the same fixed feature centre, so they can be pooled."""
    mf, gf = mmlu_gsm8k_folds(ds, recipe, leave_one_domain_out)
    centre = dense.mean(axis=0)
    oof = np.zeros(len(ds))
    everything = np.arange(len(ds))
    fold_models = []
    folds = mf + gf
    for k, te in enumerate(folds):
        tr = np.setdiff1d(everything, te)
        m = fit_recipe(ds, dense, X, tr, recipe, centre)
        # the intercepts are dropped: they differ between folds only by the held-out labels'
        # absence and would otherwise rank whole folds against each other (a known artefact)
        oof[te] = m.logit(dense[te], X.rows(te), with_priors=False) - np.where(
            free_form_mask(dense[te]), m.bias_ff, m.bias_mc)
        fold_models.append(m)
        if progress:
            progress(k + 1, len(folds))
    a, b = platt(oof, make_labels(ds, recipe.calibration_label))
    final = np.zeros(len(ds))
    for te, m in zip(folds, fold_models, strict=True):
        prior = _prior_vector(m.scale)
        Z = (dense[te] - m.mean) / m.scale
        final[te] = a * oof[te] + b + np.where(free_form_mask(dense[te]), Z @ prior, 0.0)
    return CVResult(oof, final, mf, gf, (a, b), fold_models)


def nested_cross_validate(ds: Dataset, dense: np.ndarray, X: Sparse, candidates: dict, *,
                          inner_folds: int = 4, progress=None) -> tuple[CVResult, list[str]]:
    """The same outer folds as ``cross_validate`` (with the first candidate's fold settings),
    but for every outer fold the recipe is chosen among ``candidates`` by an inner
    cross-validation on that fold's training rows only (MMLU grouped by domain, GSM8K k-fold;
    criterion: the mean of the two benchmarks' pooled inner APGRs). The outer test fold plays no
    part in the choice. Returns the out-of-fold result and the recipe chosen per outer fold."""


    first = next(iter(candidates.values()))
    mf, gf = mmlu_gsm8k_folds(ds, first)
    centre = dense.mean(axis=0)
    everything = np.arange(len(ds))
    oof = np.zeros(len(ds))
    chosen: list[str] = []
    models = []
    folds = mf + gf
    for k, te in enumerate(folds):
        tr = np.setdiff1d(everything, te)
        sub, d_sub, X_sub = ds.subset(tr), dense[tr], X.rows(tr)
        best = None
        for name, rec in candidates.items():
            inner = replace(rec, mmlu_folds=inner_folds, gsm8k_folds=inner_folds)
            cv = cross_validate(sub, d_sub, X_sub, inner)
            crit = 0.0
            for fl in (cv.mmlu_folds, cv.gsm8k_folds):
                idx = np.concatenate(fl)
                crit += apgr(cv.oof[idx], sub.strong[idx], sub.weak[idx]) / 2.0
            if best is None or crit > best[0]:
                best = (crit, name)
        rec = candidates[best[1]]
        chosen.append(best[1])
        m = fit_recipe(ds, dense, X, tr, rec, centre)
        oof[te] = m.logit(dense[te], X.rows(te), with_priors=False) - np.where(
            free_form_mask(dense[te]), m.bias_ff, m.bias_mc)
        models.append(m)
        if progress:
            progress(k + 1, len(folds), best[1])
    a, b = platt(oof, make_labels(ds, first.calibration_label))
    final = np.zeros(len(ds))
    for te, m in zip(folds, models, strict=True):
        Z = (dense[te] - m.mean) / m.scale
        final[te] = a * oof[te] + b + np.where(free_form_mask(dense[te]), Z @ _prior_vector(m.scale), 0.0)
    return CVResult(oof, final, mf, gf, (a, b), models), chosen



def metrics_table(ds: Dataset, dense: np.ndarray, cv: CVResult) -> dict:
    """APGR/CPT for the router (pooled out-of-fold scores), random and prompt length."""


    length = dense[:, DENSE_NAMES.index("log_chars")]
    out: dict = {}
    for bench, folds in (("mmlu", cv.mmlu_folds), ("gsm8k", cv.gsm8k_folds)):
        idx = np.concatenate(folds)
        s, w = ds.strong[idx], ds.weak[idx]
        out[bench] = {
            "router": routing_metrics(cv.oof_final[idx], s, w).to_dict(),
            "random": routing_metrics(np.zeros(idx.size), s, w).to_dict(),
            "prompt_length": routing_metrics(length[idx], s, w).to_dict(),
            "router_mean_apgr_per_fold": float(np.mean(
                [apgr(cv.oof_final[f], ds.strong[f], ds.weak[f]) for f in folds
                 if ds.strong[f].mean() != ds.weak[f].mean()])),
            "folds": len(folds),
        }
    return out


