"""Instruments a global model was not fit on, served with NumPy alone: each one's own part (its
feature scaler, and its level or target scaler) fit on its history, by the rules of the torch
model's ``for_instrument(name, history)``. Imports no torch."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace

import numpy as np
import pandas as pd

from gatecast.data.features import training_target
from gatecast.data.scalers import Scaler, fit_scaler, make_scaler
from gatecast.data.sources import resolve_column
from gatecast.data.volatility import QLIKE_FLOOR, parkinson_scale, percent_returns, variance_proxy
from gatecast.data.windows import make_windows
from gatecast.errors import DataError, PanelError, TooFewRowsError
from gatecast.inference.pipeline import feature_frame
from gatecast.serve.global_folder import GlobalFolder

__all__ = ["extra_history", "with_new_instruments"]


def extra_history(parts: GlobalFolder) -> int:
    """Rows a new instrument needs beyond ``min_history``: a return model's target scaler is fit
    on a few of its target values (the torch model's ``extra_history``)."""
    return 0 if parts.kind == "global_variance" else 2


def with_new_instruments(
    parts: GlobalFolder, history: Mapping[str, pd.DataFrame], min_history: int
) -> GlobalFolder:
    """``parts`` with each instrument of ``history`` (instrument -> its rows before its first
    forecast) added: its feature scaler and its level (a variance model) or target scaler and
    price column (a return model) fit on those rows, as the torch model fits them.

    Refused by name (before anything is fit): an instrument of the fit (its part is the fit's),
    any new one when the model learned an embedding per instrument (a new one has no vector),
    and one with fewer than ``min_history`` rows (plus :func:`extra_history`)."""
    names = [str(n) for n in history]
    for n in names:
        if n in parts.scalers:
            raise PanelError(
                f"instrument {n!r} was in the fit: its scalers are the fit's; leave it out of "
                f"history"
            )
    if names and parts.embedding is not None:
        raise PanelError(
            f"instrument {names[0]!r} was not in the fit ({', '.join(parts.instruments)}) and "
            f"the model learned a vector per instrument it was fit on (embedding=True): refit "
            f"with it, or use embedding=False"
        )
    scalers, tscalers = dict(parts.scalers), dict(parts.target_scalers)
    levels, columns, ranges = dict(parts.levels), dict(parts.columns), dict(parts.train_ranges)
    for n, rows in history.items():
        name = str(n)
        scaler, target, column = _new_part(parts, name, rows, min_history)
        scalers[name] = scaler
        if isinstance(target, Scaler):
            tscalers[name], columns[name] = target, str(column)
        else:
            levels[name] = target
        ranges[name] = (str(rows.index[0]), str(rows.index[-1]))
    return replace(
        parts,
        instruments=(*parts.instruments, *names),
        scalers=scalers,
        target_scalers=tscalers,
        levels=levels,
        columns=columns,
        train_ranges=ranges,
    )


def _new_part(
    parts: GlobalFolder, name: str, history: pd.DataFrame, min_history: int
) -> tuple[Scaler, Scaler | float, str | None]:
    """(feature scaler, level or target scaler, price column) of instrument ``name``."""
    spec, cfg = parts.spec, parts.spec.config
    extra = extra_history(parts)
    need = min_history + extra
    if len(history) < need:
        more = f", and {extra} more rows" if extra else ""
        raise TooFewRowsError(
            f"instrument {name!r} has {len(history)} rows before its first forecast; the global "
            f"model needs at least {need} to fit its "
            f"{'scaler and level' if parts.levels else 'scalers'} on (window={spec.window} plus "
            f"{min_history - spec.window} rows its inputs need before their first value{more})"
        )
    col = resolve_column(history, cfg.get("column"))
    own = replace(spec, column=col)
    feats = feature_frame(own, history)
    values = feats.to_numpy(dtype=float)
    ok = np.isfinite(values).all(axis=1)
    labels = [f"instrument {name!r}, feature {c!r}" for c in feats.columns]
    scaler = fit_scaler(spec.feature_scaler.kind, values[ok], labels)
    if parts.kind == "global_variance":
        return scaler, _level(parts, name, history, feats, col), spec.column
    y = training_target(history, spec.target, col).to_numpy(dtype=float)  # type: ignore[arg-type]
    y = y[np.isfinite(y)]
    kind = parts.target_scalers[parts.instruments[0]].kind  # "none" for a direction
    target = (
        make_scaler("none").fit(y)
        if kind == "none"
        else fit_scaler(kind, y, [f"instrument {name!r}, return"])
    )
    return scaler, target, col


def _level(
    parts: GlobalFolder, name: str, history: pd.DataFrame, feats: pd.DataFrame, col: str
) -> float:
    """A variance model's level of a new instrument: the mean of its training target over its
    history (the Parkinson proxy's scale fit on the rows before its validation tail, as the
    single-series fit does)."""
    spec, cfg = parts.spec, parts.spec.config
    proxy = cfg.get("train_proxy") or getattr(spec.target, "proxy", "squared")
    if cfg.get("loss", "qlike") == "qlike" and proxy == "parkinson":
        raw = make_windows(feats, None, spec.window, 1)
        val_size = float(cfg.get("val_size", 0.0))
        n_val = int(round(len(raw) * val_size)) if val_size > 0 else 0
        n_train = len(raw) - n_val
        end = raw.index[n_train - 1] if n_train >= 1 else history.index[-1]
        scale = parkinson_scale(history.loc[:end], col)
        y = variance_proxy(history, "parkinson", scale=scale, column=col)
    else:
        y = percent_returns(history, col) ** 2
    level = float(np.nanmean(y.clip(lower=QLIKE_FLOOR).to_numpy(dtype=float)))
    if not (math.isfinite(level) and level > 0):
        raise DataError(
            f"instrument {name!r}: its history gives no positive mean variance ({level}): its "
            f"prices do not move; give it rows with price changes"
        )
    return level
