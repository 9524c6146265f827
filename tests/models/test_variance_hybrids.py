"""Hybrid recurrent variance models: classical forecasts as inputs and the residual head. Every new
input is leak-free (change day t: the inputs a forecast for t reads stay the same), the classical
models are fit on the training rows before the validation tail, and on closes only ``har`` is the
HAR on absolute returns (saving and streaming: ``test_hybrid_serving.py``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from gatecast.data import load
from gatecast.errors import ConfigError
from gatecast.models.config import VarianceConfig
from gatecast.models.garch import ArchForecaster
from gatecast.models.har import HARForecaster
from gatecast.models.recurrent.variance import RecurrentVariance, classical_inputs

TINY = dict(hidden=4, window=8, epochs=2, seed=0, quiet=True)
PRICES = ["open", "high", "low", "close", "adj_close"]


@pytest.fixture(scope="module")
def spx() -> pd.DataFrame:
    return load("sp500").loc["2012":"2014-06"]


def bent(df: pd.DataFrame, day: pd.Timestamp, factor: float = 0.7) -> pd.DataFrame:
    """``df`` with every price on ``day`` and after it lower (a fall moves GJR, whose shock term
    for a rise is often 0) and the range of ``day`` widened."""
    out = df.copy()
    late = out.index >= day
    out.loc[late, PRICES] *= factor
    out.loc[day, "high"] *= 1.05
    return out


@pytest.mark.parametrize(
    "model",
    [
        ArchForecaster("GARCH", name="garch"),
        ArchForecaster("GARCH", o=1, dist="t"),
        ArchForecaster("EGARCH", o=1, dist="t"),
        HARForecaster(),
        HARForecaster(measure="abs"),
    ],
    ids=["garch", "gjr_t", "egarch_t", "har", "har_abs"],
)
def test_the_input_for_day_t_reads_data_up_to_t_minus_1_only(spx: pd.DataFrame, model) -> None:
    model.fit(spx.iloc[:400])
    t = 450
    day = spx.index[t]
    frozen = {"m": model.recursion("m")}  # what a hybrid computes its inputs with
    base = classical_inputs(frozen, spx)
    moved = classical_inputs(frozen, bent(spx, day))
    # row s holds the forecast made at s's close: the input of a forecast for t is row t - 1
    pd.testing.assert_frame_equal(moved.iloc[:t], base.iloc[:t])
    assert not np.isclose(moved.iloc[t, 0], base.iloc[t, 0])  # day t's own row does move
    # and it is the model's own forecast for the next day, as its predict() gives it
    fc = model.predict(spx, start=spx.index[t + 1])
    np.testing.assert_allclose(
        np.exp(base["log_m_forecast"].shift(1).reindex(fc.index)), fc, rtol=1e-10
    )


@pytest.mark.parametrize(
    "options",
    [{"classical_inputs": ("garch", "har")}, {"residual": "gjr_t"}],
    ids=["inputs", "residual"],
)
def test_a_hybrid_forecast_for_t_reads_nothing_of_t(spx: pd.DataFrame, options: dict) -> None:
    model = RecurrentVariance(**TINY | options).fit(spx.iloc[:450])
    day = spx.index[500]
    base = model.predict(spx.iloc[:520], start=spx.index[480])
    moved = model.predict(bent(spx.iloc[:520], day), start=spx.index[480])
    pd.testing.assert_series_equal(moved.loc[:day], base.loc[:day])
    assert not np.isclose(moved.iloc[-1], base.iloc[-1])
    assert (base > 0).all() and len(base) == 40
    nxt = model.forecast_next(spx.iloc[:520])
    assert nxt.index[0] == spx.index[520]  # the next trading day of the data's calendar
    np.testing.assert_allclose(nxt.iloc[0], model.predict(spx.iloc[:521]).iloc[-1])


def test_classical_models_are_fit_on_the_rows_before_the_validation_tail(
    spx: pd.DataFrame,
) -> None:
    history = spx.iloc[:450]
    options = TINY | {"classical_inputs": ("garch", "har"), "residual": "gjr_t"}
    base = RecurrentVariance(**options).fit(history)
    end = pd.Timestamp(base.train_range_[1])
    assert end < history.index[-50]  # a validation tail exists
    after_end = history.index[history.index.get_loc(end) + 1]
    late = RecurrentVariance(**options).fit(bent(history, after_end))
    early = RecurrentVariance(**options).fit(bent(history, history.index[100]))
    for name in ("garch", "har", "gjr_t"):
        a, b = base.classical_[name], late.classical_[name]
        p_a = a.params_ if name != "har" else np.append(a.params_, a.level_)
        p_b = b.params_ if name != "har" else np.append(b.params_, b.level_)
        np.testing.assert_allclose(np.asarray(p_b), np.asarray(p_a))
        p_e = early.classical_[name].params_
        assert not np.allclose(np.asarray(p_e), np.asarray(a.params_))


def test_the_residual_head_falls_back_to_its_classical_model(spx: pd.DataFrame) -> None:
    """A net that outputs 0 (log ratio 0) forecasts exactly the GJR-t forecast."""
    model = RecurrentVariance(**TINY | {"residual": "gjr_t"}).fit(spx.iloc[:450])
    with torch.no_grad():
        for p in model.net_.parameters():
            p.zero_()
    fc = model.predict(spx, start=spx.index[460], end=spx.index[500])
    gjr = model.classical_["gjr_t"].predict(spx, start=spx.index[460], end=spx.index[500])
    np.testing.assert_allclose(fc.to_numpy(), gjr.to_numpy(), rtol=1e-12)
    # the training target is the proxy over that same forecast: QLIKE of the ratio is QLIKE of
    # the variance up to a constant, so the net learns log(variance / GJR-t)
    cfg = model.resolve(model.config(), spx.iloc[:450])
    _, y_ratio, _ = model.training_frames(spx.iloc[:450], cfg)
    plain = RecurrentVariance(**TINY)
    _, y, _ = plain.training_frames(spx.iloc[:450], plain.resolve(plain.config(), spx.iloc[:450]))
    g = model.classical_["gjr_t"].predict(spx.iloc[:450], start=spx.index[300])
    np.testing.assert_allclose(y_ratio.loc[g.index], y.loc[g.index] / g, rtol=1e-12)


def test_hybrid_settings_are_checked(spx: pd.DataFrame) -> None:
    with pytest.raises(ConfigError, match="classical_inputs 'arma' is unknown"):
        VarianceConfig(classical_inputs=("arma",))
    with pytest.raises(ConfigError, match="lists a model twice"):
        VarianceConfig(classical_inputs=("garch", "garch"))
    with pytest.raises(ConfigError, match="residual 'ewma' is unknown"):
        VarianceConfig(residual="ewma")
    close_only = spx[["close", "adj_close"]]  # har: the HAR on |r| (it needed High/Low once)
    model = RecurrentVariance(**TINY | {"residual": "har"}).fit(close_only)
    assert model.har_measures_ == {"har": "abs"}
    assert model.manifest()["classical"]["residual"]["measure"] == "abs"
    ranged = RecurrentVariance(**TINY | {"classical_inputs": ("har", "har_abs")}).fit(spx)
    assert ranged.har_measures_ == {"har": "range", "har_abs": "abs"}
    cfg = VarianceConfig(classical_inputs=["har", "garch"])
    assert cfg.classical_inputs == ("har", "garch") and cfg.hybrid
    assert cfg.to_dict()["classical_inputs"] == ["har", "garch"]


def test_a_rolling_training_window_reads_the_last_train_rows_only(spx: pd.DataFrame) -> None:
    history = spx.iloc[:450]
    options = TINY | {"residual": "gjr_t", "train_rows": 300}
    base = RecurrentVariance(**options).fit(history)
    assert pd.Timestamp(base.train_range_[0]) > history.index[150]
    early = history.copy()
    early.iloc[:150, [early.columns.get_loc(c) for c in PRICES]] *= 0.5  # before the window
    again = RecurrentVariance(**options).fit(early)
    np.testing.assert_allclose(again.classical_["gjr_t"].params_, base.classical_["gjr_t"].params_)
    assert again.feature_scaler_.to_dict() == base.feature_scaler_.to_dict()
    whole = RecurrentVariance(**TINY | {"residual": "gjr_t"}).fit(early)  # all rows: it moves
    assert whole.feature_scaler_.to_dict() != base.feature_scaler_.to_dict()
    with pytest.raises(ConfigError, match="train_rows=100: a rolling training window"):
        VarianceConfig(train_rows=100)
