"""Classical variance recursions with their parameters frozen at fit (GARCH, GJR-GARCH, EGARCH, HAR):
the one-step forecast made at each day's close, over a whole frame or one tick at a time, so that a
hybrid variance model's classical inputs are the same numbers in ``predict`` and in a stream.

Each recursion is a plain value (JSON in a model's manifest) with a small state: the previous
price and the conditional variance (GARCH, EGARCH), or the last measures a HAR average reads. The
forecast made at day s reads prices (and ranges) up to s only; the first one is made at the first
row whose inputs are all defined (``warmup`` rows in).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from gatecast.data.features import PARKINSON_FACTOR, Obs, price_series
from gatecast.data.sources import resolve_column
from gatecast.errors import ConfigError, DataError

#: E|z| of a standard normal: the centring of EGARCH's shock term (as ``arch`` uses it).
SQRT2_OV_PI = math.sqrt(2.0 / math.pi)
#: The largest log-variance EGARCH keeps (``arch``'s cap, so exp never overflows).
LNSIGMA_MAX = float(np.log(np.finfo(np.double).max) - 0.1)
#: The realised measures a HAR reads: the log Parkinson range, or the absolute return.
HAR_MEASURES = ("range", "abs")


def percent_return(price: float, previous: float) -> float:
    """100 x log(price / previous): the variance models' return (NaN without a previous price)."""
    if not previous == previous:
        return math.nan
    return 100.0 * math.log(price / previous)


@dataclass(frozen=True)
class _ShockRecursion:
    """What GARCH/GJR and EGARCH share: a mean ``mu`` and the coefficients of the shock
    (``alpha``, ``gamma`` its sign) and of the previous variance (``beta``) in a (1,1)
    recursion; the state is (previous price, the next return's variance or its log)."""

    name: str
    mu: float
    omega: float
    alpha: float
    gamma: float
    beta: float

    def ready(self, state: np.ndarray) -> bool:
        """Whether the next observation gives a forecast (a previous price is kept)."""
        return bool(np.isfinite(state[0]))

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        del out["needs"], out["warmup"]
        return out


@dataclass(frozen=True)
class GarchRecursion(_ShockRecursion):
    """sigma2_{t+1} = omega + (alpha + gamma 1[e_t < 0]) e_t^2 + beta sigma2_t, e_t = r_t - mu.

    GARCH(1,1) (``gamma=0``) and GJR-GARCH(1,1), as ``arch`` computes them: before the first
    return the shock and the variance are ``backcast`` (and the asymmetric term half of it), the
    value ``arch`` derives from the first training returns. State: (previous price, sigma2 of the
    next return).
    """

    backcast: float
    kind: str = "garch"

    needs: tuple[str, ...] = ("price",)
    warmup: int = 1  # the first row has no return

    def first_variance(self) -> float:
        """sigma2 of the first return (arch's start of the recursion)."""
        b = self.backcast
        return self.omega + self.alpha * b + 0.5 * self.gamma * b + self.beta * b

    def by_origin(self, r: np.ndarray) -> np.ndarray:
        """The forecast made on each row of returns ``r`` (NaN on the first row)."""
        out = np.full(len(r), np.nan)
        s2 = self.first_variance()
        for t in range(1, len(r)):
            e = r[t] - self.mu
            s2 = self.omega + (self.alpha + (self.gamma if e < 0 else 0.0)) * e * e + self.beta * s2
            out[t] = s2
        return out

    def start(self) -> np.ndarray:
        return np.array([math.nan, self.first_variance()])

    def valid(self, state: np.ndarray) -> bool:
        """Whether ``state`` is one this recursion can reach: no price or a positive one, and a
        positive variance."""
        return _price_ok(state[0]) and bool(state[1] > 0) and bool(np.isfinite(state[1]))

    def step(self, state: np.ndarray, obs: Obs) -> tuple[np.ndarray, float]:
        """The state after ``obs`` and the forecast made at its close (NaN on the first)."""
        price, s2 = obs[0], float(state[1])
        r = percent_return(price, float(state[0]))
        if not r == r:
            return np.array([price, s2]), math.nan
        e = r - self.mu
        s2 = self.omega + (self.alpha + (self.gamma if e < 0 else 0.0)) * e * e + self.beta * s2
        return np.array([price, s2]), s2


@dataclass(frozen=True)
class EgarchRecursion(_ShockRecursion):
    """ln sigma2_{t+1} = omega + alpha (|z_t| - sqrt(2/pi)) + gamma z_t + beta ln sigma2_t, z_t =
    (r_t - mu) / sigma_t: EGARCH(1,1,1) as ``arch`` computes it (``log_backcast`` starts it).
    State: (previous price, ln sigma2 of the next return)."""

    log_backcast: float
    kind: str = "egarch"

    needs: tuple[str, ...] = ("price",)
    warmup: int = 1

    def _next(self, ln_s2: float, e: float) -> float:
        z = e / math.sqrt(math.exp(ln_s2))
        ln = self.omega + self.alpha * (abs(z) - SQRT2_OV_PI) + self.gamma * z + self.beta * ln_s2
        return min(ln, LNSIGMA_MAX)

    def by_origin(self, r: np.ndarray) -> np.ndarray:
        out = np.full(len(r), np.nan)
        ln_s2 = min(self.omega + self.beta * self.log_backcast, LNSIGMA_MAX)
        for t in range(1, len(r)):
            ln_s2 = self._next(ln_s2, r[t] - self.mu)
            out[t] = math.exp(ln_s2)
        return out

    def start(self) -> np.ndarray:
        return np.array([math.nan, min(self.omega + self.beta * self.log_backcast, LNSIGMA_MAX)])

    def valid(self, state: np.ndarray) -> bool:
        return _price_ok(state[0]) and bool(np.isfinite(state[1]))

    def step(self, state: np.ndarray, obs: Obs) -> tuple[np.ndarray, float]:
        price, ln_s2 = obs[0], float(state[1])
        r = percent_return(price, float(state[0]))
        if not r == r:
            return np.array([price, ln_s2]), math.nan
        ln_s2 = self._next(ln_s2, r - self.mu)
        return np.array([price, ln_s2]), math.exp(ln_s2)


@dataclass(frozen=True)
class HarRecursion:
    """HAR: f_t = b0 + sum_k b_k mean(m_{t-k+1..t}), the forecast for t + 1 made at t's close.

    ``measure`` ``range``: m = log Parkinson range, forecast ``level`` e^f; ``abs``: m = |r| (the
    percent return), forecast ``level`` max(f, ``floor``)^2. State: (previous price, the last
    max(lags) measures, oldest first).
    """

    name: str
    measure: str
    lags: tuple[int, ...]
    coef: tuple[float, ...]  # b0, then one per lag
    level: float
    floor: float = 0.0
    kind: str = "har"

    def __post_init__(self) -> None:
        object.__setattr__(self, "lags", tuple(int(k) for k in self.lags))
        object.__setattr__(self, "coef", tuple(float(b) for b in self.coef))
        if self.measure not in HAR_MEASURES:
            raise ConfigError(f"HAR measure {self.measure!r} is unknown; one of {HAR_MEASURES}")
        if not self.lags or min(self.lags) < 1 or len(self.coef) != len(self.lags) + 1:
            raise ConfigError(f"HAR lags {self.lags} and coefficients {self.coef} do not match")

    @property
    def needs(self) -> tuple[str, ...]:
        return ("high", "low") if self.measure == "range" else ("price",)

    @property
    def warmup(self) -> int:
        # the first measure is on row 0 (a range) or row 1 (a return)
        return max(self.lags) - 1 + (1 if self.measure == "abs" else 0)

    def measures(self, raw: pd.DataFrame) -> np.ndarray:
        """The daily measure on every row of ``raw`` (columns price, high, low as needed)."""
        if self.measure == "abs":
            p = raw["price"].to_numpy(dtype=float)
            r = np.full(len(p), np.nan)
            r[1:] = 100.0 * np.log(p[1:] / p[:-1])
            out: np.ndarray = np.abs(r)
            return out
        hl = np.log(raw["high"].to_numpy(dtype=float) / raw["low"].to_numpy(dtype=float))
        with np.errstate(divide="ignore"):  # high == low: -inf, refused by by_origin
            out = np.log(1e4 * PARKINSON_FACTOR * hl * hl)
        return out

    def _variance(self, f: np.ndarray) -> np.ndarray:
        if self.measure == "abs":
            out: np.ndarray = self.level * np.maximum(f, self.floor) ** 2
        else:
            out = self.level * np.exp(f)
        return out

    def by_origin_measures(self, m: np.ndarray) -> np.ndarray:
        """The forecast made on each row from the measures ``m`` up to that row."""
        s = pd.Series(m)
        f = np.full(len(m), self.coef[0])
        for k, b in zip(self.lags, self.coef[1:], strict=True):
            f = f + b * s.rolling(k).mean().to_numpy()
        return self._variance(f)

    def start(self) -> np.ndarray:
        return np.full(1 + max(self.lags), np.nan)

    def ready(self, state: np.ndarray) -> bool:
        """Whether the next observation fills the longest average (and, on |r|, has a previous
        price to take its return from)."""
        ok = bool(np.isfinite(state[2:]).all())
        return ok and (self.measure == "range" or bool(np.isfinite(state[0])))

    def valid(self, state: np.ndarray) -> bool:
        """No price or a positive one, and measures that are missing (warm-up) or finite (an
        absolute return also >= 0)."""
        m = state[1:]
        seen = m[~np.isnan(m)]
        ok = bool(np.isfinite(seen).all()) and (self.measure == "range" or bool((seen >= 0).all()))
        return _price_ok(state[0]) and ok

    def step(self, state: np.ndarray, obs: Obs) -> tuple[np.ndarray, float]:
        new = state.copy()
        if self.measure == "abs":
            m = abs(percent_return(obs[0], float(state[0])))
        else:
            hl = math.log(obs[1] / obs[2]) if obs[1] > 0 and obs[2] > 0 else math.nan
            m = math.log(1e4 * PARKINSON_FACTOR * hl * hl) if hl == hl and hl != 0 else -math.inf
        new[0] = obs[0]
        new[1:-1] = state[2:]
        new[-1] = m
        f = self.coef[0]
        for k, b in zip(self.lags, self.coef[1:], strict=True):
            f += b * (float(np.sum(new[len(new) - k :])) / k)
        return new, float(self._variance(np.array([f]))[0])

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["lags"], out["coef"] = list(self.lags), list(self.coef)
        return out


def _price_ok(price: float) -> bool:
    return bool(np.isnan(price) or (np.isfinite(price) and price > 0))


Recursion = GarchRecursion | EgarchRecursion | HarRecursion
_KINDS: dict[str, type[Any]] = {
    "garch": GarchRecursion,
    "egarch": EgarchRecursion,
    "har": HarRecursion,
}


def recursion_from_dict(doc: Mapping[str, Any]) -> Recursion:
    """A recursion from its :meth:`to_dict` form (a ConfigError for anything else)."""
    if not isinstance(doc, Mapping) or doc.get("kind") not in _KINDS:
        raise ConfigError(f"classical model {doc!r} is not a garch, egarch or har recursion")
    cls = _KINDS[str(doc["kind"])]
    try:
        rec: Recursion = cls(**dict(doc))
    except TypeError as exc:
        raise ConfigError(f"classical model {doc!r}: {exc}") from None
    for key, value in doc.items():
        if key in ("name", "kind", "measure"):
            if not isinstance(value, str):
                raise ConfigError(
                    f"classical model {doc.get('name')!r}: {key} {value!r} is not a name"
                )
            continue
        numbers = value if key in ("lags", "coef") and isinstance(value, list) else [value]
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in numbers):
            raise ConfigError(
                f"classical model {doc.get('name')!r}: {key} {value!r} is not a number"
            )
        if not np.isfinite(np.asarray(numbers, dtype=float)).all():
            raise ConfigError(f"classical model {doc.get('name')!r}: {key} {value!r} is not finite")
    return rec


def by_origin(rec: Recursion, data: pd.DataFrame, column: str | None) -> pd.Series:
    """The forecast ``rec`` makes at the close of every row of ``data`` (percent^2; NaN while it
    warms up): row s holds the variance forecast for the row after s, from rows up to s."""
    col = resolve_column(data, column)
    if isinstance(rec, HarRecursion):
        raw = pd.DataFrame(index=data.index)
        if rec.measure == "abs":
            raw["price"] = price_series(data, col)
        else:
            for c in ("high", "low"):
                if c not in data.columns:
                    raise DataError(
                        f"the classical input {rec.name!r} is a HAR on the daily range and needs "
                        f"High and Low columns, which {data.attrs.get('source', 'the data')} lacks"
                    )
                raw[c] = data[c].astype(float)
        m = rec.measures(raw)
        bad = ~(m > -np.inf) & ~np.isnan(m)
        if bad.any():
            day = data.index[int(np.argmax(bad))]
            raise DataError(
                f"high == low on {day} in {data.attrs.get('source', 'the data')}: the log range "
                f"of the HAR input {rec.name!r} is -inf; it needs a positive range every day"
            )
        values = rec.by_origin_measures(m)
    else:
        p = price_series(data, col).to_numpy(dtype=float)
        r = np.full(len(p), np.nan)
        r[1:] = 100.0 * np.log(p[1:] / p[:-1])
        values = rec.by_origin(r)
    out: pd.Series = pd.Series(values, index=data.index, name=rec.name)
    return out
