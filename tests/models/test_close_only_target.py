"""What a recurrent variance model with a residual base trains against on closes only: the day's
squared return shrunk halfway toward the base's forecast of it (``shrunk``), computed from the
day's own return and the base's forecast made the day before, with the base fit on the training
rows only; with High/Low the Parkinson range as before, and the choice refused where it cannot
apply."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from gatecast.data import load
from gatecast.data.volatility import QLIKE_FLOOR, SHRINK_WEIGHT, shrunk_proxy
from gatecast.errors import ConfigError
from gatecast.models.config import VarianceConfig, default_train_proxy, describe_train_proxy
from gatecast.models.recurrent import load_model
from gatecast.models.recurrent.variance import RecurrentVariance

TINY = dict(hidden=4, window=8, epochs=1, seed=0, quiet=True)
HYBRID = dict(classical_inputs=("garch", "gjr_t", "har"), residual="gjr_t")


@pytest.fixture(scope="module")
def closes() -> pd.DataFrame:
    return load("sp500").loc["2012":"2014-06", ["adj_close"]]


def target(model: RecurrentVariance, history: pd.DataFrame) -> pd.Series:
    """The training target of a fit on ``history`` (the classical models fit as a fit fits them)."""
    _, y, _ = model.training_frames(history, model.resolve(model.config(), history))
    return y


def test_the_close_only_default_is_the_squared_return_shrunk_toward_the_base(closes) -> None:
    history = closes.iloc[:450]
    model = RecurrentVariance(**TINY | HYBRID).fit(history)
    assert model._fitted().config["train_proxy"] == "shrunk"
    y = target(model, history)
    # the oracle: r_t^2 from the prices, g_t the GJR-t forecast for t made at t - 1 by the
    # model fit on the training rows (its predict), y_t = (r_t^2 / 2 + g_t / 2) / g_t
    p = history["adj_close"].to_numpy()
    r2 = pd.Series((100 * np.diff(np.log(p))) ** 2, index=history.index[1:])
    g = model.classical_["gjr_t"].predict(history, start=history.index[30])
    expect = (0.5 * np.maximum(r2.loc[g.index], QLIKE_FLOOR) + 0.5 * g) / g
    np.testing.assert_allclose(y.loc[g.index], expect, rtol=1e-10)
    # an explicit squared proxy is the plain ratio r^2 / g of before
    plain = RecurrentVariance(**TINY | HYBRID | {"train_proxy": "squared"})
    y_sq = target(plain, history)
    np.testing.assert_allclose(y_sq.loc[g.index], np.maximum(r2.loc[g.index], QLIKE_FLOOR) / g)


def test_the_shrunk_target_of_day_t_reads_day_t_and_the_training_rows_only(closes) -> None:
    history = closes.iloc[:450]
    model = RecurrentVariance(**TINY | HYBRID).fit(history)
    end = pd.Timestamp(model.train_range_[1])
    t = history.index.get_loc(end) + 20  # a day in the validation tail, after the training rows
    day = history.index[t]
    moved = history.copy()
    moved.loc[moved.index >= day, "adj_close"] *= 0.9  # day t's return falls 10%, later ones not
    base, after = target(model, history), target(model, moved)
    # every earlier day's target is unchanged: the base is fit on the training rows only, and
    # day s's target reads r_s and the base's forecast made at s - 1
    pd.testing.assert_series_equal(after.iloc[:t], base.iloc[:t])
    assert not np.isclose(after.iloc[t], base.iloc[t])  # day t's own return does count
    # a change inside the training rows moves the base's parameters, so every target
    early = history.copy()
    early.loc[early.index >= history.index[100], "adj_close"] *= 0.9
    assert not np.allclose(target(model, early).iloc[200:t], base.iloc[200:t])


def test_shrunk_proxy_is_a_weighted_mean_and_reads_each_day_only() -> None:
    idx = pd.date_range("2020-01-01", periods=5, freq="B")
    r2 = pd.Series([1.0, 4.0, 0.0, 9.0, 2.0], index=idx)
    prior = pd.Series([np.nan, 2.0, 2.0, 1.0, 2.0], index=idx)
    out = shrunk_proxy(r2, prior)
    np.testing.assert_allclose(out.to_numpy()[1:], [3.0, 1.0, 5.0, 2.0])
    assert np.isnan(out.iloc[0]) and SHRINK_WEIGHT == 0.5
    bumped = r2.copy()
    bumped.iloc[3] = 100.0
    moved = shrunk_proxy(bumped, prior)
    pd.testing.assert_series_equal(moved.drop(idx[3]), out.drop(idx[3]))
    np.testing.assert_allclose(shrunk_proxy(r2, prior, weight=1.0).iloc[1:], r2.iloc[1:])
    with pytest.raises(ConfigError, match=r"must be in \(0, 1\]"):
        shrunk_proxy(r2, prior, weight=0.0)
    with pytest.raises(ConfigError, match="share one index"):
        shrunk_proxy(r2, prior.iloc[1:])


def test_the_range_and_models_without_a_base_keep_their_target(closes) -> None:
    spx = load("sp500").loc["2012":"2014-06"]
    ranged = RecurrentVariance(**TINY | HYBRID).fit(spx.iloc[:450])
    assert ranged._fitted().config["train_proxy"] == "parkinson"
    bare = RecurrentVariance(**TINY).fit(closes.iloc[:450])
    assert bare._fitted().config["train_proxy"] == "squared"
    inputs_only = RecurrentVariance(**TINY | {"classical_inputs": ("garch",)})
    assert default_train_proxy(False, None, "qlike", "squared") == "squared"
    assert inputs_only.resolve(inputs_only.config(), closes).train_proxy == "squared"
    assert default_train_proxy(False, "gjr_t", "gaussian_nll", "squared") == "squared"
    assert default_train_proxy(True, "gjr_t", "qlike", "squared") == "parkinson"
    assert describe_train_proxy("shrunk", "gjr_t") == (
        "the squared return shrunk halfway toward gjr_t's forecast of it"
    )


def test_shrunk_is_refused_where_it_cannot_apply() -> None:
    with pytest.raises(ConfigError, match="needs residual="):
        VarianceConfig(train_proxy="shrunk")
    with pytest.raises(ConfigError, match="loss='qlike'"):
        VarianceConfig(train_proxy="shrunk", residual="gjr_t", loss="gaussian_nll")
    with pytest.raises(ConfigError, match="train_proxy 'range' is unknown"):
        VarianceConfig(train_proxy="range")
    cfg = VarianceConfig(train_proxy="shrunk", residual="gjr_t")
    assert VarianceConfig.from_dict(cfg.to_dict()) == cfg  # a model folder's config reads back


def test_a_shrunk_hybrid_saves_its_choice_and_predicts_the_same(closes, tmp_path) -> None:
    model = RecurrentVariance(**TINY | HYBRID).fit(closes.iloc[:450])
    folder = model.save(tmp_path / "m")
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["config"]["train_proxy"] == "shrunk"
    back = load_model(folder, device="cpu")
    a = model.predict(closes, start=closes.index[460])
    b = back.predict(closes, start=closes.index[460])
    np.testing.assert_allclose(b.to_numpy(), a.to_numpy(), rtol=1e-6)
