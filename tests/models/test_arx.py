"""ARX, the return baseline with covariates: its OLS is the oracle's (statsmodels on the same
design), without covariates its forecasts are AR(1)'s, each forecast reads the covariates of the
row before only, and the settings it refuses."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from gatecast.errors import ConfigError, TooFewRowsError
from gatecast.models.linear import AR1, ARX

DAYS = pd.bdate_range("2010-01-04", periods=400, name="date")


def _data(seed: int = 0) -> pd.DataFrame:
    """Closes whose log return loads on yesterday's covariates (so the fit has a signal)."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.standard_normal(len(DAYS)), rng.standard_normal(len(DAYS)).cumsum() * 0.1
    r = 0.004 * np.r_[0.0, x1[:-1]] - 0.002 * np.r_[0.0, x2[:-1]]
    r = r + 0.01 * rng.standard_normal(len(DAYS))
    close = 100 * np.exp(r.cumsum())
    return pd.DataFrame({"close": close, "x1": x1, "x2": x2}, index=DAYS)


def test_coefficients_and_forecasts_are_the_ols_oracles() -> None:
    """statsmodels OLS of r_t on (1, r_{t-1}, x1_{t-1}, x2_{t-1}), built here by hand on the
    training rows: the same coefficients and forecasts to 1e-10 (two OLS solvers on the same
    well-conditioned design)."""
    df = _data()
    train = df.iloc[:300]
    m = ARX(("x1", "x2")).fit(train)
    r = np.log(train["close"]).diff()
    design = pd.DataFrame(
        {"const": 1.0, "r": r.shift(1), "x1": train["x1"].shift(1), "x2": train["x2"].shift(1)}
    )
    ok = design.notna().all(axis=1) & r.notna()
    oracle = sm.OLS(r[ok].to_numpy(), design[ok].to_numpy()).fit().params
    assert m.params_ is not None
    np.testing.assert_allclose(m.params_, oracle, rtol=0, atol=1e-10)
    assert m.params_[2] == pytest.approx(0.004, abs=0.002)  # the signal is found
    fc = m.predict(df, start=df.index[300])
    rall = np.log(df["close"]).diff()
    t = df.index.get_loc(fc.index[10])
    by_hand = oracle @ [1.0, rall.iloc[t - 1], df["x1"].iloc[t - 1], df["x2"].iloc[t - 1]]
    assert fc.iloc[10] == pytest.approx(by_hand, abs=1e-12)
    assert fc.index[0] == df.index[300] and len(fc) == 100 and fc.name == "arx"


def test_without_covariates_it_is_ar1() -> None:
    """The same OLS as AR1's AutoReg(1) with a constant: forecasts equal to 1e-12."""
    df = _data(1)
    arx = ARX().fit(df.iloc[:250]).predict(df, start=df.index[250])
    ar1 = AR1().fit(df.iloc[:250]).predict(df, start=df.index[250])
    pd.testing.assert_index_equal(arx.index, ar1.index)
    np.testing.assert_allclose(arx.to_numpy(), ar1.to_numpy(), rtol=0, atol=1e-12)


def test_a_covariate_value_is_read_by_the_next_rows_forecast_only() -> None:
    """Change the covariates after D (the fit on rows before D): no forecast for a date up to
    D + 1 changes (D + 1's reads the values of D); D + 2's does."""
    df = _data(2)
    m = ARX(("x1", "x2")).fit(df.iloc[:300])
    base = m.predict(df)
    day = df.index[330]
    moved = df.copy()
    moved.loc[moved.index > day, ["x1", "x2"]] += 5.0
    after = m.predict(moved)
    upto = base.index <= df.index[331]
    pd.testing.assert_series_equal(after[upto], base[upto])
    assert after[df.index[332]] != pytest.approx(base[df.index[332]], rel=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"covariates": "x1"}, "give column names"),
        ({"covariates": ("x1", "x1")}, "lists a column twice"),
        ({"covariates": ("x1",), "target": "price"}, "ARX forecasts the one-step return"),
    ],
)
def test_bad_settings_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ARX(**kwargs)


def test_missing_column_and_short_history_are_refused() -> None:
    df = _data()
    with pytest.raises(ConfigError, match=r"covariate column\(s\) \['vix_log'\]"):
        ARX(("vix_log",)).fit(df)
    with pytest.raises(TooFewRowsError, match="need at least 40"):
        ARX(("x1", "x2")).fit(df.iloc[:30])
