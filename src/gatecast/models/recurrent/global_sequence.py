"""Sequence mode for a global (panel) model: each instrument's rows are one long sequence,
scaled by its own scalers, cut into lanes that never cross two instruments and walked chunk by
chunk with the state carried (truncated BPTT), by the single-series sequence mode's own loop."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from gatecast.data.scalers import Scaler, fit_scaler
from gatecast.data.sequences import sequence_pairs
from gatecast.errors import TooFewRowsError
from gatecast.models.config import LANE_SETTINGS
from gatecast.models.recurrent.net import RecurrentNet
from gatecast.models.recurrent.sequence import SEQUENCE, train_lanes
from gatecast.training.config import TrainResult
from gatecast.training.loop import resolve_device, seed_everything


@dataclass
class PanelFit:
    """What a global fit leaves per instrument: its feature scaler, its target part (a level,
    a target scaler), its price column, the dates of its first row and last training target;
    and the training result."""

    scalers: dict[str, Scaler]
    targets: dict[str, Any]
    columns: dict[str, str]
    train_ranges: dict[str, tuple[str, str]]
    result: TrainResult


def lane_min_rows(model: Any, cfg: Any) -> int:
    """Rows (after those its inputs need first) an instrument needs to train in sequence mode:
    the burn-in, a step past it, a target and a validation tail (the single-series rule)."""
    return int(model.burn_in + 1 + 1 + 1 + (2 if cfg.val_size > 0 else 0))


def lane_settings(model: Any) -> dict[str, Any]:
    """The model's sequence-mode settings (``mode``, ``chunk_len``, ``chunks``, ``burn_in``)."""
    return {k: getattr(model, k) for k in LANE_SETTINGS}


def as_sequence_view(model: Any, local: Any) -> None:
    """Make the fitted single-series view ``local`` of a sequence-mode global ``model`` predict
    and stream as a sequence-mode model (a stateful run over the history): its spec's ``mode``,
    and the sequence settings in its config (which the variance model's own lacks)."""
    spec = local.spec_
    local.spec_ = replace(spec, mode="sequence", config=dict(spec.config) | lane_settings(model))


def fit_sequence(
    model: Any, frames: Mapping[str, pd.DataFrame], local: Any, cfg: Any, *, warm: bool
) -> PanelFit:
    """Train ``model.net_`` (a new net, or the current one for a ``warm`` refit) in sequence
    mode on every instrument of ``frames``; ``local`` is the model's single-series view of the
    settings ``cfg``.

    Per instrument, as in window mode: the validation tail holds the dates of window mode's
    (:meth:`SequenceStrategy.n_val`; none on a warm refit, as the single-series sequence mode),
    the feature scaler sees the feature rows up to its last training target only and the target
    part (:meth:`_fit_target`) its training targets only. With ``embedding`` each instrument's
    one-hot joins its inputs at every step."""
    names = list(frames)
    scalers: dict[str, Scaler] = {}
    targets: dict[str, Any] = {}
    columns: dict[str, str] = {}
    ranges: dict[str, tuple[str, str]] = {}
    xs, ys, n_train, y_train = [], [], [], []
    for k, (n, df) in enumerate(frames.items()):
        f, y_n, columns[n] = local.training_frames(df, cfg)
        raw = sequence_pairs(f, y_n, 1)
        n_tr = len(raw) - (0 if warm else SEQUENCE.n_val(cfg, len(raw)))
        if n_tr < 1:
            raise TooFewRowsError(f"instrument {n!r}: no training rows remain; use more data")
        end = raw.index[n_tr - 1]
        values = f.to_numpy(dtype=float)
        labels = [f"instrument {n!r}, feature {c!r}" for c in f.columns]
        scalers[n] = fit_scaler(local.feature_scaler_kind(cfg), values[f.index <= end], labels)
        targets[n], target = model._fit_target(n, cfg, y_n, raw.y[:n_tr])
        pairs = sequence_pairs(f, target, 1, values=scalers[n].transform(values))
        x = pairs.X
        if model.embedding:
            hot = np.zeros((len(x), len(names)))
            hot[:, k] = 1.0
            x = np.concatenate([x, hot], axis=1)
        xs.append(x)
        ys.append(pairs.y)
        n_train.append(n_tr)
        y_train.append(pairs.y[:n_tr])
        ranges[n] = (str(f.index[0]), str(end))
    dev = resolve_device(cfg.device)
    seed_everything(cfg.seed)  # weight init; lanes are walked in time order, not shuffled
    if not warm:
        model.net_ = RecurrentNet(cfg.cell, xs[0].shape[1], cfg.hidden, cfg.layers, cfg.dropout)
        local.init_net(model.net_, np.concatenate(y_train))
    net = model.net_.to(dev)
    result = train_lanes(
        net,
        local.loss_fn(cfg, "none"),
        xs,
        ys,
        n_train,
        cfg.train_config(warm=warm),
        chunks=model.chunks,
        chunk_len=model.chunk_len,
        burn_in=model.burn_in,
    )
    return PanelFit(scalers, targets, columns, ranges, result)
