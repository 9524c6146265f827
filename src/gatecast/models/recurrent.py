"""Recurrent forecasters (RNN, LSTM, GRU) in torch, behind the Forecaster protocol."""

from __future__ import annotations

import platform
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from gatecast import __version__
from gatecast.artifacts import FORMAT_VERSION, array_hash, load_model_folder, save_model_folder
from gatecast.data.features import (
    TargetSpec,
    build_features,
    check_not_constant,
    make_target,
    price_series,
)
from gatecast.data.scalers import Scaler, fit_scaler, make_scaler, scaler_from_dict
from gatecast.data.sequences import pad_sequences, sequence_pairs, split_lanes
from gatecast.data.sources import resolve_column
from gatecast.data.windows import Windows, make_windows
from gatecast.errors import ConfigError, ModelFileError, TooFewRowsError
from gatecast.models.base import as_target, clip_dates, require_fitted
from gatecast.train.loop import (
    TrainConfig,
    TrainResult,
    resolve_device,
    seed_everything,
    train_loop,
)
from gatecast.train.sequence import Lanes, train_sequence_loop

if TYPE_CHECKING:
    from gatecast.models.streaming import Stream

CELLS: dict[str, type[nn.Module]] = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}
MODES = ("window", "sequence")


class RecurrentNet(nn.Module):
    """A stack of recurrent layers and a linear head on the last step: (batch, time, F) -> (batch, out).

    Parameter names follow PyTorch (``rnn.weight_ih_l0``, ..., ``head.weight``), the layout the
    NumPy engine reads.
    """

    def __init__(
        self,
        cell: str,
        input_size: int,
        hidden: int = 50,
        layers: int = 2,
        dropout: float = 0.0,
        out_features: int = 1,
    ) -> None:
        super().__init__()
        if cell not in CELLS:
            raise ConfigError(f"cell {cell!r} is unknown; choose one of {', '.join(CELLS)}")
        if hidden < 1 or layers < 1 or input_size < 1:
            raise ConfigError(
                f"hidden={hidden}, layers={layers}, input_size={input_size}: all must be >= 1"
            )
        if not 0 <= dropout < 1:
            raise ConfigError(f"dropout={dropout}: must be in [0, 1)")
        self.cell = cell
        self.rnn = CELLS[cell](
            input_size,
            hidden,
            num_layers=layers,
            batch_first=True,
            dropout=dropout if layers > 1 else 0.0,
        )
        self.head = nn.Linear(hidden, out_features)

    def forward(
        self, x: torch.Tensor, state: Any = None, *, all_steps: bool = False
    ) -> torch.Tensor:
        out, _ = self.rnn(x, state)
        if all_steps:
            return self.head(out)
        return self.head(out[:, -1, :])

    def forward_sequence(
        self, x: torch.Tensor, state: Any = None, *, lengths: Any = None
    ) -> tuple[torch.Tensor, Any]:
        """Head outputs at every step (batch, time, out) and the final state.

        With ``lengths`` (one per sequence of the padded batch ``x``) the batch is packed
        (``pack_padded_sequence``, ``enforce_sorted=False``): each sequence's final state is the
        state at its last valid step, and outputs past its length are the head of a zero vector
        (mask them). ``state`` and the returned state are in the batch's order.
        """
        if lengths is None:
            out, new = self.rnn(x, state)
        else:
            lens = torch.as_tensor(lengths, dtype=torch.int64).cpu()
            packed = nn.utils.rnn.pack_padded_sequence(
                x, lens, batch_first=True, enforce_sorted=False
            )
            out_p, new = self.rnn(packed, state)
            out, _ = nn.utils.rnn.pad_packed_sequence(
                out_p, batch_first=True, total_length=x.shape[1]
            )
        return self.head(out), new


def weights_of(net: nn.Module) -> dict[str, np.ndarray]:
    """A network's weights as NumPy arrays under PyTorch's names (CPU copies)."""
    return {k: v.detach().cpu().numpy() for k, v in net.state_dict().items()}


def with_weights(net: RecurrentNet, state: dict[str, np.ndarray]) -> RecurrentNet:
    """``net`` with the weights of :func:`weights_of` loaded."""
    net.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()})
    return net


def _loss_for(kind: str, reduction: str = "mean") -> nn.Module:
    if kind == "direction":
        return nn.BCEWithLogitsLoss(reduction=reduction)
    return nn.MSELoss(reduction=reduction)


class RecurrentForecaster:
    """Forecast a price, a return or its direction from a window of past features.

    Parameters
    ----------
    cell
        ``lstm``, ``gru`` or ``rnn``.
    hidden, layers, dropout
        Size of the recurrent stack (the course chapter's 2 x 50 LSTM is the default).
    window
        Length of the input window in steps.
    target
        ``return`` (log by default), ``price`` or ``direction``, or a :class:`TargetSpec`.
    features
        Input features (see :data:`gatecast.data.features.FEATURES`), computed from ``column``.
    column
        Price column (default: adj_close, else close, else the only column).
    scaler
        ``standard``, ``minmax`` or ``none``: fit on the training range only, for the inputs and
        (except for direction) the target.
    epochs, batch_size, lr, patience, clip, val_size
        Training settings; the last ``val_size`` of the training windows drive early stopping.
    seed
        Fixes weight init and batch order: the same seed gives identical forecasts on CPU.
    device
        ``auto`` (CUDA when present), ``cpu`` or ``cuda``.
    warm_start
        When already fitted, a new ``fit`` starts from the current weights (walk-forward refits).
    warm_epochs
        Epochs of such a warm refit (default: ``epochs``).
    mode
        ``window`` (default): stateless, each forecast from a fresh pass over the last ``window``
        rows. ``sequence``: stateful; training cuts the series into ``chunks`` contiguous lanes run
        as one batch, walked forward ``chunk_len`` steps at a time with each lane's state carried
        (detached) into its next chunk, the loss taken at every step after ``burn_in`` steps. An
        epoch computes each step once instead of ``window`` times. Forecasts come from the state
        carried over the whole history, and :meth:`stream` updates in O(1) per tick. ``window``
        then only sets the validation tail (the same dates as window mode).
    chunk_len, chunks, burn_in
        Sequence mode only: truncated-BPTT length, number of parallel lanes, and the steps at the
        start of each lane (zero state) left out of the loss.

    Examples
    --------
    >>> from gatecast.data import load
    >>> m = RecurrentForecaster(cell="gru", epochs=5).fit(load("sp500").loc[:"2014"])  # doctest: +SKIP
    >>> m.predict(load("sp500"), start="2015-01-01")  # doctest: +SKIP
    """

    kind = "recurrent"

    def __init__(
        self,
        cell: str = "lstm",
        hidden: int = 50,
        layers: int = 2,
        dropout: float = 0.0,
        window: int = 20,
        target: TargetSpec | str = "return",
        features: tuple[str, ...] | list[str] = ("return",),
        column: str | None = None,
        scaler: str = "standard",
        epochs: int = 50,
        batch_size: int = 32,
        lr: float = 1e-3,
        patience: int = 10,
        clip: float = 1.0,
        val_size: float = 0.1,
        seed: int = 0,
        device: str = "auto",
        quiet: bool = True,
        warm_start: bool = False,
        warm_epochs: int | None = None,
        mode: str = "window",
        chunk_len: int = 16,
        chunks: int = 32,
        burn_in: int = 10,
    ) -> None:
        self.cell = cell
        self.hidden = hidden
        self.layers = layers
        self.dropout = dropout
        self.window = window
        self.target = as_target(target)
        self.features = tuple(features)
        self.column = column
        self.scaler = scaler
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.patience = patience
        self.clip = clip
        self.val_size = val_size
        self.seed = seed
        self.device = device
        self.quiet = quiet
        self.warm_start = warm_start
        self.warm_epochs = warm_epochs
        self.mode = mode
        self.chunk_len = chunk_len
        self.chunks = chunks
        self.burn_in = burn_in
        self.series_: dict[str, dict[str, Any]] | None = None
        self.net_: RecurrentNet | None = None
        self.feature_scaler_: Scaler | None = None
        self.target_scaler_: Scaler | None = None
        self.result_: TrainResult | None = None
        self.train_range_: tuple[str, str] | None = None
        self.data_hash_: str | None = None
        self.column_: str | None = None
        self._check_params()

    @property
    def name(self) -> str:
        return self.cell

    def _check_params(self) -> None:
        if self.cell not in CELLS:
            raise ConfigError(f"cell {self.cell!r} is unknown; choose one of {', '.join(CELLS)}")
        if self.window < 1:
            raise ConfigError(f"window={self.window}: must be >= 1")
        if not 0 <= self.val_size < 1:
            raise ConfigError(f"val_size={self.val_size}: must be in [0, 1)")
        if self.mode not in MODES:
            raise ConfigError(f"mode {self.mode!r} is unknown; choose one of {', '.join(MODES)}")
        if self.chunk_len < 1 or self.chunks < 1 or self.burn_in < 0:
            raise ConfigError(
                f"chunk_len={self.chunk_len}, chunks={self.chunks}, burn_in={self.burn_in}: "
                f"chunk_len and chunks must be >= 1, burn_in >= 0"
            )
        make_scaler(self.scaler)
        TrainConfig(self.epochs, self.batch_size, self.lr, self.patience, self.clip)

    def train_config(self, *, warm: bool = False) -> TrainConfig:
        """The training settings as a :class:`TrainConfig` (``warm``: a refit from the current
        weights, which runs ``warm_epochs`` when set)."""
        epochs = self.warm_epochs if warm and self.warm_epochs else self.epochs
        return TrainConfig(
            epochs=epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            patience=self.patience,
            clip=self.clip,
            seed=self.seed,
            device=self.device,
            quiet=self.quiet,
        )

    # -- data -> windows -------------------------------------------------------------------
    def _frames(self, data: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
        col = resolve_column(data, self.column)
        feats = build_features(data, self.features, col, log=self.target.log)
        target = make_target(data, self.target, col)
        return feats, target

    def min_rows(self) -> int:
        """Fewest rows of history ``fit`` can work with (window + horizon + first return + val;
        in sequence mode the burn-in stands for the window)."""
        span = self.window if self.mode == "window" else self.burn_in + 1
        return span + self.target.horizon + 1 + (2 if self.val_size > 0 else 0)

    def fit(self, history: pd.DataFrame) -> RecurrentForecaster:
        """Fit scalers on the training range and train the network; returns ``self``."""
        self._check_params()
        if self.mode == "sequence":
            return self.fit_many({str(history.attrs.get("source", "the data")): history})
        col = resolve_column(history, self.column)
        where = history.attrs.get("source", "the data")
        if len(history) < self.min_rows():
            raise TooFewRowsError(
                f"{len(history)} rows in {where} are too few for window={self.window}, "
                f"horizon={self.target.horizon} and a validation tail: need at least "
                f"{self.min_rows()} (and far more to learn anything)"
            )
        check_not_constant(price_series(history, col), col, where)
        feats, target = self._frames(history)
        raw = make_windows(feats, target, self.window, self.target.horizon)
        n_val = int(round(len(raw) * self.val_size)) if self.val_size > 0 else 0
        n_train = len(raw) - n_val
        if n_train < 1:
            raise TooFewRowsError(f"no training windows remain in {where}; use more data")
        train_end = raw.index[n_train - 1]
        # Scalers see the training range only: feature rows dated up to the last training target,
        # and the training targets. Validation and test rows never reach them.
        in_train = feats.index <= train_end
        self.feature_scaler_ = fit_scaler(
            self.scaler, feats.to_numpy(dtype=float)[in_train], list(self.features)
        )
        if self.target.kind == "direction":
            self.target_scaler_ = make_scaler("none").fit(raw.y[:n_train])
        else:
            self.target_scaler_ = fit_scaler(self.scaler, raw.y[:n_train], ["the target"])
        win = self._windows(feats, target)
        dev = resolve_device(self.device)
        X = torch.as_tensor(np.ascontiguousarray(win.X), dtype=torch.float32, device=dev)
        y = torch.as_tensor(self.target_scaler_.transform(win.y), dtype=torch.float32, device=dev)[
            :, None
        ]
        gen = seed_everything(self.seed)
        warm = self.warm_start and self.net_ is not None
        if not warm:
            self.net_ = RecurrentNet(
                self.cell, len(self.features), self.hidden, self.layers, self.dropout
            )
        assert self.net_ is not None
        self.net_.to(dev)
        cfg = self.train_config(warm=warm)
        val = (X[n_train:], y[n_train:]) if n_val > 0 else None
        self.result_ = train_loop(
            self.net_,
            (X[:n_train], y[:n_train]),
            val,
            cfg,
            _loss_for(self.target.kind),
            generator=gen,
        )
        self.column_ = col
        self.train_range_ = (str(raw.index[0]), str(train_end))
        self.data_hash_ = array_hash(feats.to_numpy(dtype=float), target.to_numpy(dtype=float))
        return self

    def _n_val(self, n_pairs: int) -> int:
        # The validation tail holds the same dates as window mode's for this window, so both
        # modes fit the same scalers and early-stop on the same targets.
        return int(round(max(n_pairs - self.window + 1, 1) * self.val_size)) if self.val_size else 0

    def fit_many(self, frames: dict[str, pd.DataFrame]) -> RecurrentForecaster:
        """Train one sequence-mode model on several series at once (e.g. sp500, nasdaq, wti and a
        short series of your own); returns ``self``.

        Each series keeps its own validation tail. Scalers fit on the training rows of all series
        together. The training parts are cut into lanes of about ``total / chunks`` steps (a short
        series makes one short lane); lanes of different lengths are padded, packed
        (``pack_padded_sequence``) and the loss is masked on the padding.

        Examples
        --------
        >>> from gatecast.data import load
        >>> m = RecurrentForecaster(mode="sequence", epochs=5)  # doctest: +SKIP
        >>> m.fit_many({n: load(n).loc[:"2014"] for n in ("sp500", "nasdaq", "wti")})  # doctest: +SKIP
        """
        self._check_params()
        if self.mode != "sequence":
            raise ConfigError(
                f"fit_many trains on several series in sequence mode, this model has "
                f"mode={self.mode!r}; create it with mode='sequence'"
            )
        if not frames:
            raise ConfigError("fit_many got no series; pass {name: DataFrame, ...}")
        parts = []
        for name, df in frames.items():
            where = df.attrs.get("source", name)
            col = resolve_column(df, self.column)
            if len(df) < self.min_rows():
                raise TooFewRowsError(
                    f"{len(df)} rows in {where} are too few for burn_in={self.burn_in}, horizon="
                    f"{self.target.horizon} and a validation tail: need at least {self.min_rows()}"
                )
            check_not_constant(price_series(df, col), col, where)
            feats, target = self._frames(df)
            pairs = sequence_pairs(feats, target, self.target.horizon)
            n_val = self._n_val(len(pairs))
            n_train = len(pairs) - n_val
            if n_train < 1:
                raise TooFewRowsError(f"no training rows remain in {where}; use more data")
            parts.append((name, col, feats, target, pairs, n_train))
        # Scalers see the training range only, as in window mode: feature rows dated up to each
        # series' last training target, and the training targets.
        train_rows = np.concatenate(
            [f.to_numpy(dtype=float)[f.index <= p.index[n - 1]] for _, _, f, _, p, n in parts]
        )
        self.feature_scaler_ = fit_scaler(self.scaler, train_rows, list(self.features))
        y_train = np.concatenate([p.y[:n] for *_, p, n in parts])
        if self.target.kind == "direction":
            self.target_scaler_ = make_scaler("none").fit(y_train)
        else:
            self.target_scaler_ = fit_scaler(self.scaler, y_train, ["the target"])
        xs = [self.feature_scaler_.transform(p.X) for *_, p, _ in parts]
        ys = [self.target_scaler_.transform(p.y) for *_, p, _ in parts]
        # training lanes: about total / chunks steps each, never across two series
        total = sum(n for *_, n in parts)
        lane_len = -(-total // self.chunks)
        pieces = [
            (x[a:b], y[a:b])
            for x, y, (*_, n) in zip(xs, ys, parts, strict=True)
            for a, b in split_lanes(n, -(-n // lane_len))
        ]
        dev = resolve_device(self.device)
        seed_everything(self.seed)  # weight init; lanes are walked in time order, not shuffled
        warm = self.warm_start and self.net_ is not None
        if not warm:
            self.net_ = RecurrentNet(
                self.cell, len(self.features), self.hidden, self.layers, self.dropout
            )
        assert self.net_ is not None
        net = self.net_.to(dev)
        dtype = next(net.parameters()).dtype
        lx, lengths = pad_sequences([x for x, _ in pieces])
        ly, _ = pad_sequences([y[:, None] for _, y in pieces])
        lanes = Lanes(
            torch.as_tensor(lx, dtype=dtype, device=dev),
            torch.as_tensor(ly, dtype=dtype, device=dev),
            lengths,
        )
        validate = self._validator(xs, ys, [n for *_, n in parts], dtype, dev)
        self.result_ = train_sequence_loop(
            net,
            lanes,
            validate,
            self.train_config(warm=warm),
            _loss_for(self.target.kind, "none"),
            chunk_len=self.chunk_len,
            burn_in=self.burn_in,
        )
        self.column_ = parts[0][1]
        self.series_ = {
            str(name): {
                "column": col,
                "rows": len(p),
                "train_range": [str(p.index[0]), str(p.index[n - 1])],
                "val_rows": len(p) - n,
            }
            for name, col, _, _, p, n in parts
        }
        ranges = [v["train_range"] for v in self.series_.values()]
        self.train_range_ = (min(r[0] for r in ranges), max(r[1] for r in ranges))
        self.data_hash_ = array_hash(
            *[
                a
                for _, _, f, t, _, _ in parts
                for a in (f.to_numpy(dtype=float), t.to_numpy(dtype=float))
            ]
        )
        return self

    def _validator(
        self,
        xs: list[np.ndarray],
        ys: list[np.ndarray],
        n_train: list[int],
        dtype: torch.dtype,
        dev: torch.device,
    ) -> Any:
        """The validation loss over every series' tail, each series run whole from a zero state."""
        if all(len(x) == n for x, n in zip(xs, n_train, strict=True)):
            return None
        vx, lengths = pad_sequences(xs)
        vy, _ = pad_sequences([y[:, None] for y in ys])
        w = np.zeros(vx.shape[:2])
        for i, (x, n) in enumerate(zip(xs, n_train, strict=True)):
            w[i, n : len(x)] = 1.0
        X = torch.as_tensor(vx, dtype=dtype, device=dev)
        Y = torch.as_tensor(vy, dtype=dtype, device=dev)
        W = torch.as_tensor(w, dtype=dtype, device=dev)
        ragged = lengths if (lengths < vx.shape[1]).any() else None
        loss = _loss_for(self.target.kind, "none")
        net = self.net_
        assert net is not None

        def validate() -> float:
            pred, _ = net.forward_sequence(X, lengths=ragged)
            return float((loss(pred, Y).mean(dim=-1) * W).sum() / W.sum())

        return validate

    def stream(self, engine: str = "torch") -> Stream:
        """A live forecaster: ``update(observation)`` returns the forecast ``horizon`` steps ahead.

        Sequence mode carries the recurrent state: O(1) work per tick. Window mode keeps a ring
        buffer of the last ``window`` inputs and recomputes the window each tick (O(window)).
        ``engine="numpy"`` runs the ticks with the NumPy engine (no torch in the loop).
        See :class:`gatecast.models.streaming.Stream`.
        """
        from gatecast.models.streaming import Stream

        require_fitted(self, "net_")
        return Stream.from_forecaster(self, engine=engine)

    def _windows(self, feats: pd.DataFrame, target: pd.Series | None) -> Windows:
        assert self.feature_scaler_ is not None
        scaled = self.feature_scaler_.transform(feats.to_numpy(dtype=float))
        return make_windows(feats, target, self.window, self.target.horizon, values=scaled)

    def predict(self, data: pd.DataFrame, start: Any = None, end: Any = None) -> pd.Series:
        """Forecasts for every date of ``data`` in ``[start, end]`` with a full window before it,
        in target units (a probability of an up move for ``direction``)."""
        require_fitted(self, "net_")
        assert self.net_ is not None and self.target_scaler_ is not None
        feats, _ = self._frames(data)
        if self.mode == "sequence":
            return self._predict_sequence(feats, start, end)
        win = self._windows(feats, None)
        keep = np.ones(len(win), dtype=bool)
        if start is not None or end is not None:
            pos = pd.Series(np.arange(len(win)), index=win.index)
            keep = np.zeros(len(win), dtype=bool)
            keep[clip_dates(pos, start, end).to_numpy()] = True
        win = win.select(keep)
        if len(win) == 0:
            return pd.Series([], index=win.index, name=self.name, dtype=float)
        out = self.forward_windows(win.X)
        return pd.Series(self._to_target_units(out), index=win.index, name=self.name)

    def _to_target_units(self, out: np.ndarray) -> np.ndarray:
        assert self.target_scaler_ is not None
        if self.target.kind == "direction":
            return 1.0 / (1.0 + np.exp(-out))
        return self.target_scaler_.inverse_transform(out)

    def _predict_sequence(self, feats: pd.DataFrame, start: Any, end: Any) -> pd.Series:
        # One pass over the whole history from a zero state: the forecast for t is the head of
        # the state after the input row t - horizon, as in training and in `stream()`.
        assert self.feature_scaler_ is not None
        scaled = self.feature_scaler_.transform(feats.to_numpy(dtype=float))
        pairs = sequence_pairs(feats, None, self.target.horizon, values=scaled)
        out = self.forward_sequence(pairs.X)
        fc = pd.Series(self._to_target_units(out), index=pairs.index, name=self.name)
        return clip_dates(fc, start, end) if start is not None or end is not None else fc

    def forward_sequence(self, X: np.ndarray) -> np.ndarray:
        """Raw network outputs (scaled units, logits for direction) at every row of the scaled
        input rows ``X`` (T, F), run in order from a zero state."""
        assert self.net_ is not None
        net = self.net_.eval()
        p = next(net.parameters())
        with torch.no_grad():
            xb = torch.tensor(np.asarray(X)[None], dtype=p.dtype, device=p.device)
            out, _ = net.forward_sequence(xb)
        return out[0, :, 0].cpu().numpy().astype(float)

    def forward_windows(self, X: np.ndarray, batch: int = 4096) -> np.ndarray:
        """Raw network outputs (scaled units, logits for direction) for windows ``X``."""
        assert self.net_ is not None
        net = self.net_.eval()
        p = next(net.parameters())
        dev = p.device
        outs = []
        with torch.no_grad():
            for s in range(0, len(X), batch):
                xb = torch.as_tensor(
                    np.ascontiguousarray(X[s : s + batch]), dtype=p.dtype, device=dev
                )
                outs.append(net(xb)[:, 0].cpu().numpy())
        return np.concatenate(outs).astype(float)

    def warm_state(self) -> dict[str, np.ndarray]:
        """The network weights as NumPy arrays (PyTorch names), for resuming a warm-start chain."""
        require_fitted(self, "net_")
        assert self.net_ is not None
        return weights_of(self.net_)

    def set_warm_state(self, state: dict[str, np.ndarray]) -> RecurrentForecaster:
        """Load weights saved by :meth:`warm_state`; the next ``fit`` with ``warm_start`` starts
        from them (the scalers are refit by that ``fit``)."""
        net = RecurrentNet(self.cell, len(self.features), self.hidden, self.layers, self.dropout)
        self.net_ = with_weights(net, state)
        return self

    def n_parameters(self) -> int:
        """Number of trainable weights."""
        require_fitted(self, "net_")
        assert self.net_ is not None
        return sum(p.numel() for p in self.net_.parameters())

    # -- model folder -------------------------------------------------------------------------
    def manifest(self) -> dict[str, Any]:
        """The JSON manifest describing this fitted model."""
        require_fitted(self, "net_")
        assert self.feature_scaler_ is not None and self.target_scaler_ is not None
        return {
            "format_version": FORMAT_VERSION,
            "kind": self.kind,
            "cell": self.cell,
            "input_size": len(self.features),
            "hidden": self.hidden,
            "layers": self.layers,
            "dropout": self.dropout,
            "window": self.window,
            "horizon": self.target.horizon,
            "mode": self.mode,
            "features": list(self.features),
            "target": self.target.to_dict(),
            "column": self.column_,
            "scalers": {
                "features": self.feature_scaler_.to_dict(),
                "target": self.target_scaler_.to_dict(),
            },
            "train_range": list(self.train_range_ or ()),
            "data_hash": self.data_hash_,
            "seed": self.seed,
            "dtype": "float32",
            "training": self.train_config().to_dict()
            | {"val_size": self.val_size, "warm_epochs": self.warm_epochs},
            "history": self.result_.to_dict() if self.result_ else None,
            **(
                {
                    "sequence": {
                        "chunk_len": self.chunk_len,
                        "chunks": self.chunks,
                        "burn_in": self.burn_in,
                    }
                }
                if self.mode == "sequence"
                else {}
            ),
            **({"series": self.series_} if self.series_ else {}),
            "versions": {
                "gatecast": __version__,
                "torch": torch.__version__,
                "numpy": np.__version__,
                "python": platform.python_version(),
            },
        }

    def save(self, folder: str | Path) -> Path:
        """Write ``model.safetensors`` + ``manifest.json`` to ``folder`` (atomically; no pickle)."""
        require_fitted(self, "net_")
        assert self.net_ is not None
        tensors = weights_of(self.net_)
        return save_model_folder(folder, tensors, self.manifest())

    @classmethod
    def load(cls, folder: str | Path, *, device: str = "auto") -> RecurrentForecaster:
        """Rebuild a fitted model from a folder written by :meth:`save`; refuses mismatches."""
        tensors, m = load_model_folder(folder, expect_kind=cls.kind)
        try:
            return cls._from_manifest(folder, tensors, m, device)
        except (KeyError, TypeError, ValueError) as exc:  # a key missing or of the wrong type
            raise ModelFileError(
                f"{folder}/manifest.json is malformed ({type(exc).__name__}: {exc}); it was "
                f"edited or not written by gatecast: re-train or restore the file"
            ) from exc

    @classmethod
    def _from_manifest(
        cls, folder: str | Path, tensors: dict[str, np.ndarray], m: dict[str, Any], device: str
    ) -> RecurrentForecaster:
        if m["cell"] not in CELLS:
            raise ModelFileError(f"{folder}: unknown cell {m['cell']!r} in manifest.json")
        mode = m.get("mode", "window")
        if mode not in MODES:
            raise ModelFileError(
                f"{folder} holds a {mode!r}-mode model; this gatecast reads {', '.join(MODES)}: "
                f"upgrade gatecast or re-train"
            )
        training = m.get("training", {})
        seq = m.get("sequence", {})
        model = cls(
            cell=m["cell"],
            hidden=int(m["hidden"]),
            layers=int(m["layers"]),
            dropout=float(m.get("dropout", 0.0)),
            window=int(m["window"]),
            target=TargetSpec.from_dict(m["target"]),
            features=tuple(m["features"]),
            column=m.get("column"),
            scaler=m["scalers"]["features"]["kind"],
            seed=int(m.get("seed", 0)),
            epochs=int(training.get("epochs", 50)),
            batch_size=int(training.get("batch_size", 32)),
            lr=float(training.get("lr", 1e-3)),
            patience=int(training.get("patience", 10)),
            clip=float(training.get("clip", 1.0)),
            val_size=float(training.get("val_size", 0.1)),
            warm_epochs=training.get("warm_epochs"),
            device=device,
            mode=mode,
            chunk_len=int(seq.get("chunk_len", 16)),
            chunks=int(seq.get("chunks", 32)),
            burn_in=int(seq.get("burn_in", 10)),
        )
        if int(m["input_size"]) != len(model.features):
            raise ModelFileError(
                f"{folder}/manifest.json says input_size={m['input_size']} but lists "
                f"{len(model.features)} features; the file was edited or corrupted"
            )
        net = RecurrentNet(
            model.cell, len(model.features), model.hidden, model.layers, model.dropout
        )
        expected = {k: tuple(v.shape) for k, v in net.state_dict().items()}
        got = {k: tuple(v.shape) for k, v in tensors.items()}
        if expected != got:
            raise ModelFileError(
                f"{folder}/model.safetensors does not match its manifest ({m['cell']}, hidden "
                f"{m['hidden']}, layers {m['layers']}): expected tensors {expected}, found {got}"
            )
        net.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in tensors.items()})
        model.net_ = net.to(resolve_device(device)).eval()
        model.feature_scaler_ = scaler_from_dict(m["scalers"]["features"])
        model.target_scaler_ = scaler_from_dict(m["scalers"]["target"])
        model.column_ = m.get("column")
        model.column = model.column_
        model.train_range_ = tuple(m.get("train_range") or ()) or None  # type: ignore[assignment]
        model.data_hash_ = m.get("data_hash")
        model.series_ = m.get("series")
        if m.get("history"):
            model.result_ = TrainResult(**m["history"])
        return model
