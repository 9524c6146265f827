"""The Forecaster protocol: the one seam between models and evaluation (plus the optional
``HasParams`` and ``WarmStartable`` capabilities the walk-forward uses when a model has them, and
the parameter and target plumbing the classical models share)."""

from __future__ import annotations

import inspect
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from gatecast.data.features import TargetSpec, as_target
from gatecast.data.splits import clip_dates
from gatecast.data.volatility import VarianceTarget, as_variance_target
from gatecast.errors import NotFittedError
from gatecast.types import Proxy, TargetKind

__all__ = [
    "Forecaster",
    "HasParams",
    "OnTarget",
    "OnVarianceTarget",
    "ParamsFromSignature",
    "WarmStartable",
    "as_target",
    "clip_dates",
    "require_fitted",
]


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
        """What is forecast, as given to the constructor (a kind or proxy name, a
        :class:`TargetSpec` or a variance target); models convert it where they use it."""
        ...

    def fit(self, history: pd.DataFrame) -> Forecaster: ...

    def predict(self, data: pd.DataFrame, start: Any = None, end: Any = None) -> pd.Series: ...


@runtime_checkable
class HasParams(Protocol):
    """A model whose constructor parameters can be read back: ``type(m)(**m.get_params())`` builds
    the same model (the walk-forward records them as the run's identity)."""

    def get_params(self) -> dict[str, Any]: ...


@runtime_checkable
class WarmStartable(Protocol):
    """A model whose warm-start weights can be saved and restored, so a resumed warm walk-forward
    chain continues from the fold where it stopped instead of starting over."""

    def warm_state(self) -> dict[str, np.ndarray]: ...

    def set_warm_state(self, state: dict[str, np.ndarray]) -> Any: ...


def require_fitted(model: object, attr: str) -> None:
    """Raise :class:`NotFittedError` if ``model.<attr>`` is not set yet."""
    if getattr(model, attr, None) is None:
        raise NotFittedError(
            f"{type(model).__name__} is not fitted; call fit(history) before predict"
        )


class ParamsFromSignature:
    """``get_params`` read from the constructor's own signature, as scikit-learn's
    ``BaseEstimator`` reads it: every parameter, in order, with the value of the attribute of its
    name (so each one is stored under its own name, as given)."""

    def get_params(self) -> dict[str, Any]:
        """The constructor parameters, as given (a ``name`` left out: its default filled in)."""
        names = list(inspect.signature(type(self).__init__).parameters)[1:]  # after self
        return {name: getattr(self, name) for name in names}


class OnTarget(ParamsFromSignature):
    """A model of a return, price or direction target on a price column: the target is checked
    at once and stored as given, ``target_spec`` converts it where it is used."""

    def __init__(self, target: TargetSpec | TargetKind, column: str | None) -> None:
        as_target(target)  # fail fast on a bad target; it is stored as given
        self.target = target
        self.column = column

    @property
    def target_spec(self) -> TargetSpec:
        """The target as a :class:`TargetSpec` (``target`` keeps what was given)."""
        return as_target(self.target)


class OnVarianceTarget(ParamsFromSignature):
    """A model of a variance target, stored as given: ``target_spec`` converts it."""

    target: VarianceTarget | Proxy

    @property
    def target_spec(self) -> VarianceTarget:
        """The target as a :class:`VarianceTarget` (``target`` keeps what was given)."""
        return as_variance_target(self.target)
