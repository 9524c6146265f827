"""Sequence mode, the stateful training strategy: one long series cut into lanes walked forward
chunk by chunk, the state carried from chunk to chunk (truncated BPTT)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import torch

from gatecast.artifacts import array_hash
from gatecast.data.scalers import fit_scaler
from gatecast.data.sequences import pad_sequences, sequence_pairs, split_lanes
from gatecast.errors import ConfigError, TooFewRowsError
from gatecast.models.recurrent.base import RecurrentEstimator
from gatecast.models.recurrent.net import RecurrentNet
from gatecast.training.config import TrainConfig, TrainResult
from gatecast.training.loop import resolve_device, seed_everything
from gatecast.training.sequence import Lanes, train_sequence_loop


class SequenceStrategy:
    """Train on contiguous lanes of the series run as one batch, ``chunk_len`` steps at a time,
    each lane's state carried (detached) into its next chunk and the loss taken at every step
    after ``burn_in``. Each series keeps its own validation tail (the same dates as window mode),
    scalers fit on the training rows of all series together, and lanes of different lengths are
    padded, packed and masked.

    A warm refit (``warm_start`` on a fitted model, as in a walk-forward) trains its
    ``warm_epochs`` on every row, the validation tail included, with no early stopping: the tail
    holds the newest days, which a refit exists to learn, the cold fit already chose the weights
    it starts from, and a validation pass over the whole series costs about as much as an epoch."""

    def min_rows(self, model: RecurrentEstimator, cfg: Any) -> int:
        # the burn-in stands for the window
        return int(cfg.burn_in + 1 + cfg.target.horizon + 1 + (2 if cfg.val_size > 0 else 0))

    @staticmethod
    def n_val(cfg: Any, n_pairs: int) -> int:
        # The validation tail holds the same dates as window mode's for this window, so both
        # modes fit the same scalers and early-stop on the same targets.
        if not cfg.val_size:
            return 0
        return int(round(max(n_pairs - cfg.window + 1, 1) * cfg.val_size))

    def fit(self, model: RecurrentEstimator, cfg: Any, frames: dict[str, pd.DataFrame]) -> None:
        if cfg.mode != "sequence":
            raise ConfigError(
                f"fit_many trains on several series in sequence mode, this model has "
                f"mode={cfg.mode!r}; create it with mode='sequence'"
            )
        if not frames:
            raise ConfigError("fit_many got no series; pass {name: DataFrame, ...}")
        horizon = int(cfg.target.horizon)
        need = self.min_rows(model, cfg)
        warm = bool(cfg.warm_start) and model.net_ is not None
        parts = []
        for name, df in frames.items():
            where = df.attrs.get("source", name)
            if len(df) < need:
                raise TooFewRowsError(
                    f"{len(df)} rows in {where} are too few for burn_in={cfg.burn_in}, horizon="
                    f"{horizon} and a validation tail: need at least {need}"
                )
            feats, target, col = model.training_frames(df, cfg)
            pairs = sequence_pairs(feats, target, horizon)
            n_train = len(pairs) - (0 if warm else self.n_val(cfg, len(pairs)))
            if n_train < 1:
                raise TooFewRowsError(f"no training rows remain in {where}; use more data")
            parts.append((name, col, feats, target, pairs, n_train))
        # Scalers see the training range only, as in window mode: feature rows dated up to each
        # series' last training target, and the training targets.
        train_rows = np.concatenate(
            [f.to_numpy(dtype=float)[f.index <= p.index[n - 1]] for _, _, f, _, p, n in parts]
        )
        fs = fit_scaler(model.feature_scaler_kind(cfg), train_rows, list(cfg.features))
        y_train = np.concatenate([p.y[:n] for *_, p, n in parts])
        ts = model.fit_target_scaler(cfg, y_train)
        xs = [fs.transform(p.X) for *_, p, _ in parts]
        ys = [ts.transform(p.y) for *_, p, _ in parts]
        dev = resolve_device(cfg.device)
        seed_everything(cfg.seed)  # weight init; lanes are walked in time order, not shuffled
        net, warm = model._start_net(cfg, y_train)
        net = net.to(dev)
        result = train_lanes(
            net,
            model.loss_fn(cfg, "none"),
            xs,
            ys,
            [n for *_, n in parts],
            cfg.train_config(warm=warm),
            chunks=cfg.chunks,
            chunk_len=cfg.chunk_len,
            burn_in=cfg.burn_in,
        )
        series: dict[str, dict[str, Any]] = {
            str(name): {
                "column": col,
                "rows": len(p),
                "train_range": [str(p.index[0]), str(p.index[n - 1])],
                "val_rows": len(p) - n,
            }
            for name, col, _, _, p, n in parts
        }
        ranges = [v["train_range"] for v in series.values()]
        info: dict[str, Any] = {
            "train_range": [min(r[0] for r in ranges), max(r[1] for r in ranges)],
            "data_hash": array_hash(
                *[
                    a
                    for _, _, f, t, _, _ in parts
                    for a in (f.to_numpy(dtype=float), t.to_numpy(dtype=float))
                ]
            ),
            "series": series,
        }
        columns = {col for _, col, *_ in parts}
        # one column for every series is the model's; series that differ resolve their own
        column = columns.pop() if len(columns) == 1 else cfg.column
        model._finish(
            cfg, column=column, feature_scaler=fs, target_scaler=ts, result=result, info=info
        )


def train_lanes(
    net: RecurrentNet,
    loss: Any,
    xs: list[np.ndarray],
    ys: list[np.ndarray],
    n_train: list[int],
    train: TrainConfig,
    *,
    chunks: int,
    chunk_len: int,
    burn_in: int,
) -> TrainResult:
    """Train ``net`` (on its device, in place) in sequence mode on several series: the scaled
    input rows ``xs[i]`` (T_i, F) and targets ``ys[i]`` (T_i,) of series i, whose first
    ``n_train[i]`` steps are its training part and the rest its validation tail.

    The training parts are cut into lanes of about ``sum(n_train) / chunks`` steps each, a lane
    never crossing two series, and walked by :func:`train_sequence_loop`; the validation loss
    runs every series whole from a zero state and counts its tail only. What the
    single-series sequence mode (and ``fit_many``) and the global models' sequence mode share.
    """
    dev = next(net.parameters()).device
    dtype = next(net.parameters()).dtype
    lane_len = -(-sum(n_train) // chunks)
    pieces = [
        (x[a:b], y[a:b])
        for x, y, n in zip(xs, ys, n_train, strict=True)
        for a, b in split_lanes(n, -(-n // lane_len))
    ]
    lx, lengths = pad_sequences([x for x, _ in pieces])
    # padded targets are masked out of the loss; 1.0 keeps every loss finite there (a
    # variance's QLIKE takes the log of its target), so 0 x loss is 0 exactly
    ly, _ = pad_sequences([y[:, None] for _, y in pieces], value=1.0)
    lanes = Lanes(
        torch.as_tensor(lx, dtype=dtype, device=dev),
        torch.as_tensor(ly, dtype=dtype, device=dev),
        lengths,
    )
    validate = _validator(net, loss, xs, ys, n_train, dtype, dev)
    return train_sequence_loop(
        net, lanes, validate, train, loss, chunk_len=chunk_len, burn_in=burn_in
    )


def _validator(
    net: RecurrentNet,
    loss: Any,
    xs: list[np.ndarray],
    ys: list[np.ndarray],
    n_train: list[int],
    dtype: torch.dtype,
    dev: torch.device,
) -> Callable[[], float] | None:
    """The validation loss over every series' tail, each series run whole from a zero state."""
    if all(len(x) == n for x, n in zip(xs, n_train, strict=True)):
        return None
    vx, lengths = pad_sequences(xs)
    vy, _ = pad_sequences([y[:, None] for y in ys], value=1.0)  # masked, finite
    w = np.zeros(vx.shape[:2])
    for i, (x, n) in enumerate(zip(xs, n_train, strict=True)):
        w[i, n : len(x)] = 1.0
    X = torch.as_tensor(vx, dtype=dtype, device=dev)
    Y = torch.as_tensor(vy, dtype=dtype, device=dev)
    W = torch.as_tensor(w, dtype=dtype, device=dev)
    ragged = lengths if (lengths < vx.shape[1]).any() else None

    def validate() -> float:
        pred, _ = net.forward_sequence(X, lengths=ragged)
        return float((loss(pred, Y).mean(dim=-1) * W).sum() / W.sum())

    return validate


SEQUENCE = SequenceStrategy()
