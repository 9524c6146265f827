"""A sweep on a panel from start to end: check and load, walk every (configuration, seed) over the selection period on the panel cut at its last day, choose from the pooled selection statistic alone, test the choice with the ordinary panel evaluation, write the run folder."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gatecast.artifacts import atomic_write_bytes, atomic_write_json
from gatecast.data.panel import Panel
from gatecast.errors import ConfigError
from gatecast.evaluation.panel_walk import PanelWalkResult, panel_walk_forward
from gatecast.experiment.notebook import draw_or_write, html_view
from gatecast.experiment.panel_evaluation import (
    PanelEvaluation,
    load_checked_panel,
    run_panel_evaluation,
)
from gatecast.experiment.panel_returns import score_panel_target
from gatecast.experiment.run_folder import (
    RunFolder,
    check_out_folder,
    run_output,
    settings_record,
)
from gatecast.experiment.sweep.config import check_resumable
from gatecast.experiment.sweep.panel_config import PanelSweepConfig
from gatecast.experiment.sweep.sampling import optuna_configs
from gatecast.experiment.sweep.select import Choice, choose
from gatecast.experiment.sweep.space import config_key, grid_configs, label
from gatecast.experiment.sweep.trial_registry import trial_table
from gatecast.experiment.sweep.trials import read_trial

__all__ = ["PANEL_SWEEP_KIND", "PanelSweepResult", "run_panel_sweep"]

#: The kind of run a sweep on a panel writes (``run.json``).
PANEL_SWEEP_KIND = "panel-sweep"


@dataclass
class PanelSweepResult:
    """The trials (one row per configuration and seed, with its selection statistic), the
    selection table (one row per configuration: the statistic's mean and sd over seeds, rank),
    the chosen configuration and its test: the panel evaluation of the chosen global model
    beside the baselines (``test.table`` per instrument, ``test.summary`` pooled)."""

    config: PanelSweepConfig
    trials: pd.DataFrame
    selection: pd.DataFrame
    selected: dict[str, Any]
    test: PanelEvaluation
    swept: list[str]
    periods: dict[str, tuple[str, str]]
    #: The selection statistic in words (``median QLIKE ratio to gjr_t``).
    statistic: str
    seconds: float = 0.0
    resumed: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def n_configs(self) -> int:
        """Distinct configurations scored on the selection period."""
        return len(self.selection)

    @property
    def selected_model(self) -> str:
        """The chosen configuration's model (its cell, with the covariate groups it reads)."""
        return self.config.model_of(self.selected)

    def selected_text(self) -> str:
        """``hidden=8 embedding=True (lstm)``: the chosen configuration's swept values and its
        model."""
        return f"{label(self.selected, self.swept)} ({self.selected_model})"

    def summary(self) -> str:
        """The selection table, the choice and the test's pooled leaderboard, as text."""
        (s0, s1), (t0, t1) = self.periods["select"], self.periods["test"]
        return "\n".join(
            [
                f"selection {s0}..{s1}: {self.n_configs} configurations x {self.config.seeds} "
                f"seed(s), the {self.statistic} (mean and sd over seeds; rank 1 is chosen):",
                _text(self.selection),
                f"\nselected: {self.selected_text()}",
                f"\ntest {t0}..{t1}, pooled over instruments (per instrument: .test.table):",
                _text(self.test.summary),
            ]
        )

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        (s0, s1), (t0, t1) = self.periods["select"], self.periods["test"]
        title = (
            f"panel sweep: {self.n_configs} configurations chosen on {s0}..{s1} "
            f"({self.statistic}), tested once on {t0}..{t1}"
        )
        return html_view(title, self.test.summary, [f"selected: {self.selected_text()}"])

    def plot(self, folder: str | Path | RunFolder | None = None) -> Any:
        """The selection statistic against each swept parameter (seed spread, selected point
        marked): the figure, or (``folder``) ``selection.png`` written there (its path, in a
        list)."""
        from gatecast.plots.sweep import plot_selection

        fig = plot_selection(self.selection, self.swept, self.selected, loss_name=self.statistic)
        return fig if folder is None else draw_or_write({"selection.png": fig}, folder)


def _text(frame: pd.DataFrame) -> str:
    return str(frame.to_string(float_format=lambda v: f"{v:.4g}"))


def run_panel_sweep(cfg: PanelSweepConfig) -> PanelSweepResult:
    """Select the global model's configuration on the selection period of a panel, then test
    it (and only it) with the ordinary panel evaluation.

    Parameters
    ----------
    cfg
        The search space, the periods, the panel and the run folder ``cfg.out``.

    Returns
    -------
    PanelSweepResult
        Also written to ``cfg.out``: ``trials/<config>/seed_<k>.json`` (its statistic and
        per-instrument ratios, written last), ``seed_<k>.parquet`` (its forecasts) and
        ``seed_<k>/`` (its walk's refits, so a killed trial resumes), ``reference/`` and
        ``selection_reference.parquet`` (the reference walked once on the selection period),
        ``trials.parquet``, ``selection.csv``, ``selection.png``, ``test/`` (the panel
        evaluation's run folder) and, last, ``sweep_summary.json``.
    """
    with cfg.runtime():  # one Ray runtime for the reference, the trials and the test
        return _sweep(cfg)


def _sweep(cfg: PanelSweepConfig) -> PanelSweepResult:
    t_start = time.perf_counter()
    out = str(cfg.out)  # required: checked by the config
    check_out_folder(out, overwrite=cfg.overwrite, resume=cfg.resume, kind=PANEL_SWEEP_KIND)
    panel, selection = _load_and_check(cfg)  # a bad value is refused before any fit
    identity = panel.identity()
    fp = cfg.fingerprint() | {
        "data_hash": {n: v["sha256"] for n, v in identity["instruments"].items()}
    }
    if cfg.resume:
        check_resumable(Path(out), fp, write=False)  # before the folder is touched
    with run_output(
        out,
        PANEL_SWEEP_KIND,
        overwrite=cfg.overwrite,
        resume=cfg.resume,
        config=settings_record(cfg),
        data=identity,
    ) as root:
        check_resumable(root, fp)
        reference = _reference_walk(cfg, selection, root)
        records = _run_selection(cfg, selection, reference, root)
        choice = choose(trial_table(records), records, cfg, list(cfg.grid))
        test = _run_test(cfg, choice, root)
        result = _result(cfg, records, choice, test)
        _write(result, root)
    result.seconds = time.perf_counter() - t_start
    return result


def _load_and_check(cfg: PanelSweepConfig) -> tuple[Panel, Panel]:
    """The panel (covariates joined, the test's folds and models checked, as the panel
    evaluation checks them) and its selection part: every instrument cut at the selection's
    last day, its folds checked, every configuration's settings checked by its model."""
    configs = _candidates(cfg)
    panel = load_checked_panel(cfg.test_config(configs[0]))
    s1 = cfg.selection_period()[1]
    end = pd.Timestamp(s1)
    frames = {n: df.loc[df.index <= end] for n, df in panel.items()}
    empty = [n for n, df in frames.items() if df.empty]
    if empty:
        raise ConfigError(
            f"instrument {empty[0]!r} has no rows up to the selection's end {s1}; start the "
            f"selection later (--select-start, --test-start) or leave it out of the panel"
        )
    selection = Panel(
        frames,
        column=panel.column,
        source=f"{panel.source}, up to {s1}",
        layout=panel.layout,
    )
    plan = cfg.selection_plan()
    refits = plan.refit_dates(selection)
    for name, df in selection.items():
        plan.folds(str(name), df.index, refits)
    for params in configs:  # each configuration checked by its model's settings, before any fit
        cfg.factory(params, 0)()._local().config()  # what every instrument's fit uses
    return panel, selection


def _candidates(cfg: PanelSweepConfig) -> list[dict[str, Any]]:
    """Every configuration the sweep can try: the grid's combinations, or (a sampler) each
    value of each parameter, the others at their defaults."""
    if cfg.sampler == "grid":
        return grid_configs(cfg.grid)
    return [{name: v} for name, values in cfg.grid.items() for v in values] or [{}]


def _reference_walk(cfg: PanelSweepConfig, selection: Panel, root: Path) -> PanelWalkResult:
    """The reference walked once over the selection period (its refits kept in
    ``reference/``, its forecasts in ``selection_reference.parquet``)."""
    walk = panel_walk_forward(
        cfg.factories((cfg.reference,)),
        selection,
        cfg.selection_plan(),
        run_dir=root / "reference",
        n_jobs=cfg.n_jobs,
        executor=cfg.executor,
        ray_address=cfg.ray_address,
    )
    _write_forecasts(root / "selection_reference.parquet", walk.forecasts[cfg.reference])
    return walk


def _write_forecasts(path: Path, forecasts: pd.Series) -> None:
    """A walk's forecasts of one model as a long table: instrument, date, forecast."""
    long = forecasts.rename("forecast").reset_index()
    atomic_write_bytes(path, long.to_parquet(index=False))


def _run_selection(
    cfg: PanelSweepConfig, selection: Panel, reference: PanelWalkResult, root: Path
) -> list[dict[str, Any]]:
    """The records of every configuration's selection trials (the grid's, or those Optuna asks
    for), each (configuration, seed) one trial."""
    records: list[dict[str, Any]] = []

    def run_batch(configs: list[dict[str, Any]]) -> list[float]:
        # a sampler may propose one configuration twice: run it once
        unique = {config_key(p): p for p in configs}
        got = {
            (key, seed): _trial(cfg, p, seed, selection, reference, root)
            for key, p in unique.items()
            for seed in range(cfg.seeds)
        }
        records.extend(got.values())
        return [
            float(np.mean([got[config_key(p), s]["score"] for s in range(cfg.seeds)]))
            for p in configs
        ]

    if cfg.sampler == "grid":
        run_batch(grid_configs(cfg.grid))
    else:
        optuna_configs(cfg, run_batch)
    return records


def _trial(
    cfg: PanelSweepConfig,
    params: dict[str, Any],
    seed: int,
    selection: Panel,
    reference: PanelWalkResult,
    root: Path,
) -> dict[str, Any]:
    """One trial: the configuration's global model with ``seed`` walked over the selection
    period (its refits in ``trials/<config>/seed_<k>/``), scored beside the reference as the
    panel evaluation scores it; a finished trial (its JSON) is read back instead."""
    key = config_key(params)
    folder, stem = root / "trials" / key, f"seed_{seed}"
    done = read_trial(folder, stem)
    if done is not None:
        return done | {"resumed": True}
    name = cfg.model_of(params)
    started, t0 = time.time(), time.perf_counter()
    walk = panel_walk_forward(
        {name: cfg.factory(params, seed)},
        selection,
        cfg.selection_plan(),
        warm_start={name: cfg.warm(params)},
        run_dir=folder / stem,
    )
    both = PanelWalkResult(
        pd.concat([walk.forecasts, reference.forecasts], axis=1), walk.folds, walk.seconds
    )
    scores = score_panel_target(
        cfg.target,
        both,
        selection,
        reference=cfg.reference,
        proxy=cfg.proxy,
        column=cfg.column,
        alpha=cfg.alpha,
        seed=0,
    )
    ratios = scores.table[scores.table["model"] == name].set_index("instrument")["ratio"]
    _write_forecasts(folder / f"{stem}.parquet", walk.forecasts[name])
    dates = walk.forecasts.index.get_level_values("date")
    rec = {
        "key": f"{key}_s{seed}",
        "config": key,
        "label": label(params, list(cfg.grid)),
        "model": name,
        "seed": seed,
        "phase": "select",
        "loss_name": f"median_{scores.loss}_ratio",
        "score": float(scores.summary["median_ratio"].astype(float)[name]),
        "per_instrument": {str(n): float(r) for n, r in ratios.items()},
        "n_dates": len(walk.forecasts),
        "first_date": str(dates.min().date()),
        "last_date": str(dates.max().date()),
        "seconds": time.perf_counter() - t0,
        "started": started,
        "finished": time.time(),
        "pid": os.getpid(),
        "params": json.loads(json.dumps(params, default=list)),
    }
    atomic_write_json(folder / f"{stem}.json", rec)  # last: it marks the trial finished
    return rec | {"resumed": False}


def _run_test(cfg: PanelSweepConfig, choice: Choice, root: Path) -> PanelEvaluation:
    """The ordinary panel evaluation of the chosen configuration beside the baselines over the
    test period, in ``test/``: continued there when an earlier run tested the same choice,
    replaced when it tested another."""
    folder = root / "test"
    test = cfg.test_config(choice.selected, str(folder))
    if folder.is_dir() and any(folder.iterdir()):
        try:
            was = json.loads((folder / "run.json").read_text(encoding="utf-8"))["config"]
        except (OSError, ValueError, KeyError, TypeError):
            was = None
        now = settings_record(test)
        same = was is not None and _how_used(was) == _how_used(now)
        if same:
            test = cfg.test_config(choice.selected, str(folder), resume=True)
        else:  # our own folder, of another choice
            test.overwrite = True
    return run_panel_evaluation(test)


def _how_used(record: dict[str, Any]) -> dict[str, Any]:
    """A run's settings less how its folder was used (resumed, replaced)."""
    return {k: v for k, v in record.items() if k not in ("resume", "overwrite")}


def _result(
    cfg: PanelSweepConfig, records: list[dict[str, Any]], choice: Choice, test: PanelEvaluation
) -> PanelSweepResult:
    trials = trial_table(records)
    dates = test.walk.forecasts.index.get_level_values("date")
    loss = test.scores.loss.upper()
    return PanelSweepResult(
        config=cfg,
        trials=trials,
        selection=choice.selection,
        selected=choice.selected,
        test=test,
        swept=list(cfg.grid),
        periods={
            "select": cfg.selection_period(),
            "test": (str(dates.min().date()), str(dates.max().date())),
        },
        statistic=f"median {loss} ratio to {cfg.reference}",
        resumed=int(trials["resumed"].sum()),
        notes=list(test.notes),
    )


def _write(result: PanelSweepResult, root: Path) -> None:
    """``trials.parquet``, ``selection.csv``, ``selection.png`` and, last,
    ``sweep_summary.json`` (the test's own files are in ``test/``)."""
    run = RunFolder(root)
    run.write_parquet("trials.parquet", result.trials)
    run.write_csv("selection.csv", result.selection)
    if result.swept:
        result.plot(run)
    run.write_json(
        "sweep_summary.json",
        {
            "selected": json.loads(json.dumps(result.selected, default=list)),
            "selected_label": label(result.selected, result.swept),
            "selected_model": result.selected_model,
            "statistic": result.statistic,
            "reference": result.config.reference,
            "n_configs": result.n_configs,
            "seeds": result.config.seeds,
            "test_seed": 0,
            "periods": result.periods,
            "test": result.test.summary.reset_index().to_dict(orient="records"),
            "notes": result.notes,
        },
    )
