"""Covariates joined onto a series: the value known at each row's close, leading rows left out
and said, gaps refused, unknown names refused with the known ones."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gatecast.data import load
from gatecast.data.covariates import (
    COVARIATES,
    covariate_group,
    covariate_values,
    join_covariates,
    known_at_close,
)
from gatecast.data.per_instrument import asof_join
from gatecast.errors import ConfigError, DataError


@pytest.fixture(scope="module")
def spx() -> pd.DataFrame:
    return load("sp500").loc["2014":"2014-06"]


def test_row_t_holds_the_value_dated_t_or_before_and_asof_join_agrees() -> None:
    dates = pd.DatetimeIndex(["2020-01-02", "2020-01-03", "2020-01-06", "2020-01-07"])
    cov = pd.DataFrame(
        {"x": [1.0, 2.0, 3.0]}, index=pd.DatetimeIndex(["2020-01-02", "2020-01-04", "2020-01-07"])
    )
    got = known_at_close(dates, cov)["x"].tolist()
    # Jan 4 is a Saturday: its value is first known on the Monday row (and so first read by
    # the forecast for Tuesday)
    assert got == [1.0, 1.0, 2.0, 3.0]
    # on dates the series shares with the covariate, the forecast for a row reads the row
    # before: what asof_join puts on the forecast's own date (values dated strictly before it)
    same = cov.drop(pd.Timestamp("2020-01-04"))
    row = known_at_close(dates, same)["x"].tolist()
    nxt = asof_join({"s": dates[1:]}, same["x"])["s"]["x"].tolist()
    assert nxt == row[:-1] == [1.0, 1.0, 1.0]


def test_a_value_older_than_a_week_is_a_gap_not_carried() -> None:
    dates = pd.DatetimeIndex(["2020-01-02", "2020-01-20"])
    cov = pd.DataFrame({"x": [1.0]}, index=pd.DatetimeIndex(["2020-01-02"]))
    assert np.isnan(known_at_close(dates, cov)["x"].iloc[1])


def test_changing_a_value_dated_d_changes_no_row_before_d(spx: pd.DataFrame) -> None:
    vix, _ = covariate_values("vix")
    day = pd.Timestamp("2014-03-14")
    moved = vix.copy()
    moved.loc[day:, "vix_log"] += 1.0
    a, _ = join_covariates(spx, ["vix"], values={"vix": vix})
    b, _ = join_covariates(spx, ["vix"], values={"vix": moved})
    before = a.index < day
    assert a.loc[before, "vix_log"].equals(b.loc[before, "vix_log"])
    assert b.loc[day, "vix_log"] == pytest.approx(a.loc[day, "vix_log"] + 1.0)


def test_rows_before_the_covariate_are_left_out_and_said() -> None:
    df = load("sp500").loc["2013-12":"2014-02"]
    out, notes = join_covariates(df, ["vix"])
    assert out.index[0] == pd.Timestamp("2014-01-03")  # the bundled VIX's first date
    n = int((df.index < pd.Timestamp("2014-01-03")).sum())
    assert n == 22 and len(out) == len(df) - n
    assert any(f"the {n} rows" in note and "left out" in note for note in notes)
    assert any("46 row(s) of vix are NaN" in note for note in notes)
    assert np.isfinite(out["vix_log"]).all()
    assert np.allclose(np.exp(out.loc["2014-01-06", "vix_log"]), 13.55, atol=0.01)


def test_a_covariate_that_stops_before_the_data_ends_is_refused(spx: pd.DataFrame) -> None:
    vix, _ = covariate_values("vix")
    short = vix.loc[:"2014-04-30"]
    with pytest.raises(
        DataError,
        match=r"covariate 'vix' has no value within 7 days before 2014-05-08.*covers 2014-01-03 \.\. 2014-04-30",
    ):
        join_covariates(spx, ["vix"], values={"vix": short})


def test_a_gap_inside_the_covariate_is_refused(spx: pd.DataFrame) -> None:
    vix, _ = covariate_values("vix")
    holed = vix.drop(vix.loc["2014-03-01":"2014-03-20"].index)
    with pytest.raises(DataError, match="no value within 7 days before 2014-03-10"):
        join_covariates(spx, ["vix"], values={"vix": holed})


def test_an_unknown_covariate_is_refused_naming_the_known_ones(spx: pd.DataFrame) -> None:
    with pytest.raises(ConfigError, match="covariate 'vxx' is unknown; choose from vix, nasdaq"):
        join_covariates(spx, ["vxx"])
    assert covariate_group("nasdaq").columns == ("nasdaq_return", "nasdaq_log_parkinson")
    assert set(COVARIATES) == {"vix", "nasdaq", "sp500"}


def test_sp500_group_is_the_index_return_and_log_parkinson_range() -> None:
    """The index of a stock panel as a covariate: on the row of day t, the S&P 500's percent
    log return and log Parkinson range of day t, recomputed here from its prices."""
    days = pd.bdate_range("2016-03-01", periods=30, name="date")
    stock = pd.DataFrame({"close": np.linspace(50.0, 60.0, len(days))}, index=days)
    out, notes = join_covariates(stock, ["sp500"])
    assert notes == [
        "covariate sp500: 1 row(s) of sp500 are NaN and were left out; those days read its "
        "previous value (at most 7 days old)"
    ]
    spx = load("sp500")
    day = pd.Timestamp("2016-03-15")
    prev = spx.index[spx.index.get_loc(day) - 1]
    assert out.loc[day, "sp500_return"] == pytest.approx(
        100 * np.log(spx.loc[day, "close"] / spx.loc[prev, "close"]), rel=1e-12
    )
    hl = np.log(spx.loc[day, "high"] / spx.loc[day, "low"])
    assert out.loc[day, "sp500_log_parkinson"] == pytest.approx(
        np.log(1e4 * hl**2 / (4 * np.log(2))), rel=1e-12
    )


def test_nasdaq_group_is_its_return_and_log_range(spx: pd.DataFrame) -> None:
    out, notes = join_covariates(spx, ["nasdaq"])
    # the one NaN is nasdaq's first row (1999-01-04), which has no return
    assert notes == [
        "covariate nasdaq: 1 row(s) of nasdaq are NaN and were left out; those days read its "
        "previous value (at most 7 days old)"
    ]
    assert len(out) == len(spx)
    nq = load("nasdaq")
    day = pd.Timestamp("2014-02-03")
    prev = nq.index[nq.index.get_loc(day) - 1]
    assert out.loc[day, "nasdaq_return"] == pytest.approx(
        100 * np.log(nq.loc[day, "close"] / nq.loc[prev, "close"])
    )
