"""Synthetic series with known truth: the course notebook's random walk, GBM, OU, AR(1), GARCH(1,1)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gatecast.errors import ConfigError


def _frame(columns: dict[str, np.ndarray], n: int, start: str | None) -> pd.DataFrame:
    """The ``n`` generated rows on business days from ``start`` (None: on steps 0..n-1)."""
    index: pd.Index = (
        pd.RangeIndex(n, name="t")
        if start is None
        else pd.bdate_range(start, periods=n, name="date")
    )
    df: pd.DataFrame = pd.DataFrame(columns, index=index)
    return df


def _check_n(n: int) -> None:
    if n < 2:
        raise ConfigError(f"n={n}: a synthetic series needs at least 2 points")


def random_walk(n: int = 1000, seed: int = 42, *, start: str | None = "2000-01-03") -> pd.DataFrame:
    """The course notebook's random walk, exactly: ``np.random.seed(seed)``;
    ``returns = randn(n) * 0.02 + 0.0001``; ``prices = 100 * cumprod(1 + returns)``.

    Returns a frame with a ``close`` column (and the generating ``return``) on business days.
    """
    _check_n(n)
    rng = np.random.RandomState(seed)  # the legacy global generator the notebook seeds
    returns = rng.randn(n) * 0.02 + 0.0001
    prices = 100 * np.cumprod(1 + returns)
    return _frame({"close": prices, "true_return": returns}, n, start)


def gbm(
    n: int = 1000,
    *,
    mu: float = 0.05,
    sigma: float = 0.2,
    s0: float = 100.0,
    dt: float = 1 / 252,
    seed: int = 0,
    start: str | None = "2000-01-03",
) -> pd.DataFrame:
    """Geometric Brownian motion: log returns are iid N((mu - sigma^2/2) dt, sigma^2 dt)."""
    _check_n(n)
    rng = np.random.default_rng(seed)
    r = (mu - 0.5 * sigma**2) * dt + sigma * np.sqrt(dt) * rng.standard_normal(n)
    r[0] = 0.0
    prices = s0 * np.exp(np.cumsum(r))
    return _frame({"close": prices}, n, start)


def ou(
    n: int = 1000,
    *,
    half_life: float = 10.0,
    mean: float = 0.0,
    sigma: float = 0.1,
    level: float = 100.0,
    seed: int = 0,
    start: str | None = "2000-01-03",
) -> pd.DataFrame:
    """Ornstein-Uhlenbeck log price with a known half-life (in steps), sampled exactly.

    x_t = mean + phi (x_{t-1} - mean) + eps, phi = 0.5 ** (1 / half_life); price = level * exp(x).
    The frame holds ``close`` and the true ``phi`` in ``attrs``.
    """
    _check_n(n)
    if half_life <= 0:
        raise ConfigError(f"half_life={half_life}: must be positive (in steps)")
    phi = 0.5 ** (1.0 / half_life)
    rng = np.random.default_rng(seed)
    x = np.empty(n)
    x[0] = mean
    eps = sigma * np.sqrt(1 - phi**2) * rng.standard_normal(n)  # stationary variance sigma^2
    for t in range(1, n):
        x[t] = mean + phi * (x[t - 1] - mean) + eps[t]
    df = _frame({"close": level * np.exp(x), "log_level": x}, n, start)
    df.attrs["phi"] = phi
    return df


def ar1_prices(
    n: int = 2000,
    *,
    phi: float = 0.9,
    sigma: float = 0.01,
    seed: int = 0,
    start: str | None = "2000-01-03",
) -> pd.DataFrame:
    """Prices whose log returns follow a stationary AR(1) with coefficient ``phi``: a strongly
    predictable series (the best one-step forecast of r_t is phi * r_{t-1})."""
    _check_n(n)
    if not -1 < phi < 1:
        raise ConfigError(f"phi={phi}: an AR(1) is stationary only for |phi| < 1")
    rng = np.random.default_rng(seed)
    e = sigma * rng.standard_normal(n)
    r = np.empty(n)
    r[0] = e[0]
    for t in range(1, n):
        r[t] = phi * r[t - 1] + e[t]
    r[0] = 0.0
    return _frame({"close": 100 * np.exp(np.cumsum(r)), "true_return": r}, n, start)


def garch11(
    n: int = 2000,
    *,
    omega: float = 0.02,
    alpha: float = 0.08,
    beta: float = 0.9,
    seed: int = 0,
    start: str | None = "2000-01-03",
) -> pd.DataFrame:
    """GARCH(1,1) returns in percent with their true conditional variance.

    sigma2_t = omega + alpha r_{t-1}^2 + beta sigma2_{t-1}, r_t = sigma_t z_t, z iid N(0, 1).
    Columns: ``return`` (percent), ``variance`` (true sigma2_t), ``close`` (price from the returns).
    """
    _check_n(n)
    if alpha + beta >= 1 or omega <= 0 or alpha < 0 or beta < 0:
        raise ConfigError(
            f"omega={omega}, alpha={alpha}, beta={beta}: need omega > 0, alpha, beta >= 0 and "
            "alpha + beta < 1 for a stationary GARCH(1,1)"
        )
    rng = np.random.default_rng(seed)
    z = rng.standard_normal(n)
    s2 = np.empty(n)
    r = np.empty(n)
    s2[0] = omega / (1 - alpha - beta)
    r[0] = np.sqrt(s2[0]) * z[0]
    for t in range(1, n):
        s2[t] = omega + alpha * r[t - 1] ** 2 + beta * s2[t - 1]
        r[t] = np.sqrt(s2[t]) * z[t]
    close = 100 * np.exp(np.cumsum(r / 100))
    return _frame({"close": close, "return": r, "variance": s2}, n, start)


def noisy_sine(
    n: int = 1500,
    *,
    period: float = 40.0,
    noise: float = 0.1,
    seed: int = 0,
    start: str | None = "2000-01-03",
) -> pd.DataFrame:
    """A sine wave plus Gaussian noise, offset to stay positive: ``close = 10 + sin(2 pi t/period) + e``."""
    _check_n(n)
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    y = 10 + np.sin(2 * np.pi * t / period) + noise * rng.standard_normal(n)
    return _frame({"close": y}, n, start)
