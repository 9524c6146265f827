"""Forecast combination on past losses: the weights for t read losses up to t-1 only, follow the
inverse-loss rule, and pick the best recurrent and classical member so far."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gatecast.errors import AlignmentError, ConfigError
from gatecast.evaluation.combination import combine_best, past_mean_loss

MEMBERS = ["lstm", "lstm_resid", "garch", "gjr_t"]


@pytest.fixture(scope="module")
def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(5)
    idx = pd.bdate_range("2020-01-01", periods=120)
    fc = pd.DataFrame(rng.uniform(0.5, 2.0, (120, 4)), index=idx, columns=MEMBERS)
    loss = pd.DataFrame(rng.uniform(0.2, 3.0, (120, 4)), index=idx, columns=MEMBERS)
    return fc, loss


def combine(fc: pd.DataFrame, loss: pd.DataFrame, **kw):
    return combine_best(fc, loss, ["lstm", "lstm_resid"], ["garch", "gjr_t"], **kw)


@pytest.mark.parametrize("t", [0, 25, 60, 119])
def test_the_weights_at_t_read_losses_up_to_t_minus_1_only(frames, t: int) -> None:
    fc, loss = frames
    base = combine(fc, loss, window=30, min_periods=5)
    moved_loss = loss.copy()
    moved_loss.iloc[t:] *= np.linspace(0.1, 5.0, len(loss) - t)[:, None] * [1, 2, 3, 4]
    moved = combine(fc, moved_loss, window=30, min_periods=5)
    pd.testing.assert_frame_equal(moved.weights.iloc[: t + 1], base.weights.iloc[: t + 1])
    pd.testing.assert_series_equal(moved.forecast.iloc[: t + 1], base.forecast.iloc[: t + 1])
    if 5 <= t + 1 < len(loss):  # once weighted, the loss of t does move the weights of t + 1
        assert not np.allclose(moved.weights.iloc[t + 1], base.weights.iloc[t + 1])


def test_the_weights_are_inverse_past_mean_losses_of_the_best_so_far(frames) -> None:
    fc, loss = frames
    res = combine(fc, loss, window=30, min_periods=5)
    w = res.weights
    np.testing.assert_allclose(w.sum(axis=1), 1.0)
    assert ((w > 0).sum(axis=1) == 2).all()  # one recurrent and one classical member each day
    for t in (5, 40, 119):  # recomputed by hand from the losses before t
        past = loss.iloc[max(0, t - 30) : t].mean()
        r = past[["lstm", "lstm_resid"]].idxmin()
        c = past[["garch", "gjr_t"]].idxmin()
        w_r = (1 / past[r]) / (1 / past[r] + 1 / past[c])
        assert w.iloc[t][r] == pytest.approx(w_r) and w.iloc[t][c] == pytest.approx(1 - w_r)
        assert res.forecast.iloc[t] == pytest.approx(
            w_r * fc.iloc[t][r] + (1 - w_r) * fc.iloc[t][c]
        )
    # before min_periods past losses: the first listed of each kind, equal weights
    first = w.iloc[:5]
    assert (first["lstm"] == 0.5).all() and (first["garch"] == 0.5).all()
    pd.testing.assert_frame_equal(res.past_loss, past_mean_loss(loss[MEMBERS], 30, 5))


def test_a_combination_needs_both_kinds_and_aligned_frames(frames) -> None:
    fc, loss = frames
    with pytest.raises(ConfigError, match="needs a recurrent and a classical model"):
        combine_best(fc, loss, [], ["garch"])
    with pytest.raises(ConfigError, match=r"no forecasts or losses for \['egarch_t'\]"):
        combine_best(fc, loss, ["lstm"], ["egarch_t"])
    with pytest.raises(AlignmentError, match="share their dates"):
        combine_best(fc, loss.iloc[1:], ["lstm"], ["garch"])
    with pytest.raises(ConfigError, match="min_periods"):
        combine_best(fc, loss, ["lstm"], ["garch"], window=10, min_periods=20)


def test_combo_in_the_leaderboard_is_the_combination_of_the_seed_mean_forecasts() -> None:
    from gatecast.data import load
    from gatecast.evaluation.losses import qlike_loss
    from gatecast.evaluation.walkforward import WalkForwardResult
    from gatecast.experiment.evaluation import EvaluationConfig, score_walk

    data = load("sp500").loc["2016":"2017"]
    idx = data.index[data.index >= "2017-01-03"]
    rng = np.random.default_rng(2)
    keys = ["lstm[s0]", "lstm[s1]", "garch", "gjr_t"]
    fc = pd.DataFrame(rng.uniform(0.2, 1.5, (len(idx), 4)), index=idx, columns=keys)
    walk = WalkForwardResult(fc, pd.DataFrame({"fold": [0]}), 0.0)
    cfg = EvaluationConfig(models=("lstm", "garch", "gjr_t", "combo"), seeds=2, mcs_reps=50)
    res = score_walk(walk, data, cfg)
    mean = pd.DataFrame({"lstm": fc[keys[:2]].mean(axis=1), "garch": fc.garch, "gjr_t": fc.gjr_t})
    actual = res.forecasts["actual"]
    loss = pd.DataFrame({m: qlike_loss(actual, mean[m]) for m in mean}, index=idx)
    expected = combine_best(mean, loss, ["lstm"], ["garch", "gjr_t"]).forecast
    np.testing.assert_allclose(res.forecasts["combo"], expected)
    assert res.leaderboard.loc["combo", "qlike"] == pytest.approx(
        qlike_loss(actual, expected).mean()
    )
    assert res.best_baseline in ("garch", "gjr_t") and res.reference == "garch"
    with pytest.raises(ConfigError, match=r"lacks a recurrent one; add e\.g\. lstm and gjr_t"):
        from gatecast.experiment.evaluation import combination_members

        combination_members(EvaluationConfig(models=("garch", "combo")))


@pytest.mark.parametrize("ensemble", [False, True])
def test_seeds_score_as_mean_loss_or_as_an_ensemble(ensemble: bool) -> None:
    from gatecast.data import load
    from gatecast.evaluation.losses import qlike_loss
    from gatecast.evaluation.walkforward import WalkForwardResult
    from gatecast.experiment.evaluation import EvaluationConfig, score_walk

    data = load("sp500").loc["2016":"2017"]
    idx = data.index[data.index >= "2017-01-03"]
    rng = np.random.default_rng(3)
    fc = pd.DataFrame(
        rng.uniform(0.2, 1.5, (len(idx), 3)), index=idx, columns=["lstm[s0]", "lstm[s1]", "garch"]
    )
    walk = WalkForwardResult(fc, pd.DataFrame({"fold": [0]}), 0.0)
    cfg = EvaluationConfig(models=("lstm", "garch"), seeds=2, mcs_reps=50, ensemble=ensemble)
    res = score_walk(walk, data, cfg)
    actual = res.forecasts["actual"]
    per_seed = [qlike_loss(actual, fc[k]).mean() for k in ("lstm[s0]", "lstm[s1]")]
    pooled = qlike_loss(actual, fc[["lstm[s0]", "lstm[s1]"]].mean(axis=1)).mean()
    expected = pooled if ensemble else np.mean(per_seed)
    assert res.leaderboard.loc["lstm", "qlike"] == pytest.approx(expected)
    assert not np.isclose(pooled, np.mean(per_seed))  # the two scores differ on these forecasts
    assert res.seed_losses["lstm"] == pytest.approx(per_seed)
