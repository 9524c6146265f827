"""Walk-forward evaluation: refit every k steps on an expanding or rolling scheme, forecast the next block.

Each fold fits a model on its training rows only (so scalers and parameters are refit per fold)
and forecasts the dates of its test block with data up to the day before each date. Finished
folds are written to the run folder (Parquet + JSON, atomically), so a killed run resumes where it
stopped and ends with the same numbers as an uninterrupted one.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from gatecast.artifacts import array_hash
from gatecast.errors import ConfigError
from gatecast.evaluation.executors import run_on
from gatecast.evaluation.fold_files import _fold_paths, _read_fold, _read_state, _write_fold
from gatecast.evaluation.fold_files import check_run_dir as check_run_dir
from gatecast.evaluation.fold_files import discard_unfinished as discard_unfinished
from gatecast.evaluation.trading import INFORMATION_DATE
from gatecast.evaluation.walk_plan import Fold as Fold
from gatecast.evaluation.walk_plan import WalkForwardPlan as WalkForwardPlan
from gatecast.models.base import Forecaster, HasParams, WarmStartable
from gatecast.types import Executor

ModelFactory = Callable[[], Forecaster]


@dataclass
class WalkForwardResult:
    """Forecasts (date x model), one row per fit (model, fold, ranges, seconds, resumed) and,
    per forecast date, ``information_dates``: the date of the last observation its forecasts
    used (the data row before it; None for a result assembled by hand)."""

    forecasts: pd.DataFrame
    folds: pd.DataFrame
    seconds: float
    information_dates: pd.Series | None = None

    def summary(self) -> str:
        """A short text account of the run."""
        by = self.folds.groupby("model").agg(
            folds=("fold", "size"), fit_s=("fit_seconds", "sum"), resumed=("resumed", "sum")
        )
        return (
            f"walk-forward: {len(self.forecasts)} dates x {self.forecasts.shape[1]} models "
            f"in {self.seconds:.1f} s\n{by.to_string()}"
        )

    def __str__(self) -> str:
        return self.summary()


def _plain(value: Any) -> Any:
    """``value`` as JSON values: targets as their dict, tuples as lists."""
    if hasattr(value, "to_dict"):
        return _plain(value.to_dict())
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def model_identity(factory: ModelFactory) -> dict[str, Any]:
    """What a run folder records of a model: its class and ``get_params()`` as JSON values.

    Two factories with the same identity build the same model, so their saved folds may be
    reused; a model without ``get_params`` is identified by the factory's ``repr``.
    """
    model = factory()
    cls = type(model)
    out: dict[str, Any] = {"class": f"{cls.__module__}.{cls.__qualname__}"}
    if isinstance(model, HasParams):
        # a model may leave out settings that change nothing as set (a window-mode global
        # model's sequence settings), so folders recorded before they came still resume
        params = getattr(model, "identity_params", model.get_params)()
        out["params"] = _plain(params)
    else:
        out["factory"] = repr(factory)
    return out


# -- one model's folds -------------------------------------------------------------------------
def run_folds(
    model: str,
    factory: ModelFactory,
    data: pd.DataFrame,
    folds: list[Fold],
    warm_start: bool,
    run_dir: str | None,
) -> list[tuple[pd.Series, dict[str, Any]]]:
    """Fit and forecast ``folds`` of one model in order (module level: process pools call it).

    Cold start: a fresh model per fold. Warm start: one model refit fold after fold, so each fit
    starts from the previous fold's weights (the model's own ``warm_start`` does that); a
    :class:`WarmStartable` model also saves its state so a resumed run continues.
    """
    root = Path(run_dir) if run_dir else None
    out: list[tuple[pd.Series, dict[str, Any]]] = []
    current: Forecaster | None = None
    for i, fold in enumerate(folds):
        done = _read_fold(root, model, fold.number) if root else None
        if done is not None:
            out.append((done[0], done[1] | {"resumed": True}))
            current = None  # the chain must be restored from a saved state before the next fit
            continue
        if not warm_start or current is None:
            current = factory()
            if warm_start and root is not None and i > 0:
                state = _read_state(root, model, folds[i - 1].number)
                if state is None or not isinstance(current, WarmStartable):
                    # without the previous state a warm chain cannot be continued exactly
                    return _restart_chain(model, factory, data, folds, root)
                current.set_warm_state(state)
        fc, info = fit_fold(current, data, fold)
        info = {"model": model, **info, "warm": bool(warm_start and i > 0)}
        state = current.warm_state() if warm_start and isinstance(current, WarmStartable) else None
        if root is not None:
            _write_fold(root, model, fold, fc, info, state)
        out.append((fc, info | {"resumed": False}))
    return out


class Fits(Protocol):
    """What a fold needs of a model: ``fit`` on rows, ``predict`` over dates (every
    :class:`Forecaster` and every recurrent estimator)."""

    def fit(self, history: pd.DataFrame) -> Any: ...

    def predict(self, data: pd.DataFrame, start: Any = None, end: Any = None) -> pd.Series: ...


def fit_fold(model: Fits, data: pd.DataFrame, fold: Fold) -> tuple[pd.Series, dict[str, Any]]:
    """Fit ``model`` on the fold's training rows and forecast its test rows, each with the data
    up to the day before it: one refit of a walk-forward, and the whole of ``gatecast train``
    (a walk of one fold, :func:`one_fold`). Returns the forecasts and the fold's record (its
    dates, the number of forecasts, the seconds spent fitting and forecasting)."""
    t0 = time.perf_counter()
    model.fit(data.iloc[fold.train_start : fold.train_stop])
    t1 = time.perf_counter()
    idx = data.index
    fc = model.predict(
        data.iloc[: fold.test_stop], start=idx[fold.test_start], end=idx[fold.test_stop - 1]
    ).astype(float)
    t2 = time.perf_counter()
    return fc, {
        "fold": fold.number,
        "train_start": idx[fold.train_start],
        "train_end": idx[fold.train_stop - 1],
        "test_start": idx[fold.test_start],
        "test_end": idx[fold.test_stop - 1],
        "n": len(fc),
        "fit_seconds": t1 - t0,
        "predict_seconds": t2 - t1,
    }


def one_fold(index: pd.Index, train_rows: int, test_start: Any) -> Fold:
    """The one fold of a train/test split: train on the first ``train_rows`` rows of ``index``,
    forecast every row from ``test_start`` (rows between the two are the split's gap)."""
    start = int(index.searchsorted(pd.Timestamp(test_start)))
    if not 0 < train_rows <= start < len(index) or index[start] != pd.Timestamp(test_start):
        raise ConfigError(
            f"a split needs training rows before its test start: {train_rows} training rows, "
            f"test from row {start} of {len(index)}"
        )
    return Fold(0, 0, train_rows, start, len(index))


def _restart_chain(
    model: str, factory: ModelFactory, data: pd.DataFrame, folds: list[Fold], root: Path
) -> list[tuple[pd.Series, dict[str, Any]]]:
    for fold in folds:
        for p in _fold_paths(root, model, fold.number):
            p.unlink(missing_ok=True)
    return run_folds(model, factory, data, folds, True, str(root))


# -- the engine ----------------------------------------------------------------------------------
def walk_forward(
    models: Mapping[str, ModelFactory],
    data: pd.DataFrame,
    plan: WalkForwardPlan,
    *,
    warm_start: bool | Mapping[str, bool] = False,
    n_jobs: int | None = 1,
    run_dir: str | Path | None = None,
    quiet: bool = False,
    executor: Executor = "pool",
    ray_address: str | None = None,
) -> WalkForwardResult:
    """Walk-forward forecasts of every model over the plan's test period.

    Parameters
    ----------
    models
        Name -> a picklable zero-argument factory of a fresh Forecaster, e.g.
        ``functools.partial(ArchForecaster, "GARCH")``.
    data
        The whole frame (training history and test period).
    plan
        Test range, refit frequency, expanding/rolling scheme, gap.
    warm_start
        Per model (or for all): refit one model instance fold after fold instead of a fresh one
        per fold. Warm chains run as one task each; cold folds are independent tasks.
    n_jobs
        The workers of ``executor``: for ``pool``, 1 runs the tasks here, one after another,
        N > 1 or -1 (all cores) in a process pool; for ``ray``, the CPUs of a local runtime.
    run_dir
        Folder for per-fold results; folds already there are read back instead of recomputed.
    quiet
        No progress bar (there is none either when stderr is not a terminal).
    executor, ray_address
        Where the tasks run (:func:`gatecast.evaluation.executors.run_on`): ``serial`` (here),
        ``pool`` (``n_jobs`` local processes) or ``ray`` (a local runtime, or the cluster at
        ``ray_address``). A pool or Ray worker computes with one thread: numbers that depend on
        the thread count (a recurrent model's; an arch optimiser's, in its last digits) move
        with it by that rounding.

    Returns
    -------
    WalkForwardResult with ``forecasts`` (date x model) and per-fold records.
    """
    if not models:
        raise ConfigError("no models to evaluate; give at least one")
    folds = plan.folds(data.index)
    root = Path(run_dir) if run_dir is not None else None
    warm = {
        m: (warm_start.get(m, False) if isinstance(warm_start, Mapping) else bool(warm_start))
        for m in models
    }
    existed = root is not None and root.exists()
    if root is not None:
        check_run_dir(
            root,
            {
                "plan": asdict(plan),
                "data_hash": array_hash(
                    data.to_numpy(dtype=float), np.asarray(data.index.astype("int64"))
                ),
                "models": {m: model_identity(f) for m, f in models.items()},
            },
        )
    rdir = str(root) if root is not None else None
    try:
        where = (executor, n_jobs, ray_address)
        return _run(models, data, folds, warm, root, rdir, where, quiet)
    except BaseException:
        if root is not None:
            discard_unfinished(root, keep=root if existed else None)
        raise


def _run(
    models: Mapping[str, ModelFactory],
    data: pd.DataFrame,
    folds: list[Fold],
    warm: dict[str, bool],
    root: Path | None,
    rdir: str | None,
    where: tuple[Executor, int | None, str | None],
    quiet: bool,
) -> WalkForwardResult:
    tasks: list[tuple[Any, ...]] = []
    for name, factory in models.items():
        if warm[name]:
            tasks.append((name, factory, data, folds, True, rdir))
        else:
            tasks.extend((name, factory, data, [f], False, rdir) for f in folds)
    t0 = time.perf_counter()
    bar = _Bar(list(models), len(folds), root, quiet)
    pieces: dict[str, list[pd.Series]] = {m: [] for m in models}
    infos: list[dict[str, Any]] = []
    try:
        executor, n_jobs, ray_address = where
        for result in run_on(
            executor, run_folds, tasks, n_jobs, ray_address=ray_address, on_tick=bar.refresh
        ):
            for fc, info in result:
                pieces[info["model"]].append(fc)
                infos.append(info)
                bar.done(info["model"])
    finally:
        bar.stop()
    forecasts = pd.DataFrame(
        {m: pd.concat(p).sort_index() if p else pd.Series(dtype=float) for m, p in pieces.items()}
    )
    table = pd.DataFrame(infos).sort_values(["model", "fold"]).reset_index(drop=True)
    return WalkForwardResult(
        forecasts, table, time.perf_counter() - t0, information_dates(data.index, forecasts.index)
    )


def information_dates(index: pd.Index, dates: pd.Index) -> pd.Series:
    """For each forecast date, the date of the last observation a walk-forward forecast of it
    used: the row of ``index`` before it (every fold predicts row j from rows before j; the
    Forecaster contract, which each model's look-ahead test checks)."""
    pos = index.get_indexer(dates)
    if (pos < 1).any():
        k = int(np.argmax(pos < 1))
        raise ConfigError(
            f"forecast date {dates[k]} has no data row before it; a walk-forward forecasts "
            f"dates after its first row only"
        )
    used: pd.Series = pd.Series(index[pos - 1], index=dates, name=INFORMATION_DATE)
    return used


class _Bar:
    """A rich progress bar per model, advanced as folds finish (also by polling the run folder,
    since pool workers write folds before the task returns)."""

    def __init__(self, models: list[str], n_folds: int, root: Path | None, quiet: bool) -> None:
        self.prog: Any = None
        self.root, self.n = root, n_folds
        self.count = dict.fromkeys(models, 0)
        if quiet or not sys.stderr.isatty():
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.prog = Progress(
            TextColumn("{task.description:>12}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("folds"),
            TimeElapsedColumn(),
            transient=True,
        )
        self.ids = {m: self.prog.add_task(m, total=n_folds) for m in models}
        self.prog.start()

    def done(self, model: str) -> None:
        self.count[model] += 1
        if self.prog is not None:
            self.prog.update(self.ids[model], completed=self.count[model])

    def refresh(self) -> None:
        if self.prog is None or self.root is None:
            return
        for m, tid in self.ids.items():
            on_disk = len(list((self.root / "folds" / m).glob("fold_*.json")))
            self.prog.update(tid, completed=max(on_disk, self.count[m]))

    def stop(self) -> None:
        if self.prog is not None:
            self.prog.stop()
