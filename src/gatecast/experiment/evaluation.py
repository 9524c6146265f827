"""One honest evaluation: walk-forward forecasts of many models, losses, DM / PT tests, the MCS, files.

``evaluate_models(EvaluationConfig(...))`` is what ``gatecast evaluate`` runs: it loads and checks
the data, runs the walk-forward (:func:`walk_models`), scores it (:func:`score_walk`) and writes
the run folder (:func:`write_evaluation`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from gatecast.data.covariates import join_covariates
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
from gatecast.experiment.evaluation_config import (
    WALK_SETTINGS,
    EvaluationConfig,
    model_factory,
    walk_config,
)
from gatecast.experiment.intervals import evaluation_intervals
from gatecast.experiment.notebook import draw_or_write, html_view
from gatecast.experiment.panel_returns import RETURN_WITH
from gatecast.experiment.registry import (
    COMBINATIONS,
    DEFAULT_MODELS,
    HYBRIDS,
    RECURRENT,
    WITH_COVARIATES,
    EvaluationTarget,
    is_recurrent,
    label_on,
    model_names,
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
    load_data,
)
from gatecast.models.config import (
    CLOSE_FEATURES,
    default_train_proxy,
    describe_train_proxy,
)

__all__ = [
    "DEFAULT_MODELS",
    "LOSS_NAMES",
    "RECURRENT",
    "WALK_SETTINGS",
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
        executor=cfg.executor,
        ray_address=cfg.ray_address,
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


#: Each baseline that reads covariates and the model it stands beside in an ablation.
WITHOUT_COVARIATES = {
    reader: baseline for baseline, reader in {**WITH_COVARIATES, **RETURN_WITH}.items()
}


def ablation_table(result: EvaluationResult) -> pd.DataFrame:
    """Each model that reads covariates beside the same model without them (``lstm+vix`` beside
    ``lstm``, ``har_x+vix`` beside ``har``, ``arx+vix`` beside ``ar1``), on the leaderboard's
    dates: both losses, their ratio, the Diebold-Mariano test of the one with covariates
    against the one without (negative: the covariates lower the loss) and both models'
    membership of the MCS.

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
        without = WITHOUT_COVARIATES.get(base, base)
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
        with cfg.runtime():
            return evaluate_into(cfg)
    check_out_folder(cfg.out, overwrite=cfg.overwrite, resume=cfg.resume, kind="evaluate")
    df, dropped = load_checked(cfg)
    check_models(cfg, df)
    with job_output(cfg, "evaluate", df), cfg.runtime():  # one Ray runtime for every walk
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
