"""DM (HLN), Pesaran-Timmermann and the MCS, through statsmodels and arch."""

from __future__ import annotations

import numpy as np
import pandas as pd
from statsmodels.tsa.stattools import diebold_mariano_test

from gatecast.evaluate.losses import qlike_loss
from gatecast.evaluate.significance import (
    diebold_mariano,
    model_confidence_set,
    pesaran_timmermann_test,
)


def _garch_like(n: int = 800, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    var = np.exp(np.cumsum(rng.normal(0, 0.1, n)) * 0.3)
    return var, var * rng.standard_normal(n) ** 2


def test_dm_prefers_the_true_variance_and_matches_statsmodels_with_qlike() -> None:
    var, proxy = _garch_like()
    good, bad = var, np.full_like(var, var.mean())
    res = diebold_mariano(qlike_loss(proxy, good), qlike_loss(proxy, bad))
    assert res.statistic < 0 and res.pvalue < 0.05
    ref = diebold_mariano_test(
        proxy, good, bad, criterion=lambda y, f: qlike_loss(y, f), harvey_adj=True
    )
    assert np.isclose(res.statistic, ref.statistic) and np.isclose(res.pvalue, ref.pvalue)


def test_dm_on_identical_losses_is_no_evidence() -> None:
    loss = np.random.default_rng(1).random(100)
    assert diebold_mariano(loss, loss).pvalue == 1.0


def test_pesaran_timmermann_detects_informative_signs() -> None:
    rng = np.random.default_rng(2)
    actual = rng.standard_normal(500)
    assert pesaran_timmermann_test(actual, actual + rng.standard_normal(500) * 0.5).pvalue < 0.01
    assert pesaran_timmermann_test(actual, rng.standard_normal(500)).pvalue > 0.01
    assert np.isnan(pesaran_timmermann_test(actual, np.ones(500)).pvalue)  # constant sign


def test_mcs_keeps_the_best_and_drops_a_clearly_worse_model() -> None:
    var, proxy = _garch_like(seed=3)
    losses = pd.DataFrame(
        {
            "true": qlike_loss(proxy, var),
            "close": qlike_loss(proxy, var * 1.05),
            "flat": qlike_loss(proxy, np.full_like(var, var.mean())),
        }
    )
    mcs = model_confidence_set(losses, reps=300)
    assert bool(mcs.loc["true", "in_mcs"]) and not bool(mcs.loc["flat", "in_mcs"])
    assert set(mcs.columns) == {"pvalue", "in_mcs"}
