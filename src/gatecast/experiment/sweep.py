"""Walk-forward sweeps with nested selection: score configurations on a selection period, test only the chosen one.

``run_sweep(SweepConfig(...))`` is what ``gatecast sweep`` runs. Every (configuration, seed) is one
task: a warm-started walk-forward chain over the selection period (data cut at its last day, so
nothing of the test period can reach the choice). The configuration with the lowest mean selection
loss over its seeds (or the top k) is then walked over the test period; the other configurations'
test scores are computed only with ``record=True`` and kept in a separate table. Every trial is
written to the run folder as it finishes (the trial registry, Parquet: per-date forecast, actual,
loss and ``strategy``, the net return of trading the forecasts with the rule of the target, as
``gatecast backtest`` would), so a killed sweep resumes and the deflated Sharpe ratio's N and the
CSCV matrix come from the trials actually run (``gatecast backtest --sweep`` cites them).
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import os
import time
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd

from gatecast.artifacts import array_hash, atomic_write_bytes, atomic_write_json
from gatecast.data.features import TargetSpec, make_target
from gatecast.data.sources import data_identity
from gatecast.data.volatility import parkinson_scale, variance_proxy
from gatecast.errors import ConfigError
from gatecast.evaluation.losses import loss_series
from gatecast.evaluation.significance import diebold_mariano
from gatecast.evaluation.trading import (
    DEFAULT_COST_BPS,
    INFORMATION_DATE,
    RULE_OF_TARGET,
    Rule,
    TrialSet,
    count_trials,
    realised_returns,
    trade,
)
from gatecast.evaluation.walkforward import ModelFactory, WalkForwardPlan, walk_forward
from gatecast.experiment.evaluation import LOSS_NAMES, EvaluationConfig, load_checked, model_factory
from gatecast.experiment.registry import RECURRENT, EvaluationTarget, canonical_names, reads_har
from gatecast.experiment.run_folder import (
    RunFolder,
    check_out_folder,
    run_output,
    settings_record,
)
from gatecast.experiment.settings import DataSettings, RunSettings, SeedSettings, WalkSettings
from gatecast.models.config import ForecasterConfig, NetSettings, VarianceConfig
from gatecast.types import Proxy

__all__ = [
    "EXECUTORS",
    "SAMPLERS",
    "Executor",
    "Sampler",
    "SweepConfig",
    "SweepResult",
    "parse_space",
    "read_trials",
    "run_sweep",
    "sweepable_parameters",
    "trial_count",
    "trial_losses",
    "trial_returns",
    "trial_set",
]

Sampler = Literal["grid", "tpe", "random"]
SAMPLERS: tuple[Sampler, ...] = get_args(Sampler)
Executor = Literal["serial", "pool", "ray"]
EXECUTORS: tuple[Executor, ...] = get_args(Executor)
Phase = Literal["select", "test"]

#: Settings a sweep fixes itself: the target and column come from the sweep, seeds from ``seeds``.
_NOT_SWEPT = ("target", "column", "seed", "quiet", "device")


def _config_class(target: EvaluationTarget) -> type[NetSettings]:
    return VarianceConfig if target == "variance" else ForecasterConfig


def sweepable_parameters(target: EvaluationTarget = "variance") -> dict[str, Any]:
    """Constructor parameter -> its type, for the recurrent model of ``target``."""
    cls = _config_class(target)
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in fields(cls) if f.name not in _NOT_SWEPT}


def _parse_value(name: str, text: str, hint: Any) -> Any:
    """``text`` as a value of the type ``hint`` (``int | None``, ``tuple[str, ...]``...)."""
    args = get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    if type(None) in args and text.strip().lower() in ("none", "null"):
        return None
    for kind in args:
        origin = typing.get_origin(kind) or kind
        try:
            if kind is bool:
                low = text.strip().lower()
                if low in ("true", "yes", "1", "on"):
                    return True
                if low in ("false", "no", "0", "off"):
                    return False
                raise ValueError(text)
            if kind is int:
                return int(text)
            if kind is float:
                return float(text)
            if origin is tuple:  # features=return+squared_return
                return tuple(t.strip() for t in text.split("+") if t.strip())
            if kind is str:
                return text.strip()
        except ValueError:
            continue
    shown = " or ".join(getattr(a, "__name__", str(a)) for a in args)
    raise ConfigError(f"{name}={text!r}: not a valid {shown}; e.g. {name}={_example(args)}")


def _example(args: tuple[Any, ...]) -> str:
    if int in args:
        return "22"
    if float in args:
        return "5e-4"
    if bool in args:
        return "true"
    return "lstm"


def parse_space(
    items: list[str] | tuple[str, ...], target: EvaluationTarget = "variance"
) -> dict[str, tuple[Any, ...]]:
    """``["window=10,22,63", "cell=lstm,gru"]`` (items may also be one space-separated string)
    as parameter -> values, each value parsed to the constructor parameter's type.

    Examples
    --------
    >>> parse_space(["window=10,22 lr=5e-4,1e-3"])
    {'window': (10, 22), 'lr': (0.0005, 0.001)}
    """
    valid = sweepable_parameters(target)
    out: dict[str, tuple[Any, ...]] = {}
    for item in (tok for text in items for tok in text.split()):
        name, sep, values = item.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or not values.strip():
            raise ConfigError(
                f"{item!r}: give a parameter and its values as name=v1,v2 (e.g. window=10,22,63)"
            )
        if name not in valid:
            raise ConfigError(
                f"{name!r} is not a parameter of the recurrent {target} model; choose from "
                f"{', '.join(sorted(valid))}"
            )
        if name in out:
            raise ConfigError(f"{name} is given twice; list all its values once: {name}=a,b")
        parsed = tuple(_parse_value(name, v, valid[name]) for v in values.split(",") if v.strip())
        if len(set(map(repr, parsed))) != len(parsed):
            raise ConfigError(f"{name}={values}: a value is listed twice")
        out[name] = parsed
    return out


@dataclass(kw_only=True)
class SweepConfig(DataSettings, WalkSettings, SeedSettings, RunSettings):
    """Everything one sweep needs, as plain values: the shared settings of
    :mod:`gatecast.experiment.settings` (``out`` is required: a sweep is its folder) and the
    sweep's own; the recurrent settings are what it sweeps (``grid``) or fixes (``fixed``).

    ``grid`` maps constructor parameters of the recurrent model of ``target`` to the values tried
    (``cell`` picks the cell); ``fixed`` sets others for every configuration (e.g. ``epochs``).
    ``sampler="grid"`` tries every combination; ``tpe`` / ``random`` (Optuna) try ``trials``
    combinations of the same values, asking ``batch`` at a time (a fixed batch, so every executor
    sees the same sequence). Each configuration runs ``seeds`` times (seeds 0..K-1).

    The selection period is ``select_start..select_end`` (default: the 4 years before
    ``test_start``, ending the day before it), walked with the same refit scheme as the test.
    ``top_k`` configurations are then tested; ``record=True`` also tests every other
    configuration, for a table that is never used to choose. ``baselines`` (e.g. garch, gjr_t,
    har) are scored on both periods for comparison, never selected.
    """

    target: EvaluationTarget = "variance"
    proxy: Proxy = "squared"
    select_start: str | None = None
    select_end: str | None = None
    grid: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    fixed: dict[str, Any] = field(default_factory=dict)
    sampler: Sampler = "grid"
    trials: int | None = None
    batch: int = 4
    top_k: int = 1
    record: bool = False
    baselines: tuple[str, ...] = ()
    executor: Executor = "serial"
    ray_address: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()  # the shared groups' checks
        if not self.out:
            raise ConfigError("a sweep is its run folder: give out='runs/sweep' (--out)")
        if self.sampler not in SAMPLERS:
            raise ConfigError(f"sampler={self.sampler!r}: choose from {', '.join(SAMPLERS)}")
        if self.executor not in EXECUTORS:
            raise ConfigError(f"executor={self.executor!r}: choose from {', '.join(EXECUTORS)}")
        if self.top_k < 1 or self.batch < 1:
            raise ConfigError(f"top_k={self.top_k}, batch={self.batch}: each must be >= 1")
        if self.target != "variance" and self.proxy != "squared":
            raise ConfigError(
                f"--proxy {self.proxy} does not apply to --target {self.target}: the proxy is "
                f"what variance forecasts are scored against; leave it out"
            )
        if self.sampler == "grid" and self.trials is not None:
            raise ConfigError(
                "--trials counts the configurations an Optuna sampler tries; the grid sampler "
                "tries every combination: leave --trials out, or pass --sampler tpe or random"
            )
        cells = [
            *self.grid.get("cell", ()),
            *([self.fixed["cell"]] if "cell" in self.fixed else []),
        ]
        unknown = [c for c in cells if c not in RECURRENT]
        if unknown:
            raise ConfigError(
                f"cell={unknown[0]!r} is not a recurrent model; choose from {', '.join(RECURRENT)}"
            )
        if self.sampler != "grid" and (self.trials is None or self.trials < 1):
            raise ConfigError(f"--sampler {self.sampler} needs --trials N (N >= 1 configurations)")
        if self.sampler != "grid" and not self.grid:
            raise ConfigError(f"--sampler {self.sampler} samples the --grid values; give a --grid")
        valid = sweepable_parameters(self.target)
        for name in list(self.grid) + list(self.fixed):
            if name not in valid:
                raise ConfigError(
                    f"{name!r} is not a parameter of the recurrent {self.target} model; choose "
                    f"from {', '.join(sorted(valid))}"
                )
        both = sorted(set(self.grid) & set(self.fixed))
        if both:
            raise ConfigError(f"{both} are both swept (--grid) and fixed (--set); keep one")
        self.grid = {k: tuple(v) for k, v in self.grid.items()}
        if any(not v for v in self.grid.values()):
            raise ConfigError("a --grid parameter has no values; give name=v1,v2")
        self.baselines = canonical_names(self.baselines, self.target)
        if any(b in RECURRENT for b in self.baselines):
            raise ConfigError(
                f"baselines {self.baselines}: recurrent cells are swept (--grid cell=...), "
                f"not baselines; name non-recurrent models such as garch,gjr_t,har"
            )

    # -- the periods -------------------------------------------------------------------------
    def selection_period(self) -> tuple[str, str]:
        """``(select_start, select_end)``, with the defaults filled in; refused if it reaches
        into the test period."""
        test_start = pd.Timestamp(self.test_start)
        end = (
            pd.Timestamp(self.select_end) if self.select_end else test_start - pd.Timedelta(days=1)
        )
        start = (
            pd.Timestamp(self.select_start)
            if self.select_start
            else test_start - pd.DateOffset(years=4)
        )
        if end >= test_start:
            raise ConfigError(
                f"select_end {end.date()} is not before test_start {test_start.date()}: the "
                f"selection period must end before the test begins"
            )
        if start > end:
            raise ConfigError(f"select_start {start.date()} is after select_end {end.date()}")
        return str(start.date()), str(end.date())

    def plans(self) -> dict[Phase, WalkForwardPlan]:
        """The walk-forward plans of the selection and the test period (the same scheme)."""
        s0, s1 = self.selection_period()
        same = (self.refit_every, self.scheme, self.train_size, self.gap)
        return {
            "select": WalkForwardPlan(s0, s1, *same),
            "test": WalkForwardPlan(self.test_start, self.test_end, *same),
        }

    def evaluation(self) -> EvaluationConfig:
        """The :class:`EvaluationConfig` whose model settings every trial starts from (the same
        defaults as ``gatecast evaluate``)."""
        cells = tuple(c for c in RECURRENT if c in (*self.grid.get("cell", ()), self._cell()))
        return EvaluationConfig(
            data=self.data,
            target=self.target,
            proxy=self.proxy,
            column=self.column,
            test_start=self.test_start,
            test_end=self.test_end,
            refit_every=self.refit_every,
            scheme=self.scheme,
            train_size=self.train_size,
            gap=self.gap,
            models=cells + self.baselines,
            sort=self.sort,
            dropna=self.dropna,
            n_jobs=1,
            quiet=True,
        )

    def _cell(self) -> str:
        return str(self.fixed.get("cell", "lstm"))

    def fingerprint(self) -> dict[str, Any]:
        """What a run folder must match to be resumed: the search space, the periods, the data
        settings (the executor, ``top_k`` and ``record`` may change between runs)."""
        d = settings_record(self)  # prices passed in: their label (the data hash is added)
        for k in ("out", "executor", "n_jobs", "ray_address", "top_k", "record"):
            d.pop(k)
        for k in ("overwrite", "resume"):  # how the folder is used, not what the sweep is
            d.pop(k)
        d["selection_period"] = self.selection_period()
        plain: dict[str, Any] = json.loads(json.dumps(d, default=repr))
        return plain


# -- configurations --------------------------------------------------------------------------------
def _config_key(params: Mapping[str, Any]) -> str:
    text = json.dumps({k: params[k] for k in sorted(params)}, default=repr)
    return "c" + hashlib.sha256(text.encode()).hexdigest()[:10]


def _label(params: Mapping[str, Any], swept: list[str]) -> str:
    return " ".join(f"{k}={_show(params[k])}" for k in swept) or "default"


def _show(v: Any) -> str:
    return "+".join(map(str, v)) if isinstance(v, tuple) else str(v)


def _grid_configs(cfg: SweepConfig) -> list[dict[str, Any]]:
    names = list(cfg.grid)
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*cfg.grid.values())]


def _factory(cfg: SweepConfig, ecfg: EvaluationConfig, params: Mapping[str, Any], seed: int) -> Any:
    full = {**cfg.fixed, **params}
    cell = str(full.pop("cell", "lstm"))
    run = dataclasses.replace(ecfg, models=(cell,), extra=full)
    return model_factory(cell, run, seed=seed)


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
    if task.record["model"] in RECURRENT:
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # every executor computes with one thread: the same numbers
    try:
        walk = walk_forward(
            {task.record["model"]: task.factory},
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
    fc = walk.forecasts[task.record["model"]].rename("forecast")
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


def _execute(tasks: list[TrialTask], cfg: SweepConfig) -> Iterator[dict[str, Any]]:
    """Run ``tasks`` on ``cfg.executor``; finished ones are read back here, never resubmitted."""
    todo = []
    for t in tasks:
        done = read_trial(t.folder, t.phase)
        if done is not None:
            yield done | {"resumed": True}
        else:
            todo.append(t)
    if not todo:
        return
    if cfg.executor == "serial":
        for t in todo:
            yield run_trial(t)
    elif cfg.executor == "pool":
        from gatecast.evaluation.executors import run_tasks

        yield from run_tasks(run_trial, [(t,) for t in todo], cfg.n_jobs)
    else:
        from gatecast.evaluation.ray_executor import run_on_ray

        yield from run_on_ray(run_trial, [(t,) for t in todo], cfg.ray_address, cfg.n_jobs)


# -- the sweep -----------------------------------------------------------------------------------
@dataclass
class SweepResult:
    """The trials, the selection table, the chosen configuration(s) and their test scores.

    ``trials``: one row per (configuration, seed, phase) with its score; ``selection``: one row
    per configuration (mean and sd over seeds of the selection loss, rank); ``test``: the top
    k configurations and the baselines, selection and test loss side by side; ``record``: the
    test loss of every other configuration (``record=True`` only; never used to choose).
    """

    config: SweepConfig
    trials: pd.DataFrame
    selection: pd.DataFrame
    selected: dict[str, Any]
    test: pd.DataFrame
    record: pd.DataFrame | None
    loss_name: str
    swept: list[str]
    periods: dict[str, tuple[str, str]]
    seconds: float = 0.0
    resumed: int = 0
    trial_set: TrialSet | None = None

    @property
    def n_configs(self) -> int:
        """Distinct configurations scored on the selection period."""
        return len(self.selection)

    notes: list[str] = field(default_factory=list)  # which HAR a close-only file gave

    @property
    def n_trials(self) -> int:
        """The N of the DSR (:data:`~gatecast.evaluation.trading.TRIAL_RULE`): every
        (configuration, seed) and baseline run on the selection period, identical strategy
        returns counted once."""
        return self.trial_set.n_trials if self.trial_set is not None else self.n_configs

    def summary(self) -> str:
        """The selection table, the test table and (if run) the record, as text."""
        s0, s1 = self.periods["select"]
        t0, t1 = self.periods["test"]
        parts: list[str] = [
            f"selection {s0}..{s1} ({self.loss_name}, mean and sd over {self.config.seeds} "
            f"seed(s)); {self.n_configs} configurations tried, N = {self.n_trials} distinct "
            f"trials for the DSR:",
            _text(self.selection),
            f"\nselected: {_label(self.selected, self.swept)}",
            f"\ntest {t0}..{t1}: the top {self.config.top_k} by selection loss, and baselines:",
            _text(self.test),
        ]
        if self.record is not None:
            parts += [
                "\nfor the record (test loss of every other configuration; never used to choose):",
                _text(self.record),
            ]
        return "\n".join(parts)

    def __str__(self) -> str:
        return self.summary()

    def plot(self, folder: str | Path | RunFolder | None = None) -> Any:
        """The selection loss against each swept parameter (seed spread, selected point
        marked); written as ``selection.png`` when ``folder`` is given."""
        from gatecast.plots.sweep import plot_selection

        fig = plot_selection(self.selection, self.swept, self.selected, loss_name=self.loss_name)
        if folder is None:
            return fig
        run = folder if isinstance(folder, RunFolder) else RunFolder(folder)
        return run.write_figure("selection.png", fig)


def _text(frame: pd.DataFrame) -> str:
    return str(frame.to_string(float_format=lambda v: f"{v:.4g}"))


def _actual(df: pd.DataFrame, cfg: SweepConfig, start: str) -> pd.Series:
    """What forecasts are scored against; a Parkinson scale is fit before ``start`` only."""
    if cfg.target == "variance":
        scale = None
        if cfg.proxy == "parkinson":
            scale = parkinson_scale(df.loc[df.index < pd.Timestamp(start)], cfg.column)
        return variance_proxy(df, cfg.proxy, scale=scale, column=cfg.column)
    return make_target(df, TargetSpec(cfg.target), cfg.column)


#: Fingerprint entries a resumed sweep may change: trials are stored per (configuration, seed).
_MAY_CHANGE = frozenset({"seeds"})


def _check_folder(root: Path, record: dict[str, Any], *, write: bool = True) -> None:
    """Refuse to resume a folder that holds another sweep (search space, periods or data), then
    (``write``) record this one's ``sweep.json``."""
    path = root / "sweep.json"
    finished = list((root / "trials").glob("*/*.json")) if (root / "trials").is_dir() else []
    if path.is_file() and finished:
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ConfigError(f"{path} is corrupt ({exc}); use a new --out") from exc
        # more (or fewer) seeds only adds (or leaves unread) trials keyed by seed: resumable
        diff = sorted(
            k
            for k in set(old) | set(record)
            if k not in _MAY_CHANGE and old.get(k) != record.get(k)
        )
        if diff:
            raise ConfigError(
                f"{root} holds a sweep with a different search space or data (differs in "
                f"{diff}); resuming would mix them: pass a new --out folder, or --overwrite"
            )
    if write:
        atomic_write_json(path, record)


def _optuna_configs(cfg: SweepConfig, run_batch: Any) -> None:
    """Ask Optuna for ``cfg.trials`` configurations, ``cfg.batch`` at a time, and tell it each
    batch's mean selection losses (``run_batch(configs) -> losses``)."""
    try:
        import optuna
    except ImportError as exc:
        raise ConfigError(
            f"--sampler {cfg.sampler} needs Optuna: pip install 'gatecast[sweep]'"
        ) from exc
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = (
        optuna.samplers.TPESampler(seed=0)
        if cfg.sampler == "tpe"
        else optuna.samplers.RandomSampler(seed=0)
    )
    study = optuna.create_study(sampler=sampler, direction="minimize")
    labels = {k: [_show(v) for v in vals] for k, vals in cfg.grid.items()}
    left = int(cfg.trials or 0)
    while left > 0:
        asked = [study.ask() for _ in range(min(cfg.batch, left))]
        configs = [
            {
                k: cfg.grid[k][labels[k].index(str(tr.suggest_categorical(k, labels[k])))]
                for k in cfg.grid
            }
            for tr in asked
        ]
        for tr, value in zip(asked, run_batch(configs), strict=True):
            study.tell(tr, value)
        left -= len(asked)


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
    if cfg.executor != "ray":
        return _sweep(cfg)
    from gatecast.evaluation.ray_executor import ray_runtime

    with ray_runtime(cfg.ray_address, cfg.n_jobs):  # one runtime for both phases
        return _sweep(cfg)


def _sweep(cfg: SweepConfig) -> SweepResult:
    t_start = time.perf_counter()
    out = str(cfg.out)  # required: checked by the config
    check_out_folder(out, overwrite=cfg.overwrite, resume=cfg.resume, kind="sweep")
    ecfg = cfg.evaluation()
    df, _ = load_checked(ecfg)
    plans = cfg.plans()
    s0, s1 = cfg.selection_period()
    sel_data = df.loc[df.index <= pd.Timestamp(s1)]  # nothing after the selection period
    plans["select"].folds(sel_data.index)
    plans["test"].folds(df.index)
    _check_configurations(cfg, ecfg)  # a bad value is refused before any work
    fp = cfg.fingerprint() | {
        "data_hash": array_hash(df.to_numpy(dtype=float), np.asarray(df.index.astype("int64")))
    }
    if cfg.resume:
        _check_folder(Path(out), fp, write=False)  # before the folder is touched
    with run_output(
        out,
        "sweep",
        overwrite=cfg.overwrite,
        resume=cfg.resume,
        config=settings_record(cfg),
        data=data_identity(cfg.data, df),
    ) as root:
        _check_folder(root, fp)
        return _sweep_in(cfg, ecfg, df, plans, (s0, s1), root, t_start)


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


def _check_configurations(cfg: SweepConfig, ecfg: EvaluationConfig) -> None:
    """Build the settings of every configuration the sweep can try (every combination of the
    grid, or every value of it for a sampler) and let the model's config refuse a bad one."""
    configs = (
        _grid_configs(cfg)
        if cfg.sampler == "grid"
        else [{name: v} for name, values in cfg.grid.items() for v in values]
    )
    for params in configs or [{}]:
        _factory(cfg, ecfg, params, 0)().config()


def _sweep_in(
    cfg: SweepConfig,
    ecfg: EvaluationConfig,
    df: pd.DataFrame,
    plans: dict[Phase, WalkForwardPlan],
    period: tuple[str, str],
    root: Path,
    t_start: float,
) -> SweepResult:
    s0, s1 = period
    sel_data = df.loc[df.index <= pd.Timestamp(s1)]
    actual: dict[Phase, pd.Series] = {
        "select": _actual(sel_data, cfg, s0),
        "test": _actual(df, cfg, cfg.test_start),
    }
    data: dict[Phase, pd.DataFrame] = {"select": sel_data, "test": df}
    # what each trial's forecasts are traded against: simple returns of the target's price column
    realised: dict[Phase, pd.Series] = {
        "select": realised_returns(sel_data, cfg.column),  # nothing after the selection period
        "test": realised_returns(df, cfg.column),
    }
    rule, cost_bps = Rule(RULE_OF_TARGET[cfg.target]), DEFAULT_COST_BPS  # backtest's defaults
    loss = LOSS_NAMES[cfg.target][0]
    swept = list(cfg.grid)

    records: list[dict[str, Any]] = []

    def tasks_of(params: Mapping[str, Any], phase: Phase) -> list[TrialTask]:
        ckey = _config_key(params)
        out = []
        for s in range(cfg.seeds):
            key = f"{ckey}-s{s}"
            full = {**cfg.fixed, **params}
            rec = {
                "config": ckey,
                "label": _label(params, swept),
                "params": json.loads(json.dumps(dict(params), default=list)),
                "model": str(full.get("cell", "lstm")),
                "seed": s,
            }
            out.append(
                TrialTask(
                    key,
                    phase,
                    rec,
                    _factory(cfg, ecfg, params, s),
                    True,
                    data[phase],
                    actual[phase],
                    plans[phase],
                    loss,
                    str(root / "trials" / key),
                    realised[phase],
                    rule,
                    cost_bps,
                )
            )
        return out

    def baseline_tasks() -> list[TrialTask]:
        out = []
        for name in cfg.baselines:
            rec = {"config": name, "label": name, "params": {}, "model": name, "seed": 0}
            for phase in ("select", "test"):
                out.append(
                    TrialTask(
                        name,
                        phase,
                        rec,
                        model_factory(name, ecfg),
                        False,
                        data[phase],
                        actual[phase],
                        plans[phase],
                        loss,
                        str(root / "trials" / name),
                        realised[phase],
                        rule,
                        cost_bps,
                    )
                )
        return out

    def run_batch(
        configs: list[dict[str, Any]], extra: list[TrialTask] | None = None
    ) -> list[float]:
        # a sampler may propose one configuration twice: run it once (one folder, one writer)
        unique = {_config_key(p): p for p in configs}
        tasks = [t for p in unique.values() for t in tasks_of(p, "select")] + (extra or [])
        got = list(_execute(tasks, cfg))
        records.extend(got)
        by = {(r["key"], r["phase"]): r["score"] for r in got}
        return [
            float(np.mean([by[t.key, "select"] for t in tasks_of(p, "select")])) for p in configs
        ]

    if cfg.sampler == "grid":
        run_batch(_grid_configs(cfg), baseline_tasks())
    else:
        first = True

        def batch(configs: list[dict[str, Any]]) -> list[float]:
            nonlocal first
            extra = baseline_tasks() if first else []
            first = False
            return run_batch(configs, extra or None)

        _optuna_configs(cfg, batch)
        if first:
            records.extend(_execute(baseline_tasks(), cfg))

    # -- choose from the selection scores alone ----------------------------------------------------
    trials = _trial_table(records)
    cand = trials[(trials["phase"] == "select") & ~trials["config"].isin(cfg.baselines)]
    params_of: dict[str, dict[str, Any]] = {}
    for r in records:
        if r["config"] not in cfg.baselines:
            params_of[r["config"]] = _restore(r["params"], cfg)
    selection = _selection_table(cand, params_of, swept)
    chosen = list(selection.index[: cfg.top_k])
    selected = params_of[chosen[0]]

    # -- then the test: the chosen configuration(s), the others only for the record -----------------
    test_tasks = [t for c in chosen for t in tasks_of(params_of[c], "test")]
    others = [c for c in selection.index if c not in chosen]
    record_tasks = [t for c in others for t in tasks_of(params_of[c], "test")] if cfg.record else []
    records.extend(_execute(test_tasks + record_tasks, cfg))
    trials = _trial_table(records)
    test = _test_table(trials, root, chosen, cfg.baselines, selection, loss)
    record = _test_table(trials, root, others, (), selection, loss) if cfg.record else None
    result = SweepResult(
        notes=_har_notes(cfg, df),
        config=cfg,
        trials=trials,
        selection=selection,
        selected=selected,
        test=test,
        record=record,
        loss_name=loss,
        swept=swept,
        periods={
            "select": (s0, s1),
            "test": (
                str(df.index[plans["test"].folds(df.index)[0].test_start].date()),
                str(df.index[plans["test"].folds(df.index)[-1].test_stop - 1].date()),
            ),
        },
        resumed=int(trials["resumed"].sum()),
    )
    _write(result, root)
    result.seconds = time.perf_counter() - t_start
    return result


def _restore(params: Mapping[str, Any], cfg: SweepConfig) -> dict[str, Any]:
    """Stored JSON params back as the grid's values (tuples stay tuples)."""
    out = {}
    for k, v in params.items():
        vals = cfg.grid.get(k, ())
        match = [g for g in vals if json.loads(json.dumps(g, default=list)) == v]
        out[k] = match[0] if match else v
    return out


def _trial_table(records: list[dict[str, Any]]) -> pd.DataFrame:
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


def _selection_table(
    cand: pd.DataFrame, params_of: Mapping[str, Mapping[str, Any]], swept: list[str]
) -> pd.DataFrame:
    g = cand.groupby("config")["score"]
    table = pd.DataFrame({"seeds": g.size(), "select_mean": g.mean(), "select_sd": g.std(ddof=1)})
    for name in reversed(swept):
        table.insert(0, name, [_show(params_of[c][name]) for c in table.index])
    # ties broken by the configuration key: the same choice on every executor and rerun
    ranked: pd.DataFrame = table.sort_values(["select_mean"], kind="stable")
    ranked = ranked.rename_axis("config")
    ranked.insert(len(ranked.columns), "rank", np.arange(1, len(ranked) + 1))
    return ranked


def _test_table(
    trials: pd.DataFrame,
    root: Path,
    configs: list[str],
    baselines: tuple[str, ...],
    selection: pd.DataFrame,
    loss: str,
) -> pd.DataFrame:
    rows = []
    ref = baselines[0] if baselines else None
    ref_loss = _date_losses(trials, root, ref, "test") if ref else None
    for c in list(configs) + list(baselines):
        sel = trials[(trials["config"] == c) & (trials["phase"] == "select")]["score"]
        tst = trials[(trials["config"] == c) & (trials["phase"] == "test")]["score"]
        row: dict[str, Any] = {
            "config": c,
            "label": trials.loc[trials["config"] == c, "label"].iloc[0],
            "seeds": len(tst),
            f"select_{loss}": float(sel.mean()) if len(sel) else math.nan,
            f"test_{loss}": float(tst.mean()),
            "test_sd": float(tst.std(ddof=1)) if len(tst) > 1 else math.nan,
            "select_rank": selection["rank"].get(c, math.nan),
        }
        if ref_loss is not None and c != ref:
            mine = _date_losses(trials, root, c, "test")
            both = pd.concat([mine, ref_loss], axis=1, join="inner")
            dm = diebold_mariano(both.iloc[:, 0].to_numpy(), both.iloc[:, 1].to_numpy())
            row[f"dm_{ref}"], row[f"p_{ref}"] = dm.statistic, dm.pvalue
        rows.append(row)
    out: pd.DataFrame = pd.DataFrame(rows).set_index("config")
    return out


def _date_losses(trials: pd.DataFrame, root: Path, config: str, phase: str) -> pd.Series:
    """Per-date loss of ``config`` on ``phase``, the mean over its seeds."""
    keys = trials[(trials["config"] == config) & (trials["phase"] == phase)]["key"]
    frames = [pd.read_parquet(root / "trials" / k / f"{phase}.parquet")["loss"] for k in keys]
    mean: pd.Series = pd.concat(frames, axis=1).mean(axis=1).rename(config)
    return mean


def _write(result: SweepResult, root: Path) -> None:
    run = RunFolder(root)
    trials = result.trials
    run.write_parquet("trials.parquet", trials)
    long = []
    for key, phase in trials[["key", "phase"]].itertuples(index=False):
        f = pd.read_parquet(root / "trials" / key / f"{phase}.parquet").reset_index()
        long.append(f.assign(key=key, phase=phase))
    registry = pd.concat(long, ignore_index=True)
    run.write_parquet("trial_forecasts.parquet", registry)
    # trials of an older gatecast have no strategy returns to compare: each counts once
    result.trial_set = _selection_trials(registry, trials, root, strict=False)
    run.write_csv("selection.csv", result.selection)
    run.write_csv("test.csv", result.test)
    if result.record is not None:
        run.write_csv("record.csv", result.record)
    if result.swept:
        result.plot(run)
    run.write_json(
        "sweep_summary.json",
        {
            "selected": json.loads(json.dumps(result.selected, default=list)),
            "selected_label": _label(result.selected, result.swept),
            "n_trials": result.n_trials,
            "n_configs": result.n_configs,
            "trials": result.trial_set.to_dict() if result.trial_set is not None else None,
            "seeds": result.config.seeds,
            "loss": result.loss_name,
            "periods": result.periods,
            "test": result.test.reset_index().to_dict(orient="records"),
            "notes": result.notes,
        },
    )


# -- the registry, for the DSR and PBO ---------------------------------------------------------------
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
