"""A panel evaluation: the global recurrent variance model, the local per-instrument one and
per-instrument classical models walked forward over a panel, scored per instrument and pooled
(``gatecast.evaluate_panel``; ``gatecast evaluate`` on a panel: :func:`run_panel_evaluation`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from gatecast.data.panel import Panel, load_panel
from gatecast.errors import ConfigError
from gatecast.evaluation.panel_scores import PanelScores
from gatecast.evaluation.panel_walk import (
    PanelFactory,
    PanelWalkPlan,
    PanelWalkResult,
    panel_walk_forward,
)
from gatecast.evaluation.significance import MCS_BLOCK_SIZE, MCS_REPS
from gatecast.experiment.notebook import html_view
from gatecast.experiment.panel_evaluation_config import LOCAL_MODELS as LOCAL_MODELS
from gatecast.experiment.panel_evaluation_config import PANEL_MODELS as PANEL_MODELS
from gatecast.experiment.panel_evaluation_config import PANEL_REFUSED as PANEL_REFUSED
from gatecast.experiment.panel_evaluation_config import REFERENCES as REFERENCES
from gatecast.experiment.panel_evaluation_config import (
    PanelEvaluationConfig as PanelEvaluationConfig,
)
from gatecast.experiment.panel_evaluation_config import check_panel_target as check_panel_target
from gatecast.experiment.panel_evaluation_config import default_reference as default_reference
from gatecast.experiment.panel_evaluation_config import panel_factories as panel_factories
from gatecast.experiment.panel_evaluation_config import panel_model_names as panel_model_names
from gatecast.experiment.panel_evaluation_config import panel_refusals as panel_refusals
from gatecast.experiment.panel_evaluation_config import recurrent_models as recurrent_models
from gatecast.experiment.panel_forecasts import long_forecasts as long_forecasts
from gatecast.experiment.panel_models import PanelModelSettings
from gatecast.experiment.panel_returns import (
    POINT_TARGETS,
    RETURN_REFERENCE,
    point_defaults,
    return_covariate_models,
    return_factories,
    return_model_names,
)
from gatecast.experiment.panel_seeds import PanelSeeds, check_seeds, scorer, walk_seeds
from gatecast.experiment.registry import POINT_WINDOW
from gatecast.experiment.report import write_report
from gatecast.experiment.run_folder import (
    RunFolder,
    check_out_folder,
    run_output,
    settings_record,
)
from gatecast.experiment.settings import (
    RunSettings,
)
from gatecast.models.config import VarianceConfig
from gatecast.types import PROXIES, Mode, Proxy, Scheme, check_choice

__all__ = [
    "LOCAL_MODELS",
    "PANEL_KIND",
    "PANEL_MODELS",
    "PanelEvaluation",
    "PanelEvaluationConfig",
    "evaluate_panel",
    "panel_factories",
    "panel_refusals",
    "run_panel_evaluation",
    "short_history",
    "write_panel_evaluation",
]

#: The kind of run a panel evaluation writes (``run.json``).
PANEL_KIND = "panel-evaluate"


@dataclass(kw_only=True)
class PanelRunFacts:
    """What every panel run's result records beside its tables: how the panel was read (its
    ``source`` and ``layout`` in words; empty when the panel was passed in), the run's
    ``seconds`` and its ``notes`` (what a covariate join left out, the fits read back)."""

    source: str = ""
    layout: str = ""
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def resumed_notes(walk: PanelWalkResult) -> list[str]:
    """A note of the fits a resumed walk read back from the earlier run (none if it did not)."""
    resumed = int(walk.folds["resumed"].sum()) if "resumed" in walk.folds else 0
    return (
        [f"{resumed} of {len(walk.folds)} fits read back from the earlier run"] if resumed else []
    )


@dataclass
class PanelEvaluation(PanelRunFacts):
    """The walk-forward (``walk.forecasts``: (instrument, date) x model) and its scores
    (``scores.table`` per instrument and model, ``scores.summary`` pooled per model), and the
    run's facts (:class:`PanelRunFacts`)."""

    walk: PanelWalkResult
    scores: PanelScores
    #: With covariates: each model that reads them beside the same model without them
    #: (:func:`gatecast.experiment.panel_covariates.panel_ablation_table`).
    ablation: pd.DataFrame | None = None
    #: With more than one seed: each seed's pooled summary and their spread.
    seeds: PanelSeeds | None = None

    @property
    def table(self) -> pd.DataFrame:
        """One row per instrument and model (see :class:`PanelScores`)."""
        return self.scores.table

    @property
    def summary(self) -> pd.DataFrame:
        """One row per model, pooled over the instruments."""
        return self.scores.summary

    def __str__(self) -> str:
        spread = f"\nseed spread of the median ratio:\n{self.seeds}" if self.seeds else ""
        return f"{self.walk.summary()}\n{self.scores}{spread}"

    def _repr_html_(self) -> str:
        lines = [self.walk.summary(), "per instrument: .table; pooled, one row per model:"]
        return html_view("panel walk-forward", self.summary, lines)


def evaluate_panel(
    panel: Mapping[str, pd.DataFrame],
    *,
    test_start: str,
    test_end: str | None = None,
    models: str | Iterable[str] | None = None,
    refit_every: int = 21,
    min_train: int = 250,
    scheme: Scheme = "expanding",
    train_size: int | None = None,
    gap: int = 0,
    reference: str | None = None,
    target: str = "variance",
    proxy: Proxy = "squared",
    column: str | None = None,
    hidden: int = 16,
    window: int | None = None,
    epochs: int = 30,
    warm_epochs: int = 5,
    warm_start: bool = True,
    seed: int = 0,
    seeds: int = 1,
    ensemble: bool = False,
    embedding: bool = False,
    device: str = "auto",
    alpha: float = 0.05,
    mcs_size: float = 0.10,
    mcs_block_size: int = MCS_BLOCK_SIZE,
    mcs_reps: int = MCS_REPS,
    covariates: str | Iterable[str] = (),
    mode: Mode = "window",
    chunks: int | None = None,
    chunk_len: int | None = None,
    burn_in: int | None = None,
) -> PanelEvaluation:
    """Walk the models forward over ``panel`` and score them per instrument and pooled.

    Parameters
    ----------
    panel
        A :class:`gatecast.Panel` (or a mapping instrument -> price frame).
    test_start, test_end, refit_every, min_train, scheme, train_size, gap
        The :class:`~gatecast.evaluation.panel_walk.PanelWalkPlan`: a refit every
        ``refit_every`` dates of the panel's calendar, each instrument trained on all its rows
        before it (``scheme="expanding"``) or its last ``train_size`` rows (``"rolling"``),
        less ``gap`` rows just before the refit date.
    models
        Names, a list or ``"lstm,gjr_t"``: a cell is the global model (one net for every
        instrument, refit once per refit date), ``lstm_local`` one LSTM per instrument (walked
        forward per instrument at the same refit dates), a classical model runs per instrument.
        None: ``lstm,gjr_t,garch,har`` (variance), ``lstm,no_change,historical_mean,ar1``
        (return), ``lstm,always_up,no_change,historical_mean,ar1`` (direction).
    reference
        The model each is compared with (DM test, loss ratio); must be one of ``models``.
        None: ``gjr_t`` (variance), ``no_change`` (return, direction).
    target
        ``variance`` (QLIKE against the proxy) or ``return`` (the one-step log return: MSE,
        MAE, hit rate; the global model is
        :class:`~gatecast.models.recurrent.global_return.GlobalRecurrentReturn`; see
        :mod:`gatecast.experiment.panel_returns`) or ``direction`` (the probability of an up
        day, scored by the Brier score and the hit rate; the global model is the global return
        model with ``target="direction"``).
    proxy, column
        What is forecast and scored (``squared``: the squared percent return) and the price
        column.
    hidden, window, epochs, warm_epochs, warm_start, seed, embedding, device
        The global model's settings (those of ``gatecast evaluate`` by default; ``window``
        None: 5 for variance, 22 for return and direction).
    seeds
        Each recurrent model runs with the seeds ``seed`` .. ``seed + seeds - 1`` (columns
        ``lstm[s0]``, ``lstm[s1]``...), scored on the mean of its seeds' losses date by date as
        one series does (``ensemble``: on the loss of its seeds' mean forecast); ``seeds``
        holds each seed's pooled summary and their spread (:mod:`~.panel_seeds`).
    alpha, mcs_size, mcs_block_size, mcs_reps
        The DM tests' level for a win or loss, and the model confidence set's.
    covariates
        Covariate groups (``"sp500"``, ``("sp500", "vix")``) joined onto each instrument's own
        dates (:func:`gatecast.experiment.panel_covariates.join_panel_covariates`: the
        single-series rule, rows before a covariate left out), read by the recurrent models
        and ``har_x`` (variance) or by ``arx`` (return: ARX, AR(1) with the covariates as
        regressors); the models become an ablation (each of those with and without each
        group, ``har`` beside ``har_x``, ``ar1`` beside ``arx``: ``ablation``).
    mode, chunks, chunk_len, burn_in
        ``sequence``: the global model and the local return models in sequence mode, with these
        lanes (None: the model's own 32, 16, 10; refused in window mode).

    Returns
    -------
    PanelEvaluation with ``table`` (instrument, model, qlike, ratio, dm_ref, p_ref, mcs_p,
    in_mcs, n) and ``summary`` (per model: median_ratio, wins, losses, in_mcs); with
    covariates, ``ablation`` and ``notes`` of the join.
    """
    from gatecast.experiment.panel_covariates import (
        join_panel_covariates,
        panel_ablation_table,
        panel_covariate_models,
    )

    check_choice(proxy, PROXIES, "proxy")
    check_panel_target(target, proxy)
    points = target in POINT_TARGETS  # a return or its direction
    if models is None:
        models = point_defaults(target) if points else PANEL_MODELS
    names = tuple(m.strip() for m in models.split(",")) if isinstance(models, str) else models
    settings: PanelModelSettings = {
        "column": column,
        "hidden": hidden,
        "window": window or (POINT_WINDOW if points else VarianceConfig.window),
        "epochs": epochs,
        "warm_epochs": warm_epochs,
        "warm_start": warm_start,
        "seed": seed,
        "embedding": embedding,
        "device": device,
        "mode": mode,
        "chunks": chunks,
        "chunk_len": chunk_len,
        "burn_in": burn_in,
    }
    notes: list[str] = []
    groups: tuple[str, ...] = ()
    if points:
        groups, names = return_covariate_models(covariates, return_model_names(names, target))
    else:
        groups, names = panel_covariate_models(covariates, panel_model_names(names))
    if groups:
        joined = join_panel_covariates(panel, groups, test_end=test_end)
        panel, notes = joined, joined.notes

    def factories_of(s: int) -> dict[str, PanelFactory]:
        seeded: PanelModelSettings = {**settings, "seed": s}
        if points:
            return return_factories(names, target, **seeded)
        return panel_factories(names, proxy=proxy, **seeded)

    factories = factories_of(seed)
    reference = reference or (RETURN_REFERENCE if points else "gjr_t")
    if reference not in factories:
        raise ConfigError(
            f"reference {reference!r} is not among the models ({', '.join(factories)}); add it "
            f"or pass reference= one of them"
        )
    check_seeds(seeds, names, ensemble)
    plan = PanelWalkPlan(
        test_start,
        test_end,
        refit_every=refit_every,
        min_train=min_train,
        scheme=scheme,
        train_size=train_size,
        gap=gap,
    )
    refits = plan.refit_dates(panel)
    for name, df in panel.items():  # refuse a short instrument before anything is fit
        plan.folds(str(name), df.index, refits)
    tests = {"alpha": alpha, "mcs_size": mcs_size, "mcs_block_size": mcs_block_size}
    score = scorer(target, panel, reference, proxy, column, seed=seed, mcs_reps=mcs_reps, **tests)
    walk, scores, seeded = walk_seeds(
        factories_of,
        panel,
        plan,
        score,
        seeds=seeds,
        first=seed,
        warm_start=warm_start,
        ensemble=ensemble,
    )
    ablation = panel_ablation_table(scores.table, tuple(names), scores.loss) if groups else None
    return PanelEvaluation(walk, scores, ablation, seeded, notes=notes)


def load_checked_panel(cfg: PanelEvaluationConfig) -> Panel:
    """The panel of ``cfg``, every instrument checked, with ``cfg.covariates`` joined on, and
    the walk's refit dates and each instrument's folds checked (a too-short instrument is
    refused by name), before any fit."""
    panel = (
        cfg.data
        if isinstance(cfg.data, Panel)
        else load_panel(
            cfg.data,
            layout=cfg.layout,
            column=cfg.column,
            sort=cfg.sort,
            dropna=cfg.dropna,
            dayfirst=cfg.dayfirst,
            date_format=cfg.date_format,
            allow_outliers=cfg.allow_outliers,
        )
    )
    if cfg.covariates:
        from gatecast.experiment.panel_covariates import join_panel_covariates

        panel = join_panel_covariates(panel, cfg.covariates, test_end=cfg.test_end)
    plan = cfg.panel_plan()
    refits = plan.refit_dates(panel)
    for name, df in panel.items():
        plan.folds(str(name), df.index, refits)
    for factory in cfg.factories().values():
        settings = getattr(factory(), "config", None)
        if callable(settings):
            settings()  # a recurrent model's settings are validated by its config
    return panel


def run_panel_evaluation(cfg: PanelEvaluationConfig) -> PanelEvaluation:
    """Walk ``cfg``'s models over its panel, score them and (with ``cfg.out``) write the run
    folder (:func:`write_panel_evaluation`).

    Every setting, the panel and ``out`` are checked before anything is fit or written. With
    ``out``, each refit's results are kept under ``out/folds`` and ``out/instruments`` as they
    finish, so ``resume`` continues a killed run; a refused run leaves nothing in ``out``.
    """
    if cfg.out is not None:
        check_out_folder(cfg.out, overwrite=cfg.overwrite, resume=cfg.resume, kind=PANEL_KIND)
    panel = load_checked_panel(cfg)
    if cfg.out is None:
        return _evaluate_into(cfg, panel, None)
    with panel_run_output(cfg, PANEL_KIND, settings_record(cfg), panel.identity()) as path:
        result = _evaluate_into(cfg, panel, path)
        write_panel_evaluation(result, path, panel, cfg)
    return result


def panel_run_output(
    cfg: RunSettings, kind: str, record: Any, data: dict[str, Any] | None = None
) -> AbstractContextManager[Path]:
    """The run folder ``cfg.out`` of a panel run of ``kind`` (:func:`run_output`, with
    ``cfg``'s ``overwrite`` and ``resume``), recording the settings ``record`` and ``data``."""
    assert cfg.out is not None
    return run_output(
        cfg.out, kind, overwrite=cfg.overwrite, resume=cfg.resume, config=record, data=data
    )


def _evaluate_into(
    cfg: PanelEvaluationConfig, panel: Panel, run_dir: Path | None
) -> PanelEvaluation:
    import time

    t0 = time.perf_counter()
    assert cfg.reference is not None
    tests = {"alpha": cfg.alpha, "mcs_size": cfg.mcs_size, "mcs_block_size": cfg.mcs_block_size}
    score = scorer(
        cfg.target, panel, cfg.reference, cfg.proxy, cfg.column, mcs_reps=cfg.mcs_reps, **tests
    )
    walk, scores, seeded = walk_seeds(
        cfg.factories,
        panel,
        cfg.panel_plan(),
        score,
        seeds=cfg.seeds,
        warm_start=cfg.warm_start,
        ensemble=cfg.ensemble,
        walker=panel_walk_forward,
        run_dir=run_dir,
        n_jobs=cfg.n_jobs,
        executor=cfg.executor,
        ray_address=cfg.ray_address,
    )
    # a JoinedPanel's: what the join left out
    notes = [*getattr(panel, "notes", []), *resumed_notes(walk)]
    ablation = None
    if cfg.covariates:
        from gatecast.experiment.panel_covariates import panel_ablation_table

        ablation = panel_ablation_table(scores.table, cfg.models, scores.loss)
    return PanelEvaluation(
        walk,
        scores,
        ablation,
        seeded,
        source=panel.source,
        layout=panel.layout,
        seconds=time.perf_counter() - t0,
        notes=notes,
    )


def write_panel_evaluation(
    result: PanelEvaluation,
    out: str | Path,
    panel: Mapping[str, pd.DataFrame],
    cfg: PanelEvaluationConfig,
    *,
    report: bool = True,
) -> Path:
    """Write a panel evaluation's run folder: ``per_instrument.csv`` (instrument, model, qlike,
    ratio, dm_ref, p_ref, mcs_p, in_mcs, n), ``summary.csv`` (pooled, per model),
    ``forecasts.parquet`` (:func:`long_forecasts`; with seeds a column per seed and their
    mean per recurrent model), ``folds.csv`` (one row per fit), with more than one seed
    ``seeds.csv`` and ``seed_spread.csv`` (:class:`~gatecast.experiment.panel_seeds.PanelSeeds`),
    ``plots/per_instrument_ratio.png``, with covariates ``ablation.csv``
    (:func:`gatecast.experiment.panel_covariates.panel_ablation_table`), ``metrics.json`` and,
    from those (``report``), ``report.html``."""
    from gatecast.plots.panel import plot_panel_ratios

    folder = RunFolder(out)
    scores = result.scores
    folder.write_csv("per_instrument.csv", scores.table, index=False)
    folder.write_csv("summary.csv", scores.summary)
    fc = long_forecasts(result.walk, panel, cfg.proxy, cfg.column, cfg.target)
    seeds = result.seeds
    folder.write_parquet("forecasts.parquet", fc if seeds is None else seeds.with_means(fc))
    folder.write_csv("folds.csv", result.walk.folds, index=False)
    if result.ablation is not None:
        folder.write_csv("ablation.csv", result.ablation)
    if seeds is not None:
        folder.write_csv("seeds.csv", seeds.per_seed)
        folder.write_csv("seed_spread.csv", seeds.spread)
    folder.write_figure(
        "plots/per_instrument_ratio.png",
        plot_panel_ratios(scores.table, scores.reference, loss_name=scores.loss.upper()),
    )
    dates = result.walk.forecasts.index.get_level_values("date")
    folder.write_metrics(
        {
            "config": settings_record(cfg),
            "source": result.source,
            "layout": result.layout,
            "instruments": sorted(map(str, panel)),
            "first_date": dates.min(),
            "last_date": dates.max(),
            "n_refits": int(result.walk.folds["fold"].nunique()),
            "reference": scores.reference,
            "target": cfg.target,
            "loss": scores.loss,
            "alpha": scores.alpha,
            "mcs": {
                "size": scores.mcs_size,
                "block_size": cfg.mcs_block_size,
                "reps": cfg.mcs_reps,
            },
            "summary": scores.summary.reset_index().to_dict(orient="records"),
            "seeds": cfg.seeds,
            "walk_forward_seconds": result.walk.seconds,
            "seconds": result.seconds,
            "notes": result.notes,
            "covariates": list(cfg.covariates),
            "ablation": None
            if result.ablation is None
            else result.ablation.reset_index().to_dict(orient="records"),
        }
    )
    if report:
        write_report(folder.path)
    return folder.path


def short_history(panel: Mapping[str, pd.DataFrame], test_start: str, years: float = 3.0) -> Panel:
    """Each instrument of ``panel`` given only its last ``years`` of history before
    ``test_start`` (its test rows kept whole): the short-history comparison of the global and
    the local recurrent models (``evaluate_panel(short_history(panel, ...), models=
    "lstm,lstm_local,gjr_t")``)."""
    start = pd.Timestamp(test_start) - pd.DateOffset(days=round(365.25 * years))
    frames = {str(n): df.loc[df.index >= start] for n, df in panel.items()}
    source = getattr(panel, "source", "a panel")
    return Panel(
        frames,
        column=getattr(panel, "column", "close"),
        source=f"{source}, the last {years:g} years before {test_start} only",
        layout=getattr(panel, "layout", "instruments passed in"),
    )
