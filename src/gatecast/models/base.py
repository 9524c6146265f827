"""The Forecaster protocol: the one seam between models and evaluation."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import pandas as pd

from gatecast.data.features import TargetSpec
from gatecast.data.sources import parse_date
from gatecast.errors import ConfigError, NotFittedError


@runtime_checkable
class Forecaster(Protocol):
    """Anything that learns from a price frame and forecasts a target, date by date.

    ``fit(history)`` learns from a frame as returned by :func:`gatecast.data.load` (every row of it
    may be used: pass only the training part). ``predict(data, start, end)`` returns a Series indexed
    by the date each forecast is *for*, for every date of ``data`` in ``[start, end]`` with enough
    history; the forecast for date t uses rows of ``data`` up to t - horizon only.
    """

    @property
    def name(self) -> str:
        """Short name used as a column and table label (``lstm``, ``no_change``, ``garch``...)."""
        ...

    @property
    def target(self) -> Any:
        """What is forecast (a :class:`TargetSpec`, or a variance target for volatility models)."""
        ...

    def fit(self, history: pd.DataFrame) -> Forecaster: ...

    def predict(self, data: pd.DataFrame, start: Any = None, end: Any = None) -> pd.Series: ...


def clip_dates(s: pd.Series, start: Any = None, end: Any = None) -> pd.Series:
    """Keep the forecasts for dates in ``[start, end]`` (either may be None)."""
    if start is not None:
        s = s.loc[s.index >= _as_key(s.index, start)]
    if end is not None:
        s = s.loc[s.index <= _as_key(s.index, end)]
    return s


def _as_key(index: pd.Index, value: Any) -> Any:
    return parse_date(value, "start/end") if isinstance(index, pd.DatetimeIndex) else value


def require_fitted(model: object, attr: str) -> None:
    """Raise :class:`NotFittedError` if ``model.<attr>`` is not set yet."""
    if getattr(model, attr, None) is None:
        raise NotFittedError(
            f"{type(model).__name__} is not fitted; call fit(history) before predict"
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
