""" "Scalers fit on the training range only", where each family and mode claims it: perturb exactly
the rows a fit must not read (the validation tail, the test period) and the fitted values stay
the same; perturb one training row and they move (so the test can fail)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gatecast.data import ar1_prices, load
from gatecast.models.garch import ArchForecaster
from gatecast.models.har import HARForecaster
from gatecast.models.recurrent import RecurrentForecaster
from gatecast.models.recurrent.variance import RecurrentVariance
from gatecast.models.volatility import HistoricalVariance

PRICES = ["open", "high", "low", "close", "adj_close"]
TINY = dict(cell="gru", hidden=3, layers=1, window=8, epochs=1, batch_size=64, seed=0, quiet=True)
SEQ = dict(mode="sequence", chunks=4, chunk_len=16, burn_in=4)


@pytest.fixture(scope="module")
def ar1() -> pd.DataFrame:
    return ar1_prices(320, phi=0.5, sigma=0.01, seed=7)


@pytest.fixture(scope="module")
def spx() -> pd.DataFrame:
    return load("sp500").loc["2013":"2015-06"]


def after(df: pd.DataFrame, end: pd.Timestamp | str) -> pd.DataFrame:
    """``df`` with every price after ``end`` bent by a growing factor (returns, ranges and levels
    all change) and each range there widened."""
    out = df.copy()
    late = out.index > pd.Timestamp(end)
    cols = [c for c in PRICES if c in out]
    out.loc[late, cols] = out.loc[late, cols].mul(np.linspace(1.1, 2.5, late.sum()), axis=0)
    if "high" in out:
        out.loc[late, "high"] *= 1.03
    return out


def one_training_row(df: pd.DataFrame, i: int = 60) -> pd.DataFrame:
    """``df`` with one early price jump (a row every fit must read)."""
    out = df.copy()
    cols = [c for c in PRICES if c in out]
    out.iloc[i:, [out.columns.get_loc(c) for c in cols]] *= 1.2
    return out


def scalers(model) -> tuple[dict, dict]:
    return model.feature_scaler_.to_dict(), model.target_scaler_.to_dict()


CASES = [
    pytest.param(dict(scaler=s, target=t) | m, id=f"{name}-{s}-{t}")
    for name, m in (("window", {}), ("sequence", SEQ))
    for s in ("standard", "minmax")
    for t in ("return", "price")
] + [
    pytest.param(dict(target="direction") | m, id=f"{name}-direction")
    for name, m in (("window", {}), ("sequence", SEQ))
]


@pytest.mark.parametrize("settings", CASES)
def test_forecaster_scalers_see_the_training_rows_only(ar1: pd.DataFrame, settings: dict) -> None:
    history = ar1.iloc[:260]

    def fit(df: pd.DataFrame) -> RecurrentForecaster:
        return RecurrentForecaster(**TINY | settings).fit(df)

    base = fit(history)
    train_end = base.train_range_[1]
    assert pd.Timestamp(train_end) < history.index[-20]  # a validation tail exists
    assert scalers(fit(after(history, train_end))) == scalers(base)
    moved = fit(one_training_row(history))
    assert moved.feature_scaler_.to_dict() != base.feature_scaler_.to_dict()
    if settings["target"] != "direction":  # a probability is not scaled
        assert moved.target_scaler_.to_dict() != base.target_scaler_.to_dict()
    # predicting on other data refits nothing
    base.predict(after(ar1, history.index[100]))
    assert scalers(base) == scalers(fit(history))


def test_fit_many_scalers_see_each_series_training_rows_only(ar1: pd.DataFrame) -> None:
    other = ar1_prices(200, phi=-0.3, sigma=0.02, seed=8)
    model = RecurrentForecaster(**TINY | SEQ)
    base = model.fit_many({"a": ar1.iloc[:260], "b": other})
    ends = {k: v["train_range"][1] for k, v in base.series_.items()}
    again = RecurrentForecaster(**TINY | SEQ).fit_many(
        {"a": after(ar1.iloc[:260], ends["a"]), "b": after(other, ends["b"])}
    )
    assert scalers(again) == scalers(base)
    moved = RecurrentForecaster(**TINY | SEQ).fit_many(
        {"a": ar1.iloc[:260], "b": one_training_row(other)}
    )
    assert scalers(moved)[0] != scalers(base)[0]


def test_variance_model_inputs_are_standardised_on_the_training_rows_only(
    spx: pd.DataFrame,
) -> None:
    def fit(df: pd.DataFrame) -> RecurrentVariance:
        return RecurrentVariance(cell="gru", hidden=3, window=8, epochs=1, seed=0).fit(df)

    base = fit(spx)
    end = base.train_range_[1]
    assert pd.Timestamp(end) < spx.index[-50]
    assert scalers(fit(after(spx, end))) == scalers(base)
    assert scalers(fit(one_training_row(spx)))[0] != scalers(base)[0]


def test_variance_model_trains_on_a_proxy_scaled_on_the_training_rows_only(
    spx: pd.DataFrame,
) -> None:
    """The Parkinson range is mapped to the squared-return level by a constant fit on training
    rows (README); the validation tail must not set the level of the training targets."""
    model = RecurrentVariance(cell="gru", hidden=3, window=8, epochs=1, seed=0).fit(spx)
    end = pd.Timestamp(model.train_range_[1])
    cfg = model.resolve(model.config(), spx)
    assert cfg.train_proxy == "parkinson"
    _, y, _ = model.training_frames(spx, cfg)
    _, y_late, _ = model.training_frames(after(spx, end), cfg)
    train = y.index <= end
    pd.testing.assert_series_equal(y_late[train], y[train])
    _, y_early, _ = model.training_frames(one_training_row(spx), cfg)
    assert not np.allclose(y_early[train].dropna(), y[train].dropna())


@pytest.mark.parametrize(
    "model",
    [
        HARForecaster(target="parkinson", name="har"),
        HistoricalVariance(None, target="parkinson"),
        ArchForecaster("GARCH", name="garch"),
    ],
    ids=lambda m: m.name,
)
def test_variance_baselines_fix_their_levels_at_fit(spx: pd.DataFrame, model) -> None:
    """Fit on the training rows only (the walk-forward hands each fold those, see
    test_walkforward_durability); predicting on the test period refits nothing."""
    history = spx.loc[:"2014"]
    model.fit(history)
    fitted = {k: np.copy(v) for k, v in vars(model).items() if k.endswith("_")}
    model.predict(after(spx, "2014-12-31"), start="2015-01-02")
    for k, v in fitted.items():
        np.testing.assert_array_equal(np.asarray(getattr(model, k)), v)
    # and a changed training row does move them
    moved = type(model)(**model.get_params()).fit(one_training_row(history))
    assert any(not np.array_equal(np.asarray(getattr(moved, k)), v) for k, v in fitted.items()), (
        model.name
    )
