"""The return target of a panel evaluation: its models (the global recurrent return model, the
local per-instrument one, no change, historical mean, AR(1)), its defaults and its scores."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from gatecast.errors import ConfigError
from gatecast.evaluation.panel_return_scores import panel_returns, score_panel_returns
from gatecast.evaluation.panel_scores import PanelScores, score_panel
from gatecast.evaluation.panel_walk import PanelFactory, PanelWalkResult
from gatecast.experiment.registry import canonical_names, model_spec
from gatecast.types import CELLS, Proxy

__all__ = [
    "RETURN_MODELS",
    "RETURN_REFERENCE",
    "return_factories",
    "return_model_names",
    "score_panel_target",
]

#: The models a panel evaluation of returns runs by default (those of ``evaluate --target
#: return``; the global LSTM in place of the single-series one).
RETURN_MODELS = ("lstm", "no_change", "historical_mean", "ar1")
#: What every model's MSE is compared with: the zero-return (random-walk) forecast.
RETURN_REFERENCE = "no_change"
#: The local per-instrument recurrent return models: one RecurrentForecaster per instrument.
LOCAL_RETURN_MODELS = {f"{c}_local": c for c in CELLS}


def return_model_names(models: Iterable[str]) -> tuple[str, ...]:
    """``models`` as identifiers of the return target (the registry's return models and the
    local recurrent ones); a :class:`ConfigError` names an unknown one or one given twice."""
    given = tuple(m.strip() for m in models if m.strip())
    try:
        point = iter(
            canonical_names(tuple(m for m in given if m not in LOCAL_RETURN_MODELS), "return")
        )
    except ConfigError as exc:
        raise ConfigError(f"{exc} (on a panel also: {', '.join(LOCAL_RETURN_MODELS)})") from None
    out = tuple(m if m in LOCAL_RETURN_MODELS else next(point) for m in given)
    if not out:
        raise ConfigError("no models to evaluate; give at least one, e.g. lstm,no_change,ar1")
    if len(set(out)) != len(out):
        raise ConfigError(f"models {', '.join(out)} list a model twice")
    return out


def return_factories(
    models: Iterable[str],
    *,
    column: str | None = None,
    hidden: int = 16,
    window: int = 22,
    epochs: int = 30,
    warm_epochs: int = 5,
    warm_start: bool = True,
    seed: int = 0,
    embedding: bool = False,
    device: str = "auto",
) -> dict[str, PanelFactory]:
    """A factory per model name: a cell (``lstm``, ``gru``, ``rnn``) is the global return model
    (:class:`GlobalRecurrentReturn`), ``lstm_local`` (``gru_local``, ``rnn_local``) one
    :class:`RecurrentForecaster` per instrument with the same settings, and ``no_change``,
    ``historical_mean``, ``ar1`` run per instrument. The recurrent settings are those of
    ``gatecast evaluate --target return`` (one layer, ``window`` 22 by default)."""
    from gatecast.models.recurrent.forecaster import RecurrentForecaster
    from gatecast.models.recurrent.global_return import GlobalRecurrentReturn

    recurrent: dict[str, Any] = {
        "layers": 1,
        "hidden": hidden,
        "window": window,
        "epochs": epochs,
        "warm_epochs": warm_epochs,
        "warm_start": warm_start,
        "seed": seed,
        "target": "return",
        "column": column,
        "device": device,
    }
    out: dict[str, PanelFactory] = {}
    for name in return_model_names(models):
        if name in LOCAL_RETURN_MODELS:
            cell = LOCAL_RETURN_MODELS[name]
            out[name] = functools.partial(RecurrentForecaster, cell=cell, **recurrent)
        elif name in CELLS:
            out[name] = functools.partial(
                GlobalRecurrentReturn, cell=name, embedding=embedding, **recurrent
            )
        else:
            spec = model_spec("return", name)
            out[name] = functools.partial(
                spec.load(), **spec.params, target="return", column=column
            )
    return out


def score_panel_target(
    target: str,
    walk: PanelWalkResult,
    panel: Mapping[str, pd.DataFrame],
    *,
    proxy: Proxy = "squared",
    **options: Any,
) -> PanelScores:
    """:func:`score_panel` (QLIKE on the ``proxy``) for a variance target,
    :func:`score_panel_returns` (MSE, hit rate) for a return target; ``options`` are the
    keywords the two share (``reference``, ``column``, ``alpha``, ``mcs_size``,
    ``mcs_block_size``, ``mcs_reps``, ``seed``)."""
    if target == "return":
        return score_panel_returns(walk, panel, **options)
    return score_panel(walk, panel, proxy=proxy, **options)


def actual_of(target: str, df: pd.DataFrame, proxy: Proxy, column: str | None) -> pd.Series | None:
    """What a return target's forecasts of ``df`` are scored against (None for variance)."""
    return panel_returns(df, column) if target == "return" else None
