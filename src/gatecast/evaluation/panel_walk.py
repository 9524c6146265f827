"""Walk-forward over a panel: one global refit per refit date for all instruments, per-instrument
models refit at the same dates (their scores: :mod:`gatecast.evaluation.panel_scores`)."""

from __future__ import annotations

import io
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gatecast.artifacts import array_hash, atomic_write_bytes, atomic_write_json
from gatecast.data.sources import parse_date
from gatecast.errors import ConfigError, TooFewRowsError
from gatecast.evaluation.executors import run_on
from gatecast.evaluation.fold_files import check_run_dir
from gatecast.evaluation.walk_plan import Fold, WalkForwardPlan
from gatecast.evaluation.walkforward import model_identity, run_folds
from gatecast.types import Executor, Scheme

__all__ = [
    "PanelWalkPlan",
    "PanelWalkResult",
    "panel_walk_forward",
]

#: A zero-argument factory of a fresh model: a global one (``pooled = True``, fit on the whole
#: panel, e.g. :class:`gatecast.models.recurrent.global_variance.GlobalRecurrentVariance`) or a
#: per-instrument Forecaster (each instrument gets its own fresh model per fold).
PanelFactory = Callable[[], Any]


@dataclass(frozen=True)
class PanelWalkPlan:
    """The refit dates of a panel walk-forward and each instrument's training rows.

    The refit dates are every ``refit_every``-th date of the panel's calendar (the union of its
    instruments' dates) from ``test_start`` to ``test_end``. At the refit date D_k every model is
    refit on each instrument's rows dated before D_k and forecasts that instrument's own dates in
    [D_k, D_k+1): a forecast for date t uses rows up to t - 1 of that instrument only.

    ``scheme``: ``expanding`` trains on every row of the instrument before D_k, ``rolling`` on
    its last ``train_size`` rows only; ``gap`` rows just before D_k are left out of training
    (the single-series rule, :meth:`gatecast.evaluation.walk_plan.WalkForwardPlan.train_rows`,
    applied to each instrument's own rows; a global model fits every instrument's window).
    Each instrument needs ``min_train`` training rows at each of its refits.
    """

    test_start: str
    test_end: str | None = None
    refit_every: int = 21
    min_train: int = 250
    scheme: Scheme = "expanding"
    train_size: int | None = None
    gap: int = 0

    def __post_init__(self) -> None:
        if self.min_train < 1:
            raise ConfigError(f"min_train={self.min_train}: must be >= 1")
        self._rows()  # the single-series plan's checks: refit_every, scheme, train_size, gap

    def _rows(self) -> WalkForwardPlan:
        """The single-series plan whose training-row rule each instrument follows."""
        return WalkForwardPlan(
            self.test_start,
            self.test_end,
            refit_every=self.refit_every,
            scheme=self.scheme,
            train_size=self.train_size,
            gap=self.gap,
            min_train=self.min_train,
        )

    def record(self) -> dict[str, Any]:
        """The plan as recorded in a run folder (an expanding walk without a gap as before the
        rolling scheme came, so its folders still resume)."""
        out = asdict(self)
        if self.scheme == "expanding" and self.gap == 0:
            for key in ("scheme", "train_size", "gap"):
                out.pop(key)
        return out

    def train_window(self, index: pd.Index, day: pd.Timestamp) -> tuple[int, int]:
        """An instrument's training rows ``[start, stop)`` (positions in ``index``) for the refit
        on ``day``."""
        return self._rows().train_rows(int(index.searchsorted(day)))

    def refit_dates(self, frames: Mapping[str, pd.DataFrame]) -> pd.DatetimeIndex:
        """The refit dates over ``frames`` (each instrument's frame, e.g. a Panel)."""
        union = pd.DatetimeIndex(sorted(set().union(*(df.index for df in frames.values()))))
        start = parse_date(self.test_start, "test_start")
        stop = None if self.test_end is None else parse_date(self.test_end, "test_end")
        test = union[(union >= start) & ((union <= stop) if stop is not None else True)]
        if len(test) == 0:
            raise ConfigError(
                f"no dates of the panel between test_start {self.test_start} and "
                f"{self.test_end or 'its end'} (it runs {union[0].date()} to "
                f"{union[-1].date()}); pick dates inside the data"
            )
        refits: pd.DatetimeIndex = pd.DatetimeIndex(test[:: self.refit_every])
        return refits

    def folds(self, instrument: str, index: pd.Index, refits: pd.DatetimeIndex) -> list[Fold]:
        """One instrument's folds at the panel's refit dates: fold k trains on its rows before
        ``refits[k]`` and forecasts its rows in ``[refits[k], refits[k+1])`` (a refit with no
        row of the instrument in its block has no fold)."""
        stop = (
            len(index)
            if self.test_end is None
            else int(index.searchsorted(parse_date(self.test_end, "test_end"), side="right"))
        )
        starts = [int(index.searchsorted(d)) for d in refits] + [stop]
        rows = self._rows()
        out = []
        for k in range(len(refits)):
            s, e = min(starts[k], stop), min(starts[k + 1], stop)
            if s >= e:
                continue
            train_start, train_stop = rows.train_rows(s)
            if train_stop - train_start < self.min_train:
                window = ""
                if self.scheme == "rolling":
                    window = f" in its rolling window (train_size={self.train_size})"
                if self.gap:
                    window += f" (less a gap of {self.gap})"
                raise TooFewRowsError(
                    f"instrument {instrument!r} has {max(train_stop - train_start, 0)} rows"
                    f"{window} before the refit on {refits[k].date()}, fewer than "
                    f"min_train={self.min_train}; start the test later, lower min_train, or "
                    f"leave it out (panel.select([...]))"
                )
            out.append(Fold(k, train_start, train_stop, s, e))
        return out


@dataclass
class PanelWalkResult:
    """The forecasts of a panel walk-forward: ``forecasts`` indexed by (instrument, date) with a
    column per model, ``folds`` one row per fit (model, instrument or ``*`` for a global fit,
    fold, train_end, test range, seconds), and the run's wall time."""

    forecasts: pd.DataFrame
    folds: pd.DataFrame
    seconds: float

    def summary(self) -> str:
        """A short text account of the run."""
        n = self.forecasts.index.get_level_values("instrument").nunique()
        return (
            f"panel walk-forward: {len(self.forecasts)} forecasts of {n} instruments x "
            f"{self.forecasts.shape[1]} models in {self.seconds:.1f} s"
        )

    def __str__(self) -> str:
        return self.summary()


def panel_walk_forward(
    models: Mapping[str, PanelFactory],
    panel: Mapping[str, pd.DataFrame],
    plan: PanelWalkPlan,
    *,
    warm_start: bool | Mapping[str, bool] = False,
    run_dir: str | Path | None = None,
    n_jobs: int | None = 1,
    executor: Executor = "pool",
    ray_address: str | None = None,
) -> PanelWalkResult:
    """Walk-forward forecasts of every model for every instrument of ``panel``.

    Parameters
    ----------
    models
        Name -> a zero-argument factory. A global model (``pooled = True``) is refit once per
        refit date on all instruments' rows before it; any other model is a per-instrument
        Forecaster, refit per instrument at the same dates through the single-series
        walk-forward's own fold runner (:func:`gatecast.evaluation.walkforward.run_folds`).
    panel
        Instrument -> its price frame (a :class:`gatecast.Panel`), each on its own calendar.
    plan
        Test range and refit frequency (:class:`PanelWalkPlan`).
    warm_start
        Per model (or for all): refit a model from its previous weights at each refit date
        (its own ``warm_start`` setting must be on too): a global model once per date, a
        per-instrument recurrent model along each instrument's own chain, as
        :func:`~gatecast.evaluation.walkforward.walk_forward` does.
    run_dir
        Folder for the results of each refit as it finishes (``folds/<model>/fold_k`` for a
        global model: every instrument's forecasts of that refit and, warm, its weights;
        ``instruments/<i>_<name>/folds/<model>/`` for a per-instrument one, the single-series
        layout). Refits already there are read back instead of recomputed, so a killed run
        resumes; a folder of another walk (plan, data or models) is refused.
    n_jobs
        1: everything in this process, in order. N > 1 or -1 (every core): a process pool
        (one torch thread per worker) runs the tasks side by side: each global model's chain
        of refits is one task (its refits depend on each other), each per-instrument model on
        each instrument another. The numbers are those of ``n_jobs=1`` up to the rounding of a
        different torch thread count (a classical model's to the last digit).
    executor, ray_address
        Where the tasks run, as in :func:`~gatecast.evaluation.walkforward.walk_forward`:
        ``serial`` (here), ``pool`` (``n_jobs`` processes) or ``ray`` (``n_jobs`` CPUs of a
        local runtime, or the cluster at ``ray_address``), through
        :func:`gatecast.evaluation.executors.run_on`.

    Returns
    -------
    PanelWalkResult
    """
    if not models:
        raise ConfigError("no models to evaluate; give at least one")
    frames = {str(n): df for n, df in panel.items()}
    refits = plan.refit_dates(frames)
    folds = {n: plan.folds(n, df.index, refits) for n, df in frames.items()}
    warm = {
        m: (warm_start.get(m, False) if isinstance(warm_start, Mapping) else bool(warm_start))
        for m in models
    }
    root = Path(run_dir) if run_dir is not None else None
    if root is not None:
        check_run_dir(
            root,
            {
                "plan": plan.record(),
                "instruments": {
                    n: array_hash(df.to_numpy(dtype=float), np.asarray(df.index.astype("int64")))
                    for n, df in frames.items()
                },
                "models": {m: model_identity(f) for m, f in models.items()},
                "warm": warm,
            },
            finished=any(root.glob("folds/*/fold_*.json"))
            or any(root.glob("instruments/*/folds/*/fold_*.json")),
        )
    t0 = time.perf_counter()
    tasks: list[tuple[Any, ...]] = []  # (model, position of the piece, runner, its arguments)
    for name, factory in models.items():
        if getattr(factory(), "pooled", False):
            args = (name, factory, frames, refits, folds, warm[name], plan, root)
            tasks.append((name, 0, "global", args))
        else:
            for i, (n, df) in enumerate(frames.items()):
                rdir = str(root / "instruments" / _folder_name(i, n)) if root is not None else None
                tasks.append((name, i, "local", (name, factory, n, df, folds[n], warm[name], rdir)))
    where = (executor, n_jobs, ray_address)
    done = {(t[0], t[1]): result for t, result in _zip_results(tasks, where)}
    columns: dict[str, pd.Series] = {}
    infos: list[dict[str, Any]] = []
    for name in models:  # pieces in the order of n_jobs=1, whatever order they finished in
        pieces = [done[key] for key in sorted(k for k in done if k[0] == name)]
        columns[name] = pd.concat([fc for fc, _ in pieces])
        infos += [row for _, rows in pieces for row in rows]
    forecasts = pd.DataFrame(columns).sort_index()
    forecasts.index.names = ["instrument", "date"]
    table = pd.DataFrame(infos).sort_values(["model", "fold", "instrument"]).reset_index(drop=True)
    return PanelWalkResult(forecasts, table, time.perf_counter() - t0)


def _global_folds(
    name: str,
    factory: PanelFactory,
    frames: dict[str, pd.DataFrame],
    refits: pd.DatetimeIndex,
    folds: dict[str, list[Fold]],
    warm: bool,
    plan: PanelWalkPlan,
    root: Path | None = None,
) -> tuple[pd.Series, list[dict[str, Any]]]:
    """One global fit per refit date on every instrument's rows before it (those with at least
    ``plan.min_train`` of them), then each instrument's forecasts for its own dates of that
    fold; with ``root``, each refit's forecasts (and, warm, weights) are written as it ends and
    a finished one is read back."""
    pieces: list[pd.Series] = []
    infos: list[dict[str, Any]] = []
    by_k = {n: {f.number: f for f in fs} for n, fs in folds.items()}
    model: Any = None
    last_done: int | None = None  # a refit read back: the warm chain continues from its weights
    for k, day in enumerate(refits):
        todo = {n: f[k] for n, f in by_k.items() if k in f}
        if not todo:
            continue
        done = _read_global_fold(root, name, k) if root is not None else None
        if done is not None:
            pieces += [_keyed(fc, n) for n, fc in done[0].items()]
            infos.append(done[1] | {"resumed": True})
            model, last_done = None, k
            continue
        if model is None or not warm:
            model = factory()
            if warm and last_done is not None and root is not None:
                state = _read_global_state(root, name, last_done)
                if state is None:
                    raise ConfigError(
                        f"{root}: the weights of {name}'s refit {last_done} are missing or "
                        f"damaged, so its warm chain cannot continue exactly; delete "
                        f"{root / 'folds' / name} to rerun that model, or pass --overwrite"
                    )
                model.set_warm_state(state)
        t0 = time.perf_counter()
        # every instrument's training window for the refit date (expanding: all its rows
        # before it), the same rule for all
        train = {n: df.iloc[slice(*plan.train_window(df.index, day))] for n, df in frames.items()}
        model.fit({n: df for n, df in train.items() if len(df) >= plan.min_train})
        t1 = time.perf_counter()
        own: dict[str, pd.Series] = {}
        for n, fold in todo.items():
            df = frames[n]
            idx = df.index
            own[n] = model.predict_instrument(
                n, df.iloc[: fold.test_stop], idx[fold.test_start], idx[fold.test_stop - 1]
            ).astype(float)
            pieces.append(_keyed(own[n], n))
        info = {
            "model": name,
            "instrument": "*",
            "fold": k,
            "train_end": day,
            "test_start": day,
            "n": sum(f.test_stop - f.test_start for f in todo.values()),
            "fit_seconds": t1 - t0,
            "predict_seconds": time.perf_counter() - t1,
            "warm": bool(warm and k > 0),
        }
        if root is not None:
            _write_global_fold(root, name, k, own, info, model.warm_state() if warm else None)
        infos.append(info | {"resumed": False})
    return pd.concat(pieces), infos


def _local_folds(
    name: str,
    factory: PanelFactory,
    instrument: str,
    df: pd.DataFrame,
    folds: list[Fold],
    warm: bool = False,
    run_dir: str | None = None,
) -> tuple[pd.Series, list[dict[str, Any]]]:
    """One instrument's own walk-forward of a per-instrument model, fold by fold, through the
    single-series runner (a fresh model per fold, or one warm chain, as ``walk_forward``
    does), its folds kept in ``run_dir`` (``root/instruments/<i>_<name>``)."""
    pieces: list[pd.Series] = []
    infos: list[dict[str, Any]] = []
    for fc, info in run_folds(name, factory, df, folds, warm, run_dir):
        pieces.append(_keyed(fc, instrument))
        infos.append(info | {"instrument": instrument})
    return pd.concat(pieces), infos


def _run_task(
    name: str, position: int, runner: str, args: tuple[Any, ...]
) -> tuple[tuple[str, int], tuple[pd.Series, list[dict[str, Any]]]]:
    """One task of the panel walk (module level: process pools call it), tagged with its key."""
    run = _global_folds if runner == "global" else _local_folds
    return (name, position), run(*args)


def _zip_results(
    tasks: list[tuple[Any, ...]], where: tuple[Executor, int | None, str | None]
) -> list[tuple[tuple[Any, ...], tuple[pd.Series, list[dict[str, Any]]]]]:
    """Each task beside its result, run where ``(executor, n_jobs, ray_address)`` says."""
    executor, n_jobs, ray_address = where
    by_key = dict(run_on(executor, _run_task, tasks, n_jobs, ray_address=ray_address))
    return [(t, by_key[(t[0], t[1])]) for t in tasks]


def _folder_name(position: int, instrument: str) -> str:
    """A folder name for an instrument: its position (unique) and its name made safe for any
    file system (``BRK/B`` -> ``003_BRK_B``)."""
    return f"{position:04d}_{re.sub(r'[^A-Za-z0-9._-]', '_', instrument)[:40]}"


def _global_paths(root: Path, model: str, k: int) -> tuple[Path, Path, Path]:
    base = root / "folds" / model / f"fold_{k:04d}"
    return base.with_suffix(".parquet"), base.with_suffix(".json"), base.with_suffix(".safetensors")


def _write_global_fold(
    root: Path,
    model: str,
    k: int,
    forecasts: dict[str, pd.Series],
    info: dict[str, Any],
    state: Mapping[str, np.ndarray] | None,
) -> None:
    """One global refit's forecasts (long: instrument, date, forecast), weights, then its JSON
    (written last: it marks the refit finished); each file atomically."""
    pq, meta, st = _global_paths(root, model, k)
    long = pd.concat(
        [
            pd.DataFrame({"instrument": n, "date": fc.index, "forecast": fc.to_numpy()})
            for n, fc in forecasts.items()
        ],
        ignore_index=True,
    )
    buf = io.BytesIO()
    long.to_parquet(buf)
    atomic_write_bytes(pq, buf.getvalue())
    if state is not None:
        from safetensors.numpy import save

        atomic_write_bytes(st, save({n: np.ascontiguousarray(v) for n, v in state.items()}))
    atomic_write_json(meta, info)


def _read_global_fold(
    root: Path, model: str, k: int
) -> tuple[dict[str, pd.Series], dict[str, Any]] | None:
    pq, meta, _ = _global_paths(root, model, k)
    if not (pq.is_file() and meta.is_file()):
        return None
    try:
        info = json.loads(meta.read_text(encoding="utf-8"))
        long = pd.read_parquet(pq)
    except (OSError, ValueError):
        return None  # damaged: the refit is recomputed
    out = {
        str(n): pd.Series(g["forecast"].to_numpy(), index=pd.DatetimeIndex(g["date"]))
        for n, g in long.groupby("instrument", sort=False)
    }
    for key in ("train_end", "test_start"):
        info[key] = pd.Timestamp(info[key])
    return out, info


def _read_global_state(root: Path, model: str, k: int) -> dict[str, np.ndarray] | None:
    st = _global_paths(root, model, k)[2]
    if not st.is_file():
        return None
    from safetensors.numpy import load

    try:
        return dict(load(st.read_bytes()))
    except Exception:  # a truncated file: the chain cannot be continued from it
        return None


def _keyed(fc: pd.Series, instrument: str) -> pd.Series:
    out: pd.Series = fc.copy()
    out.index = pd.MultiIndex.from_arrays(
        [np.full(len(fc), instrument, dtype=object), pd.DatetimeIndex(fc.index)],
        names=["instrument", "date"],
    )
    return out
