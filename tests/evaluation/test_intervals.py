"""Conformal intervals: the conformal quantile, ACI's long-run guarantee (Gibbs and Candes 2021)
on an i.i.d. sequence and across a volatility break, split conformal per fold from earlier
scores only, the interval scores, terciles fixed before the test, and streamed intervals that
equal the batch walk-forward's and resume exactly."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from gatecast.data import ar1_prices, garch11
from gatecast.data.features import TargetSpec, make_target
from gatecast.errors import DataError, ModelFileError
from gatecast.evaluation.intervals import (
    adaptive_conformal,
    conformal_intervals,
    conformity_scores,
    coverage_scores,
    pinball_loss,
    regime_variance,
    split_conformal,
    tercile_cuts,
    winkler_score,
)
from gatecast.evaluation.walkforward import WalkForwardPlan, walk_forward
from gatecast.serve.intervals import IntervalStream, conformal_quantile


def _miscoverage(scores: pd.Series, q: pd.Series) -> tuple[float, int]:
    """The share of issued intervals whose score exceeded their quantile, recomputed here."""
    issued = q.notna()
    err = scores[issued].to_numpy() > q[issued].to_numpy()
    return float(err.mean()), int(issued.sum())


# -- the conformal quantile and ACI ------------------------------------------------------------
def test_conformal_quantile_is_the_finite_sample_rank() -> None:
    s = np.array([5.0, 1.0, 4.0, 2.0, 3.0, 9.0, 7.0, 8.0, 6.0])  # n = 9
    assert conformal_quantile(s, 0.2) == 8.0  # ceil(10 x 0.8) = 8th smallest
    assert conformal_quantile(s, 0.1) == 9.0  # ceil(10 x 0.9) = 9: the largest, not beyond
    assert conformal_quantile(s, 0.09) == math.inf  # rank 10 > n: the whole line
    assert conformal_quantile(s, 1.0) == -math.inf  # alpha >= 1: the empty set
    assert conformal_quantile(s, 0.5) == 5.0


def test_aci_steps_by_hand() -> None:
    """calibration 2, alpha 0.5, gamma 0.1: each q and alpha_t worked out on paper."""
    scores = pd.Series([1.0, 3.0, 2.0, 0.5, 4.0], index=pd.RangeIndex(5))
    path = adaptive_conformal(scores, alpha=0.5, gamma=0.1, calibration=2)
    # t=2: window {1, 3}, rank ceil(3 x 0.5) = 2 -> q = 3; score 2 covered -> alpha 0.55
    # t=3: window {3, 2}, rank ceil(3 x 0.45) = 2 -> q = 3; score 0.5 covered -> alpha 0.60
    # t=4: window {2, 0.5}, rank ceil(3 x 0.40) = 2 -> q = 2; score 4 missed -> alpha 0.55
    np.testing.assert_allclose(path["q"].to_numpy()[2:], [3.0, 3.0, 2.0])
    np.testing.assert_allclose(path["alpha_t"].to_numpy(), [0.5, 0.5, 0.5, 0.55, 0.6])
    assert path["q"].iloc[:2].isna().all()  # no interval before the window is full


@pytest.mark.parametrize("kind", ["iid", "volatility_break"])
@pytest.mark.parametrize("alpha_start", [0.1, 0.6])
def test_aci_long_run_miscoverage_is_within_the_gibbs_candes_bound(kind, alpha_start) -> None:
    """|mean(err) - alpha| <= (max(alpha_1, 1 - alpha_1) + gamma) / (gamma T), for any sequence."""
    rng = np.random.default_rng(7)
    n, alpha, gamma = 3000, 0.1, 0.02
    sd = np.ones(n) if kind == "iid" else np.where(np.arange(n) < 1500, 1.0, 5.0)
    scores = pd.Series(np.abs(sd * rng.standard_normal(n)), index=pd.RangeIndex(n))
    path = adaptive_conformal(
        scores, alpha=alpha, gamma=gamma, calibration=200, alpha_start=alpha_start
    )
    miss, T = _miscoverage(scores, path["q"])
    bound = (max(alpha_start, 1 - alpha_start) + gamma) / (gamma * T)
    assert abs(miss - alpha) <= bound
    if kind == "volatility_break":
        # split conformal frozen on the calm half's scores breaks down after the break
        frozen = split_conformal(scores, [1500], alpha=alpha, calibration=1500)
        late = scores.index >= 1500
        frozen_miss = (scores[late] > frozen[late]).mean()
        assert frozen_miss > 0.5
        assert abs(frozen_miss - alpha) > bound


def test_split_conformal_reads_only_the_scores_before_each_fold() -> None:
    rng = np.random.default_rng(1)
    scores = pd.Series(np.abs(rng.standard_normal(200)), index=pd.RangeIndex(200))
    q = split_conformal(scores, [100, 150], alpha=0.1, calibration=50)
    for start in (100, 150):
        window = np.sort(scores.iloc[start - 50 : start].to_numpy())
        assert q[start] == window[math.ceil(51 * 0.9) - 1]
    assert q.iloc[:100].isna().all() and q.iloc[100:150].nunique() == 1
    changed = scores.copy()
    changed.iloc[100:] *= 10  # what fold 100 forecasts must not reach its quantile
    again = split_conformal(changed, [100, 150], alpha=0.1, calibration=50)
    assert (again.iloc[100:150] == q.iloc[100:150]).all()
    assert again[150] != q[150]


# -- the scores ----------------------------------------------------------------------------------
def test_winkler_and_pinball_by_hand() -> None:
    y = np.array([0.0, 3.0, -2.0])
    lo, hi = np.full(3, -1.0), np.full(3, 1.0)
    # width 2; misses by 2 above and by 1 below cost 2/alpha = 20 per unit
    np.testing.assert_allclose(winkler_score(y, lo, hi, 0.1), [2.0, 42.0, 22.0])
    np.testing.assert_allclose(pinball_loss(y, hi, 0.95), [0.05, 1.9, 0.15])
    # the interval score is 2/alpha times the two bounds' pinball losses
    pin = pinball_loss(y, lo, 0.05) + pinball_loss(y, hi, 0.95)
    np.testing.assert_allclose(winkler_score(y, lo, hi, 0.1), 20 * pin)


def test_coverage_scores_by_tercile() -> None:
    idx = pd.RangeIndex(6)
    actual = pd.Series([0.0, 2.0, 0.0, 0.0, 5.0, 0.5], index=idx)
    lower, upper = pd.Series(-1.0, index=idx), pd.Series(1.0, index=idx)
    upper.iloc[5] = np.inf  # an unbounded interval covers and is left out of the width
    tercile = pd.Series([0, 0, 1, 1, 2, 2], index=idx)
    out = coverage_scores(actual, lower, upper, 0.1, tercile)
    assert out["coverage"] == pytest.approx(4 / 6)
    assert (out["calm"], out["middle"], out["storm"]) == (0.5, 1.0, 0.5)
    assert out["spread"] == 0.5 and out["n_infinite"] == 1 and out["width"] == 2.0


def test_terciles_are_fixed_on_training_data_and_the_regime_on_the_past() -> None:
    proxy = pd.Series(np.random.default_rng(3).gamma(1.0, size=400), index=pd.RangeIndex(400))
    regime = regime_variance(proxy, window=10)
    assert regime.iloc[50] == pytest.approx(proxy.iloc[40:50].mean())  # days before only
    cuts = tercile_cuts(regime, 300)
    stormy = proxy.copy()
    stormy.iloc[300:] *= 100  # the test period must not move the cut points
    assert tercile_cuts(regime_variance(stormy, window=10), 300) == cuts


def test_normalised_aci_covers_calm_and_storm_alike_on_garch_data() -> None:
    """Unscaled split conformal over-covers calm days and under-covers stormy ones; scaled by
    the true GARCH variance, ACI covers every tercile close to 90%."""
    df = garch11(5000, seed=4)
    r, sd = df["return"], np.sqrt(df["variance"])
    forecast = pd.Series(0.0, index=df.index)
    folds = list(df.index[1000::250])
    res = conformal_intervals(
        r.iloc[1:],
        forecast.to_frame("zero"),
        fold_starts=folds,
        test_start=df.index[1000],
        regime=regime_variance(r**2),
        scale=sd,
        level=0.9,
        gamma=0.005,
        calibration=250,
    )
    t = res.table.loc["zero"]
    assert t.loc["split", "calm"] > 0.93 and t.loc["split", "storm"] < 0.87
    assert t.loc["split", "spread"] > 0.1 and t.loc["aci_norm", "spread"] < 0.05
    assert abs(t.loc["aci_norm", "coverage"] - 0.9) < 0.015
    assert t.loc["aci_norm", "winkler"] < t.loc["split", "winkler"]
    # the table's coverage recomputed from the intervals it reports
    rows = res.intervals[(res.intervals["model"] == "zero") & (res.intervals["method"] == "aci")]
    hit = (rows["lower"] <= rows["actual"]) & (rows["actual"] <= rows["upper"])
    assert t.loc["aci", "coverage"] == pytest.approx(hit.mean())
    assert rows["date"].min() == df.index[1000] and len(res.fan) == 3


# -- streaming -------------------------------------------------------------------------------------
TINY = dict(hidden=3, window=5, epochs=1, seed=0, quiet=True)
LEVEL, GAMMA, CAL = 0.8, 0.05, 30


class _Fitted:
    """A fitted model in the walk-forward: fit leaves it as it is (one fold, no refit)."""

    def __init__(self, model) -> None:
        self.model = model

    def fit(self, history):
        return self

    def predict(self, data, start=None, end=None):
        return self.model.predict(data, start=start, end=end)


@pytest.fixture(scope="module")
def models():
    from gatecast.models.recurrent import RecurrentForecaster, RecurrentVariance

    df = ar1_prices(260, phi=0.3, sigma=0.01, seed=2)
    point = RecurrentForecaster(cell="gru", target="return", **TINY).fit(df.iloc[:120])
    variance = RecurrentVariance(cell="gru", **TINY).fit(df.iloc[:120])
    point.net_.double()  # float64 end to end: stream and predict agree far below 1e-12
    variance.net_.double()
    return df, point, variance


def _stream(point, variance) -> IntervalStream:
    return IntervalStream(
        point.stream("numpy"), variance.stream("numpy"), level=LEVEL, gamma=GAMMA, calibration=CAL
    )


def test_streamed_intervals_equal_the_batch_walk_forward(models) -> None:
    df, point, variance = models
    plan = WalkForwardPlan(test_start=str(df.index[1].date()), refit_every=10**6, min_train=1)
    walk = walk_forward(
        {"point": lambda: _Fitted(point), "var": lambda: _Fitted(variance)}, df, plan
    )
    fc = walk.forecasts
    actual = make_target(df, TargetSpec("return"))
    scale = np.sqrt(fc["var"]) / 100
    path = adaptive_conformal(
        conformity_scores(actual, fc["point"], scale), alpha=1 - LEVEL, gamma=GAMMA, calibration=CAL
    )
    batch = pd.DataFrame(
        {"lower": fc["point"] - path["q"] * scale, "upper": fc["point"] + path["q"] * scale}
    ).dropna()
    live = _stream(point, variance)
    out = [live.update({"close": c}) for c in df["close"]]
    # the interval returned after day t is the one for day t + 1
    streamed = pd.DataFrame(out[:-1], index=df.index[1:])[["lower", "upper", "alpha"]].dropna()
    assert len(batch) > 150 and streamed.index.equals(batch.index)
    np.testing.assert_allclose(streamed[["lower", "upper"]], batch, rtol=0, atol=1e-12)
    np.testing.assert_allclose(streamed["alpha"], path["alpha_t"].reindex(batch.index), atol=1e-12)
    assert streamed["alpha"].nunique() > 1  # ACI moved alpha


@pytest.mark.parametrize("suffix", [".json", ".state"])
def test_a_stopped_and_resumed_interval_stream_gives_the_same_intervals(
    models, tmp_path, suffix
) -> None:
    df, point, variance = models
    rows = [{"close": c, "date": d} for d, c in zip(df.index, df["close"], strict=True)]
    whole = _stream(point, variance)
    ref = [whole.update(r) for r in rows]
    first = _stream(point, variance)
    for r in rows[:100]:
        first.update(r)
    path = first.save_state(tmp_path / f"iv{suffix}")
    again = _stream(point, variance).load_state(path)
    got = [again.update(r) for r in rows[100:]]
    np.testing.assert_array_equal(np.array(got), np.array(ref[100:]))
    with pytest.raises(DataError, match="comes before the last row consumed"):
        again.update(rows[50])  # exactly once: the saved date came along
    other = IntervalStream(point.stream("numpy"), None, level=LEVEL, gamma=GAMMA, calibration=CAL)
    with pytest.raises(ModelFileError, match="holds a variance stream"):
        other.load_state(path)
    wider = IntervalStream(
        point.stream("numpy"), variance.stream("numpy"), level=0.9, gamma=GAMMA, calibration=CAL
    )
    with pytest.raises(ModelFileError, match="interval settings"):
        wider.load_state(path)


def test_a_failed_update_leaves_both_streams_as_they_were(models, monkeypatch) -> None:
    df, point, variance = models
    closes = df["close"].to_numpy()
    whole = _stream(point, variance)
    ref = [whole.update(c) for c in closes]
    live = _stream(point, variance)
    for c in closes[:80]:
        live.update(c)

    def broken(obs, at=None):
        raise DataError("the point model refused the row")

    with monkeypatch.context() as m:
        m.setattr(live.point, "update", broken)  # after the variance stream took the row
        with pytest.raises(DataError, match="refused"):
            live.update(closes[80])
    got = [live.update(c) for c in closes[80:]]
    np.testing.assert_array_equal(np.array(got), np.array(ref[80:]))
