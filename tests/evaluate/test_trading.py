"""Trading on a forecast: the one-day lag, costs, statistics, PSR/DSR reference values and CSCV PBO."""

from __future__ import annotations

import doctest
import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from gatecast.errors import AlignmentError, ConfigError
from gatecast.evaluate import trading
from gatecast.evaluate.trading import (
    Rule,
    cscv_pbo,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    probabilistic_sharpe_ratio,
    sharpe_moments,
    trade,
    trial_sharpes,
)


def _returns(n: int = 2000, seed: int = 0, sd: float = 0.01) -> pd.Series:
    rng = np.random.default_rng(seed)
    return pd.Series(rng.normal(0.0, sd, n), index=pd.bdate_range("2010-01-01", periods=n))


def test_docstring_examples() -> None:
    assert doctest.testmod(trading, raise_on_error=False).failed == 0


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
