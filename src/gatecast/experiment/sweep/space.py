"""The search space of a sweep: the parameters it may vary, their values parsed from text, and its configurations (points), keyed and labelled."""

from __future__ import annotations

import hashlib
import itertools
import json
import types
import typing
from collections.abc import Mapping
from dataclasses import fields
from typing import Any, get_args

from gatecast.errors import ConfigError
from gatecast.experiment.registry import EvaluationTarget
from gatecast.models.config import (
    ForecasterConfig,
    GlobalReturnParams,
    GlobalVarianceParams,
    NetParams,
    NetSettings,
    VarianceConfig,
)

#: Settings a sweep fixes itself: the target and column come from the sweep, seeds from ``seeds``.
_NOT_SWEPT = ("target", "column", "seed", "quiet", "device")


def _config_class(target: EvaluationTarget, panel: bool = False) -> type[NetParams]:
    if panel:  # the global model of a panel
        return GlobalVarianceParams if target == "variance" else GlobalReturnParams
    cls: type[NetSettings] = VarianceConfig if target == "variance" else ForecasterConfig
    return cls


def sweepable_parameters(
    target: EvaluationTarget = "variance", *, panel: bool = False
) -> dict[str, Any]:
    """Constructor parameter -> its type, for the recurrent model of ``target`` (``panel``:
    the global model of a panel, :class:`GlobalRecurrentVariance` or
    :class:`GlobalRecurrentReturn`)."""
    cls = _config_class(target, panel)
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in fields(cls) if f.name not in _NOT_SWEPT}


def model_words(target: EvaluationTarget, panel: bool = False) -> str:
    """The model whose parameters a sweep sets, in words (``the recurrent variance model``)."""
    return f"the {'global ' if panel else ''}recurrent {target} model"


def _parse_value(name: str, text: str, hint: Any) -> Any:
    """``text`` as a value of the type ``hint`` (``int | None``, ``tuple[str, ...]``...)."""
    args = get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    if type(None) in args and text.strip().lower() in ("none", "null"):
        return None
    for kind in args:
        origin = typing.get_origin(kind) or kind
        try:
            if kind is bool:
                low = text.strip().lower()
                if low in ("true", "yes", "1", "on"):
                    return True
                if low in ("false", "no", "0", "off"):
                    return False
                raise ValueError(text)
            if kind is int:
                return int(text)
            if kind is float:
                return float(text)
            if origin is tuple:  # features=return+squared_return
                return tuple(t.strip() for t in text.split("+") if t.strip())
            if kind is str:
                return text.strip()
        except ValueError:
            continue
    shown = " or ".join(getattr(a, "__name__", str(a)) for a in args)
    raise ConfigError(f"{name}={text!r}: not a valid {shown}; e.g. {name}={_example(args)}")


def _example(args: tuple[Any, ...]) -> str:
    if int in args:
        return "22"
    if float in args:
        return "5e-4"
    if bool in args:
        return "true"
    return "lstm"


def parse_space(
    items: list[str] | tuple[str, ...],
    target: EvaluationTarget = "variance",
    *,
    panel: bool = False,
) -> dict[str, tuple[Any, ...]]:
    """``["window=10,22,63", "cell=lstm,gru"]`` (items may also be one space-separated string)
    as parameter -> values, each value parsed to the constructor parameter's type (``panel``:
    of the global model of a panel).

    Examples
    --------
    >>> parse_space(["window=10,22 lr=5e-4,1e-3"])
    {'window': (10, 22), 'lr': (0.0005, 0.001)}
    """
    valid = sweepable_parameters(target, panel=panel)
    out: dict[str, tuple[Any, ...]] = {}
    for item in (tok for text in items for tok in text.split()):
        name, sep, values = item.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or not values.strip():
            raise ConfigError(
                f"{item!r}: give a parameter and its values as name=v1,v2 (e.g. window=10,22,63)"
            )
        if name not in valid:
            raise ConfigError(
                f"{name!r} is not a parameter of {model_words(target, panel)}; choose from "
                f"{', '.join(sorted(valid))}"
            )
        if name in out:
            raise ConfigError(f"{name} is given twice; list all its values once: {name}=a,b")
        if name == "covariates":  # groups of --covariates (none, vix, vix+nasdaq), not columns
            parsed: tuple[Any, ...] = tuple(v.strip() for v in values.split(",") if v.strip())
        else:
            parsed = tuple(
                _parse_value(name, v, valid[name]) for v in values.split(",") if v.strip()
            )
        if len(set(map(repr, parsed))) != len(parsed):
            raise ConfigError(f"{name}={values}: a value is listed twice")
        out[name] = parsed
    return out


# -- configurations: one value per swept parameter ----------------------------------------------------
def config_key(params: Mapping[str, Any]) -> str:
    """The configuration's folder-safe key: a hash of its parameters (the same on every run)."""
    text = json.dumps({k: params[k] for k in sorted(params)}, default=repr)
    return "c" + hashlib.sha256(text.encode()).hexdigest()[:10]


def label(params: Mapping[str, Any], swept: list[str]) -> str:
    """``window=5 cell=lstm``: the swept parameters' values (``default`` when nothing is swept)."""
    return " ".join(f"{k}={show(params[k])}" for k in swept) or "default"


def show(v: Any) -> str:
    """A parameter value as text (a tuple as ``a+b``, as the grid is written)."""
    return "+".join(map(str, v)) if isinstance(v, tuple) else str(v)


def grid_configs(grid: Mapping[str, tuple[Any, ...]]) -> list[dict[str, Any]]:
    """Every combination of the grid's values, in the grid's order."""
    names = list(grid)
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*grid.values())]
