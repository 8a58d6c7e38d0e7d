"""Labels within subject: the router learns what makes a question harder than the others of its
subject, not which subjects happened to be hard, so it carries over to subjects it never saw."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from router_training.data import Dataset, Sparse, make_labels, within_subject
from router_training.recipe import RECIPE, fit_recipe, free_form_mask

from desktop.router.evaluation import apgr
from desktop.router.features import DENSE_NAMES, HASH_DIM, N_BLOCKS


def _dataset(domains, benchmarks, strong, weak) -> Dataset:
    return Dataset(np.array(benchmarks), np.array(domains), [""] * len(domains),
                   np.array(strong, bool), np.array(weak, bool))


def test_each_subject_is_centred_on_its_benchmark_mean_from_training_rows_only():
    ds = _dataset(
        ["law", "law", "law", "art", "art", "art", "gsm", "gsm", "held"],
        ["mmlu"] * 6 + ["gsm8k"] * 2 + ["mmlu"],
        [1, 1, 1, 1, 1, 0, 1, 1, 1],
        [0, 0, 1, 1, 1, 1, 0, 1, 0],
    )
    y = make_labels(ds, "soft")  # law: 1, 1, .5 (hard subject); art: .5, .5, 0 (easy)
    rows = np.arange(8)  # the "held" row is not a training row
    out = within_subject(y, ds, rows)
    mmlu_mean = y[:6].mean()
    np.testing.assert_allclose(out[:3], y[:3] - y[:3].mean() + mmlu_mean)
    np.testing.assert_allclose(out[3:6], y[3:6] - y[3:6].mean() + mmlu_mean)
    # subjects no longer differ on average; the order inside each subject is kept
    assert abs(out[:3].mean() - out[3:6].mean()) < 1e-12
    assert out[0] > out[2] and out[3] > out[5]
    # one subject (GSM8K): unchanged; a row outside ``rows`` is neither read nor changed
    np.testing.assert_array_equal(out[6:8], y[6:8])
    assert out[8] == y[8]
    ds.weak[8] = True
    np.testing.assert_array_equal(within_subject(make_labels(ds, "soft"), ds, rows)[:8], out[:8])


def test_within_subject_labels_ignore_a_subject_level_confound_and_transfer_to_new_subjects():
    """Synthetic benchmark: in the training subjects the hard subjects happen to have long
    questions (log_words is constant within a subject), while inside every subject questions
    with more capitals (upper_share) are harder. In the held-out subjects the length confound is
    reversed. Fitted on labels as they are, the router trusts length and ranks the new subjects
    badly; fitted within subject, it keeps only the real cue."""
    rng = np.random.default_rng(0)
    n_sub, per = 24, 80
    length = np.repeat(rng.normal(size=n_sub), per)
    hardness = np.repeat(np.linspace(-2.5, 2.5, n_sub), per)
    train_sub = np.repeat(np.arange(n_sub) < 16, per)
    # training subjects: length tracks hardness; held-out subjects: the opposite
    length = np.where(train_sub, hardness, -hardness) + 0.1 * length
    cue = rng.normal(size=n_sub * per)
    p_weak_fails = 1 / (1 + np.exp(-(hardness + cue - 0.5)))
    weak = rng.random(n_sub * per) > p_weak_fails
    strong = np.ones(n_sub * per, bool)
    ds = _dataset([f"s{i}" for i in np.repeat(np.arange(n_sub), per)], ["mmlu"] * (n_sub * per),
                  strong, weak)
    dense = np.zeros((n_sub * per, len(DENSE_NAMES)))
    dense[:, DENSE_NAMES.index("n_options")] = 1.0  # multiple choice
    dense[:, DENSE_NAMES.index("log_words")] = length
    dense[:, DENSE_NAMES.index("upper_share")] = cue
    assert not free_form_mask(dense).any()
    X = Sparse(np.zeros(n_sub * per + 1, np.int64), np.zeros(0, np.int64), np.zeros(0), HASH_DIM * N_BLOCKS)
    recipe = replace(RECIPE, shared=("log_words", "upper_share"), free_form=())
    train, test = np.nonzero(train_sub)[0], np.nonzero(~train_sub)[0]
    centre = dense.mean(axis=0)
    scores = {}
    for ws in (False, True):
        m = fit_recipe(ds, dense, X, train, replace(recipe, within_subject=ws), centre)
        z = m.logit(dense[test], X.rows(test), with_priors=False)
        scores[ws] = apgr(z, strong[test], weak[test])
        w = dict(zip(DENSE_NAMES, m.w_mc, strict=True))
        if ws:
            assert abs(w["log_words"]) < 0.25 * w["upper_share"]
    assert scores[True] > scores[False] + 0.02  # 0.561 against 0.533
    assert scores[True] > 0.55
