"""DM (HLN), Pesaran-Timmermann and the MCS, through statsmodels and arch."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from arch.bootstrap import MCS
from statsmodels.stats.diagnostic import pesaran_timmermann
from statsmodels.tsa.stattools import diebold_mariano_test

from gatecast.errors import ConfigError
from gatecast.evaluation import significance
from gatecast.evaluation.losses import qlike_loss
from gatecast.evaluation.significance import (
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


def test_dm_defaults_are_the_hln_test_with_statsmodels_lags() -> None:
    rng = np.random.default_rng(4)
    a, b = rng.gamma(2.0, size=300), rng.gamma(2.1, size=300)
    res = diebold_mariano(a, b)
    ref = diebold_mariano_test(np.zeros(300), a, b, criterion=lambda _y, f: f, harvey_adj=True)
    assert (res.statistic, res.pvalue) == pytest.approx((ref.statistic, ref.pvalue), rel=1e-12)
    assert res.n == 300 and res.name == "diebold_mariano_hln" and res.detail == f"lags={ref.lags}"
    # NaN dates are left out of both series; the sign says which has the lower loss
    a2 = np.concatenate([a, [np.nan, 1.0]])
    b2 = np.concatenate([b, [1.0, np.inf]])
    again = diebold_mariano(a2, b2)
    assert again.n == 300 and again.statistic == pytest.approx(res.statistic, rel=1e-12)
    assert diebold_mariano(b, a).statistic == pytest.approx(-res.statistic, rel=1e-12)
    three = diebold_mariano(a, b, horizon=3, lags=2)  # HLN's correction depends on the horizon
    ref3 = diebold_mariano_test(
        np.zeros(300), a, b, criterion=lambda _y, f: f, harvey_adj=True, horizon=3, lags=2
    )
    assert three.statistic == pytest.approx(ref3.statistic, rel=1e-12)
    assert three.detail == "lags=2" and three.statistic != pytest.approx(res.statistic)
    assert res.to_dict() == {
        "name": "diebold_mariano_hln",
        "statistic": res.statistic,
        "pvalue": res.pvalue,
        "n": 300,
        "detail": res.detail,
    }


def test_dm_takes_losses_read_back_from_json_with_null_for_a_missing_date() -> None:
    # gatecast's JSON files store NaN as null, so losses read back are lists holding None
    rng = np.random.default_rng(4)
    a, b = rng.gamma(2.0, size=300), rng.gamma(2.1, size=300)
    ref = diebold_mariano(a[1:-1], b[1:-1])
    got = diebold_mariano([None, *a[1:]], [*b[:-1], None])
    assert got.n == 298 and got.statistic == pytest.approx(ref.statistic, rel=1e-12)


def test_dm_refuses_misaligned_or_short_series() -> None:
    with pytest.raises(ConfigError, match=r"must be 1-D and aligned; got \(5,\) and \(4,\)"):
        diebold_mariano(np.ones(5), np.ones(4))
    with pytest.raises(ConfigError, match="9 common dates are too few"):
        diebold_mariano(np.arange(9.0), np.arange(9.0) + 1)
    ten = diebold_mariano(np.arange(10.0), np.arange(10.0)[::-1])  # ten dates are enough
    assert ten.n == 10 and np.isfinite(ten.statistic)
    res = diebold_mariano(np.ones(12), np.ones(12))
    assert res == significance.TestResult("diebold_mariano_hln", 0.0, 1.0, 12, "identical losses")


def test_pesaran_timmermann_is_statsmodels_on_the_given_signs() -> None:
    rng = np.random.default_rng(5)
    actual = rng.standard_normal(400)
    signal = 0.4 * actual + rng.standard_normal(400)
    res = pesaran_timmermann_test(actual, signal)
    ref = pesaran_timmermann(actual, signal)
    assert (res.statistic, res.pvalue) == pytest.approx((ref.statistic, ref.pvalue), rel=1e-12)
    assert res.n == 400 and res.name == "pesaran_timmermann"
    # a probability forecast must be centred first: raw probabilities never change sign
    probs = 0.5 + signal / 10
    assert np.isnan(pesaran_timmermann_test(actual, probs).statistic)
    assert np.isfinite(pesaran_timmermann_test(actual, probs - 0.5).statistic)
    undefined = pesaran_timmermann_test(actual, -np.ones(400))
    assert np.isnan(undefined.statistic) and np.isnan(undefined.pvalue)
    assert undefined.detail == "the forecast never changes sign: the test is undefined"
    assert undefined.n == 400 and undefined.name == "pesaran_timmermann"
    # a forecast of "up" (1) or "no call" (0) does change side: zero is not up
    calls = np.where(signal > 0, 1.0, 0.0)
    ref = pesaran_timmermann(actual, calls)
    assert pesaran_timmermann_test(actual, calls).statistic == pytest.approx(ref.statistic)
    with pytest.raises(ConfigError, match=r"actual \(400,\) and predicted \(3,\) must be aligned"):
        pesaran_timmermann_test(actual, np.ones(3))


def _mcs_losses() -> pd.DataFrame:
    """Four models whose MCS p-values span 1, one between 0.10 and 0.25, and ~0."""
    var, proxy = _garch_like(n=600, seed=3)
    rng = np.random.default_rng(6)
    return pd.DataFrame(
        {
            "true": qlike_loss(proxy, var),
            "noisy": qlike_loss(proxy, var * np.exp(0.15 * rng.standard_normal(600))),
            "flat": qlike_loss(proxy, np.full_like(var, var.mean())),
            "close": qlike_loss(proxy, var * 1.05),
        }
    )


def test_mcs_is_arch_at_90_percent_with_block_length_10_by_default() -> None:
    losses = _mcs_losses()
    got = model_confidence_set(losses, reps=400)
    ref = MCS(losses, size=0.1, reps=400, block_size=10, method="R", bootstrap="stationary", seed=0)
    ref.compute()
    np.testing.assert_array_equal(got["pvalue"], ref.pvalues["Pvalue"][losses.columns])
    assert got.index[got["in_mcs"]].tolist() == [m for m in losses if m in ref.included]
    # the data are chosen so that size and block length matter
    assert 0.10 < got.loc["noisy", "pvalue"] < 0.25 and bool(got.loc["noisy", "in_mcs"])
    at_75 = model_confidence_set(losses, reps=400, size=0.25)
    assert not bool(at_75.loc["noisy", "in_mcs"])
    one = model_confidence_set(losses, reps=400, block_size=1)
    assert not np.allclose(one["pvalue"], got["pvalue"])
    assert not np.allclose(model_confidence_set(losses, reps=400, seed=1)["pvalue"], got["pvalue"])


def test_mcs_of_one_model_keeps_it_and_skips_dates_with_a_nan() -> None:
    losses = _mcs_losses()
    alone = model_confidence_set(losses[["flat"]])
    assert alone.to_dict() == {"pvalue": {"flat": 1.0}, "in_mcs": {"flat": True}}
    two = model_confidence_set(losses[["true", "flat"]], reps=200)  # two models are compared
    assert two["in_mcs"].to_dict() == {"true": True, "flat": False}
    holed = losses.copy()
    holed.iloc[:50, 1] = np.nan  # one model misses 50 dates: every model is compared on the rest
    got = model_confidence_set(holed, reps=200)
    ref = model_confidence_set(losses.iloc[50:], reps=200)
    pd.testing.assert_frame_equal(got, ref)
