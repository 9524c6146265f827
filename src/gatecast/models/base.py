"""The Forecaster protocol: the one seam between models and evaluation (plus the optional
``HasParams`` and ``WarmStartable`` capabilities the walk-forward uses when a model has them, and
the parameter and target plumbing the classical models share)."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from html import escape
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from gatecast.data.features import TargetSpec, as_target, make_target
from gatecast.data.splits import clip_dates
from gatecast.data.volatility import (
    QLIKE_FLOOR,
    VarianceTarget,
    as_variance_target,
    percent_returns,
)
from gatecast.errors import ConfigError, NotFittedError, TooFewRowsError, UnknownParameterError
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
    "refuse_y",
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

    def get_params(self, deep: bool = True) -> dict[str, Any]: ...


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
    """The scikit-learn estimator contract, read from the constructor's own signature as
    scikit-learn's ``BaseEstimator`` reads it (without importing scikit-learn: ``import gatecast``
    stays cheap, and scikit-learn is needed only by code that uses it).

    ``get_params(deep=True)``: every constructor parameter, in order, with the value of the
    attribute of its name (so each one is stored under its own name, as given); no parameter of
    a gatecast model is itself an estimator, so ``deep`` adds nothing. ``set_params(**params)``:
    refuses a name the constructor does not take (:class:`UnknownParameterError`, a
    ``ValueError``), validates the new values as the constructor does, and leaves the model
    **unfitted** with them: a fit made with other parameters would otherwise answer for these.
    ``fit(X, y=None)`` learns from the price frame ``X`` (``y`` is refused: the target is
    computed from the prices), ``predict(X)`` forecasts every date of ``X`` with enough history,
    and ``score(X)`` is higher-is-better on those forecasts (see :meth:`score`); with these
    ``sklearn.base.clone``, ``Pipeline`` and ``GridSearchCV`` work (docs/python-api.md).
    """

    #: The attribute ``fit`` sets (``None`` or ``False`` before it): what says a model is fitted.
    fitted_attr: ClassVar[str] = "params_"

    @classmethod
    def _param_names(cls) -> list[str]:
        params = inspect.signature(cls.__init__).parameters.values()
        return [
            p.name
            for p in list(params)[1:]  # after self
            if p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        ]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor parameters, as given (a ``name`` left out: its default filled in).

        ``deep`` is accepted for scikit-learn; no gatecast parameter is an estimator, so the
        answer is the same either way.
        """
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> Any:
        """Set constructor parameters by name; returns ``self``, unfitted.

        Raises :class:`UnknownParameterError` for a name the constructor does not take (it lists
        the valid ones) and :class:`ConfigError` for a bad value, leaving the model unchanged.
        """
        if not params:
            return self
        valid = self._param_names()
        unknown = [k for k in params if k not in valid]
        if unknown:
            raise UnknownParameterError(
                f"{type(self).__name__} has no parameter {', '.join(map(repr, unknown))}; "
                f"valid parameters: {', '.join(valid)}"
            )
        # the constructor validates (and raises before anything here changes); its fresh object
        # also carries the unfitted state, which replaces any fit made with the old parameters
        fresh = type(self)(**{**self.get_params(deep=False), **params})
        self.__dict__.clear()
        self.__dict__.update(fresh.__dict__)
        return self

    def score(self, X: pd.DataFrame, y: None = None) -> float:
        """How good the forecasts for the dates of ``X`` are, higher is better (scikit-learn's
        convention, so ``GridSearchCV`` maximises it).

        ``X`` is a price frame: every date of it with enough history *inside* ``X`` is forecast
        (from rows before it only) and scored against its realised target. A return, price or
        direction target: minus the mean squared error (for direction, minus the Brier score of
        the up probability). A variance target: minus the mean QLIKE loss against the squared
        percent return r_t^2 (floored at ``QLIKE_FLOOR``, as ``evaluate`` does), whatever proxy
        the target names: QLIKE ranks variance forecasts alike under any unbiased proxy, and the
        Parkinson proxy's scale would have to be fit on training rows that ``score`` does not see.
        ``y`` must be ``None``.
        """
        refuse_y(self, y, "score")
        predict = getattr(self, "predict")  # noqa: B009 (every estimator of ours has it)
        fc = predict(X)
        spec = getattr(self, "target_spec")  # noqa: B009
        column = getattr(self, "column", None)
        if isinstance(spec, VarianceTarget):
            actual = percent_returns(X, column) ** 2
        else:
            actual = make_target(X, spec, column)
        common = fc.index.intersection(actual.dropna().index)
        if len(common) == 0:
            raise TooFewRowsError(
                f"score: none of the {len(X)} rows of X has both a forecast of "
                f"{type(self).__name__} and a realised target; give X more rows than the model's "
                f"lookback (e.g. a TimeSeriesSplit with fewer splits)"
            )
        a = actual.loc[common].to_numpy(dtype=float)
        f = fc.loc[common].to_numpy(dtype=float)
        if isinstance(spec, VarianceTarget):
            x = np.maximum(a, QLIKE_FLOOR) / f  # evaluation.losses.qlike_loss, one layer up
            return -float(np.mean(x - np.log(x) - 1.0))
        return -float(np.mean((a - f) ** 2))

    def __sklearn_tags__(self) -> Any:
        """What scikit-learn's meta-estimators and checks read: no ``y``, input a price
        DataFrame with a date index (not a 2-D numeric array), no estimator type (a
        forecaster is neither a classifier nor a regressor of ``y`` on ``X``)."""
        from sklearn.utils import InputTags, Tags, TargetTags

        return Tags(
            estimator_type=None,
            target_tags=TargetTags(required=False),
            # a price frame with a date index, not any 2-D array: saying two_d_array would have
            # scikit-learn's checks feed random numeric arrays (tests/models/test_sklearn_contract.py)
            input_tags=InputTags(two_d_array=False),
            requires_fit=True,
        )

    def _repr_html_(self) -> str:
        """The model in a notebook: its class, whether it is fitted, and its parameters."""
        state = "fitted" if self.__sklearn_is_fitted__() else "not fitted"
        rows = "".join(
            f"<tr><th>{escape(k)}</th><td>{escape(repr(v))}</td></tr>"
            for k, v in self.get_params().items()
        )
        return f"<p><b>{escape(type(self).__name__)}</b> ({state})</p><table>{rows}</table>"

    def __sklearn_is_fitted__(self) -> bool:
        """Whether ``fit`` has run (scikit-learn's ``check_is_fitted`` asks; its default, "any
        attribute ending in _", would call a fresh model fitted, as ours declare theirs None)."""
        state = getattr(self, self.fitted_attr, None)
        return state is not None and state is not False


def refuse_y(model: object, y: object, method: str = "fit") -> None:
    """Refuse a ``y`` given to ``method``: a gatecast model computes its target from the price
    frame, so a ``y`` would be silently ignored (scikit-learn's Pipeline passes ``y=None``)."""
    if y is not None:
        raise ConfigError(
            f"{type(model).__name__}.{method} takes no y: the target is computed from the price "
            f"frame X (choose it with target=...); pass y=None"
        )


@dataclass(eq=False, repr=False)
class OnTarget(ParamsFromSignature):
    """A model of a return, price or direction target on a price column: the target is checked
    at once and stored as given, ``target_spec`` converts it where it is used. The parameters
    are dataclass fields (a subclass may declare more, or another default); ``eq=False,
    repr=False``: models compare by identity."""

    target: TargetSpec | TargetKind = "return"
    column: str | None = None

    def __post_init__(self) -> None:
        as_target(self.target)  # fail fast on a bad target; it is stored as given

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
