"""What an evaluation is: its settings (:class:`EvaluationConfig`, built from the settings
groups, with their checks) and the models it builds from them (:func:`model_factory`)."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gatecast.data.covariates import checked_groups, covariate_columns
from gatecast.errors import ConfigError
from gatecast.evaluation.walkforward import (
    ModelFactory,
)
from gatecast.experiment.applies import unused_settings
from gatecast.experiment.panel_returns import (
    ARX,
    LOCAL_RETURN_MODELS,
    RETURN_WITH,
    return_covariate_models,
)
from gatecast.experiment.registry import (
    ALIASES,
    COMBINATIONS,
    DEFAULT_MODELS,
    POINT_WINDOW,
    EvaluationTarget,
    ablation_models,
    canonical_names,
    is_recurrent,
    model_names,
    model_spec,
    split_name,
)
from gatecast.experiment.settings import (
    ConfidenceSetSettings,
    CovariateSettings,
    DataSettings,
    EnsembleSettings,
    ExecutorSettings,
    InputSettings,
    RecurrentSettings,
    RunSettings,
    TargetSettings,
    WalkSettings,
    group_fields,
)
from gatecast.models.config import (
    VarianceConfig,
)
from gatecast.types import CELLS, MODES, Mode, TargetKind, check_choice


@dataclass(kw_only=True)
class EvaluationConfig(
    DataSettings,
    TargetSettings,
    WalkSettings,
    RecurrentSettings,
    EnsembleSettings,
    InputSettings,
    CovariateSettings,
    ConfidenceSetSettings,
    RunSettings,
):
    """Everything one evaluation needs, as plain values (a config file maps onto it one to one):
    the shared settings of :mod:`gatecast.experiment.settings` (the data, the walk-forward, the
    recurrent models, the run folder) and the evaluation's own.

    ``scheme`` is the walk-forward's training scheme (``expanding`` or ``rolling`` with
    ``train_size`` rows); ``window`` is the recurrent models' input length, as everywhere in
    gatecast; None (default): :data:`POINT_WINDOW` (22 days) for return and direction models,
    ``VarianceConfig.window`` (5, chosen by a nested sweep on 2011-2014) for variance models. ``recurrent_epochs`` / ``warm_epochs`` are the epochs of a cold fit and of a warm
    refit; ``warm_start`` refits recurrent models from the previous fold's weights. Recurrent
    models run once per seed in ``range(seeds)`` and are reported as the mean over seeds.
    ``train_proxy`` is what recurrent variance models train against; None (default): the
    Parkinson range when the data has High/Low (a far less noisy target than r^2, whatever
    ``proxy`` scores them), else the squared return (for a model with a residual base, shrunk
    halfway toward the base's forecast: ``default_train_proxy``). ``features`` are the recurrent models'
    inputs; None: the family's default (for variance models: chosen from the data, range
    inputs with High/Low and close-only inputs without).
    ``mode`` is the recurrent models' mode: ``window`` (each forecast from a fresh pass over
    the last ``window`` rows) or ``sequence`` (stateful: after each refit the state is rebuilt
    once over the history, then carried one step per test day; return and direction targets).
    ``ensemble`` scores each recurrent model on its mean forecast over the seeds (a seed
    ensemble) instead of the mean of the seeds' losses (``seed_losses`` stay per seed).
    ``models`` are identifiers of :mod:`gatecast.experiment.registry` (earlier spellings such as
    ``no-change`` are accepted and stored as the identifier); empty: the target's default set.
    ``covariates`` names covariate groups of :data:`gatecast.data.covariates.COVARIATES`
    (``vix``, ``nasdaq``): they are joined onto the data (each row holds what is known at its
    close) and ``models`` becomes an ablation
    (:func:`gatecast.experiment.registry.ablation_models`): each recurrent model with and
    without each group (``lstm``, ``lstm+vix``) and ``har`` beside ``har_x+vix``, HAR-X on the
    same covariates; for a return or direction target ``ar1`` beside ``arx+vix`` (ARX, AR(1)
    with the covariates as regressors: :func:`point_models`).
    """

    models: tuple[str, ...] = ()
    mode: Mode = "window"
    extra: dict[str, Any] = field(default_factory=dict)
    # conformal intervals at this level (None: none); return intervals scaled by this variance
    # model's forecasts (None: garch)
    intervals: float | None = None
    interval_scale: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()  # the shared groups' checks
        check_choice(self.mode, MODES, "mode")
        if self.mode == "sequence" and self.target == "variance":
            raise ConfigError(
                "mode='sequence' runs the return and direction models; the recurrent variance "
                "models have window mode only: use --mode window or --target return"
            )
        if self.window is None:  # each family's own default
            self.window = VarianceConfig.window if self.target == "variance" else POINT_WINDOW
        self.covariates = _checked_covariates(self.covariates, self.target)
        models = self.models or DEFAULT_MODELS[self.target]
        if self.target != "variance":  # return, direction: the recurrent models, ar1 beside arx
            self.models = point_models(models, self.covariates, self.target)
        elif self.covariates:
            named = canonical_names(models, self.target, covariates=True)
            self.models = ablation_models(named, self.covariates)
            _check_covariate_models(self.models, self.covariates)
        else:
            self.models = canonical_names(models, self.target)
            if "har_x" in self.models:
                raise ConfigError(
                    "har_x is HAR with covariates as regressors: name them (--covariates vix), "
                    "or use har"
                )
        if len(set(self.models)) != len(self.models):
            raise ConfigError(f"models {self.models} list a model twice")
        if self.intervals is not None and not 0 < self.intervals < 1:
            raise ConfigError(f"intervals={self.intervals}: an interval level in (0, 1), e.g. 0.9")
        if self.intervals is not None and self.target == "direction":
            raise ConfigError("--intervals covers return and variance forecasts, not direction")
        if self.intervals is not None and self.covariates and self.target == "return":
            raise ConfigError(
                "--intervals with --covariates on a return target is not built (the variance "
                "model that scales the intervals reads no covariates); leave one of them out"
            )
        if self.interval_scale is not None:
            scales = sorted(set(model_names("variance")) - set(COMBINATIONS))
            name = ALIASES.get(self.interval_scale.strip(), self.interval_scale.strip())
            if name not in scales:
                raise ConfigError(
                    f"--interval-scale {self.interval_scale!r} is not a variance model; choose "
                    f"one of {', '.join(scales)}"
                )
            self.interval_scale = name

    def unused(self, names: Iterable[str]) -> dict[str, str]:
        """Of the settings ``names``, those this evaluation does not use, each with the reason
        (what a user is told instead of the setting being ignored)."""
        return unused_settings(vars(self), names)

    def set_fields(self) -> set[str]:
        """The settings whose values differ from their defaults (for the target)."""
        default = EvaluationConfig(
            target=self.target, models=self.models, covariates=self.covariates
        )
        return {
            f.name
            for f in dataclasses.fields(self)
            if f.name not in ("models", "out", "extra", "data")
            and getattr(self, f.name) != getattr(default, f.name)
        }

    def check_applicable(self, given: Iterable[str] | None = None) -> None:
        """Refuse every setting in ``given`` (default: those set away from their defaults)
        that this evaluation does not use: an ignored option would be a silent wrong answer."""
        unused = self.unused(self.set_fields() if given is None else given)
        if unused:
            name, why = next(iter(unused.items()))
            others = f" (also unused: {', '.join(list(unused)[1:])})" if len(unused) > 1 else ""
            option = "epochs" if name == "recurrent_epochs" else name  # as the CLI spells it
            raise ConfigError(
                f"--{option.replace('_', '-')} does not apply here: {why}; leave it out{others}"
            )

    def members(self) -> dict[str, list[str]]:
        """Model -> its walk-forward columns: ``lstm[s0]``, ``lstm[s1]``... per seed for a
        recurrent model, the model itself otherwise."""
        return {
            m: [f"{m}[s{s}]" for s in range(self.seeds)] if is_recurrent(m) else [m]
            for m in self.models
        }


def point_models(
    models: Iterable[str], groups: tuple[str, ...], target: EvaluationTarget
) -> tuple[str, ...]:
    """The return or direction models ``models`` of one series as identifiers; with covariate
    ``groups``, the ablation of a panel's return models
    (:func:`gatecast.experiment.panel_returns.return_covariate_models`): each recurrent model
    with and without each group, ``ar1`` beside ``arx`` (:class:`gatecast.models.linear.ARX`,
    AR(1) with the covariates of the day before as regressors; for a direction target the sign
    of its forecast, as ``ar1``'s). ``arx`` without covariates is refused, and so is a model of
    a panel only (``lstm_local``)."""
    given = tuple(m.strip() for m in models if m.strip())
    readers = (*CELLS, ARX)
    for m in given:
        base, has = split_name(m)
        if base in LOCAL_RETURN_MODELS:
            raise ConfigError(
                f"{base} is a panel model (one recurrent model per instrument); on one series "
                f"use {LOCAL_RETURN_MODELS[base]}, or evaluate a panel (--panel)"
            )
        if has and base not in readers:
            raise ConfigError(
                f"model {m}: on a {target} target the recurrent models and arx read covariates "
                f"({', '.join(readers)}), {base} does not; name it without them"
            )
    plain = iter(
        canonical_names(tuple(m for m in given if split_name(m)[0] not in readers), target)
    )
    names = tuple(m if split_name(m)[0] in readers else next(plain) for m in given)
    if groups and not any(split_name(m)[0] in (*readers, *RETURN_WITH) for m in names):
        raise ConfigError(
            f"--covariates {','.join(groups)} feeds the recurrent models and arx (ARX, beside "
            f"ar1) on a {target} target, and --models {','.join(names)} has none of them; add "
            f"lstm or ar1"
        )
    return return_covariate_models(groups, names)[1]


def _checked_covariates(names: Iterable[str], target: str) -> tuple[str, ...]:
    """The covariate groups ``names`` as a tuple, each known, none twice (a ConfigError
    otherwise); every ``target`` reads them (kept for
    :mod:`gatecast.experiment.panel_covariates`, which checks a panel's groups so)."""
    return checked_groups(names)


def _check_covariate_models(models: tuple[str, ...], groups: tuple[str, ...]) -> None:
    """Refuse a model name with a group the run does not join, or a run whose models read
    none of its covariates."""
    for m in models:
        extra = [g for g in split_name(m)[1] if g not in groups]
        if extra:
            raise ConfigError(
                f"model {m} reads the covariate(s) {', '.join(extra)}, which --covariates "
                f"({', '.join(groups)}) does not name; add them there"
            )
    if not any(split_name(m)[1] for m in models):
        raise ConfigError(
            f"--covariates {','.join(groups)} feeds the recurrent models and har (as har_x), "
            f"and --models {','.join(models)} has none of them; add lstm or har"
        )


#: Settings a run built on a walk-forward (``backtest``, ``var``) passes on to it unchanged:
#: the data, the walk-forward but its start, the recurrent models, where its tasks run.
WALK_SETTINGS = tuple(
    name
    for name in (
        *group_fields(DataSettings, WalkSettings, RecurrentSettings, ExecutorSettings),
        "quiet",
    )
    if name != "test_start"
)


def walk_config(run: Any, **settings: Any) -> EvaluationConfig:
    """The walk-forward of a run built on one (a backtest, a VaR run): the run's
    :data:`WALK_SETTINGS`, its forecasts written to ``<run.out>/evaluation``, then ``settings``."""
    values: dict[str, Any] = {name: getattr(run, name) for name in WALK_SETTINGS}
    values["out"] = str(Path(run.out) / "evaluation") if run.out else None
    return EvaluationConfig(**(values | settings))


def model_factory(name: str, cfg: EvaluationConfig, seed: int = 0) -> ModelFactory:
    """A picklable zero-argument factory of the model ``name`` for ``cfg``'s target."""
    base, groups = split_name(name)
    if base == ARX:  # AR(1) with the covariates as regressors, a return and direction model
        if cfg.target == "variance":
            raise ConfigError(f"{name} forecasts returns and directions; for variance: har_x")
        from gatecast.models.linear import ARX as ARXModel

        kind: TargetKind = "direction" if cfg.target == "direction" else "return"
        reads = covariate_columns(groups)
        arx: ModelFactory = functools.partial(
            ARXModel, covariates=reads, target=kind, column=cfg.column, name=name
        )
        return arx
    spec = model_spec(cfg.target, name)
    target = cfg.proxy if cfg.target == "variance" else cfg.target
    params: dict[str, Any] = {**spec.params, "target": target, "column": cfg.column}
    if groups:
        params["covariates"] = covariate_columns(groups)
        if "name" in spec.params:  # har_x+vix: its forecasts' column
            params["name"] = name
    elif base == "har_x":
        params["covariates"] = covariate_columns(cfg.covariates)
    if spec.recurrent:
        params |= {
            "seed": seed,
            "hidden": cfg.hidden,
            "window": cfg.window,
            "epochs": cfg.recurrent_epochs,
            "warm_epochs": cfg.warm_epochs,
            "warm_start": cfg.warm_start,
        }
        if cfg.mode == "sequence":
            params["mode"] = "sequence"
        if cfg.target == "variance":
            params["train_proxy"] = cfg.train_proxy
        if cfg.features is not None:
            params["features"] = tuple(cfg.features)
        params |= cfg.extra
    factory: ModelFactory = functools.partial(spec.load(), **params)
    return factory
