"""Choice-valued parameters, declared once as ``Literal`` types (mypy checks them, typer lists them)."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any, Literal, TypeVar, get_args

import pandas as pd

from gatecast.errors import ConfigError

Cell = Literal["lstm", "gru", "rnn"]
Mode = Literal["window", "sequence"]
EngineName = Literal["numpy", "torch"]
ScalerKind = Literal["standard", "minmax", "none"]
Scheme = Literal["expanding", "rolling"]
TargetKind = Literal["price", "return", "direction"]
#: What `gatecast train` can forecast: a point target, or the next day's variance.
TrainTarget = Literal["price", "return", "direction", "variance"]
Proxy = Literal["squared", "parkinson"]
#: The distribution of a return's standardised shock (VaR, expected shortfall, intervals).
Distribution = Literal["normal", "t"]
VarianceLoss = Literal["qlike", "gaussian_nll"]
StateFormat = Literal["safetensors", "json"]
#: Where a walk-forward's tasks run: here in order, a local process pool, or Ray.
Executor = Literal["serial", "pool", "ray"]
DateLike = str | pd.Timestamp | int | None

CELLS: tuple[Cell, ...] = get_args(Cell)
MODES: tuple[Mode, ...] = get_args(Mode)
ENGINES: tuple[EngineName, ...] = get_args(EngineName)
SCALERS: tuple[ScalerKind, ...] = get_args(ScalerKind)
SCHEMES: tuple[Scheme, ...] = get_args(Scheme)
TARGET_KINDS: tuple[TargetKind, ...] = get_args(TargetKind)
TRAIN_TARGETS: tuple[TrainTarget, ...] = get_args(TrainTarget)
PROXIES: tuple[Proxy, ...] = get_args(Proxy)
DISTRIBUTIONS: tuple[Distribution, ...] = get_args(Distribution)
VARIANCE_LOSSES: tuple[VarianceLoss, ...] = get_args(VarianceLoss)
EXECUTORS: tuple[Executor, ...] = get_args(Executor)


def check_choice(value: Any, choices: tuple[str, ...], what: str) -> None:
    """Raise a ConfigError naming ``what`` and the choices when ``value`` is not one of them."""
    if value not in choices:
        raise ConfigError(f"{what} {value!r} is unknown; choose one of {', '.join(choices)}")


_V = TypeVar("_V")


def registered(registry: Mapping[str, _V], name: str, what: str, hint: str = "") -> _V:
    """``registry[name]``, or a ConfigError naming ``what`` and the registered names (then ``hint``)."""
    try:
        return registry[name]
    except KeyError:
        raise ConfigError(
            f"{what} {name!r} is unknown; choose from {', '.join(registry)}{hint}"
        ) from None


def check_number(
    value: Any,
    what: str,
    *,
    at_least: float | None = None,
    above: float | None = None,
    below: float | None = None,
    at_most: float | None = None,
    integer: bool = False,
    hint: str = "",
) -> None:
    """Raise a ConfigError naming ``what`` unless ``value`` is a finite number within the bounds
    (NaN and infinities are refused whatever the bounds: a comparison with NaN is always false,
    so a range check alone lets it through).

    Examples
    --------
    >>> check_number(0.5, "dropout", at_least=0, below=1)
    >>> check_number(float("nan"), "lr", above=0)
    Traceback (most recent call last):
    gatecast.errors.ConfigError: lr=nan: must be a finite number > 0
    """
    bounds = [
        f"{op} {b:g}"
        for op, b in ((">=", at_least), (">", above), ("<", below), ("<=", at_most))
        if b is not None
    ]
    want = ("an integer" if integer else "a finite number") + (" " if bounds else "")
    want += " and ".join(bounds)
    shown = f"{value}" if isinstance(value, numbers.Real) else f"{value!r}"
    fail = ConfigError(f"{what}={shown}: must be {want}" + (f"; {hint}" if hint else ""))
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise fail
    x = float(value)
    if not math.isfinite(x) or (integer and not x.is_integer()):
        raise fail
    if (
        (at_least is not None and not x >= at_least)
        or (above is not None and not x > above)
        or (below is not None and not x < below)
        or (at_most is not None and not x <= at_most)
    ):
        raise fail
