"""One trial of a sweep: a (configuration, seed) walk-forward chain over one period, made into a picklable task, run (here, in a process pool or on Ray) and written to its folder."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from gatecast.artifacts import atomic_write_bytes, atomic_write_json
from gatecast.data.features import TargetSpec, make_target
from gatecast.data.volatility import parkinson_scale, variance_proxy
from gatecast.evaluation.executors import run_on
from gatecast.evaluation.losses import loss_series
from gatecast.evaluation.trading import (
    DEFAULT_COST_BPS,
    INFORMATION_DATE,
    RULE_OF_TARGET,
    Rule,
    realised_returns,
    trade,
)
from gatecast.evaluation.walkforward import ModelFactory, WalkForwardPlan, walk_forward
from gatecast.experiment.evaluation import LOSS_NAMES, EvaluationConfig, model_factory
from gatecast.experiment.registry import is_recurrent
from gatecast.experiment.sweep.config import Phase, SweepConfig
from gatecast.experiment.sweep.space import config_key, label


# -- one trial: a (configuration, seed) walk-forward chain over one period --------------------------
@dataclass(frozen=True)
class TrialTask:
    """One task of a sweep (picklable): walk ``factory`` over ``plan`` on ``data``, score it
    against ``actual``, trade it with ``rule`` at ``cost_bps`` one-way against ``returns`` (simple
    returns by the day they are earned; for the selection, none after it) and write
    ``folder/<phase>.parquet`` and, last, ``<phase>.json``."""

    key: str
    phase: Phase
    record: dict[str, Any]
    factory: ModelFactory
    warm: bool
    data: pd.DataFrame
    actual: pd.Series
    plan: WalkForwardPlan
    loss: str
    folder: str
    returns: pd.Series
    rule: Rule
    cost_bps: float


def read_trial(folder: str | Path, phase: str) -> dict[str, Any] | None:
    """The record of a finished trial (its JSON, written last), or None."""
    path = Path(folder) / f"{phase}.json"
    if not (path.is_file() and path.with_suffix(".parquet").is_file()):
        return None
    try:
        rec: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # a damaged record counts as not done: the trial is rerun
    return rec


def run_trial(task: TrialTask) -> dict[str, Any]:
    """Run one trial (module level: process pools and Ray call it) with one torch thread; a
    finished trial in the run folder is read back instead."""
    done = read_trial(task.folder, task.phase)
    if done is not None:
        return done | {"resumed": True}
    started = time.time()
    t0 = time.perf_counter()
    threads = None
    if is_recurrent(task.record["model"]):
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # every executor computes with one thread: the same numbers
    model = folder_name(task.record["model"])  # its folds' folder
    try:
        walk = walk_forward(
            {model: task.factory},
            task.data,
            task.plan,
            warm_start=task.warm,
            n_jobs=1,
            run_dir=Path(task.folder) / task.phase,
            quiet=True,
        )
    finally:
        if threads is not None:
            import torch

            torch.set_num_threads(threads)
    fc = walk.forecasts[model].rename("forecast")
    frame = pd.concat([fc, task.actual.reindex(fc.index).rename("actual")], axis=1).dropna()
    lname = "mse" if task.loss == "brier" else task.loss
    frame["loss"] = loss_series(lname, frame["actual"].to_numpy(), frame["forecast"].to_numpy())  # type: ignore[arg-type]
    # the net return of trading these forecasts (the forecast for t sets the position at t-1),
    # each checked against the date of the last observation it used
    info = walk.information_dates
    net = trade(
        frame[["forecast"]], task.returns, task.rule, task.cost_bps, information_dates=info
    ).net()["forecast"]
    frame["strategy"] = net.reindex(frame.index)
    if info is not None:
        frame[INFORMATION_DATE] = info.reindex(frame.index)
    frame.index.name = "date"
    folder = Path(task.folder)
    pq = folder / f"{task.phase}.parquet"
    atomic_write_bytes(pq, frame.to_parquet())
    rec = task.record | {
        "key": task.key,
        "phase": task.phase,
        "loss_name": task.loss,
        "score": float(frame["loss"].mean()),
        "n_dates": len(frame),
        "first_date": str(frame.index[0].date()) if len(frame) else None,
        "last_date": str(frame.index[-1].date()) if len(frame) else None,
        "seconds": time.perf_counter() - t0,
        "started": started,
        "finished": time.time(),
        "pid": os.getpid(),
    }
    atomic_write_json(folder / f"{task.phase}.json", rec)
    return rec | {"resumed": False}


# -- where trials run -------------------------------------------------------------------------------
def execute_trials(tasks: list[TrialTask], cfg: SweepConfig) -> Iterator[dict[str, Any]]:
    """Run ``tasks`` on ``cfg.executor``; finished ones are read back here, never resubmitted."""
    todo = []
    for t in tasks:
        done = read_trial(t.folder, t.phase)
        if done is not None:
            yield done | {"resumed": True}
        else:
            todo.append(t)
    if todo:
        one_each = [(t,) for t in todo]
        yield from run_on(
            cfg.executor, run_trial, one_each, cfg.n_jobs, ray_address=cfg.ray_address
        )


# -- the tasks of a sweep ---------------------------------------------------------------------
@dataclass(frozen=True)
class PhaseData:
    """What every trial of one period walks, scores and trades: the data (for the selection,
    nothing after it), the values forecasts are scored against, the walk-forward plan and the
    simple returns of the target's price column."""

    data: pd.DataFrame
    actual: pd.Series
    plan: WalkForwardPlan
    returns: pd.Series


def _actual(df: pd.DataFrame, cfg: SweepConfig, start: str) -> pd.Series:
    """What forecasts are scored against; a Parkinson scale is fit before ``start`` only."""
    if cfg.target == "variance":
        scale = None
        if cfg.proxy == "parkinson":
            scale = parkinson_scale(df.loc[df.index < pd.Timestamp(start)], cfg.column)
        return variance_proxy(df, cfg.proxy, scale=scale, column=cfg.column)
    return make_target(df, TargetSpec(cfg.target), cfg.column)


def config_factory(
    cfg: SweepConfig, ecfg: EvaluationConfig, params: Mapping[str, Any], seed: int
) -> Any:
    """The model factory of one configuration (``params`` over the sweep's ``fixed``) and seed;
    with covariates, its recurrent model reads them (``lstm+vix``)."""
    full = {**cfg.fixed, **params}
    choice = full.pop("covariates", None)  # the groups it reads: the name says, not a column
    name = cfg.model_name(str(full.pop("cell", "lstm")), choice)
    run = dataclasses.replace(ecfg, models=(name,), extra=full)
    return model_factory(name, run, seed=seed)


def folder_name(name: str) -> str:
    """The folder of model ``name`` (a baseline's under ``trials/``, a trial's folds): the name
    itself (``garch``, ``har_x+vix``), or with a covariate spec that is no folder name
    (``file:data/m.csv:rate``) the model and a hash of the name."""
    if re.fullmatch(r"[A-Za-z0-9_.+-]+", name):
        return name
    return f"{name.split('+')[0]}+x{hashlib.sha256(name.encode()).hexdigest()[:10]}"


@dataclass(frozen=True)
class TrialMaker:
    """Makes the sweep's trial tasks: a configuration's (one per seed) on a period, and the
    baselines' on both periods, each with its folder ``root/trials/<key>``, the target's first
    loss and ``gatecast backtest``'s default rule and cost."""

    cfg: SweepConfig
    ecfg: EvaluationConfig
    phases: dict[Phase, PhaseData]
    root: Path
    loss: str
    rule: Rule
    cost_bps: float

    @classmethod
    def build(
        cls,
        cfg: SweepConfig,
        ecfg: EvaluationConfig,
        df: pd.DataFrame,
        plans: dict[Phase, WalkForwardPlan],
        period: tuple[str, str],
        root: Path,
    ) -> TrialMaker:
        """The tasks of the sweep ``cfg`` on ``df``, selecting on ``period`` (nothing after its
        last day reaches a selection trial), written under ``root``."""
        s0, s1 = period
        sel_data = df.loc[df.index <= pd.Timestamp(s1)]
        actual: dict[Phase, pd.Series] = {
            "select": _actual(sel_data, cfg, s0),
            "test": _actual(df, cfg, cfg.test_start),
        }
        data: dict[Phase, pd.DataFrame] = {"select": sel_data, "test": df}
        # what each trial's forecasts are traded against: simple returns of the target's price
        # column
        realised: dict[Phase, pd.Series] = {
            "select": realised_returns(sel_data, cfg.column),  # nothing after the selection period
            "test": realised_returns(df, cfg.column),
        }
        phases: dict[Phase, PhaseData] = {
            ph: PhaseData(data[ph], actual[ph], plans[ph], realised[ph]) for ph in data
        }
        rule, cost_bps = Rule(RULE_OF_TARGET[cfg.target]), DEFAULT_COST_BPS  # backtest's defaults
        return cls(cfg, ecfg, phases, root, LOSS_NAMES[cfg.target][0], rule, cost_bps)

    def _task(
        self, key: str, phase: Phase, record: dict[str, Any], factory: ModelFactory, warm: bool
    ) -> TrialTask:
        p = self.phases[phase]
        return TrialTask(
            key,
            phase,
            record,
            factory,
            warm,
            p.data,
            p.actual,
            p.plan,
            self.loss,
            str(self.root / "trials" / key),
            p.returns,
            self.rule,
            self.cost_bps,
        )

    def of_config(self, params: Mapping[str, Any], phase: Phase) -> list[TrialTask]:
        """The trials of configuration ``params`` on ``phase``, one per seed (warm-started)."""
        ckey = config_key(params)
        swept = list(self.cfg.grid)
        out = []
        for s in range(self.cfg.seeds):
            key = f"{ckey}-s{s}"
            full = {**self.cfg.fixed, **params}
            rec = {
                "config": ckey,
                "label": label(params, swept),
                "params": json.loads(json.dumps(dict(params), default=list)),
                "model": self.cfg.model_name(str(full.get("cell", "lstm")), full.get("covariates")),
                "seed": s,
            }
            factory = config_factory(self.cfg, self.ecfg, params, s)
            out.append(self._task(key, phase, rec, factory, True))
        return out

    def of_baselines(self) -> list[TrialTask]:
        """Every baseline's trial on both periods (compared, never selected)."""
        out = []
        for name in self.cfg.baselines:
            rec = {"config": name, "label": name, "params": {}, "model": name, "seed": 0}
            for phase in ("select", "test"):
                factory = model_factory(name, self.ecfg)
                out.append(self._task(folder_name(name), phase, rec, factory, False))
        return out
