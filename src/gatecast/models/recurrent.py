"""Recurrent forecasters (RNN, LSTM, GRU) in torch, behind the Forecaster protocol."""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

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
from gatecast.data.sources import resolve_column
from gatecast.data.windows import Windows, make_windows
from gatecast.errors import ConfigError, ModelFileError, TooFewRowsError
from gatecast.models.base import as_target, clip_dates, require_fitted
from gatecast.train.loop import TrainConfig, TrainResult, resolve_device, seed_everything, train_loop

CELLS: dict[str, type[nn.Module]] = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


class RecurrentNet(nn.Module):
    """A stack of recurrent layers and a linear head on the last step: (batch, time, F) -> (batch, out).

    Parameter names follow PyTorch (``rnn.weight_ih_l0``, ..., ``head.weight``), the layout the
    NumPy engine reads.
    """

    def __init__(
        self, cell: str, input_size: int, hidden: int = 50, layers: int = 2, dropout: float = 0.0,
        out_features: int = 1,
    ) -> None:
        super().__init__()
        if cell not in CELLS:
            raise ConfigError(f"cell {cell!r} is unknown; choose one of {', '.join(CELLS)}")
        if hidden < 1 or layers < 1 or input_size < 1:
            raise ConfigError(f"hidden={hidden}, layers={layers}, input_size={input_size}: all must be >= 1")
        if not 0 <= dropout < 1:
            raise ConfigError(f"dropout={dropout}: must be in [0, 1)")
        self.cell = cell
        self.rnn = CELLS[cell](
            input_size, hidden, num_layers=layers, batch_first=True,
            dropout=dropout if layers > 1 else 0.0,
        )
        self.head = nn.Linear(hidden, out_features)

    def forward(self, x: torch.Tensor, state: Any = None, *, all_steps: bool = False) -> torch.Tensor:
        out, _ = self.rnn(x, state)
        if all_steps:
            return self.head(out)
        return self.head(out[:, -1, :])


def _loss_for(kind: str) -> nn.Module:
    return nn.BCEWithLogitsLoss() if kind == "direction" else nn.MSELoss()


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
        make_scaler(self.scaler)
        TrainConfig(self.epochs, self.batch_size, self.lr, self.patience, self.clip)

    def train_config(self) -> TrainConfig:
        """The training settings as a :class:`TrainConfig`."""
        return TrainConfig(
            epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, patience=self.patience,
            clip=self.clip, seed=self.seed, device=self.device, quiet=self.quiet,
        )

    # -- data -> windows -------------------------------------------------------------------
    def _frames(self, data: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
        col = resolve_column(data, self.column)
        feats = build_features(data, self.features, col, log=self.target.log)
        target = make_target(data, self.target, col)
        return feats, target

    def min_rows(self) -> int:
        """Fewest rows of history ``fit`` can work with (window + horizon + first return + val)."""
        return self.window + self.target.horizon + 1 + (2 if self.val_size > 0 else 0)

    def fit(self, history: pd.DataFrame) -> RecurrentForecaster:
        """Fit scalers on the training range and train the network; returns ``self``."""
        self._check_params()
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
        in_train = (feats.index <= train_end)
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
        y = torch.as_tensor(self.target_scaler_.transform(win.y), dtype=torch.float32, device=dev)[:, None]
        gen = seed_everything(self.seed)
        if not (self.warm_start and self.net_ is not None):
            self.net_ = RecurrentNet(self.cell, len(self.features), self.hidden, self.layers, self.dropout)
        self.net_.to(dev)
        cfg = self.train_config()
        val = (X[n_train:], y[n_train:]) if n_val > 0 else None
        self.result_ = train_loop(
            self.net_, (X[:n_train], y[:n_train]), val, cfg, _loss_for(self.target.kind), generator=gen
        )
        self.column_ = col
        self.train_range_ = (str(raw.index[0]), str(train_end))
        self.data_hash_ = array_hash(feats.to_numpy(dtype=float), target.to_numpy(dtype=float))
        return self

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
        if self.target.kind == "direction":
            values = 1.0 / (1.0 + np.exp(-out))
        else:
            values = self.target_scaler_.inverse_transform(out)
        return pd.Series(values, index=win.index, name=self.name)

    def forward_windows(self, X: np.ndarray, batch: int = 4096) -> np.ndarray:
        """Raw network outputs (scaled units, logits for direction) for windows ``X``."""
        assert self.net_ is not None
        net = self.net_.eval()
        dev = next(net.parameters()).device
        outs = []
        with torch.no_grad():
            for s in range(0, len(X), batch):
                xb = torch.as_tensor(np.ascontiguousarray(X[s:s + batch]), dtype=torch.float32, device=dev)
                outs.append(net(xb)[:, 0].cpu().numpy())
        return np.concatenate(outs).astype(float)

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
            "mode": "window",
            "features": list(self.features),
            "target": self.target.to_dict(),
            "column": self.column_,
            "scalers": {"features": self.feature_scaler_.to_dict(), "target": self.target_scaler_.to_dict()},
            "train_range": list(self.train_range_ or ()),
            "data_hash": self.data_hash_,
            "seed": self.seed,
            "dtype": "float32",
            "training": self.train_config().to_dict() | {"val_size": self.val_size},
            "history": self.result_.to_dict() if self.result_ else None,
            "versions": {
                "gatecast": __version__, "torch": torch.__version__, "numpy": np.__version__,
                "python": platform.python_version(),
            },
        }

    def save(self, folder: str | Path) -> Path:
        """Write ``model.safetensors`` + ``manifest.json`` to ``folder`` (atomically; no pickle)."""
        require_fitted(self, "net_")
        assert self.net_ is not None
        tensors = {k: v.detach().cpu().numpy() for k, v in self.net_.state_dict().items()}
        return save_model_folder(folder, tensors, self.manifest())

    @classmethod
    def load(cls, folder: str | Path, *, device: str = "auto") -> RecurrentForecaster:
        """Rebuild a fitted model from a folder written by :meth:`save`; refuses mismatches."""
        tensors, m = load_model_folder(folder, expect_kind=cls.kind)
        if m["cell"] not in CELLS:
            raise ModelFileError(f"{folder}: unknown cell {m['cell']!r} in manifest.json")
        if m.get("mode", "window") != "window":
            raise ModelFileError(
                f"{folder} holds a {m.get('mode')!r}-mode model; load it with the matching class"
            )
        training = m.get("training", {})
        model = cls(
            cell=m["cell"], hidden=int(m["hidden"]), layers=int(m["layers"]),
            dropout=float(m.get("dropout", 0.0)), window=int(m["window"]),
            target=TargetSpec.from_dict(m["target"]), features=tuple(m["features"]),
            column=m.get("column"), scaler=m["scalers"]["features"]["kind"], seed=int(m.get("seed", 0)),
            epochs=int(training.get("epochs", 50)), batch_size=int(training.get("batch_size", 32)),
            lr=float(training.get("lr", 1e-3)), device=device,
        )
        if int(m["input_size"]) != len(model.features):
            raise ModelFileError(
                f"{folder}/manifest.json says input_size={m['input_size']} but lists "
                f"{len(model.features)} features; the file was edited or corrupted"
            )
        net = RecurrentNet(model.cell, len(model.features), model.hidden, model.layers, model.dropout)
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
        if m.get("history"):
            model.result_ = TrainResult(**m["history"])
        return model
