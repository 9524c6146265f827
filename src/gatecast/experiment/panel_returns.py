"""The return and direction targets of a panel evaluation: their models (the global recurrent
return model, with ``target="direction"`` the global direction model, the local per-instrument
one, no change, historical mean, AR(1), for direction always up, and with covariates ARX), their
defaults, their covariate ablation and their scores."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from gatecast.data.covariates import checked_groups, covariate_columns
from gatecast.errors import ConfigError
from gatecast.evaluation.panel_return_scores import (
    panel_directions,
    panel_returns,
    score_panel_returns,
)
from gatecast.evaluation.panel_scores import PanelScores, score_panel
from gatecast.evaluation.panel_walk import PanelFactory, PanelWalkResult
from gatecast.experiment.panel_models import (
    PanelModelSettings,
    checked_panel_names,
    mode_setting,
    recurrent_settings,
)
from gatecast.experiment.registry import POINT_WINDOW, canonical_names, model_spec, split_name
from gatecast.types import CELLS, Proxy

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "DIRECTION_MODELS",
    "POINT_TARGETS",
    "RETURN_MODELS",
    "RETURN_REFERENCE",
    "return_covariate_models",
    "return_factories",
    "return_model_names",
    "score_panel_target",
]

#: The models a panel evaluation of returns runs by default (those of ``evaluate --target
#: return``; the global LSTM in place of the single-series one).
RETURN_MODELS = ("lstm", "no_change", "historical_mean", "ar1")
#: The models a panel evaluation of directions runs by default (those of ``evaluate --target
#: direction``; the global LSTM in place of the single-series one).
DIRECTION_MODELS = ("lstm", "always_up", "no_change", "historical_mean", "ar1")
#: The targets of this module: a return and its direction, one step ahead.
POINT_TARGETS = ("return", "direction")
#: What every model's loss is compared with: the zero-return (random-walk) forecast; for a
#: direction, the sign of the last return (persistence), as on one series.
RETURN_REFERENCE = "no_change"
#: The local per-instrument recurrent return models: one RecurrentForecaster per instrument.
LOCAL_RETURN_MODELS = {f"{c}_local": c for c in CELLS}
#: The return baseline that reads covariates (AR(1) with them as regressors,
#: :class:`gatecast.models.linear.ARX`), a panel model only; ``arx+sp500`` names its groups.
ARX = "arx"
#: The return models that read covariates: the global cells, the local recurrent models (each
#: with and without them in an ablation) and ``arx`` (which needs them; beside ``ar1``).
RETURN_READERS: tuple[str, ...] = (*CELLS, *LOCAL_RETURN_MODELS, ARX)
#: Each return baseline and the model that reads the covariates beside it: ar1 -> arx.
RETURN_WITH: Mapping[str, str] = {"ar1": ARX}


def point_defaults(target: str) -> tuple[str, ...]:
    """The default models of a panel evaluation of ``target`` (return or direction)."""
    return DIRECTION_MODELS if target == "direction" else RETURN_MODELS


def return_model_names(models: Iterable[str], target: str = "return") -> tuple[str, ...]:
    """``models`` as identifiers of the return (or ``direction``) target (the registry's
    models of that target, the local recurrent ones and ``arx``, a reader of covariates with
    its groups: ``lstm+sp500``); a :class:`ConfigError` names an unknown one or one given
    twice."""
    given = tuple(m.strip() for m in models if m.strip())

    def local(m: str) -> bool:
        return m in LOCAL_RETURN_MODELS or split_name(m)[0] in RETURN_READERS

    for m in given:
        base, has = split_name(m)
        if has and base not in RETURN_READERS:
            raise ConfigError(
                f"model {m}: on a {target} target the recurrent models and arx read covariates "
                f"({', '.join(RETURN_READERS)}), {base} does not; name it without them"
            )
    return checked_panel_names(
        given,
        local,
        lambda names: canonical_names(names, "direction" if target == "direction" else "return"),
        also=", ".join((*LOCAL_RETURN_MODELS, ARX)),
        example="lstm,no_change,ar1",
    )


def return_factories(
    models: Iterable[str], target: str = "return", **settings: Unpack[PanelModelSettings]
) -> dict[str, PanelFactory]:
    """A factory per model name: a cell (``lstm``, ``gru``, ``rnn``) is the global return model
    (:class:`GlobalRecurrentReturn`), ``lstm_local`` (``gru_local``, ``rnn_local``) one
    :class:`RecurrentForecaster` per instrument with the same settings, and ``no_change``,
    ``historical_mean``, ``ar1`` run per instrument, and so does ``arx+sp500`` (ARX reading the
    columns of the covariate groups after the ``+``, which every instrument's frame must hold:
    :func:`gatecast.experiment.panel_covariates.join_panel_covariates`). The recurrent settings
    (:class:`~gatecast.experiment.panel_models.PanelModelSettings`) are those of ``gatecast
    evaluate --target return`` (one layer, ``window`` 22 by default). ``target="direction"``:
    each model forecasts the probability of an up day (the global and local recurrent models
    with a direction target, ``always_up`` too; the baselines as ``evaluate --target
    direction`` has them)."""
    from gatecast.models.linear import ARX as ARXModel
    from gatecast.models.recurrent.forecaster import RecurrentForecaster
    from gatecast.models.recurrent.global_return import GlobalRecurrentReturn

    kind: Literal["return", "direction"] = "direction" if target == "direction" else "return"
    recurrent = {
        "layers": 1,
        **recurrent_settings(settings, window=POINT_WINDOW, target=kind),
        **mode_setting(settings),  # the global and the local return models both take it
    }
    column, embedding = recurrent["column"], settings.get("embedding", False)
    out: dict[str, PanelFactory] = {}
    for name in return_model_names(models, kind):
        base, groups = split_name(name)
        reads: dict[str, Any] = {"covariates": covariate_columns(groups)} if groups else {}
        if base == ARX:
            out[name] = functools.partial(ARXModel, column=column, name=name, target=kind, **reads)
        elif base in LOCAL_RETURN_MODELS:
            cell = LOCAL_RETURN_MODELS[base]
            out[name] = functools.partial(RecurrentForecaster, cell=cell, **recurrent, **reads)
        elif base in CELLS:
            out[name] = functools.partial(
                GlobalRecurrentReturn, cell=base, embedding=embedding, **recurrent, **reads
            )
        else:
            spec = model_spec(kind, name)
            out[name] = functools.partial(spec.load(), **spec.params, target=kind, column=column)
    return out


def return_covariate_models(
    covariates: str | Iterable[str], models: tuple[str, ...]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The covariate groups (each known, none twice) and the models of a panel evaluation of
    returns with them, an ablation as for variance: each recurrent model with and without each
    group (and all of them, when there are several), ``ar1`` beside ``arx`` on the same groups:
    ``lstm`` -> ``lstm``, ``lstm+sp500``; ``ar1`` -> ``ar1``, ``arx+sp500``; ``arx`` ->
    ``arx+sp500``; the others as they are. Without groups, ``arx`` (AR(1) with covariates) or
    a name carrying groups is refused."""
    groups = checked_groups(covariates)
    for m in models:
        base, has = split_name(m)
        extra = [g for g in has if g not in groups]
        if extra:
            raise ConfigError(
                f"model {m} reads the covariate(s) {', '.join(extra)}, which --covariates "
                f"({', '.join(groups) or 'none'}) does not name; add them there"
            )
        if base == ARX and not has and not groups:
            raise ConfigError(
                "arx is AR(1) with covariates as regressors: name them (--covariates sp500), "
                "or use ar1"
            )
    if not groups:
        return groups, models
    sets = [(g,) for g in groups] + ([groups] if len(groups) > 1 else [])
    out: dict[str, None] = {}
    for m in models:
        base, has = split_name(m)
        if has or (base not in RETURN_READERS and base not in RETURN_WITH):
            out[m] = None
            continue
        if base != ARX:
            out[m] = None
        reader = RETURN_WITH.get(base, base)
        for s in sets:
            out["+".join((reader, *s))] = None
    names = tuple(out)
    if not any(split_name(m)[1] for m in names):
        raise ConfigError(
            f"--covariates {','.join(groups)} feeds the recurrent models and arx (ARX, beside "
            f"ar1) on a return target, and --models {','.join(models)} has none of them; add "
            f"lstm or ar1"
        )
    if len(set(names)) != len(names):
        raise ConfigError(f"models {', '.join(names)} list a model twice")
    return groups, names


def score_panel_target(
    target: str,
    walk: PanelWalkResult,
    panel: Mapping[str, pd.DataFrame],
    *,
    proxy: Proxy = "squared",
    **options: Any,
) -> PanelScores:
    """:func:`score_panel` (QLIKE on the ``proxy``) for a variance target,
    :func:`score_panel_returns` (MSE, hit rate) for a return target and (Brier score, hit
    rate) for a direction; ``options`` are the keywords the two share (``reference``, ``column``, ``alpha``, ``mcs_size``,
    ``mcs_block_size``, ``mcs_reps``, ``seed``)."""
    if target in ("return", "direction"):
        return score_panel_returns(walk, panel, target=target, **options)  # type: ignore[arg-type]
    return score_panel(walk, panel, proxy=proxy, **options)


def actual_of(target: str, df: pd.DataFrame, proxy: Proxy, column: str | None) -> pd.Series | None:
    """What a return or direction target's forecasts of ``df`` are scored against (None for
    variance)."""
    if target == "direction":
        return panel_directions(df, column)
    return panel_returns(df, column) if target == "return" else None
