"""The recurrent variance model: positive forecasts, no look-ahead, warm state, both losses."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from gatecast.data import load
from gatecast.errors import ConfigError
from gatecast.models.recurrent.variance import RecurrentVariance, qlike_logvar

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def spx() -> pd.DataFrame:
    return load("sp500").loc["2012":"2015-03"]


def tiny(**kw) -> RecurrentVariance:
    return RecurrentVariance(**({"cell": "gru", "hidden": 4, "window": 10, "epochs": 2} | kw))


def test_forecasts_are_positive_and_ignore_day_t(spx: pd.DataFrame) -> None:
    m = tiny().fit(spx.loc[:"2014"])
    base = m.predict(spx, start="2015-01-02")
    assert (base > 0).all() and base.index[0] == pd.Timestamp("2015-01-02")
    moved = spx.copy()
    moved.loc["2015-02-10":, ["open", "high", "low", "close", "adj_close"]] *= 0.6
    got = m.predict(moved, start="2015-01-02")
    assert got.loc[:"2015-02-10"].equals(base.loc[:"2015-02-10"])
    assert not np.isclose(got.loc["2015-02-11"], base.loc["2015-02-11"])


def test_same_seed_same_forecast_and_warm_state_round_trip(spx: pd.DataFrame) -> None:
    a = tiny(seed=3).fit(spx.loc[:"2014"]).predict(spx, start="2015-01-02")
    b_model = tiny(seed=3).fit(spx.loc[:"2014"])
    pd.testing.assert_series_equal(a, b_model.predict(spx, start="2015-01-02"))
    c = tiny(seed=3).set_warm_state(b_model.warm_state())
    c.spec_ = b_model.spec_  # the warm state is the weights; the scalers come with the spec
    pd.testing.assert_series_equal(a, c.predict(spx, start="2015-01-02"))


@pytest.mark.parametrize("loss", ["qlike", "gaussian_nll"])
def test_both_losses_and_parkinson_training(loss: str, spx: pd.DataFrame) -> None:
    m = tiny(loss=loss, train_proxy="parkinson", cell="lstm").fit(spx.loc[:"2014"])
    assert m.result_ is not None and np.isfinite(m.result_.history["train_loss"]).all()


def test_qlike_logvar_is_zero_at_the_truth() -> None:
    p = torch.tensor([[0.5], [2.0]])
    assert float(qlike_logvar(torch.log(p), p)) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ConfigError, match="loss"):
        RecurrentVariance(loss="mse")


@pytest.mark.parametrize("loss", ["qlike", "gaussian_nll"])
def test_the_training_loss_is_qlike_or_the_gaussian_likelihood_in_closed_form(loss: str) -> None:
    """Away from the truth a squared log error (also zero at the truth) differs from QLIKE."""
    h = torch.tensor([[0.3], [-1.2], [2.0]], dtype=torch.float64)  # log-variance forecasts
    p = torch.tensor([[1.5], [0.1], [0.4]], dtype=torch.float64)  # proxy (or r^2)
    model = RecurrentVariance(loss=loss)
    got = float(model.loss_fn(model.config())(h, p))
    f, y = np.exp(h.numpy()), p.numpy()
    if loss == "qlike":  # Patton's QLIKE of the variance forecast e^h
        want = np.mean(y / f - np.log(y / f) - 1)
    else:  # the Gaussian negative log-likelihood of a zero-mean return, up to constants
        want = np.mean(0.5 * (np.log(f) + y / f))
    assert got == pytest.approx(want, rel=1e-12)
