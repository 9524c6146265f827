"""The trial registry of a sweep's run folder: one row per (configuration, seed, phase) and every trial's per-date rows, written once the trials are run and read back for the deflated Sharpe ratio and the PBO."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gatecast.errors import ConfigError
from gatecast.evaluation.trading import TrialSet, count_trials
from gatecast.experiment.run_folder import RunFolder


# -- written by the sweep, once its trials are run ----------------------------------------------
def trial_table(records: list[dict[str, Any]]) -> pd.DataFrame:
    """The trials as one row per (configuration, seed, phase) (the last record of each), in
    (phase, configuration, seed) order."""
    keep = (
        "key",
        "config",
        "label",
        "model",
        "seed",
        "phase",
        "loss_name",
        "score",
        "n_dates",
        "first_date",
        "last_date",
        "seconds",
        "started",
        "finished",
        "pid",
        "resumed",
    )
    rows = {
        (r["key"], r["phase"]): {k: r.get(k) for k in keep} | {"params": json.dumps(r["params"])}
        for r in records
    }
    table: pd.DataFrame = pd.DataFrame(list(rows.values()))
    table = table.sort_values(["phase", "config", "seed"], ignore_index=True)
    return table


def trial_frame(root: str | Path, key: str, phase: str) -> pd.DataFrame:
    """The per-date rows one trial wrote (forecast, actual, loss, strategy...)."""
    return pd.read_parquet(Path(root) / "trials" / key / f"{phase}.parquet")


def date_losses(trials: pd.DataFrame, root: Path, config: str, phase: str) -> pd.Series:
    """Per-date loss of ``config`` on ``phase``, the mean over its seeds."""
    keys = trials[(trials["config"] == config) & (trials["phase"] == phase)]["key"]
    frames = [trial_frame(root, k, phase)["loss"] for k in keys]
    mean: pd.Series = pd.concat(frames, axis=1).mean(axis=1).rename(config)
    return mean


def write_registry(run: RunFolder, trials: pd.DataFrame) -> TrialSet:
    """Write ``trials.parquet`` (``trials``) and ``trial_forecasts.parquet`` (every trial's
    per-date rows, long) to ``run``; the distinct strategies of the selection trials."""
    run.write_parquet("trials.parquet", trials)
    long = []
    for key, phase in trials[["key", "phase"]].itertuples(index=False):
        f = trial_frame(run.path, key, phase).reset_index()
        long.append(f.assign(key=key, phase=phase))
    registry = pd.concat(long, ignore_index=True)
    run.write_parquet("trial_forecasts.parquet", registry)
    # trials of an older gatecast have no strategy returns to compare: each counts once
    return _selection_trials(registry, trials, run.path, strict=False)


# -- read back, for the DSR and PBO -----------------------------------------------------------------------
def read_trials(out: str | Path) -> pd.DataFrame:
    """The trial registry of the sweep in ``out``: one row per (configuration, seed, phase)."""
    path = Path(out) / "trials.parquet"
    if not path.is_file():
        raise ConfigError(
            f"{out} holds no trial registry (trials.parquet); run gatecast sweep first"
        )
    return pd.read_parquet(path)


def trial_count(out: str | Path) -> int:
    """N for the deflated Sharpe ratio of the sweep in ``out``: the distinct strategies it tried
    on the selection period (:func:`trial_set`)."""
    return trial_set(out, strict=False).n_trials


def trial_set(out: str | Path, *, strict: bool = True) -> TrialSet:
    """The distinct strategies the sweep in ``out`` tried on its selection period, by the one
    rule of :func:`~gatecast.evaluation.trading.count_trials`: every (configuration, seed) and
    every baseline asked to compare, as date x trial net returns (identical series count once).

    ``strict``: refuse trials written by an older gatecast, without strategy returns (the
    Sharpe ratios and the PBO need them); else each of them counts as one distinct trial.
    """
    trials = read_trials(out)
    registry = pd.read_parquet(Path(out) / "trial_forecasts.parquet")
    return _selection_trials(registry, trials, Path(out), strict=strict)


def _selection_trials(
    registry: pd.DataFrame, trials: pd.DataFrame, out: Path, *, strict: bool
) -> TrialSet:
    rows = registry[registry["phase"] == "select"]
    if "strategy" not in rows.columns:
        rows = rows.assign(strategy=np.nan)
    old = _without_strategy(rows)
    if old and strict:
        _refuse_older(old, out)
    keys = [
        str(k)
        for k in trials.loc[trials["phase"] == "select", "key"]
        if k not in set(old) and k in set(rows["key"])
    ]
    net = rows[rows["key"].isin(keys)].pivot(index="date", columns="key", values="strategy")
    found = count_trials(net.reindex(columns=keys), keys)
    return dataclasses.replace(found, unchecked=tuple(old))


def _without_strategy(rows: pd.DataFrame) -> list[str]:
    """The keys of trials whose stored rows hold no strategy returns (older gatecast)."""
    return sorted(str(k) for k, s in rows.groupby("key")["strategy"] if s.isna().all())


def _refuse_older(keys: list[str], out: str | Path) -> None:
    shown = ", ".join(str(Path(out) / "trials" / k) for k in keys[:3])
    more = f" and {len(keys) - 3} more" if len(keys) > 3 else ""
    raise ConfigError(
        f"{shown}{more}: trial(s) written by an older gatecast, without per-date strategy "
        f"returns; rerun the sweep in a new --out folder to trade its trials"
    )


def _candidate_rows(out: str | Path, phase: str) -> pd.DataFrame:
    """The rows of ``trial_forecasts.parquet`` of every candidate (no baseline) on ``phase``,
    with their configuration."""
    t = read_trials(out)
    baselines = set(json.loads((Path(out) / "sweep.json").read_text(encoding="utf-8"))["baselines"])
    fc = pd.read_parquet(Path(out) / "trial_forecasts.parquet")
    fc = fc[(fc["phase"] == phase)]
    cfg_of = dict(zip(t["key"], t["config"], strict=False))
    fc = fc.assign(config=fc["key"].map(cfg_of))
    rows: pd.DataFrame = fc[~fc["config"].isin(baselines)]
    if rows.empty:
        raise ConfigError(f"{out} holds no {phase} trials of candidate configurations")
    return rows


def trial_losses(out: str | Path, phase: str = "select") -> pd.DataFrame:
    """Date x configuration per-date losses (mean over seeds) of every candidate on ``phase``,
    from the stored per-trial forecasts: the T x N matrix for CSCV (pass ``-trial_losses(...)``
    as performance, higher is better) and for the trial count of the DSR."""
    fc = _candidate_rows(out, phase)
    table: pd.DataFrame = fc.pivot_table(
        index="date", columns="config", values="loss", aggfunc="mean"
    )
    return table


def trial_returns(out: str | Path, phase: str = "select") -> pd.DataFrame:
    """Date x configuration per-date net returns (after costs; mean over seeds) of trading every
    candidate's forecasts on ``phase`` with the rule of the target (``sign``, ``threshold``,
    ``vol_target``) at ``gatecast backtest``'s default cost, one column per configuration
    (higher is better). The DSR's N, Var[SR_n] and the PBO count each seed and baseline as its
    own trial: they use :func:`trial_set`."""
    fc = _candidate_rows(out, phase)
    if "strategy" not in fc.columns:
        fc = fc.assign(strategy=np.nan)
    old = _without_strategy(fc)
    if old:
        _refuse_older(old, out)
    table: pd.DataFrame = fc.pivot_table(
        index="date", columns="config", values="strategy", aggfunc="mean"
    )
    return table
