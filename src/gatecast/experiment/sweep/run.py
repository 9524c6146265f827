"""A sweep from start to end: check and load, run the selection trials, choose from their scores alone, test the choice, write the run folder."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gatecast.artifacts import array_hash
from gatecast.data.sources import data_identity
from gatecast.errors import ConfigError
from gatecast.evaluation.walkforward import WalkForwardPlan
from gatecast.experiment.evaluation import EvaluationConfig, load_checked
from gatecast.experiment.registry import reads_har
from gatecast.experiment.run_folder import check_out_folder, run_output, settings_record
from gatecast.experiment.sweep.config import Phase, SweepConfig, check_resumable
from gatecast.experiment.sweep.result import SweepResult, write_sweep
from gatecast.experiment.sweep.sampling import optuna_configs
from gatecast.experiment.sweep.select import Choice, choose, tested_table
from gatecast.experiment.sweep.space import config_key, grid_configs
from gatecast.experiment.sweep.trial_registry import trial_table
from gatecast.experiment.sweep.trials import TrialMaker, TrialTask, config_factory, execute_trials


def run_sweep(cfg: SweepConfig) -> SweepResult:
    """Select a configuration on the selection period, then test it (and only it) after.

    Parameters
    ----------
    cfg
        The search space, the periods, the executor and the run folder ``cfg.out``.

    Returns
    -------
    SweepResult
        Also written to ``cfg.out``: ``trials/<key>/`` per trial, the registry
        ``trials.parquet`` and ``trial_forecasts.parquet``, ``selection.csv``, ``test.csv``
        (``record.csv``), ``selection.png`` and, last, ``sweep_summary.json``.

    Examples
    --------
    >>> res = run_sweep(SweepConfig(out="runs/sweep", grid={"window": (5, 22, 63)}))  # doctest: +SKIP
    >>> print(res.summary())  # doctest: +SKIP
    """
    with cfg.runtime():  # one Ray runtime for both phases
        return _sweep(cfg)


def _sweep(cfg: SweepConfig) -> SweepResult:
    t_start = time.perf_counter()
    out = str(cfg.out)  # required: checked by the config
    check_out_folder(out, overwrite=cfg.overwrite, resume=cfg.resume, kind="sweep")
    ecfg, df, plans, period = _load_and_check(cfg)  # a bad value is refused before any work
    fp = cfg.fingerprint() | {
        "data_hash": array_hash(df.to_numpy(dtype=float), np.asarray(df.index.astype("int64")))
    }
    if cfg.resume:
        check_resumable(Path(out), fp, write=False)  # before the folder is touched
    with run_output(
        out,
        "sweep",
        overwrite=cfg.overwrite,
        resume=cfg.resume,
        config=settings_record(cfg),
        data=data_identity(cfg.data, df),
    ) as root:
        check_resumable(root, fp)
        make = TrialMaker.build(cfg, ecfg, df, plans, period, root)
        return _sweep_in(make, period, t_start)


def _load_and_check(
    cfg: SweepConfig,
) -> tuple[EvaluationConfig, pd.DataFrame, dict[Phase, WalkForwardPlan], tuple[str, str]]:
    """The trials' evaluation settings, the checked data, both plans and the selection period,
    with both periods' folds and every configuration the sweep can try checked."""
    ecfg = cfg.evaluation()
    df, _ = load_checked(ecfg)
    plans = cfg.plans()
    s0, s1 = cfg.selection_period()
    if len(df) and pd.Timestamp(s0) <= df.index[0]:
        joined = f" joined with --covariates {','.join(cfg.covariates)}" if cfg.covariates else ""
        raise ConfigError(
            f"the selection period starts on {s0}, and the data{joined} begins on "
            f"{df.index[0].date()}: its first fold would have no rows to train on; pass a "
            f"--select-start after {df.index[0].date()} (a year or more after, to train on)"
        )
    sel_data = df.loc[df.index <= pd.Timestamp(s1)]  # nothing after the selection period
    plans["select"].folds(sel_data.index)
    plans["test"].folds(df.index)
    _check_configurations(cfg, ecfg)
    return ecfg, df, plans, (s0, s1)


def _check_configurations(cfg: SweepConfig, ecfg: EvaluationConfig) -> None:
    """Build the settings of every configuration the sweep can try (every combination of the
    grid, or every value of it for a sampler) and let the model's config refuse a bad one."""
    configs = (
        grid_configs(cfg.grid)
        if cfg.sampler == "grid"
        else [{name: v} for name, values in cfg.grid.items() for v in values]
    )
    for params in configs or [{}]:
        config_factory(cfg, ecfg, params, 0)().config()


def _sweep_in(make: TrialMaker, period: tuple[str, str], t_start: float) -> SweepResult:
    records = _run_selection(make)
    choice = choose(trial_table(records), records, make.cfg, list(make.cfg.grid))
    records += _run_tests(make, choice)
    result = _result(make, period, records, choice)
    write_sweep(result, make.root)
    result.seconds = time.perf_counter() - t_start
    return result


def _run_selection(make: TrialMaker) -> list[dict[str, Any]]:
    """The records of every configuration's selection trials (the grid's, or those Optuna
    asks for) and of the baselines' trials on both periods (run with the first batch)."""
    cfg = make.cfg
    records: list[dict[str, Any]] = []

    def run_batch(
        configs: list[dict[str, Any]], extra: list[TrialTask] | None = None
    ) -> list[float]:
        # a sampler may propose one configuration twice: run it once (one folder, one writer)
        unique = {config_key(p): p for p in configs}
        tasks = [t for p in unique.values() for t in make.of_config(p, "select")] + (extra or [])
        got = list(execute_trials(tasks, cfg))
        records.extend(got)
        by = {(r["key"], r["phase"]): r["score"] for r in got}
        return [
            float(np.mean([by[t.key, "select"] for t in make.of_config(p, "select")]))
            for p in configs
        ]

    if cfg.sampler == "grid":
        run_batch(grid_configs(cfg.grid), make.of_baselines())
    else:
        first = True

        def batch(configs: list[dict[str, Any]]) -> list[float]:
            nonlocal first
            extra = make.of_baselines() if first else []
            first = False
            return run_batch(configs, extra or None)

        optuna_configs(cfg, batch)
        if first:
            records.extend(execute_trials(make.of_baselines(), cfg))
    return records


def _run_tests(make: TrialMaker, choice: Choice) -> list[dict[str, Any]]:
    """The records of the chosen configuration(s)' test trials, then (``record``) the others'."""
    test_tasks = [t for c in choice.chosen for t in make.of_config(choice.params_of[c], "test")]
    record_tasks = (
        [t for c in choice.others for t in make.of_config(choice.params_of[c], "test")]
        if make.cfg.record
        else []
    )
    return list(execute_trials(test_tasks + record_tasks, make.cfg))


def _result(
    make: TrialMaker, period: tuple[str, str], records: list[dict[str, Any]], choice: Choice
) -> SweepResult:
    """The sweep's tables: every trial, the selection, the test of the chosen configuration(s)
    beside the baselines and (``record``) of the others."""
    cfg, root, loss, swept = make.cfg, make.root, make.loss, list(make.cfg.grid)
    trials = trial_table(records)
    selection, selected = choice.selection, choice.selected
    test = tested_table(trials, root, choice.chosen, cfg.baselines, selection, loss)
    record = tested_table(trials, root, choice.others, (), selection, loss) if cfg.record else None
    df, plan = make.phases["test"].data, make.phases["test"].plan
    folds = plan.folds(df.index)
    return SweepResult(
        notes=[*df.attrs.get("covariate_notes", []), *_har_notes(cfg, df)],
        config=cfg,
        trials=trials,
        selection=selection,
        selected=selected,
        test=test,
        record=record,
        loss_name=loss,
        swept=swept,
        periods={
            "select": period,
            "test": (
                str(df.index[folds[0].test_start].date()),
                str(df.index[folds[-1].test_stop - 1].date()),
            ),
        },
        resumed=int(trials["resumed"].sum()),
    )


def _har_notes(cfg: SweepConfig, df: pd.DataFrame) -> list[str]:
    """The HAR that ``har`` (a baseline, or a hybrid's input) is on a file without High/Low."""
    if cfg.target != "variance" or {"high", "low"} <= set(df.columns):
        return []
    settings = [cfg.fixed, *({k: v} for k, values in cfg.grid.items() for v in values)]
    reads = any(
        "har" in (*tuple(s.get("classical_inputs", ())), s.get("residual")) for s in settings
    )
    cells = (*cfg.grid.get("cell", ()), cfg.fixed.get("cell"))
    if "har" in cfg.baselines or reads or any(reads_har(str(c)) for c in cells):
        return ["close-only data: har is HAR (1, 5, 22) on absolute returns |r| (the log range "
                "needs High/Low)"]  # fmt: skip
    return []
