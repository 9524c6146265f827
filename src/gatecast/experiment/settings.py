"""The settings every job shares, declared once: the data, the walk-forward, the recurrent models
and the run folder. Each job config (evaluate, backtest, var, sweep; train takes the data part)
is built from these groups and adds its own fields, so one setting has one name, one default and
one check everywhere, and the command-line options are declared once from them
(``gatecast.cli.options``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, fields
from typing import Any

import pandas as pd

from gatecast.data.sources import (
    DataSource,
    check_finite,
    check_prices,
    load,
    resolve_column,
)
from gatecast.errors import ConfigError
from gatecast.evaluation.executors import executor_runtime
from gatecast.evaluation.significance import MCS_BLOCK_SIZE, MCS_REPS
from gatecast.evaluation.walkforward import WalkForwardPlan
from gatecast.experiment.registry import EVALUATION_TARGETS, EvaluationTarget
from gatecast.types import (
    EXECUTORS,
    PROXIES,
    SCHEMES,
    Executor,
    Proxy,
    Scheme,
    check_choice,
    check_number,
)

__all__ = [
    "ConfidenceSetSettings",
    "CovariateSettings",
    "DataSettings",
    "EnsembleSettings",
    "ExecutorSettings",
    "InputSettings",
    "LaneSettings",
    "RecurrentSettings",
    "RunSettings",
    "SeedSettings",
    "TargetSettings",
    "WalkSettings",
    "group_fields",
    "load_data",
]


class _Group:
    """Runs each group's checks in turn (cooperative ``__post_init__`` over the groups)."""

    def __post_init__(self) -> None:
        parent: Any = getattr(super(), "__post_init__", None)
        if parent is not None:
            parent()


@dataclass(kw_only=True)
class DataSettings(_Group):
    """Where the prices come from and how they are read: ``data`` is a bundled name, a CSV or
    Parquet path, or the prices themselves (a DataFrame, a Series, an Arrow table); ``column``
    the price column (default adj_close, else close); ``sort`` sorts unsorted dates instead of
    refusing them; ``dropna`` drops rows with NaN/inf in a used column (reported);
    ``dayfirst`` / ``date_format`` how dates are read; ``allow_outliers`` keeps absurd prices
    (recorded) instead of refusing them."""

    data: DataSource = "sp500"
    column: str | None = None
    sort: bool = False
    dropna: bool = False
    dayfirst: bool | None = None
    date_format: str | None = None
    allow_outliers: bool = False

    def read_options(self) -> dict[str, Any]:
        """How the prices are read: every setting of this group but ``data``, as the keywords
        of :func:`~gatecast.data.sources.load` and :func:`~gatecast.data.panel.load_panel`."""
        return {name: getattr(self, name) for name in group_fields(DataSettings) if name != "data"}


@dataclass(kw_only=True)
class WalkSettings(_Group):
    """The walk-forward: the test period (``test_start`` .. ``test_end``, default the end of
    the data), a refit every ``refit_every`` rows, an ``expanding`` or ``rolling`` training
    scheme (``train_size`` rows), and ``gap`` rows left out between training and test."""

    test_start: str = "2015-01-01"
    test_end: str | None = None
    refit_every: int = 21
    scheme: Scheme = "expanding"
    train_size: int | None = None
    gap: int = 0

    def __post_init__(self) -> None:
        check_choice(self.scheme, SCHEMES, "scheme")
        check_number(self.refit_every, "refit_every", at_least=1, integer=True)
        check_number(self.gap, "gap", at_least=0, integer=True)
        if self.train_size is not None and self.scheme != "rolling":
            raise ConfigError(
                f"train_size={self.train_size} is the length of a rolling training window: add "
                f"scheme='rolling' (--scheme rolling), or leave it out"
            )
        super().__post_init__()

    def plan(self) -> WalkForwardPlan:
        """The walk-forward plan of these settings."""
        return WalkForwardPlan(
            self.test_start, self.test_end, self.refit_every, self.scheme, self.train_size, self.gap
        )


@dataclass(kw_only=True)
class SeedSettings(_Group):
    """How many times each recurrent model (or swept configuration) runs: once per seed in
    ``range(seeds)``, reported as the mean (and sd) over seeds."""

    seeds: int = 1

    def __post_init__(self) -> None:
        check_number(self.seeds, "seeds", at_least=1, integer=True)
        super().__post_init__()


@dataclass(kw_only=True)
class EnsembleSettings(_Group):
    """How a walk-forward scores a recurrent model run with several seeds: on the mean of its
    seeds' losses (``ensemble`` False), or on the loss of its seeds' mean forecast (True), on
    one series and on a panel."""

    ensemble: bool = False


@dataclass(kw_only=True)
class LaneSettings(_Group):
    """The lanes of sequence mode (truncated BPTT), for a training job and a panel evaluation:
    ``chunks`` lanes, ``chunk_len`` steps a chunk, the first ``burn_in`` steps of a lane
    unscored; None: the model's own (32, 16, 10). Checked by the model."""

    chunks: int | None = None
    chunk_len: int | None = None
    burn_in: int | None = None


@dataclass(kw_only=True)
class RecurrentSettings(SeedSettings):
    """The recurrent models of a walk-forward: each runs once per seed (:class:`SeedSettings`),
    ``recurrent_epochs`` epochs for a cold fit and
    ``warm_epochs`` for a refit warm-started from the last weights (``warm_start``), ``hidden``
    units, an input ``window`` of rows (None: the family's own, 22 for return and direction
    models, 5 for variance models)."""

    recurrent_epochs: int = 30
    warm_epochs: int = 5
    warm_start: bool = True
    hidden: int = 16
    window: int | None = None

    def __post_init__(self) -> None:
        for name in ("recurrent_epochs", "warm_epochs", "hidden"):
            check_number(getattr(self, name), name, at_least=1, integer=True)
        if self.window is not None:
            check_number(self.window, "window", at_least=1, integer=True)
        super().__post_init__()


@dataclass(kw_only=True)
class TargetSettings(_Group):
    """What a walk-forward forecasts and scores: ``target`` (variance, return or direction) and,
    for a variance target, the ``proxy`` its forecasts are scored against (the squared return,
    or the Parkinson range, which needs High/Low)."""

    target: EvaluationTarget = "variance"
    proxy: Proxy = "squared"

    def __post_init__(self) -> None:
        check_choice(self.target, EVALUATION_TARGETS, "target")
        check_choice(self.proxy, PROXIES, "proxy")
        super().__post_init__()


@dataclass(kw_only=True)
class InputSettings(_Group):
    """What the recurrent models read and, for a variance target, train against: ``features``
    (None: the family's: range inputs with High/Low, close-only inputs without) and
    ``train_proxy`` (None: the Parkinson range with High/Low, else the squared return, shrunk
    toward the residual base's forecast for a model with one)."""

    features: tuple[str, ...] | None = None
    train_proxy: Proxy | None = None

    def __post_init__(self) -> None:
        if self.train_proxy is not None:
            check_choice(self.train_proxy, PROXIES, "train_proxy")
        super().__post_init__()


@dataclass(kw_only=True)
class CovariateSettings(_Group):
    """The covariate groups joined on the data as of each date (``vix``, ``sp500``, ...,
    ``file:PATH:COLUMN[:COLUMN...]``, on a panel ``instrument:NAME``; see
    :mod:`gatecast.data.covariates`): on a series, onto its rows; on a panel, onto each
    instrument's own rows. The models that read them run beside the same models without them
    (the ablation)."""

    covariates: tuple[str, ...] = ()


@dataclass(kw_only=True)
class ConfidenceSetSettings(_Group):
    """The model confidence set of the leaderboard (Hansen, Lunde and Nason): the models not
    rejected at size ``mcs_size`` (0.10: a 90% set), with a stationary bootstrap of mean block
    length ``mcs_block_size`` and ``mcs_reps`` replications."""

    mcs_size: float = 0.10
    mcs_block_size: int = MCS_BLOCK_SIZE
    mcs_reps: int = MCS_REPS

    def __post_init__(self) -> None:
        check_number(self.mcs_size, "mcs_size", above=0, below=1)
        super().__post_init__()


@dataclass(kw_only=True)
class ExecutorSettings(_Group):
    """Where a walk-forward's tasks run (:func:`gatecast.evaluation.executors.run_on`):
    ``executor`` ``serial`` (here, one after another), ``pool`` (``n_jobs`` local processes,
    -1: every core; 1: here) or ``ray`` (``n_jobs`` CPUs of a local Ray runtime, or the cluster
    at ``ray_address``). More than one job is refused for ``serial``, which runs one, and
    ``ray_address`` for any executor but ``ray``."""

    executor: Executor = "pool"
    n_jobs: int | None = -1
    ray_address: str | None = None

    def __post_init__(self) -> None:
        check_choice(self.executor, EXECUTORS, "executor")
        if self.n_jobs is not None and self.n_jobs != -1:
            check_number(self.n_jobs, "n_jobs", at_least=1, integer=True, hint="or -1: every core")
        if self.executor == "serial" and self.n_jobs not in (None, -1, 1):
            raise ConfigError(
                f"--n-jobs {self.n_jobs} sets the workers of --executor pool or ray; serial runs "
                f"the tasks one after another here: leave --n-jobs out, or choose --executor pool"
            )
        if self.ray_address is not None and self.executor != "ray":
            raise ConfigError(
                f"--ray-address joins a Ray cluster; add --executor ray (not {self.executor})"
            )
        super().__post_init__()

    def runtime(self) -> AbstractContextManager[None]:
        """Held around a run of several walks: one Ray runtime for them all (``ray``)."""
        return executor_runtime(self.executor, self.ray_address, self.n_jobs)


@dataclass(kw_only=True)
class RunSettings(ExecutorSettings):
    """The run folder and the machine: ``out`` (None: nothing written) must be new or empty,
    or hold an earlier run replaced with ``overwrite`` or continued with ``resume``
    (docs/run-folders.md); where its tasks run (:class:`ExecutorSettings`); ``quiet``: no
    progress bar."""

    out: str | None = None
    quiet: bool = False
    overwrite: bool = False
    resume: bool = False

    def __post_init__(self) -> None:
        if self.overwrite and self.resume:
            raise ConfigError("overwrite starts the run afresh, resume continues it: pass one")
        super().__post_init__()


def load_data(cfg: DataSettings, *, variance: bool = False) -> tuple[pd.DataFrame, int]:
    """The prices of ``cfg``, read once, with every column the models read checked (the price
    column; High and Low too, where present, for a variance target), and the rows dropped.

    A NaN is an error naming its date, or (``dropna``) a dropped row that the run reports; no
    model skips a row silently, and no row is dropped for a column the models do not read.
    """
    df = load(cfg.data, sort=cfg.sort, dayfirst=cfg.dayfirst, date_format=cfg.date_format)
    used = [resolve_column(df, cfg.column)]
    if variance:
        used += [c for c in ("high", "low") if c in df.columns]
    n0 = len(df)
    for col in used:
        df = check_finite(df, col, dropna=cfg.dropna)
    for col in used:
        df = check_prices(df, col, allow_outliers=cfg.allow_outliers)
    return df, n0 - len(df)


def group_fields(*groups: type) -> tuple[str, ...]:
    """The field names of settings groups, in order (``group_fields(DataSettings)``)."""
    return tuple(f.name for g in groups for f in fields(g))


def config_of(job: str, cls: type, values: Mapping[str, Any]) -> Any:
    """``cls(**values)`` for the Python call ``gc.<job>()``: an unknown setting is refused by
    name with the ones ``job`` takes; a path setting (``from_run=Path(...)``) becomes the
    string the command line gives (the config is written to the run folder as JSON)."""
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ConfigError(
            f"gc.{job}() has no setting {', '.join(unknown)}; its settings are "
            f"{', '.join(sorted(names))}"
        )
    return cls(**{k: os.fspath(v) if isinstance(v, os.PathLike) else v for k, v in values.items()})
