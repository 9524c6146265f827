"""Trading on a forecast: the one-day lag, the information-date check and the look-ahead screen,
costs, statistics, PSR/DSR reference values, the one rule for N and CSCV PBO."""

from __future__ import annotations

import doctest
import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from gatecast.data import garch11, load
from gatecast.errors import AlignmentError, ConfigError
from gatecast.evaluation import trading
from gatecast.evaluation.trading import (
    INFORMATION_DATE,
    LOOKAHEAD_CORR_CAP,
    LOOKAHEAD_HIT_CAP,
    LOOKAHEAD_LEVEL,
    Rule,
    count_trials,
    cscv_pbo,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    probabilistic_sharpe_ratio,
    realised_returns,
    sharpe_moments,
    trade,
    trial_columns,
    trial_sharpes,
)
from gatecast.evaluation.walkforward import WalkForwardPlan, walk_forward
from gatecast.experiment.evaluation import EvaluationConfig, model_factory


def _returns(n: int = 2000, seed: int = 0, sd: float = 0.01) -> pd.Series:
    rng = np.random.default_rng(seed)
    return pd.Series(rng.normal(0.0, sd, n), index=pd.bdate_range("2010-01-01", periods=n))


def test_docstring_examples() -> None:
    # the modules of the package that hold examples
    for module in (trading.trades, trading.sharpe, trading.trials, trading.pbo):
        assert doctest.testmod(module, raise_on_error=False).failed == 0


# -- the lag ---------------------------------------------------------------------------------------
def test_an_oracle_earns_only_through_the_t_to_t_plus_1_path() -> None:
    r = _returns()
    # the forecast FOR day t is r_t itself: it knows tomorrow, and trade() puts it on tomorrow
    oracle = trade(r.rename("oracle"), r)
    assert np.allclose(oracle.gross["oracle"], r.abs().iloc[1:])
    # the same information one day earlier (the forecast for t+1 is r_t, known at close t) is
    # all a real forecaster has: on iid returns it earns nothing in expectation
    late = trade(r.shift(1).rename("late"), r).gross["late"]
    se = late.std() / math.sqrt(len(late))
    assert abs(late.mean()) < 3 * se
    assert oracle.gross["oracle"].mean() > 30 * se


def test_a_position_is_set_on_the_trading_day_before_the_return_it_earns() -> None:
    r = _returns(50)
    res = trade(r.rename("f"), r)
    decided, earned = res.positions.index, res.gross.index
    assert (r.index.get_indexer(earned) - r.index.get_indexer(decided) == 1).all()
    # changing the realised return of a day never changes the position that earns it
    r2 = r.copy()
    r2.iloc[20] = 0.5
    assert res.positions.iloc[18].equals(trade(r.rename("f"), r2).positions.iloc[18])


def test_forecast_dates_off_the_returns_calendar_are_refused() -> None:
    r = _returns(30)
    f = pd.Series(1.0, index=r.index + pd.Timedelta(hours=12), name="f")
    with pytest.raises(AlignmentError, match="indexed by the date they are for"):
        trade(f, r)
    with pytest.raises(AlignmentError, match="skip trading day"):
        trade(r.drop(r.index[10]).rename("f"), r)


# -- the information date -------------------------------------------------------------------------
def test_a_forecast_that_used_the_day_it_is_for_is_refused_naming_the_date() -> None:
    r = _returns(30)
    f = r.shift(1).rename("f").iloc[1:]  # known at the close before each date: honest
    info = pd.Series(r.index[:-1], index=f.index)  # the last observation each one used
    frame = f.to_frame().assign(**{INFORMATION_DATE: info})
    honest = trade(frame, r)
    assert honest.columns == ["f"]  # the dates are checked, not traded
    assert honest.gross["f"].equals(trade(f, r).gross["f"])
    late = info.copy()
    late.iloc[12:] = f.index[12:]  # from the 13th row on, the day's own close
    with pytest.raises(
        AlignmentError,
        match=rf"'as_of': the forecast for {f.index[12].date()} used information up "
        rf"to {f.index[12].date()}, after the close of {f.index[11].date()} .* look-ahead, in "
        rf"17 of 29 traded",
    ):
        trade(f, r, information_dates=late)
    with pytest.raises(
        AlignmentError, match=f"gives no date for the forecast for {f.index[3].date()} "
    ):
        trade(f, r, information_dates=info.where(info.index != f.index[3]))
    with pytest.raises(AlignmentError, match="holds numbers"):
        trade(frame.assign(**{INFORMATION_DATE: 1.0}), r)
    with pytest.raises(ConfigError, match="information dates given twice"):
        trade(frame, r, information_dates=info)
    # dates as text (a CSV read back) are read as dates
    assert trade(frame.assign(**{INFORMATION_DATE: info.astype(str)}), r).columns == ["f"]


def test_the_information_dates_under_their_earlier_name_are_still_checked() -> None:
    """Run folders written before the column was named as_of (as predict and stream name it)
    call it information_date: read and checked the same."""
    r = _returns(30)
    f = r.shift(1).rename("f").iloc[1:]
    old = f.to_frame().assign(information_date=pd.Series(f.index, index=f.index))  # look-ahead
    with pytest.raises(AlignmentError, match=rf"'as_of': the forecast for {f.index[0].date()}"):
        trade(old, r)
    both = old.assign(**{INFORMATION_DATE: old["information_date"]})
    with pytest.raises(ConfigError, match="'as_of' and a column 'information_date'"):
        trade(both, r)


def test_a_nan_or_infinite_cost_is_refused() -> None:
    r = _returns(10)
    for cost in (math.nan, math.inf, -1.0):
        with pytest.raises(ConfigError, match="finite number >= 0"):
            trade(r.rename("f"), r, cost_bps=cost)


# -- the look-ahead screen ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sp500_returns() -> pd.Series:
    return realised_returns(load("sp500"))


def _ar1_walk(data: pd.DataFrame, start: str) -> pd.Series:
    """gatecast's AR(1) return forecasts, walk-forward from ``start`` (honest by construction)."""
    factory = model_factory("ar1", EvaluationConfig(target="return"))
    walk = walk_forward({"ar1": factory}, data, WalkForwardPlan(start), quiet=True)
    fc: pd.Series = walk.forecasts["ar1"]
    return fc


def test_the_reviews_look_ahead_is_flagged_and_an_honest_ar1_is_not(
    sp500_returns: pd.Series,
) -> None:
    """The review's case: the "forecast" for day t is day t's own return, 2015-2018 on the S&P 500
    (a net Sharpe ratio of 14.7 with no warning before)."""
    r = sp500_returns
    ar1 = _ar1_walk(load("sp500"), "2015-01-02")
    fc = pd.DataFrame(
        {
            "ar1": ar1,
            "own_day": r.reindex(ar1.index),  # the look-ahead
            "dated_when_made": ar1.shift(-1),  # a forecast indexed by the day it was made
            "flat": 0.0,
        }
    ).dropna()
    res = trade(fc, r, "sign", cost_bps=5)
    screen = res.lookahead
    assert res.statistics().loc["own_day", "sharpe"] > 10  # 13.3 net of 5 bps, 14.7 gross
    assert res.suspects == ["own_day", "dated_when_made"]
    assert res.statistics()["look_ahead"].tolist() == [False, True, True, False]
    assert screen.loc["own_day", "rank_corr"] == pytest.approx(1.0)
    assert screen.loc["own_day", "hit_rate"] == 1.0
    assert "rank correlation with the return of the day it is for is +1.00" in str(
        screen.loc["own_day", "reason"]
    )
    assert screen.loc["dated_when_made", "rank_corr"] < -0.9  # AR(1) on the day's own return
    # the honest AR(1): a few per cent of correlation, a hit rate near a half
    assert abs(screen.loc["ar1", "rank_corr"]) < 0.1
    assert 0.45 < screen.loc["ar1", "hit_rate"] < 0.55
    assert screen.loc["ar1", "reason"] == "" and np.isnan(screen.loc["flat", "rank_corr"])


@pytest.mark.parametrize("weight", [0.05, 0.2, 0.3, 0.45, 1.0])
def test_the_return_screen_is_a_fisher_z_bound_on_spearman_and_a_binomial_tail(
    weight: float,
) -> None:
    """The flag, recomputed from scipy: the 99.9% lower bound of |atanh(rho_s)| (sd sqrt(1.06 /
    (n - 3))) beyond atanh(0.2), or a binomial tail of the hit rate beyond 60% (or 40%)."""
    r = _returns(300, seed=4)
    noise = pd.Series(np.random.default_rng(9).normal(0, 0.01, 300), index=r.index)
    f = (weight * r + (1 - weight) * noise).rename("f")
    row = trade(f, r).lookahead.loc["f"]
    x, y = f.iloc[1:].to_numpy(), r.iloc[1:].to_numpy()
    rho = stats.spearmanr(x, y).statistic
    n = len(x)
    z = stats.norm.ppf(1 - LOOKAHEAD_LEVEL)
    fisher = np.arctanh(min(abs(rho), 1 - 1e-12))
    by_corr = fisher - z * math.sqrt(1.06 / (n - 3)) > np.arctanh(LOOKAHEAD_CORR_CAP)
    k = int((np.sign(x) == np.sign(y)).sum())
    by_hits = (
        stats.binom.sf(k - 1, n, LOOKAHEAD_HIT_CAP) < LOOKAHEAD_LEVEL
        or stats.binom.cdf(k, n, 1 - LOOKAHEAD_HIT_CAP) < LOOKAHEAD_LEVEL
    )
    assert row["rank_corr"] == pytest.approx(rho, abs=1e-12)
    assert row["hit_rate"] == pytest.approx(k / n)
    assert row["look_ahead"] == (by_corr or by_hits)
    assert row["look_ahead"] == (weight >= 0.3)  # the cases span both sides of the cap


def test_variance_forecasts_that_track_the_days_own_squared_return_are_flagged() -> None:
    """On GARCH(1,1) returns the true conditional variance (known the day before) tracks the
    previous day's squared return more closely than the day's own; r_t^2 itself, or a blend of
    it, does the opposite."""
    g = garch11(1500, seed=2)
    r = realised_returns(g)
    truth = g["variance"].iloc[1:]
    own = (g["return"] ** 2 + 0.05).iloc[1:]
    fc = pd.DataFrame({"truth": truth, "own_day": own, "blend": 0.5 * truth + 0.5 * own})
    res = trade(fc, r, Rule("vol_target"))
    screen = res.lookahead
    assert res.suspects == ["own_day", "blend"]
    assert (screen["kind"] == "variance").all() and screen["hit_rate"].isna().all()
    same = stats.spearmanr(truth, (r**2).loc[truth.index]).statistic
    # the first day has no previous return
    prev = stats.spearmanr(truth.iloc[1:], (r.shift(1) ** 2).loc[truth.index[1:]]).statistic
    assert screen.loc["truth", "rank_corr"] == pytest.approx(same, abs=1e-12)
    assert screen.loc["truth", "rank_corr_prev"] == pytest.approx(prev, abs=1e-12)
    assert prev > same
    assert "previous day's" in str(screen.loc["blend", "reason"])


def test_up_probabilities_that_know_the_day_are_flagged() -> None:
    r = _returns(500, seed=3)
    noise = np.random.default_rng(1).normal(0, 0.02, 500)
    p = pd.DataFrame({"knows": 0.5 + 0.3 * np.sign(r), "honest": 0.52 + noise}, index=r.index)
    res = trade(p, r, "threshold")
    assert res.suspects == ["knows"]
    assert res.lookahead.loc["knows", "hit_rate"] == 1.0
    assert (res.lookahead["kind"] == "probability").all()


# -- one rule for N ----------------------------------------------------------------------------------
def test_n_is_every_seed_of_every_model_asked_for_with_repeats_once() -> None:
    """Seed columns are trials, their mean is not; a model not asked for is not; two models that
    take the same positions are one strategy."""
    r = _returns(400, seed=8)
    rng = np.random.default_rng(2)
    fc = pd.DataFrame({c: rng.normal(0, 1, 400) for c in ("lstm[s0]", "lstm[s1]", "ar1", "har")})
    fc["lstm"] = fc[["lstm[s0]", "lstm[s1]"]].mean(axis=1)
    fc["gru"] = 3.0 * fc["ar1"]  # other numbers, the same signs: the same trades
    fc.index = r.index
    net = trade(fc, r, "sign", cost_bps=5).net()
    asked = ["lstm", "ar1", "gru"]
    assert trial_columns(net.columns, asked) == ["lstm[s0]", "lstm[s1]", "ar1", "gru"]
    trials = count_trials(net, trial_columns(net.columns, asked))
    assert list(trials.returns.columns) == ["lstm[s0]", "lstm[s1]", "ar1"]
    assert trials.n_trials == 3
    assert trials.same_as == {"gru": "ar1"}
    assert trials.left_out == ("har", "lstm")
    sr = [net[c].mean() / net[c].std(ddof=1) for c in ("lstm[s0]", "lstm[s1]", "ar1")]
    assert trials.var_sharpe == pytest.approx(np.var(sr, ddof=1), rel=1e-12)
    # without a list, every model of the frame is asked for (its seeds, never the seed mean)
    assert count_trials(net).n_trials == 4  # lstm[s0], lstm[s1], ar1 (= gru), har
    with pytest.raises(ConfigError, match=r"trial.* xgb have no returns"):
        count_trials(net, ["xgb"])


# -- rules -----------------------------------------------------------------------------------------
def test_rules_map_forecasts_to_positions() -> None:
    r = _returns(5)
    f = pd.Series([0.0, 0.6, 0.5, 0.4, -0.2], index=r.index, name="f")
    assert trade(f, r, "sign").positions["f"].tolist() == [1, 1, 1, -1]
    assert trade(f, r, "long_flat").positions["f"].tolist() == [1, 1, 1, 0]
    p = pd.Series([0.5, 0.6, 0.5, 0.4, 0.2], index=r.index, name="f")  # P(up)
    assert trade(p, r, "threshold").positions["f"].tolist() == [1, 0, -1, -1]
    assert trade(p, r, Rule("threshold", lower=0.0)).positions["f"].tolist() == [1, 0, 0, 0]


def test_vol_target_scales_down_and_caps() -> None:
    r = _returns(4)
    v = pd.Series([1.0, 1.0, 0.1, 4.0], index=r.index, name="garch")  # percent^2 per day
    w = trade(v, r, Rule("vol_target", target_vol=10.0, cap=1.0)).positions["garch"].to_numpy()
    assert w == pytest.approx([10 / math.sqrt(252), 1.0, 10 / math.sqrt(4 * 252)])
    with pytest.raises(ConfigError, match="multiply them by 1e4"):
        trade(v * 1e-4, r, "vol_target")


# -- costs -----------------------------------------------------------------------------------------
def test_a_position_that_never_changes_pays_nothing() -> None:
    r = _returns(300)
    res = trade(pd.Series(0.01, index=r.index, name="long"), r, "sign", cost_bps=25.0)
    assert (res.traded["long"] == 0).all()
    assert res.net()["long"].equals(res.gross["long"])


def test_flipping_every_day_costs_two_c_bps_a_day() -> None:
    r = _returns(300)
    flip = pd.Series(np.where(np.arange(300) % 2, 1.0, -1.0), index=r.index, name="flip")
    c = 7.0
    res = trade(flip, r, "sign", cost_bps=c)
    paid = (res.gross - res.net())["flip"]
    assert paid.iloc[0] == 0.0  # the starting book
    assert np.allclose(paid.iloc[1:], 2 * c * 1e-4)
    assert res.statistics().loc["flip", "turnover_day"] == pytest.approx(2 * 298 / 299)


def test_break_even_cost_takes_the_mean_return_to_zero() -> None:
    r = _returns(500, seed=3) + 0.002  # an upward drift the sign of r_t half-catches
    res = trade(r.shift(1).fillna(0).rename("momentum"), r, "sign")
    be = float(res.break_even_bps()["momentum"])
    assert abs(res.net(be)["momentum"].mean()) < 1e-15


def test_cost_sweep_matches_the_statistics_at_each_level() -> None:
    r = _returns(400, seed=4)
    res = trade(r.shift(1).fillna(0).rename("m"), r, "sign", cost_bps=3)
    sweep = res.cost_sweep()
    assert sweep.index.get_level_values("cost_bps").unique().tolist() == [0, 3, 8, 10, 15, 20, 50]
    for c in (0.0, 8.0, 50.0):
        assert sweep.loc[(c, "m"), "sharpe"] == pytest.approx(res.statistics(c).loc["m", "sharpe"])
    assert sweep.xs("m", level="model")["sharpe"].is_monotonic_decreasing


# -- statistics ------------------------------------------------------------------------------------
def test_statistics_on_a_path_worked_by_hand() -> None:
    idx = pd.bdate_range("2020-01-01", periods=6)
    r = pd.Series([0.0, 0.1, -0.5, 0.2, 0.1, 1.0], index=idx)
    res = trade(pd.Series(1.0, index=idx, name="bh"), r, "long_flat")
    row = res.statistics().loc["bh"]
    x = r.iloc[1:].to_numpy()  # equity 1.1, .55, .66, .726, 1.452
    assert row["max_drawdown"] == pytest.approx(-0.5)
    assert row["max_dd_days"] == 3
    assert row["hit_rate"] == pytest.approx(0.8)
    assert row["exposure"] == 1.0
    assert row["sharpe"] == pytest.approx(x.mean() / x.std(ddof=1) * math.sqrt(252))
    assert row["sortino"] == pytest.approx(x.mean() / math.sqrt(0.25 / 5) * math.sqrt(252))
    assert row["skew"] == pytest.approx(stats.skew(x))
    assert row["kurtosis"] == pytest.approx(stats.kurtosis(x, fisher=False))
    assert row["psr"] == pytest.approx(
        stats.norm.cdf(
            row["sr"]
            * math.sqrt(4)
            / math.sqrt(1 - row["skew"] * row["sr"] + (row["kurtosis"] - 1) / 4 * row["sr"] ** 2)
        )
    )


# -- PSR and DSR -----------------------------------------------------------------------------------
# The reference values use 250 trading days a year (T = 1250 = 5 years).
SR, VAR, T, N = 2.5 / math.sqrt(250), 0.5 / 250, 1250, 100


def test_deflated_sharpe_ratio_reference_values() -> None:
    assert expected_max_sharpe(N, VAR) == pytest.approx(0.113172, abs=1e-4)
    assert deflated_sharpe_ratio(SR, T, N, VAR, skew=-3, kurtosis=10) == pytest.approx(
        0.90040, abs=1e-4
    )
    assert deflated_sharpe_ratio(SR, T, N, VAR, skew=-3, excess_kurtosis=7) == pytest.approx(
        0.90040, abs=1e-4
    )
    assert expected_max_sharpe(1, VAR) == 0.0


def test_pandas_excess_kurtosis_is_converted_exactly_once() -> None:
    x = pd.Series(np.random.default_rng(5).standard_t(5, 3000) * 0.01)
    m = sharpe_moments(x)
    ek = float(x.kurt())  # pandas: excess kurtosis
    args = (0.05, len(x), m.skew)
    once = probabilistic_sharpe_ratio(*args, excess_kurtosis=ek)
    assert once == probabilistic_sharpe_ratio(*args, kurtosis=ek + 3)
    assert once != probabilistic_sharpe_ratio(*args, kurtosis=ek)
    assert once != probabilistic_sharpe_ratio(*args, kurtosis=ek + 6)
    # the moment used inside is the raw one, as scipy's fisher=False
    assert m.kurtosis == pytest.approx(stats.kurtosis(x, fisher=False))
    with pytest.raises(ConfigError, match="not both"):
        probabilistic_sharpe_ratio(*args, kurtosis=ek + 3, excess_kurtosis=ek)


def test_an_excess_kurtosis_passed_as_raw_is_refused() -> None:
    with pytest.raises(ConfigError, match="looks like an excess kurtosis"):
        probabilistic_sharpe_ratio(0.1, 1000, skew=-1.0, kurtosis=0.5)


def test_trials_count_identical_columns_once() -> None:
    r = _returns(200, seed=7)
    net = pd.DataFrame({"lstm[s0]": r, "lstm": r, "gru": r.shift(1).fillna(0), "flat": 0.0})
    sr = trial_sharpes(net)
    assert list(sr.index) == ["lstm[s0]", "gru"]


# -- PBO -------------------------------------------------------------------------------------------
def test_cscv_matches_a_brute_force_count_on_a_small_case() -> None:
    rng = np.random.default_rng(11)
    x = rng.normal(0, 0.01, (6 * 40, 5))
    res = cscv_pbo(x, n_blocks=6)
    blocks = np.split(x, 6)
    logits = []
    for chosen in itertools.combinations(range(6), 3):
        ins = np.vstack([blocks[k] for k in chosen])
        oos = np.vstack([blocks[k] for k in range(6) if k not in chosen])
        sr_is = ins.mean(0) / ins.std(0, ddof=1)
        sr_oos = oos.mean(0) / oos.std(0, ddof=1)
        rank = stats.rankdata(sr_oos)[np.argmax(sr_is)]
        w = rank / 6
        logits.append(math.log(w / (1 - w)))
    assert res.n_splits == 20
    assert np.allclose(res.logits, logits)
    assert res.pbo == pytest.approx(np.mean(np.array(logits) <= 0))


def test_pbo_of_pure_noise_is_about_a_half() -> None:
    pbos = [
        cscv_pbo(np.random.default_rng(seed).normal(0, 0.01, (2000, 50))).pbo for seed in range(30)
    ]
    assert 0.35 <= np.mean(pbos) <= 0.60


def test_pbo_with_one_planted_skilled_configuration_is_small() -> None:
    x = np.random.default_rng(1).normal(0, 0.01, (2000, 50))
    x[:, 17] += 0.2 * 0.01  # daily Sharpe 0.2
    res = cscv_pbo(x)
    assert res.n_splits == 12870
    assert res.pbo < 0.05
    assert res.prob_oos_loss < 0.05
