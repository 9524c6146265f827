"""A walk-forward's finished folds in its run folder: each fold's forecasts, record and state
written (Parquet + JSON, the JSON last, atomically) and read back, the folder bound to one walk
(``folds/plan.json``), and what a run that finished no fold left removed."""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gatecast.artifacts import atomic_write_bytes, atomic_write_json
from gatecast.errors import ConfigError
from gatecast.evaluation.walk_plan import Fold


# -- the run folder --------------------------------------------------------------------------------
def _fold_paths(run_dir: Path, model: str, k: int) -> tuple[Path, Path, Path]:
    base = run_dir / "folds" / model / f"fold_{k:04d}"
    return base.with_suffix(".parquet"), base.with_suffix(".json"), base.with_suffix(".safetensors")


def _read_fold(run_dir: Path, model: str, k: int) -> tuple[pd.Series, dict[str, Any]] | None:
    pq, meta, _ = _fold_paths(run_dir, model, k)
    if not (pq.is_file() and meta.is_file()):  # the JSON is written last: it marks a finished fold
        return None
    try:
        info = json.loads(meta.read_text(encoding="utf-8"))
        s = pd.read_parquet(pq)["forecast"]
    except (OSError, ValueError, KeyError):
        return None  # a damaged file counts as not done: the fold is recomputed
    return s, info


def _write_fold(
    run_dir: Path,
    model: str,
    fold: Fold,
    fc: pd.Series,
    info: dict[str, Any],
    state: Mapping[str, np.ndarray] | None,
) -> None:
    pq, meta, st = _fold_paths(run_dir, model, fold.number)
    buf = io.BytesIO()
    fc.rename("forecast").to_frame().to_parquet(buf)
    atomic_write_bytes(pq, buf.getvalue())
    if state is not None:
        from safetensors.numpy import save

        atomic_write_bytes(st, save({k: np.ascontiguousarray(v) for k, v in state.items()}))
    atomic_write_json(meta, info)


def _read_state(run_dir: Path, model: str, k: int) -> dict[str, np.ndarray] | None:
    _, _, st = _fold_paths(run_dir, model, k)
    if not st.is_file():
        return None
    from safetensors.numpy import load

    try:
        return dict(load(st.read_bytes()))
    except Exception:  # a truncated state (killed mid-write elsewhere): restart the chain instead
        return None


def _finished_folds(run_dir: Path) -> list[Path]:
    """The marks of finished folds (each fold's JSON, written last) under ``run_dir/folds``."""
    return sorted((run_dir / "folds").glob("*/fold_*.json"))


def check_run_dir(run_dir: Path, record: dict[str, Any], finished: bool | None = None) -> None:
    """Bind ``run_dir/folds/plan.json`` to ``record`` (what the walk is: plan, data, models):
    written when absent, and a folder of finished folds of another walk is refused
    (``finished``: whether any fold finished, when they lie elsewhere than ``folds/*/``)."""
    path = run_dir / "folds" / "plan.json"
    if finished is None:
        finished = bool(_finished_folds(run_dir))
    if path.is_file() and not finished:
        path.unlink()  # a plan with no finished fold binds nothing: a corrected command reuses it
    if path.is_file():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(
                f"{path} is corrupt ({exc}); delete {run_dir / 'folds'} or use a new --out"
            ) from exc
        if old != json.loads(json.dumps(record)):
            diff = sorted(k for k in set(old) | set(record) if old.get(k) != record.get(k))
            raise ConfigError(
                f"{run_dir} holds folds of a different walk-forward (differs in {diff}); resuming "
                f"would mix them: pass a new --out folder or delete {run_dir / 'folds'}"
            )
    else:
        atomic_write_json(path, record)


def discard_unfinished(run_dir: str | Path, keep: Path | None = None) -> None:
    """Remove what a run that finished no fold left in ``run_dir`` (its ``folds/plan.json``
    and the folders made for it, ``run_dir`` itself if it is left empty), so a failed run leaves
    nothing behind; a run with a finished fold is kept, to resume."""
    root = Path(run_dir)
    if _finished_folds(root):
        return
    (root / "folds" / "plan.json").unlink(missing_ok=True)
    for folder in sorted((root / "folds").glob("*/"), reverse=True):
        _remove_if_empty(folder)
    _remove_if_empty(root / "folds")
    if root != keep:
        _remove_if_empty(root)


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass  # not empty (or gone): leave it
