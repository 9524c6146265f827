"""Synthetic series: the notebook's random walk exactly, and known properties of the others."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from gatecast.data import ar1_prices, garch11, gbm, noisy_sine, ou, random_walk
from gatecast.errors import ConfigError

GENERATORS: dict[str, Callable[..., pd.DataFrame]] = {
    "random_walk": random_walk,
    "gbm": gbm,
    "ou": ou,
    "ar1_prices": ar1_prices,
    "garch11": garch11,
    "noisy_sine": noisy_sine,
}


def notebook_random_walk(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The course notebook's cell, run on the legacy global generator (its state put back after)."""
    state = np.random.get_state()  # noqa: NPY002
    try:
        np.random.seed(seed)  # noqa: NPY002
        returns = np.random.randn(n) * 0.02 + 0.0001  # noqa: NPY002
        prices = 100 * np.cumprod(1 + returns)
    finally:
        np.random.set_state(state)  # noqa: NPY002
    return returns, prices


def lag1_coefficient(x: np.ndarray) -> float:
    """Least-squares slope of x_t on x_{t-1} (both demeaned)."""
    a, b = x[:-1] - x.mean(), x[1:] - x.mean()
    return float(a @ b / (a @ a))


def test_random_walk_is_the_notebook_recipe_exactly() -> None:
    returns, prices = notebook_random_walk(1000, 42)
    df = random_walk()
    assert df["close"].iloc[0] == prices[0]
    assert df["close"].iloc[-1] == prices[-1]
    np.testing.assert_array_equal(df["close"].to_numpy(), prices)
    np.testing.assert_array_equal(df["true_return"].to_numpy(), returns)
    assert df.index[0] == pd.Timestamp("2000-01-03") and len(df) == 1000
    assert (df.index.day_of_week < 5).all()


def test_random_walk_other_seed_and_length_follow_the_same_recipe() -> None:
    _, prices = notebook_random_walk(250, 7)
    np.testing.assert_array_equal(random_walk(250, seed=7)["close"].to_numpy(), prices)
    assert not np.array_equal(random_walk(250, seed=8)["close"].to_numpy(), prices)


def test_random_walk_leaves_the_global_generator_alone() -> None:
    before = np.random.get_state()[1].copy()  # noqa: NPY002
    random_walk(100, seed=3)
    np.testing.assert_array_equal(np.random.get_state()[1], before)  # noqa: NPY002


@pytest.mark.parametrize("name", list(GENERATORS))
def test_same_seed_same_series_other_seed_other_series(name: str) -> None:
    make = GENERATORS[name]
    a, b, c = make(300, seed=5), make(300, seed=5), make(300, seed=6)
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a["close"].to_numpy(), c["close"].to_numpy())
    assert (a["close"] > 0).all() and np.isfinite(a.to_numpy()).all()


@pytest.mark.parametrize("name", list(GENERATORS))
def test_index_is_business_days_or_steps(name: str) -> None:
    make = GENERATORS[name]
    dated = make(10, start="2021-03-05")
    assert dated.index.name == "date" and list(dated.index[:2]) == list(
        pd.to_datetime(["2021-03-05", "2021-03-08"])
    )
    steps = make(10, start=None)
    assert isinstance(steps.index, pd.RangeIndex) and steps.index.name == "t" and len(steps) == 10


def test_gbm_log_returns_have_the_drift_and_volatility_asked_for() -> None:
    mu, sigma, dt = 0.05, 0.2, 1 / 252
    df = gbm(20000, mu=mu, sigma=sigma, s0=50.0, seed=1)
    assert df["close"].iloc[0] == 50.0
    r = np.diff(np.log(df["close"].to_numpy()))
    assert r.std() == pytest.approx(sigma * np.sqrt(dt), rel=0.02)
    assert abs(r.mean() - (mu - sigma**2 / 2) * dt) < 4 * sigma * np.sqrt(dt / len(r))
    assert abs(lag1_coefficient(r)) < 0.03  # iid


def test_ou_half_life_and_stationary_spread() -> None:
    df = ou(20000, half_life=10.0, sigma=0.1, level=80.0, seed=2)
    phi = 0.5 ** (1 / 10)
    assert df.attrs["phi"] == pytest.approx(phi)
    x = df["log_level"].to_numpy()
    assert lag1_coefficient(x) == pytest.approx(phi, abs=0.02)
    assert x.std() == pytest.approx(0.1, rel=0.1)
    np.testing.assert_allclose(df["close"].to_numpy(), 80.0 * np.exp(x))
    assert x[0] == 0.0


def test_ou_reverts_to_its_mean() -> None:
    x = ou(20000, half_life=5.0, mean=0.3, seed=3)["log_level"].to_numpy()
    assert x.mean() == pytest.approx(0.3, abs=0.02)


def test_garch_unconditional_variance_and_recursion() -> None:
    omega, alpha, beta = 0.05, 0.1, 0.85
    df = garch11(100000, omega=omega, alpha=alpha, beta=beta, seed=4)
    r, s2 = df["return"].to_numpy(), df["variance"].to_numpy()
    assert r.var() == pytest.approx(omega / (1 - alpha - beta), rel=0.1)
    np.testing.assert_allclose(s2[1:], omega + alpha * r[:-1] ** 2 + beta * s2[:-1])
    assert s2[0] == pytest.approx(omega / (1 - alpha - beta))
    z = r / np.sqrt(s2)
    assert z.std() == pytest.approx(1.0, abs=0.01)
    # volatility clusters: squared returns are autocorrelated, returns are not
    assert lag1_coefficient(r**2) > 0.1 and abs(lag1_coefficient(r)) < 0.02
    np.testing.assert_allclose(np.diff(np.log(df["close"].to_numpy())), r[1:] / 100)


def test_garch_default_parameters_have_unit_variance() -> None:
    r = garch11(100000, seed=0)["return"].to_numpy()
    assert r.var() == pytest.approx(0.02 / (1 - 0.08 - 0.9), rel=0.1)


@pytest.mark.parametrize("phi", [0.9, 0.3, -0.5])
def test_ar1_returns_have_lag1_autocorrelation_phi(phi: float) -> None:
    df = ar1_prices(20000, phi=phi, sigma=0.01, seed=5)
    r = df["true_return"].to_numpy()
    assert r[0] == 0.0
    assert lag1_coefficient(r) == pytest.approx(phi, abs=0.02)
    assert r.std() == pytest.approx(0.01 / np.sqrt(1 - phi**2), rel=0.05)
    np.testing.assert_allclose(np.diff(np.log(df["close"].to_numpy())), r[1:], atol=1e-12)


def test_noisy_sine_is_the_sine_plus_noise() -> None:
    df = noisy_sine(20000, period=25.0, noise=0.2, seed=6, start=None)
    t = np.arange(20000)
    resid = df["close"].to_numpy() - (10 + np.sin(2 * np.pi * t / 25.0))
    assert resid.std() == pytest.approx(0.2, rel=0.03)
    assert abs(resid.mean()) < 0.01
    assert abs(lag1_coefficient(resid)) < 0.03


@pytest.mark.parametrize(
    ("make", "kwargs", "match"),
    [
        (random_walk, {"n": 1}, "n=1: a synthetic series needs at least 2 points"),
        (gbm, {"n": 0}, "n=0"),
        (ou, {"half_life": 0.0}, "half_life=0.0: must be positive"),
        (ar1_prices, {"phi": 1.0}, r"phi=1.0: an AR\(1\) is stationary only for \|phi\| < 1"),
        (ar1_prices, {"phi": -1.2}, "phi=-1.2"),
        (garch11, {"alpha": 0.2, "beta": 0.8}, "alpha \\+ beta < 1"),
        (garch11, {"omega": 0.0}, "need omega > 0"),
        (garch11, {"alpha": -0.1}, "alpha=-0.1"),
    ],
)
def test_bad_parameters_raise_config_error(
    make: Callable[..., pd.DataFrame], kwargs: dict[str, float], match: str
) -> None:
    with pytest.raises(ConfigError, match=match):
        make(**kwargs)
