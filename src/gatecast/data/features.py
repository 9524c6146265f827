"""Targets and input features computed from prices, each value stamped with the time it is *for*."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd

from gatecast.data.sources import resolve_column
from gatecast.errors import ConfigError, ConstantSeriesError, DataError, NonPositivePriceError
from gatecast.types import TARGET_KINDS, registered

PARKINSON_FACTOR: float = 1.0 / (4.0 * np.log(2.0))
#: Variance-like features are floored here (percent^2) before their log: a flat day would give -inf.
LOG_FLOOR = 1e-4


@dataclass(frozen=True)
class TargetSpec:
    """What is forecast: ``price`` (level), ``return`` (log or simple, over ``horizon`` steps) or
    ``direction`` (1.0 if that return is > 0).

    ``anchored`` (price only, the default): the model learns the ``horizon``-step return and the
    price forecast is the last observed price moved by it, so it cannot saturate when prices leave
    the training range. ``anchored=False`` learns the level itself (the course notebook's recipe,
    kept as a cautionary example).
    """

    kind: str = "return"
    log: bool = True
    horizon: int = 1
    anchored: bool = True

    def __post_init__(self) -> None:
        if self.kind not in TARGET_KINDS:
            raise ConfigError(
                f"target {self.kind!r} is unknown; choose one of {', '.join(TARGET_KINDS)}"
            )
        if int(self.horizon) != self.horizon or self.horizon < 1:
            raise ConfigError(f"horizon={self.horizon}: must be an integer >= 1")
        if self.kind != "price":
            object.__setattr__(self, "anchored", False)  # only a level can be anchored

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TargetSpec:
        # a price model saved before anchoring existed learnt the level: anchored is False
        return cls(
            kind=d["kind"],
            log=bool(d.get("log", True)),
            horizon=int(d.get("horizon", 1)),
            anchored=bool(d.get("anchored", False)),
        )


def as_target(target: TargetSpec | str | dict[str, Any]) -> TargetSpec:
    """Accept a TargetSpec, its kind as a string, or its dict form."""
    if isinstance(target, TargetSpec):
        return target
    if isinstance(target, str):
        return TargetSpec(kind=target)
    if isinstance(target, dict):
        return TargetSpec.from_dict(target)
    raise ConfigError(f"target {target!r}: give 'price', 'return' or 'direction'")


def price_series(df: pd.DataFrame, column: str | None = None) -> pd.Series:
    """The price column as floats (the preferred price column if ``column`` is None)."""
    col = resolve_column(df, column)
    prices: pd.Series = df[col].astype(float).rename(col)
    return prices


def check_positive(prices: pd.Series, where: str = "the data") -> None:
    """Raise if a price is <= 0 (log returns need positive prices), naming the first date."""
    bad = prices.to_numpy() <= 0
    if bad.any():
        first = prices.index[int(np.argmax(bad))]
        raise NonPositivePriceError(
            f"column {prices.name!r} of {where} has {int(bad.sum())} non-positive value(s), the first "
            f"({prices.iloc[int(np.argmax(bad))]}) on {first}; log returns need positive prices: "
            f"use --target price, simple returns (log=False), or another column"
        )


def check_not_constant(values: pd.Series | np.ndarray, name: str, where: str = "the data") -> None:
    """Raise if every finite value is the same (nothing to scale or learn)."""
    arr = np.asarray(values, dtype=float)
    arr = arr[np.isfinite(arr)]
    if arr.size == 0 or np.ptp(arr) == 0:
        raise ConstantSeriesError(
            f"{name!r} in {where} is constant ({arr[0] if arr.size else 'no values'}); there is "
            f"nothing to learn: pick another column or a longer range"
        )


def returns(prices: pd.Series, *, log: bool = True, periods: int = 1) -> pd.Series:
    """Returns over ``periods`` steps, stamped with the later date (NaN for the first ``periods``)."""
    if log:
        check_positive(prices)
        log_returns: pd.Series = np.log(prices).diff(periods)
        return log_returns
    return prices.pct_change(periods, fill_method=None)


def make_target(df: pd.DataFrame, spec: TargetSpec, column: str | None = None) -> pd.Series:
    """The target for each date t: P_t, the return from t-h to t, or 1.0 if that return is > 0.

    The value at t is what a forecast made with information up to t-h tries to predict.
    """
    prices = price_series(df, column)
    if spec.kind == "price":
        y = prices
    else:
        r = returns(prices, log=spec.log, periods=spec.horizon)
        y = r if spec.kind == "return" else (r > 0).astype(float).where(r.notna())
    target: pd.Series = y.rename("target")
    return target


def training_target(df: pd.DataFrame, spec: TargetSpec, column: str | None = None) -> pd.Series:
    """What a network learns for ``spec``: the target itself, except for an anchored price, whose
    network learns the ``horizon``-step return from the price it is anchored on (t - horizon)."""
    if spec.kind == "price" and spec.anchored:
        r = returns(price_series(df, column), log=spec.log, periods=spec.horizon)
        out: pd.Series = r.rename("target")
        return out
    return make_target(df, spec, column)


def from_anchor(anchor: Any, r: Any, *, log: bool) -> Any:
    """The price ``r`` (a log or simple return) away from ``anchor``: an anchored forecast."""
    return anchor * np.exp(r) if log else anchor * (1.0 + r)


# -- the feature registry: each input declared once, in batch (pandas) and online (one tick) form --

#: One raw observation: (price, high, low, volume), NaN where the model does not use the field.
Obs = tuple[float, float, float, float]
FIELDS = ("price", "high", "low", "volume")


@dataclass(frozen=True)
class Units:
    """How returns are measured: ``log`` or simple, as fractions or in ``percent`` (x 100, the
    variance models' convention, in which QLIKE and GARCH are stated)."""

    log: bool = True
    percent: bool = False

    def ret(self, price: float, previous: float) -> float:
        """The one-step return from ``previous`` to ``price`` (online form)."""
        r = math.log(price / previous) if self.log else price / previous - 1.0
        return 100.0 * r if self.percent else r

    def returns(self, prices: pd.Series) -> pd.Series:
        """One-step returns of a price series (batch form), NaN on the first row."""
        r = returns(prices, log=self.log)
        return 100.0 * r if self.percent else r


PERCENT_LOG = Units(log=True, percent=True)


@dataclass(frozen=True)
class Feature:
    """An input feature: the raw fields it ``needs``, how many past observations it reads
    (``lookback``), its value for every row of a frame (``batch``) and for the newest of a short
    history of observations (``online``: oldest first, ``lookback + 1`` long; NaN until then)."""

    name: str
    needs: tuple[str, ...]
    lookback: int
    batch: Callable[[pd.DataFrame, Units], pd.Series]
    online: Callable[[Sequence[Obs], Units], float]
    doc: str


def _ok(history: Sequence[Obs], n: int) -> bool:
    return len(history) >= n


def _ret(h: Sequence[Obs], u: Units) -> float:
    return u.ret(h[-1][0], h[-2][0]) if len(h) >= 2 else math.nan


def _log_floor(v: float) -> float:
    return math.log(max(v, LOG_FLOOR)) if v == v else math.nan


def _parkinson_online(o: Obs) -> float:
    hi, lo = o[1], o[2]
    if not (hi > 0 and lo > 0):
        return math.nan
    hl = math.log(hi / lo)
    return 1e4 * PARKINSON_FACTOR * hl * hl


def parkinson(df: pd.DataFrame) -> pd.Series:
    """The Parkinson (1980) variance of day t in percent^2: 100^2 ln(H_t/L_t)^2 / (4 ln 2)."""
    for c in ("high", "low"):
        resolve_column(df, c)
    hl = pd.Series(np.log(df["high"].astype(float) / df["low"].astype(float)), index=df.index)
    if (hl < 0).any():
        bad = (hl < 0).to_numpy()
        first = hl.index[int(np.argmax(bad))]
        day = f"{first:%Y-%m-%d}" if hasattr(first, "strftime") else str(first)
        raise DataError(
            f"high < low on {day} ({int(bad.sum())} row(s)) in {df.attrs.get('source', 'the data')}"
            f"; the Parkinson range needs high >= low: clean the data"
        )
    pk: pd.Series = (1e4 * PARKINSON_FACTOR * hl**2).rename("parkinson")
    return pk


def _rolling_rv(k: int) -> Feature:
    def batch(raw: pd.DataFrame, u: Units) -> pd.Series:
        r2 = PERCENT_LOG.returns(raw["price"]) ** 2
        out: pd.Series = np.log(r2.rolling(k).mean().clip(lower=LOG_FLOOR))
        return out

    def online(h: Sequence[Obs], u: Units) -> float:
        if len(h) < k + 1:
            return math.nan
        tail = list(h)[-k - 1 :]  # a deque does not slice
        s = 0.0
        for a, b in pairwise(tail):
            r = PERCENT_LOG.ret(b[0], a[0])
            s += r * r
        return _log_floor(s / k)

    return Feature(
        f"log_rv{k}",
        ("price",),
        k,
        batch,
        online,
        f"log of the mean squared percent log return over the last {k} days",
    )


def _rolling_parkinson(k: int) -> Feature:
    def batch(raw: pd.DataFrame, u: Units) -> pd.Series:
        out: pd.Series = np.log(parkinson(raw).rolling(k).mean().clip(lower=LOG_FLOOR))
        return out

    def online(h: Sequence[Obs], u: Units) -> float:
        if len(h) < k:
            return math.nan
        return _log_floor(sum(_parkinson_online(o) for o in list(h)[-k:]) / k)

    return Feature(
        f"log_parkinson{k}",
        ("high", "low"),
        k - 1,
        batch,
        online,
        f"log of the mean Parkinson range (percent^2) over the last {k} days",
    )


def _log_range_batch(raw: pd.DataFrame, u: Units) -> pd.Series:
    hi, lo = raw["high"].to_numpy(float), raw["low"].to_numpy(float)
    out: pd.Series = pd.Series(np.log(hi / lo), index=raw.index)
    return out


def _log_range_online(h: Sequence[Obs], u: Units) -> float:
    hi, lo = h[-1][1], h[-1][2]
    return math.log(hi / lo) if hi > 0 and lo > 0 else math.nan


def _volume_batch(raw: pd.DataFrame, u: Units) -> pd.Series:
    vol = raw["volume"].astype(float).where(raw["volume"] > 0)
    out: pd.Series = pd.Series(np.log(vol.to_numpy()), index=raw.index).diff()
    return out


def _volume_online(h: Sequence[Obs], u: Units) -> float:
    if len(h) < 2:
        return math.nan
    v, pv = h[-1][3], h[-2][3]
    return math.log(v) - math.log(pv) if v > 0 and pv > 0 else math.nan


_REGISTRY: tuple[Feature, ...] = (
    Feature(
        "return",
        ("price",),
        1,
        lambda raw, u: u.returns(raw["price"]),
        _ret,
        "one-step return of the price (log or simple; percent for variance models)",
    ),
    Feature(
        "price",
        ("price",),
        0,
        lambda raw, u: raw["price"],
        lambda h, u: h[-1][0],
        "the price level",
    ),
    Feature(
        "abs_return",
        ("price",),
        1,
        lambda raw, u: u.returns(raw["price"]).abs(),
        lambda h, u: abs(_ret(h, u)),
        "absolute one-step return",
    ),
    Feature(
        "squared_return",
        ("price",),
        1,
        lambda raw, u: u.returns(raw["price"]) ** 2,
        lambda h, u: _ret(h, u) ** 2,
        "squared one-step return",
    ),
    Feature(
        "log_range",
        ("high", "low"),
        0,
        _log_range_batch,
        _log_range_online,
        "log(high / low) of the day",
    ),
    Feature(
        "log_volume_change",
        ("volume",),
        1,
        _volume_batch,
        _volume_online,
        "change of log volume (NaN around a zero volume)",
    ),
    Feature(
        "log_parkinson",
        ("high", "low"),
        0,
        lambda raw, u: np.log(parkinson(raw).clip(lower=LOG_FLOOR)),
        lambda h, u: _log_floor(_parkinson_online(h[-1])),
        "log of the day's Parkinson range in percent^2",
    ),
    _rolling_rv(5),
    _rolling_rv(22),
    _rolling_parkinson(5),
    _rolling_parkinson(22),
)
#: Every input feature by name.
FEATURE_REGISTRY: dict[str, Feature] = {f.name: f for f in _REGISTRY}
FEATURES = tuple(FEATURE_REGISTRY)


def feature(name: str) -> Feature:
    """The registered feature ``name``, or a ConfigError listing the known ones."""
    return registered(FEATURE_REGISTRY, name, "feature")


def needed_fields(features: Sequence[str]) -> tuple[str, ...]:
    """The raw fields (of :data:`FIELDS`) that ``features`` read, in that order."""
    need = {n for f in features for n in feature(f).needs}
    return tuple(f for f in FIELDS if f in need)


def lookback(features: Sequence[str]) -> int:
    """The most past observations any of ``features`` reads."""
    return max(feature(f).lookback for f in features)


def raw_frame(df: pd.DataFrame, features: Sequence[str], column: str | None = None) -> pd.DataFrame:
    """The raw fields ``features`` need, as float columns ``price``/``high``/``low``/``volume``."""
    cols: dict[str, pd.Series] = {}
    for name in needed_fields(features):
        if name == "price":
            cols[name] = price_series(df, column)
        else:
            resolve_column(df, name)
            cols[name] = df[name].astype(float)
    raw: pd.DataFrame = pd.DataFrame(cols, index=df.index)
    return raw


def build_features(
    df: pd.DataFrame,
    features: tuple[str, ...] | list[str],
    column: str | None = None,
    *,
    log: bool = True,
    percent: bool = False,
) -> pd.DataFrame:
    """Input features, one column each, row t computed from information up to and including t.

    See :data:`FEATURE_REGISTRY` (``return``, ``price``, ``abs_return``, ``squared_return``,
    ``log_range`` = log(high/low), ``log_volume_change``, and the variance inputs
    ``log_parkinson``, ``log_rv5``/``log_rv22``, ``log_parkinson5``/``log_parkinson22``).
    Returns are log or simple (``log``), as fractions or in percent (``percent``).
    Leading rows that are NaN by construction (the first return) stay NaN; callers drop them.
    """
    if not features:
        raise ConfigError("features is empty; give at least one, e.g. ('return',)")
    specs = [feature(name) for name in features]
    raw = raw_frame(df, features, column)
    units = Units(log=log, percent=percent)
    out: pd.DataFrame = pd.DataFrame({f.name: f.batch(raw, units) for f in specs}, index=df.index)
    return out
