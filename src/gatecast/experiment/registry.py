"""Every model `gatecast evaluate` knows, keyed by (target, name): one identifier per model, used in
the leaderboard, forecasts, metrics files and run folders, and one table of display labels.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, get_args

from gatecast.errors import ConfigError
from gatecast.types import CELLS

EvaluationTarget = Literal["variance", "return", "direction"]
EVALUATION_TARGETS: tuple[EvaluationTarget, ...] = get_args(EvaluationTarget)
#: The recurrent return and direction models' input window in an evaluation (days).
POINT_WINDOW = 22
#: Hybrid recurrent variance models (:class:`RecurrentVariance` options): identifier -> params.
HYBRIDS: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {
        "lstm_garch": {"cell": "lstm", "classical_inputs": ("garch", "gjr_t", "har")},
        "lstm_resid": {"cell": "lstm", "residual": "gjr_t"},
        "lstm_hybrid": {
            "cell": "lstm",
            "classical_inputs": ("garch", "gjr_t", "har"),
            "residual": "gjr_t",
        },
    }
)
#: Models trained per seed (recurrent cells and the hybrids).
RECURRENT: tuple[str, ...] = (*CELLS, *HYBRIDS)
#: Leaderboard models made from the others' forecasts, not fit (:mod:`gatecast.evaluation.combination`).
COMBINATIONS: Mapping[str, tuple[EvaluationTarget, ...]] = MappingProxyType(
    {"combo": ("variance",)}
)


@dataclass(frozen=True)
class ModelEntry:
    """How to build one model: ``cls`` returns its class, importing its module on first use (so
    that listing the names imports neither torch nor arch), and the constructor parameters fixed
    for this name.

    ``recurrent`` models also take the recurrent settings of an evaluation (seed, hidden units,
    input window, epochs, warm start).
    """

    cls: Callable[[], type]
    params: Mapping[str, Any] = field(default_factory=dict)
    recurrent: bool = False

    def load(self) -> Any:
        """The model class."""
        return self.cls()


# -- the model classes, each imported when a model of it is first built ----------------------------
def _lazy(module: str, name: str) -> Callable[[], type]:
    """A function that returns the class ``name`` of ``module``, importing it when first called."""

    def cls() -> type:
        found: type = getattr(importlib.import_module(module), name)
        return found

    return cls


_arch = _lazy("gatecast.models.garch", "ArchForecaster")
_har = _lazy("gatecast.models.har", "HARForecaster")
_har_x = _lazy("gatecast.models.har", "HARXForecaster")
_historical_variance = _lazy("gatecast.models.volatility", "HistoricalVariance")
_recurrent_variance = _lazy("gatecast.models.recurrent.variance", "RecurrentVariance")
_recurrent_forecaster = _lazy("gatecast.models.recurrent", "RecurrentForecaster")
_no_change = _lazy("gatecast.models.baselines", "NoChange")
_historical_mean = _lazy("gatecast.models.baselines", "HistoricalMean")
_ar1 = _lazy("gatecast.models.linear", "AR1")
_always_up = _lazy("gatecast.models.baselines", "AlwaysUp")


def _variance_models() -> dict[str, ModelEntry]:
    named: dict[str, ModelEntry] = {
        "garch": ModelEntry(_arch, {"vol": "GARCH"}),
        "gjr_t": ModelEntry(_arch, {"vol": "GARCH", "o": 1, "dist": "t"}),
        "egarch_t": ModelEntry(_arch, {"vol": "EGARCH", "o": 1, "dist": "t"}),
        "ewma": ModelEntry(_arch, {"vol": "EWMA", "lam": 0.94}),
        "har": ModelEntry(_har, {"lags": (1, 5, 22)}),  # the range, else |r| (measure auto)
        "har_abs": ModelEntry(_har, {"lags": (1, 5, 22), "measure": "abs"}),
        "har_daily": ModelEntry(_har, {"lags": (1,), "measure": "range"}),
        # HAR with the run's covariates as regressors (names such as har_x+vix say which)
        "har_x": ModelEntry(_har_x, {"lags": (1, 5, 22)}),
        "no_change": ModelEntry(_historical_variance, {"window": 22}),
        "historical_mean": ModelEntry(_historical_variance, {"window": None}),
    }
    # the variance models take their identifier as their name (the column of their forecasts)
    named = {k: ModelEntry(v.cls, {**v.params, "name": k}) for k, v in named.items()}
    cells = {c: ModelEntry(_recurrent_variance, {"cell": c}, True) for c in CELLS}
    hybrids = {k: ModelEntry(_recurrent_variance, dict(v), True) for k, v in HYBRIDS.items()}
    return cells | hybrids | named


def _point_models(target: EvaluationTarget) -> dict[str, ModelEntry]:
    cells = {
        c: ModelEntry(_recurrent_forecaster, {"cell": c, "layers": 1, "device": "cpu"}, True)
        for c in CELLS
    }
    named = {
        "no_change": ModelEntry(_no_change),
        "historical_mean": ModelEntry(_historical_mean),
        "ar1": ModelEntry(_ar1),
    }
    if target == "direction":
        named["always_up"] = ModelEntry(_always_up)
    return cells | named


#: (target, name) -> how to build the model.
REGISTRY: Mapping[tuple[EvaluationTarget, str], ModelEntry] = MappingProxyType(
    {
        (target, name): spec
        for target in EVALUATION_TARGETS
        for name, spec in (
            _variance_models() if target == "variance" else _point_models(target)
        ).items()
    }
)

#: What each target's evaluation runs when no models are named.
DEFAULT_MODELS: Mapping[EvaluationTarget, tuple[str, ...]] = MappingProxyType(
    {
        "variance": (
            "lstm",
            "garch",
            "gjr_t",
            "egarch_t",
            "ewma",
            "har",
            "no_change",
            "historical_mean",
        ),
        "return": ("lstm", "no_change", "historical_mean", "ar1"),
        "direction": ("lstm", "always_up", "no_change", "historical_mean", "ar1"),
    }
)

#: Display labels for plots and reports; identifiers stay the keys everywhere else.
LABELS: Mapping[str, str] = MappingProxyType(
    {
        "lstm": "LSTM",
        "gru": "GRU",
        "rnn": "RNN",
        "lstm_garch": "LSTM + GARCH/GJR-t/HAR forecasts as inputs",
        "lstm_resid": "LSTM on log(variance / GJR-t forecast)",
        "lstm_hybrid": "LSTM on log(variance / GJR-t), GARCH/GJR-t/HAR forecasts as inputs",
        "garch": "GARCH(1,1)",
        "gjr_t": "GJR-GARCH(1,1)-t",
        "egarch_t": "EGARCH(1,1)-t",
        "ewma": "EWMA (0.94)",
        "har": "HAR (1, 5, 22)",
        "har_abs": "HAR (1, 5, 22) on |r|",
        "har_daily": "HAR daily (AR(1) on the log range)",
        "har_x": "HAR-X (1, 5, 22) with covariates",
        "no_change": "no change",
        "historical_mean": "historical mean",
        "ar1": "AR(1)",
        "always_up": "always up",
    }
)

#: Earlier spellings still accepted on input (``--models no-change,gjr-t`` keeps working).
ALIASES: Mapping[str, str] = MappingProxyType(
    {
        "no-change": "no_change",
        "mean": "historical_mean",
        "gjr-t": "gjr_t",
        "egarch-t": "egarch_t",
        "always-up": "always_up",
    }
)


def label(name: str) -> str:
    """The display label of the model ``name`` (the name itself when it has none); a model
    with covariates (``lstm+vix``) is its base's label + the covariate groups."""
    base, groups = split_name(name)
    text = LABELS.get(base, base)
    return f"{text} + {' + '.join(groups)}" if groups else text


# -- covariates: a model name may carry covariate groups, ``lstm+vix``, ``har_x+vix+nasdaq`` --
#: Models that read covariates: the recurrent variance models, and ``har_x`` (which needs them).
COVARIATE_MODELS: tuple[str, ...] = (*RECURRENT, "har_x")
#: Each baseline and the model that reads the same covariates for an ablation: har -> har_x.
WITH_COVARIATES: Mapping[str, str] = MappingProxyType({"har": "har_x"})


def split_name(name: str) -> tuple[str, tuple[str, ...]]:
    """``"lstm+vix"`` -> ``("lstm", ("vix",))``: a model and the covariate groups it reads."""
    base, *groups = name.split("+")
    return base.strip(), tuple(g.strip() for g in groups)


def base_model(name: str) -> str:
    """The registry model of ``name`` without its covariate groups."""
    return split_name(name)[0]


def is_recurrent(name: str) -> bool:
    """Whether ``name`` is a recurrent model (with or without covariates)."""
    return base_model(name) in RECURRENT


def ablation_models(
    models: tuple[str, ...],
    groups: tuple[str, ...],
    readers: Iterable[str] = COVARIATE_MODELS,
) -> tuple[str, ...]:
    """``models`` with, after each model that can read covariates (``readers``; on a panel
    also ``lstm_local``), its variant with each covariate group (and with all of them, when
    there are several): ``lstm`` -> ``lstm``, ``lstm+vix``; ``har`` -> ``har``, ``har_x+vix``;
    ``har_x`` -> ``har_x+vix``. A name that already carries groups is kept as it is."""
    sets = [(g,) for g in groups] + ([tuple(groups)] if len(groups) > 1 else [])
    can = (*readers, *WITH_COVARIATES)
    out: dict[str, None] = {}
    for m in models:
        base, has = split_name(m)
        if has or base not in can:
            out[m] = None
            continue
        if base != "har_x":
            out[m] = None
        x = WITH_COVARIATES.get(base, base)
        for s in sets:
            out["+".join((x, *s))] = None
    return tuple(out)


#: What ``har`` is on each kind of data: the measure its HAR regresses.
HAR_ON = {True: "the log range", False: "|r| (closes only)"}


def reads_har(name: str) -> bool:
    """Whether the model ``name`` is, or reads, the ``har`` HAR, whose measure follows the data
    (the log range with High/Low, absolute returns without)."""
    params = HYBRIDS.get(name, {})
    return name == "har" or "har" in (*params.get("classical_inputs", ()), params.get("residual"))


def label_on(name: str, ranges: bool) -> str:
    """The display label of ``name`` on data with (``ranges``) or without High/Low: a model that
    is or reads ``har`` says which HAR it is."""
    text = label(name)
    if not reads_har(name):
        return text
    if name == "har":
        return f"{text} on {HAR_ON[ranges]}"
    return text.replace("HAR", "HAR on |r|", 1) if not ranges else text


def model_names(target: EvaluationTarget) -> tuple[str, ...]:
    """The model names ``gatecast evaluate`` knows for ``target`` (combinations last)."""
    fitted = tuple(name for t, name in REGISTRY if t == target)
    return fitted + tuple(n for n, targets in COMBINATIONS.items() if target in targets)


def canonical_names(
    names: tuple[str, ...], target: EvaluationTarget, *, covariates: bool = False
) -> tuple[str, ...]:
    """``names`` as identifiers (earlier spellings mapped); a :class:`ConfigError` names every one
    that ``target`` has no model for. ``covariates``: names may carry covariate groups
    (``lstm+vix``; the groups are the caller's to check), on a model of
    :data:`COVARIATE_MODELS`."""
    out = []
    for n in (n.strip() for n in names if n.strip()):
        base, groups = split_name(n) if covariates else (n, ())
        base = ALIASES.get(base, base)
        out.append("+".join((base, *groups)))
    known = model_names(target)

    def fits(n: str) -> bool:
        if not covariates:
            return n in known
        base, groups = split_name(n)
        return base in known and (not groups or base in COVARIATE_MODELS)

    bad = [n for n in out if not fits(n)]
    if bad:
        hint = ""
        if target == "variance" and "ar1" in bad:
            hint = " (the AR(1) on the log range is now har_daily; ar1 is AR(1) on returns)"
        raise ConfigError(
            f"model(s) {', '.join(bad)} cannot forecast a {target} target{hint}; choose from "
            f"{', '.join(sorted(model_names(target)))}"
        )
    return tuple(out)


def model_spec(target: EvaluationTarget, name: str) -> ModelEntry:
    """The :class:`ModelEntry` of ``name`` (or an earlier spelling of it; its covariate groups
    aside) for ``target``."""
    return REGISTRY[target, base_model(canonical_names((name,), target, covariates=True)[0])]
