"""Choice-valued parameters, declared once as ``Literal`` types (mypy checks them, typer lists them)."""

from __future__ import annotations

from typing import Any, Literal, get_args

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
VarianceLoss = Literal["qlike", "gaussian_nll"]
StateFormat = Literal["safetensors", "json"]
DateLike = str | pd.Timestamp | int | None

CELLS: tuple[Cell, ...] = get_args(Cell)
MODES: tuple[Mode, ...] = get_args(Mode)
ENGINES: tuple[EngineName, ...] = get_args(EngineName)
SCALERS: tuple[ScalerKind, ...] = get_args(ScalerKind)
SCHEMES: tuple[Scheme, ...] = get_args(Scheme)
TARGET_KINDS: tuple[TargetKind, ...] = get_args(TargetKind)
TRAIN_TARGETS: tuple[TrainTarget, ...] = get_args(TrainTarget)
PROXIES: tuple[Proxy, ...] = get_args(Proxy)
VARIANCE_LOSSES: tuple[VarianceLoss, ...] = get_args(VarianceLoss)


def check_choice(value: Any, choices: tuple[str, ...], what: str) -> None:
    """Raise a ConfigError naming ``what`` and the choices when ``value`` is not one of them."""
    if value not in choices:
        raise ConfigError(f"{what} {value!r} is unknown; choose one of {', '.join(choices)}")
