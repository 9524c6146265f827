"""One honest evaluation: walk-forward forecasts of many models, losses, DM / PT tests, the MCS, files.

``evaluate_models(EvaluationConfig(...))`` is what ``gatecast evaluate`` runs: it loads and checks
the data, runs the walk-forward (:func:`walk_models`), scores it (:func:`score_walk`) and writes
the run folder (:func:`write_evaluation`).
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from gatecast.data.covariates import covariate_columns, covariate_group, join_covariates
from gatecast.data.features import TargetSpec, check_not_constant, make_target, parkinson
from gatecast.data.sources import (
    data_label,
    resolve_column,
)
from gatecast.data.volatility import parkinson_scale, variance_proxy
from gatecast.errors import AlignmentError, ConfigError, DataError
from gatecast.evaluation.combination import combine_best
from gatecast.evaluation.intervals import IntervalResult
from gatecast.evaluation.losses import QLIKE_FLOOR, LossName, loss_series
from gatecast.evaluation.metrics import hit_rate
from gatecast.evaluation.significance import (
    diebold_mariano,
    model_confidence_set,
    pesaran_timmermann_test,
)
from gatecast.evaluation.trading import INFORMATION_DATE
from gatecast.evaluation.walkforward import (
    ModelFactory,
    WalkForwardResult,
    walk_forward,
)
from gatecast.experiment.applies import unused_settings
from gatecast.experiment.intervals import evaluation_intervals
from gatecast.experiment.notebook import draw_or_write, html_view
from gatecast.experiment.registry import (
    ALIASES,
    COMBINATIONS,
    DEFAULT_MODELS,
    HYBRIDS,
    RECURRENT,
    EvaluationTarget,
    ablation_models,
    canonical_names,
    is_recurrent,
    label_on,
    model_names,
    model_spec,
    reads_har,
    split_name,
)
from gatecast.experiment.report import write_report
from gatecast.experiment.run_folder import (
    RunFolder,
    check_out_folder,
    job_output,
    settings_record,
)
from gatecast.experiment.settings import (
    ConfidenceSetSettings,
    DataSettings,
    InputSettings,
    RecurrentSettings,
    RunSettings,
    TargetSettings,
    WalkSettings,
    group_fields,
    load_data,
)
from gatecast.models.config import (
    CLOSE_FEATURES,
    VarianceConfig,
    default_train_proxy,
    describe_train_proxy,
)
from gatecast.types import MODES, Mode, check_choice

__all__ = [
    "DEFAULT_MODELS",
    "LOSS_NAMES",
    "RECURRENT",
    "EvaluationConfig",
    "EvaluationResult",
    "evaluate_into",
    "evaluate_models",
    "model_factory",
    "model_names",
    "score_walk",
    "walk_config",
    "walk_models",
    "write_evaluation",
]

# "brier" is the MSE of a probability forecast, named as forecasters know it
ScoreName = Literal[LossName, "brier"]
LOSS_NAMES: dict[EvaluationTarget, tuple[ScoreName, ...]] = {
    "variance": ("qlike", "mse", "mae"),
    "return": ("mse", "mae"),
    "direction": ("brier",),
}
DM_TEST = (
    "Diebold-Mariano with the Harvey-Leybourne-Newbold correction (statsmodels), "
    "on per-date losses; negative = lower loss than the comparison model"
)


#: The recurrent return and direction models' input window in an evaluation (days).
POINT_WINDOW = 22


@dataclass(kw_only=True)
class EvaluationConfig(
    DataSettings,
    TargetSettings,
    WalkSettings,
    RecurrentSettings,
    InputSettings,
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
    (``vix``, ``nasdaq``; variance target): they are joined onto the data (each row holds what
    is known at its close) and ``models`` becomes an ablation
    (:func:`gatecast.experiment.registry.ablation_models`): each recurrent model with and
    without each group (``lstm``, ``lstm+vix``) and ``har`` beside ``har_x+vix``, HAR-X on the
    same covariates.
    """

    models: tuple[str, ...] = ()
    ensemble: bool = False
    mode: Mode = "window"
    extra: dict[str, Any] = field(default_factory=dict)
    # conformal intervals at this level (None: none); return intervals scaled by this variance
    # model's forecasts (None: garch)
    intervals: float | None = None
    interval_scale: str | None = None
    covariates: tuple[str, ...] = ()

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
        self.models = canonical_names(
            self.models or DEFAULT_MODELS[self.target],
            self.target,
            covariates=bool(self.covariates),
        )
        if self.covariates:
            self.models = ablation_models(self.models, self.covariates)
            _check_covariate_models(self.models, self.covariates)
        elif "har_x" in self.models:
            raise ConfigError(
                "har_x is HAR with covariates as regressors: name them (--covariates vix), or "
                "use har"
            )
        if len(set(self.models)) != len(self.models):
            raise ConfigError(f"models {self.models} list a model twice")
        if self.intervals is not None and not 0 < self.intervals < 1:
            raise ConfigError(f"intervals={self.intervals}: an interval level in (0, 1), e.g. 0.9")
        if self.intervals is not None and self.target == "direction":
            raise ConfigError("--intervals covers return and variance forecasts, not direction")
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


def _checked_covariates(names: Iterable[str], target: str) -> tuple[str, ...]:
    """The covariate groups ``names`` as a tuple, each known, none twice, for a variance
    target (a ConfigError otherwise)."""
    groups = (names,) if isinstance(names, str) else tuple(names)
    groups = tuple(g.strip() for g in groups if g.strip())
    for g in groups:
        covariate_group(g)  # an unknown name is refused, listing the known ones
    if len(set(groups)) != len(groups):
        raise ConfigError(f"covariates {list(groups)} name a group twice")
    if groups and target != "variance":
        raise ConfigError(
            f"--covariates feeds the variance models (the recurrent ones and har_x); the "
            f"{target} models read none yet: use --target variance or leave it out"
        )
    return groups


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
#: the data, the walk-forward but its start, the recurrent models, the workers.
WALK_SETTINGS = tuple(
    name
    for name in (*group_fields(DataSettings, WalkSettings, RecurrentSettings), "n_jobs", "quiet")
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
    spec = model_spec(cfg.target, name)
    target = cfg.proxy if cfg.target == "variance" else cfg.target
    params: dict[str, Any] = {**spec.params, "target": target, "column": cfg.column}
    base, groups = split_name(name)
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


def dm_columns(losses: pd.DataFrame, model: str, reference: str, best: str) -> dict[str, float]:
    """``dm_ref``/``p_ref`` and ``dm_best``/``p_best``: Diebold-Mariano of ``model``'s per-date
    losses against the reference's and the best baseline's (NaN against itself)."""
    out: dict[str, float] = {}
    for tag, ref in (("ref", reference), ("best", best)):
        if model == ref:
            out[f"dm_{tag}"], out[f"p_{tag}"] = np.nan, np.nan
        else:
            dm = diebold_mariano(losses[model].to_numpy(), losses[ref].to_numpy())
            out[f"dm_{tag}"], out[f"p_{tag}"] = dm.statistic, dm.pvalue
    return out


@dataclass
class EvaluationResult:
    """The leaderboard, the forecasts, the per-date losses and the facts of one evaluation.

    ``forecasts`` holds ``actual``, a column per model (and per seed) and, from a walk-forward,
    ``as_of`` (the date of the last observation each row's forecasts used);
    ``losses`` the primary loss per date and model. ``reference`` is the model the ``dm_ref`` column compares with
    (GARCH(1,1), else no change), ``best_baseline`` the non-recurrent model with the lowest loss.
    """

    config: EvaluationConfig
    leaderboard: pd.DataFrame
    forecasts: pd.DataFrame
    losses: pd.DataFrame
    walk: WalkForwardResult
    n_dates: int
    n_folds: int
    first_date: pd.Timestamp
    last_date: pd.Timestamp
    primary_loss: ScoreName
    reference: str
    best_baseline: str
    seed_losses: dict[str, list[float]]
    dropped_rows: int = 0
    dates_not_forecast_by_every_model: int = 0
    parkinson_scale: float | None = None
    seconds: float = 0.0
    outliers: list[list[Any]] = field(default_factory=list)  # kept by allow_outliers
    notes: list[str] = field(default_factory=list)  # e.g. a close-only fallback
    #: Display label of each model on this data (``har`` says which HAR it is).
    labels: dict[str, str] = field(default_factory=dict)
    intervals: IntervalResult | None = None  # with config.intervals
    #: With covariates: each model with a covariate group beside the same model without it
    #: (:func:`ablation_table`).
    ablation: pd.DataFrame | None = None

    def summary(self) -> str:
        """The leaderboard as text."""
        with pd.option_context("display.width", 160, "display.max_columns", 30):
            text: str = self.leaderboard.to_string(float_format=lambda v: f"{v:.4g}")
        return text

    def __str__(self) -> str:
        return self.summary()

    def to_dict(self) -> dict[str, Any]:
        """What ``metrics.json`` holds."""
        cfg = self.config
        out: dict[str, Any] = {
            "config": settings_record(cfg),
            "n_dates": self.n_dates,
            "dates_not_forecast_by_every_model": self.dates_not_forecast_by_every_model,
            "dropped_rows": self.dropped_rows,
            "first_date": self.first_date,
            "last_date": self.last_date,
            "n_folds": self.n_folds,
            "primary_loss": self.primary_loss,
            "reference": self.reference,
            "best_baseline": self.best_baseline,
            "dm_test": DM_TEST,
            "mcs": {
                "size": cfg.mcs_size,
                "block_size": cfg.mcs_block_size,
                "reps": cfg.mcs_reps,
                "bootstrap": "stationary",
                "statistic": "range (R)",
                "loss": self.primary_loss,
            },
            "leaderboard": self.leaderboard.reset_index().to_dict(orient="records"),
            "seed_losses": self.seed_losses,
            "walk_forward_seconds": self.walk.seconds,
            "seconds": self.seconds,
            "outliers": self.outliers,
            "notes": self.notes,
            "labels": self.labels,
            "intervals": self.intervals.to_dict() if self.intervals is not None else None,
        }
        if self.ablation is not None:
            out["ablation"] = self.ablation.reset_index().to_dict(orient="records")
        if cfg.target == "variance":
            out |= {"proxy": cfg.proxy, "qlike_floor": QLIKE_FLOOR}
            if self.parkinson_scale is not None:
                out["parkinson_scale"] = self.parkinson_scale
        return out

    def _repr_html_(self) -> str:
        title = (
            f"{data_label(self.config.data)} {self.config.target}: {self.n_dates} days "
            f"{str(self.first_date)[:10]}..{str(self.last_date)[:10]}, {self.n_folds} refits"
        )
        sentence = (
            f"DM (HLN) vs {self.reference} and the best baseline {self.best_baseline}; in_mcs: "
            f"in the {1 - self.config.mcs_size:.0%} model confidence set."
        )
        return html_view(title, self.leaderboard, [sentence, *self.notes])

    def plot(self, folder: str | Path | RunFolder | None = None) -> Any:
        """The forecasts against the actual values and the cumulative loss difference to the
        reference: a dict of figures, or (``folder``) ``forecasts.png`` and
        ``cumulative_loss.png`` written there (their paths)."""
        from gatecast.plots.evaluation import plot_cumulative_loss_difference, plot_forecasts

        variance = self.config.target == "variance"
        actual = self.forecasts["actual"].rename("proxy" if variance else "actual")
        models = [m for m in self.leaderboard.index if m in self.forecasts]
        title = f"{data_label(self.config.data)} {self.config.target}: walk-forward forecasts"
        figures = {
            "forecasts.png": plot_forecasts(
                actual, self.forecasts[models], log_scale=variance, title=title
            ),
            "cumulative_loss.png": plot_cumulative_loss_difference(
                self.losses, self.reference, loss_name=self.primary_loss
            ),
        }
        return draw_or_write(figures, folder)


# -- the three steps ------------------------------------------------------------------------------
def load_checked(cfg: EvaluationConfig) -> tuple[pd.DataFrame, int]:
    """The data of ``cfg`` with every column the models read checked, and the rows dropped
    (:func:`gatecast.experiment.settings.load_data`); with covariates, their columns joined on
    (:func:`gatecast.data.covariates.join_covariates`; its notes in ``attrs["covariate_notes"]``)."""
    df, dropped = load_data(cfg, variance=cfg.target == "variance")
    if cfg.covariates:
        df, notes = join_covariates(df, cfg.covariates)
        df.attrs["covariate_notes"] = notes
    return df, dropped


#: Models that read the daily range (High/Low) whatever the proxy (``har`` and the hybrids'
#: HAR input use absolute returns on close-only data).
RANGE_MODELS = ("har_daily",)


def check_models(cfg: EvaluationConfig, df: pd.DataFrame) -> None:
    """Refuse, before anything is fit or written, what a fold would only find out later: a
    model or proxy that needs High/Low on data without them, settings a model refuses, an
    ``out`` that is a file, a test period outside the data."""
    if cfg.out is not None and Path(cfg.out).exists() and not Path(cfg.out).is_dir():
        raise ConfigError(f"--out {cfg.out} is a file, not a folder; pass a folder name")
    if cfg.target == "variance" and not {"high", "low"} <= set(df.columns):
        needs = [m for m in cfg.models if m in RANGE_MODELS]
        if cfg.proxy == "parkinson":
            needs.append("the parkinson proxy")
        if cfg.train_proxy == "parkinson" and any(is_recurrent(m) for m in cfg.models):
            needs.append("--train-proxy parkinson")
        if needs:
            raise DataError(
                f"{', '.join(needs)} need(s) High and Low columns, which "
                f"{df.attrs.get('source', data_label(cfg.data))} lacks (it has {', '.join(df.columns)}); "
                f"leave them out or use data with High/Low"
            )
        if {"har", "har_abs"} <= set(cfg.models):
            # identical forecasts: the model confidence set cannot rank two equal models
            raise ConfigError(
                f"har and har_abs are the same model on {df.attrs.get('source', cfg.data)}, "
                f"which has closes only (har is HAR on |r| without High/Low); keep one of them"
            )
    cfg.plan().folds(df.index)
    column = resolve_column(df, cfg.column)
    before = df.loc[df.index < pd.Timestamp(cfg.test_start), column]
    where = df.attrs.get("source", data_label(cfg.data))
    check_not_constant(before, column, f"{where} before the test")
    if cfg.target == "variance" and {"high", "low"} <= set(df.columns):
        range_read = cfg.proxy == "parkinson" or any(
            m in RANGE_MODELS or reads_har(m) for m in cfg.models
        )
        # recurrent variance models train against the range when the data has it
        range_read |= cfg.train_proxy != "squared" and any(is_recurrent(m) for m in cfg.models)
        if range_read:
            parkinson(df)  # High < Low anywhere is refused now, not in a fold
    for m in cfg.models:
        if m in COMBINATIONS:
            combination_members(cfg)  # refuses a combination with nothing to combine
            continue
        model = model_factory(m, cfg)()
        settings = getattr(model, "config", None)
        if callable(settings):
            settings()  # a recurrent model's settings are validated by its config


def fallback_notes(cfg: EvaluationConfig, df: pd.DataFrame) -> list[str]:
    """What the variance models chose because the data has closes only: the recurrent models'
    inputs and training proxy, and the HAR that ``har`` and the hybrids read."""
    if cfg.target != "variance" or {"high", "low"} <= set(df.columns):
        return []
    notes = []
    har = [m for m in cfg.models if reads_har(m)]
    if har:
        notes.append(
            f"close-only data: the HAR of {', '.join(har)} is HAR (1, 5, 22) on absolute returns "
            f"|r| (the log range needs High/Low)"
        )
    recurrent = [m for m in cfg.models if is_recurrent(m)]
    if not recurrent:
        return notes
    if cfg.features is None:
        notes.append(
            f"close-only data: {', '.join(recurrent)} use the inputs "
            f"{', '.join(CLOSE_FEATURES)} (range inputs need High/Low)"
        )
    if cfg.train_proxy is None:
        # the models' own rule (a residual base shrinks the target toward its forecast)
        by_proxy: dict[str, list[str]] = {}
        for m in recurrent:
            residual = HYBRIDS.get(split_name(m)[0], {}).get("residual")
            loss = cfg.extra.get("loss", "qlike")
            proxy = default_train_proxy(False, residual, loss, cfg.proxy)
            by_proxy.setdefault(describe_train_proxy(proxy, residual), []).append(m)
        notes += [
            f"close-only data: {', '.join(names)} train against {text}"
            for text, names in by_proxy.items()
        ]
    return notes


def walk_models(cfg: EvaluationConfig, data: pd.DataFrame) -> WalkForwardResult:
    """The walk-forward of every model (and seed) of ``cfg`` over ``data``; with ``cfg.out`` its
    folds are kept under ``out/folds`` so a rerun resumes."""
    factories: dict[str, ModelFactory] = {}
    warm: dict[str, bool] = {}
    for m, keys in cfg.members().items():
        if m in COMBINATIONS:
            continue  # made from the others' forecasts when scored
        for s, key in enumerate(keys):
            factories[key] = model_factory(m, cfg, seed=s)
            warm[key] = cfg.warm_start and is_recurrent(m)
    return walk_forward(
        factories,
        data,
        cfg.plan(),
        warm_start=warm,
        n_jobs=cfg.n_jobs,
        run_dir=cfg.out,
        quiet=cfg.quiet,
    )


def _actual(df: pd.DataFrame, cfg: EvaluationConfig) -> tuple[pd.Series, float | None]:
    """The series the forecasts are scored against, and the Parkinson scale used (if any)."""
    if cfg.target == "variance":
        scale = None
        if cfg.proxy == "parkinson":
            scale = parkinson_scale(df.loc[df.index < pd.Timestamp(cfg.test_start)], cfg.column)
        return variance_proxy(df, cfg.proxy, scale=scale, column=cfg.column), scale
    return make_target(df, TargetSpec(cfg.target), cfg.column), None


def _losses(name: ScoreName, actual: pd.Series, fc: pd.Series) -> np.ndarray:
    loss: LossName = "mse" if name == "brier" else name
    return loss_series(loss, actual.to_numpy(), fc.to_numpy())


def _baselines(cfg: EvaluationConfig) -> list[str]:
    """The classical models of ``cfg`` (neither recurrent nor a combination)."""
    return [m for m in cfg.models if not is_recurrent(m) and m not in COMBINATIONS]


def combination_members(cfg: EvaluationConfig) -> tuple[list[str], list[str]]:
    """The recurrent and classical candidates a combination of ``cfg`` chooses from (a
    :class:`ConfigError` when either is missing)."""
    recurrent, classical = [m for m in cfg.models if is_recurrent(m)], _baselines(cfg)
    if not recurrent or not classical:
        raise ConfigError(
            f"combo combines the best recurrent and the best classical model, but --models "
            f"{','.join(cfg.models)} lacks a {'recurrent' if not recurrent else 'classical'} "
            f"one; add e.g. lstm and gjr_t"
        )
    return recurrent, classical


def _with_combinations(
    fc: pd.DataFrame, actual: pd.Series, cfg: EvaluationConfig, primary: ScoreName
) -> pd.DataFrame:
    """``fc`` with a column per combination model, made from the models' (seed-mean) forecasts
    and their ``primary`` losses on the dates before each date."""
    combos = [m for m in cfg.models if m in COMBINATIONS]
    if not combos:
        return fc
    recurrent, classical = combination_members(cfg)
    members = cfg.members()
    mean_fc = pd.DataFrame({m: fc[members[m]].mean(axis=1) for m in [*recurrent, *classical]})
    past = pd.DataFrame({m: _losses(primary, actual, mean_fc[m]) for m in mean_fc}, index=fc.index)
    out: pd.DataFrame = fc.copy()
    for m in combos:
        out[m] = combine_best(mean_fc, past, recurrent, classical, name=m).forecast
    return out


def _reference(cfg: EvaluationConfig) -> str:
    baselines = _baselines(cfg)
    for ref in ("garch", "no_change"):
        if ref in baselines:
            return ref
    return (baselines or list(cfg.models))[0]


def score_walk(
    walk: WalkForwardResult,
    data: pd.DataFrame,
    cfg: EvaluationConfig,
    *,
    dropped_rows: int = 0,
) -> EvaluationResult:
    """Score a walk-forward of ``cfg``'s models on ``data``: losses, DM tests, the MCS, hit rates.

    Models are scored on the dates every model forecasts (recurrent windows start later; the
    count left out is reported). Recurrent models average their seeds' losses date by date.
    """
    members = cfg.members()
    actual, scale = _actual(data, cfg)
    fc = walk.forecasts.dropna()
    not_shared = len(walk.forecasts) - len(fc)
    if fc.empty:
        raise AlignmentError(
            "the models share no forecast dates; check test_start and the models' windows"
        )
    actual = actual.reindex(fc.index)
    keep = actual.notna()
    fc, actual = fc[keep], actual[keep]
    loss_names = LOSS_NAMES[cfg.target]
    primary = loss_names[0]
    fc = _with_combinations(fc, actual, cfg, primary)
    per_loss = {
        ln: pd.DataFrame(
            {
                m: _losses(ln, actual, fc[members[m]].mean(axis=1))
                if cfg.ensemble
                else np.mean([_losses(ln, actual, fc[k]) for k in members[m]], axis=0)
                for m in cfg.models
            },
            index=fc.index,
        )
        for ln in loss_names
    }
    seed_losses = {
        m: [float(np.mean(_losses(primary, actual, fc[k]))) for k in members[m]] for m in cfg.models
    }
    losses = per_loss[primary]
    baselines = _baselines(cfg)
    reference = _reference(cfg)
    best = min(baselines, key=lambda m: losses[m].mean()) if baselines else reference
    mcs = model_confidence_set(
        losses, size=cfg.mcs_size, block_size=cfg.mcs_block_size, reps=cfg.mcs_reps
    )
    moves = None
    if cfg.target in ("return", "direction"):
        moves = make_target(data, TargetSpec("return"), cfg.column).reindex(fc.index).to_numpy()
    rows = []
    for m in cfg.models:
        row: dict[str, Any] = {"model": m, "seeds": len(members[m])}
        row |= {ln: float(per_loss[ln][m].mean()) for ln in loss_names}
        row[f"{primary}_sd"] = (
            float(np.std(seed_losses[m], ddof=1)) if len(members[m]) > 1 else np.nan
        )
        row |= dm_columns(losses, m, reference, best)
        row["mcs_p"] = float(mcs["pvalue"][m])
        row["in_mcs"] = bool(mcs.loc[m, "in_mcs"])
        if moves is not None:
            signal = np.mean([fc[k].to_numpy() for k in members[m]], axis=0)
            signal = signal - (0.5 if cfg.target == "direction" else 0.0)
            pt = pesaran_timmermann_test(moves, signal)
            # NaN for a forecast that never changes side (no change), as in `gatecast train`
            row["hit_rate"] = hit_rate(moves, signal)
            row["pt_stat"], row["pt_p"] = pt.statistic, pt.pvalue
        rows.append(row)
    board = pd.DataFrame(rows).set_index("model").sort_values(primary)
    out_fc = fc.copy()
    for m in cfg.models:
        if is_recurrent(m):
            out_fc[m] = fc[members[m]].mean(axis=1)
    out_fc.insert(0, "actual", actual)
    if walk.information_dates is not None:  # what a backtest checks against the traded day
        out_fc[INFORMATION_DATE] = walk.information_dates.reindex(out_fc.index)
    return EvaluationResult(
        config=cfg,
        leaderboard=board,
        forecasts=out_fc,
        losses=losses,
        walk=walk,
        n_dates=len(fc),
        n_folds=int(walk.folds["fold"].nunique()),
        first_date=fc.index[0],
        last_date=fc.index[-1],
        primary_loss=primary,
        reference=reference,
        best_baseline=best,
        seed_losses=seed_losses,
        dropped_rows=dropped_rows,
        dates_not_forecast_by_every_model=not_shared,
        parkinson_scale=scale,
    )


def ablation_table(result: EvaluationResult) -> pd.DataFrame:
    """Each model that reads covariates beside the same model without them (``lstm+vix`` beside
    ``lstm``, ``har_x+vix`` beside ``har``), on the leaderboard's dates: both losses, their
    ratio, the Diebold-Mariano test of the one with covariates against the one without
    (negative: the covariates lower the loss) and both models' membership of the MCS.

    A gain of ``lstm+vix`` over ``lstm`` that ``har_x+vix`` also has over ``har`` is the
    information's, not the network's; compare ``lstm+vix`` with ``har_x+vix`` in the
    leaderboard for the network's.
    """
    cfg, board, losses = result.config, result.leaderboard, result.losses
    primary = result.primary_loss
    loss = {str(k): float(v) for k, v in board[primary].items()}
    in_mcs = {str(k): bool(v) for k, v in board["in_mcs"].items()}
    rows = []
    for m in cfg.models:
        base, groups = split_name(m)
        without = "har" if base == "har_x" else base
        if not groups or without not in cfg.models:
            continue
        dm = diebold_mariano(losses[m].to_numpy(), losses[without].to_numpy())
        rows.append(
            {
                "model": m,
                "covariates": "+".join(groups),
                "without": without,
                f"{primary}_without": loss[without],
                f"{primary}_with": loss[m],
                "ratio": loss[m] / loss[without],
                "dm": dm.statistic,
                "p": dm.pvalue,
                "in_mcs_without": in_mcs[without],
                "in_mcs_with": in_mcs[m],
            }
        )
    table: pd.DataFrame = pd.DataFrame(rows)
    return table.set_index("model") if rows else table


def write_evaluation(result: EvaluationResult, out: str | Path) -> Path:
    """Write the run folder of ``result``: ``leaderboard.csv``, ``forecasts.parquet`` (date x
    model, per seed too), ``forecasts.png``, ``cumulative_loss.png`` and, last, ``metrics.json``
    (every file atomically)."""
    folder = RunFolder(out)
    folder.write_csv("leaderboard.csv", result.leaderboard)
    folder.write_parquet("forecasts.parquet", result.forecasts)
    if result.ablation is not None:
        folder.write_csv("ablation.csv", result.ablation)
    result.plot(folder)
    if result.intervals is not None:
        folder.write_csv("intervals.csv", result.intervals.table)
        folder.write_parquet("intervals.parquet", result.intervals.intervals)
        folder.write_figure("fan_chart.png", result.intervals.figure())
    folder.write_metrics(result.to_dict())
    write_report(folder.path)
    return folder.path


def evaluate_models(cfg: EvaluationConfig) -> EvaluationResult:
    """Run the walk-forward of every model in ``cfg``, score it and (with ``cfg.out``) write the run.

    Returns an :class:`EvaluationResult`; with ``cfg.out`` also writes the files of
    :func:`write_evaluation` and keeps per-fold results under ``folds/``. Every setting and the
    data are checked before anything is written. ``out`` must be new or empty, or hold an
    earlier run: replaced with ``cfg.overwrite``, continued with ``cfg.resume`` (its finished
    folds are reused: a killed run resumes). A refused run leaves nothing in ``out``.

    Examples
    --------
    >>> res = evaluate_models(EvaluationConfig(models=("garch", "gjr_t")))  # doctest: +SKIP
    >>> print(res.summary())  # doctest: +SKIP
    """
    cfg.check_applicable()
    if cfg.out is None:
        return evaluate_into(cfg)
    check_out_folder(cfg.out, overwrite=cfg.overwrite, resume=cfg.resume, kind="evaluate")
    df, dropped = load_checked(cfg)
    check_models(cfg, df)
    with job_output(cfg, "evaluate", df):
        return evaluate_into(cfg, (df, dropped))


def evaluate_into(
    cfg: EvaluationConfig, checked: tuple[pd.DataFrame, int] | None = None
) -> EvaluationResult:
    """:func:`evaluate_models` as a part of a larger run (a block, a backtest's walk-forward):
    the same steps, written into ``cfg.out`` as it is (the larger run owns the folder), its
    finished folds reused. ``checked``: the output of :func:`load_checked` with
    :func:`check_models` passed, when the caller has it."""
    t0 = time.perf_counter()
    if checked is None:
        checked = load_checked(cfg)
        check_models(cfg, checked[0])
    df, dropped = checked
    walk = walk_models(cfg, df)
    result = score_walk(walk, df, cfg, dropped_rows=dropped)
    result.seconds = time.perf_counter() - t0
    result.outliers = list(df.attrs.get("outliers", []))
    result.notes = [*df.attrs.get("covariate_notes", []), *fallback_notes(cfg, df)]
    ranges = {"high", "low"} <= set(df.columns)
    result.labels = {m: label_on(m, ranges) for m in cfg.models}
    if cfg.covariates:
        result.ablation = ablation_table(result)
    if cfg.intervals is not None:
        result.intervals = evaluation_intervals(cfg, df, walk, walk_models)
        result.leaderboard = result.leaderboard.join(result.intervals.leaderboard_columns())
    if cfg.out:
        write_evaluation(result, cfg.out)
    return result
