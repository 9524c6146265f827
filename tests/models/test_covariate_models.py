"""Models that read covariates: the recurrent variance model and HAR-X never read a covariate
value before its date, scale it on training rows only, and HAR-X is OLS on its design."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gatecast.data import load
from gatecast.data.covariates import covariate_values, join_covariates
from gatecast.data.volatility import parkinson
from gatecast.errors import ConfigError
from gatecast.models.har import HARXForecaster
from gatecast.models.recurrent.variance import RecurrentVariance

FIT_END = "2015-06-30"
DAY = pd.Timestamp("2015-09-15")


@pytest.fixture(scope="module")
def vix() -> pd.DataFrame:
    return covariate_values("vix")[0]


@pytest.fixture(scope="module")
def spx() -> pd.DataFrame:
    return load("sp500").loc["2014":"2015-12"]


def joined(
    spx: pd.DataFrame, vix: pd.DataFrame, shift_from: pd.Timestamp | None = None
) -> pd.DataFrame:
    """S&P 500 with the log VIX joined on; with ``shift_from``, every VIX value dated on or
    after it raised by 0.5 (a covariate changed from that date on)."""
    cov = vix.copy()
    if shift_from is not None:
        cov.loc[shift_from:, "vix_log"] += 0.5
    return join_covariates(spx, ["vix"], values={"vix": cov})[0]


def tiny(**kw: object) -> RecurrentVariance:
    return RecurrentVariance(hidden=4, epochs=1, device="cpu", covariates=("vix_log",), **kw)


@pytest.mark.parametrize("make", [tiny, lambda: HARXForecaster(covariates=("vix_log",))])
def test_a_covariate_dated_d_changes_no_forecast_up_to_d(make, spx, vix) -> None:
    a, b = joined(spx, vix), joined(spx, vix, shift_from=DAY)
    model = make().fit(a.loc[:FIT_END])
    fa, fb = model.predict(a, start="2015-07-01"), model.predict(b, start="2015-07-01")
    assert fa.loc[:DAY].equals(fb.loc[:DAY])  # the same path on the same rows: exactly equal
    nxt = a.index[a.index.get_loc(DAY) + 1]
    assert not np.isclose(fa.loc[nxt], fb.loc[nxt])  # the forecast for D+1 reads D's VIX


def test_the_recurrent_model_reads_the_covariate_and_scales_it_on_training_rows(spx, vix) -> None:
    a = joined(spx, vix)
    model = tiny().fit(a.loc[:FIT_END])
    assert model.spec_.input_names == ("return", "squared_return", "log_parkinson", "vix_log")
    # the training rows end before the validation tail (the last 15% of the windows): a
    # covariate changed inside the tail leaves the scaler as it was
    train_end = pd.Timestamp(model.spec_.info["train_range"][1])
    rows = a.loc[:train_end, "vix_log"].iloc[1:]  # the first row has no return: not a row
    scaler = model.spec_.feature_scaler
    assert float(np.asarray(scaler.shift_)[3]) == pytest.approx(rows.mean())
    tail = a.index[(a.index > train_end) & (a.index <= pd.Timestamp(FIT_END))][3]
    moved = tiny().fit(joined(spx, vix, shift_from=tail).loc[:FIT_END])
    assert np.array_equal(moved.spec_.feature_scaler.shift_, scaler.shift_)
    assert np.array_equal(moved.spec_.feature_scaler.scale_, scaler.scale_)


def test_a_model_with_covariates_saves_loads_and_streams(spx, vix, tmp_path) -> None:
    a = joined(spx, vix)
    model = tiny().fit(a.loc[:FIT_END])
    model.save(tmp_path / "m")
    back = RecurrentVariance.load(tmp_path / "m", device="cpu")
    assert back.covariates == ("vix_log",)
    np.testing.assert_allclose(
        back.predict(a, start="2015-07-01"), model.predict(a, start="2015-07-01"), rtol=1e-6
    )
    # a stream's rows carry the covariate beside the prices: the forecast after each row is
    # predict's for the next row (NumPy stream against torch predict: float rounding)
    want = back.predict(a, start="2015-07-01")
    stream = back.stream("numpy")
    got = {}
    for day, row in a.loc[: want.index[-1]].iterrows():
        got[day] = stream.update(row.to_dict(), at=day)
    after = pd.Series(got).shift(1).loc[want.index]
    np.testing.assert_allclose(after.to_numpy(), want.to_numpy(), rtol=1e-5)
    with pytest.raises(
        ConfigError, match=r"covariate column\(s\) \['vix_log'\].*lacks; join them first"
    ):
        model.predict(spx)
    with pytest.raises(ConfigError, match=r"covariate column\(s\) \['vix_log'\], which .* lacks"):
        tiny().fit(spx.loc[:FIT_END])


def test_har_x_is_ols_on_its_design(spx, vix) -> None:
    a = joined(spx, vix).loc[:FIT_END]
    model = HARXForecaster(covariates=("vix_log",)).fit(a)
    m = np.log(parkinson(a))
    X = pd.DataFrame(
        {
            "const": 1.0,
            "d": m.shift(1),
            "w": m.rolling(5).mean().shift(1),
            "mo": m.rolling(22).mean().shift(1),
            "vix": a["vix_log"].shift(1),  # known at the close before the day forecast
        }
    )
    ok = X.notna().all(axis=1)
    beta, *_ = np.linalg.lstsq(X[ok].to_numpy(), m[ok].to_numpy(), rcond=None)
    np.testing.assert_allclose(model.params_, beta, rtol=1e-8, atol=1e-10)
    assert model.params_[-1] > 0  # a higher VIX, a wider range tomorrow
    fc = model.predict(joined(spx, vix), start="2015-07-01")
    full = joined(spx, vix)
    mf = np.log(parkinson(full))
    day = fc.index[0]
    i = full.index.get_loc(day)
    x = [
        1.0,
        mf.iloc[i - 1],
        mf.iloc[i - 5 : i].mean(),
        mf.iloc[i - 22 : i].mean(),
        full["vix_log"].iloc[i - 1],
    ]
    assert fc.iloc[0] == pytest.approx(model.level_ * np.exp(np.dot(x, beta)), rel=1e-8)


def test_har_x_needs_covariates() -> None:
    with pytest.raises(ConfigError, match="HAR-X needs one or more covariate columns"):
        HARXForecaster()
