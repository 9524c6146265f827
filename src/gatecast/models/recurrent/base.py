"""What every recurrent estimator shares: parameters, the net, the window-mode fit, warm starts,
prediction through the serving pipeline, streams, and save/load through the model spec."""

from __future__ import annotations

import json
import platform
from dataclasses import fields, replace
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np
import pandas as pd
import torch

from gatecast._version import __version__
from gatecast.artifacts import MANIFEST_FILE, KeyLike, array_hash, save_model_folder
from gatecast.data.calendar import calendar_of
from gatecast.data.features import Units
from gatecast.data.scalers import Scaler, fit_scaler
from gatecast.data.windows import make_windows
from gatecast.errors import ConfigError, ModelFileError, NotFittedError, TooFewRowsError
from gatecast.inference import ModelSpec, NumpyEngine, TorchEngine
from gatecast.inference.spec import read_model_folder
from gatecast.models.base import ParamsFromSignature, refuse_y
from gatecast.models.config import NetParams, NetSettings, params_of
from gatecast.models.recurrent.net import RecurrentNet, weights_of, with_weights
from gatecast.serve import Stream
from gatecast.serve.numpy_model import EngineForecasts
from gatecast.training.config import TrainResult
from gatecast.training.loop import resolve_device, seed_everything, train_loop
from gatecast.types import ENGINES, check_choice


class Strategy(Protocol):
    """How a model turns training frames into a fitted net: windows (stateless) or lanes of one
    long sequence (stateful, :mod:`gatecast.models.recurrent.sequence`)."""

    def min_rows(self, model: RecurrentEstimator, cfg: Any) -> int: ...

    def fit(self, model: RecurrentEstimator, cfg: Any, frames: dict[str, pd.DataFrame]) -> None: ...


class FolderModel:
    """A model saved as a model folder: :meth:`load` reads the folder and builds the fitted
    model from it; a model says how (:meth:`_read_folder`, :meth:`_from_folder`)."""

    @classmethod
    def load(
        cls,
        folder: str | Path,
        *,
        device: str = "auto",
        signing_key: KeyLike = None,
        require_signature: bool | None = None,
    ) -> Any:
        """Rebuild a fitted model from a folder written by its ``save``; refuses a folder whose
        weights or manifest do not match their checksum, and with a key (``signing_key``, else
        ``$GATECAST_SIGNING_KEY_FILE``) one it did not sign (see
        ``gatecast.inference.read_model_folder``)."""
        read = cls._read_folder(folder, signing_key, require_signature)
        return cls._from_folder(read, device, f"{folder}/{MANIFEST_FILE}")

    @classmethod
    def _read_folder(cls, folder: str | Path, key: KeyLike, required: bool | None) -> Any:
        """What the folder holds, verified (its checksums; with a key, its signature)."""
        raise NotImplementedError

    @classmethod
    def _from_folder(cls, read: Any, device: str, where: str) -> Any:
        """The fitted model from what :meth:`_read_folder` read (``where``: its manifest, for
        messages), its net on ``device``."""
        raise NotImplementedError


class RecurrentEstimator(NetParams, FolderModel, ParamsFromSignature, EngineForecasts):
    """The base of :class:`RecurrentForecaster` and :class:`RecurrentVariance`.

    A subclass names its settings (``config_class``, a frozen dataclass of
    :mod:`gatecast.models.config`), its manifest ``kind``, and how a frame becomes
    inputs and a training target (:meth:`training_frames`), the loss and the scalers. Its
    parameters are those of a parameter class of that module, which it inherits first (its
    constructor: ``cell, hidden, layers, dropout, window`` by position or keyword, the rest by
    keyword only); the constructor stores them unchanged (scikit-learn's rule) and checks them
    through the config. They are read-only attributes: ``set_params`` changes them (and forgets
    a fit made with the old ones). Fitted state: ``net_`` (torch), ``spec_`` (what serving
    needs), ``result_`` (the loss history).
    """

    kind: ClassVar[str]
    config_class: ClassVar[type[NetSettings]]
    fitted_attr = "net_"

    # fitted state
    net_: RecurrentNet | None
    spec_: ModelSpec | None
    result_: TrainResult | None

    def __post_init__(self) -> None:
        """Unfitted; fail fast on a bad value (arch does the same); nothing is changed."""
        self.net_ = None
        self.spec_ = None
        self.result_ = None
        self.config()

    def config(self) -> Any:
        """The parameters as the family's validated config (raises ConfigError on a bad one)."""
        return self.config_class(**self.get_params())

    def __repr__(self) -> str:
        defaults = self.config_class()
        changed = {
            k: v for k, v in self.get_params().items() if getattr(defaults, k, object()) != v
        }
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in changed.items())})"

    @property
    def name(self) -> str:
        return self.cell

    @property
    def target_spec(self) -> Any:
        """The target as its spec object (``target`` keeps what was given)."""
        return self.config().target_spec

    # -- fitted state ----------------------------------------------------------------------------
    def _fitted(self) -> ModelSpec:
        if self.spec_ is None or self.net_ is None:
            raise NotFittedError(
                f"{type(self).__name__} is not fitted; call fit(history) before predict"
            )
        return self.spec_

    @property
    def feature_scaler_(self) -> Scaler:
        return self._fitted().feature_scaler

    @property
    def target_scaler_(self) -> Scaler:
        return self._fitted().target_scaler

    @property
    def column_(self) -> str | None:
        return self._fitted().column

    @property
    def train_range_(self) -> tuple[str, str] | None:
        r = self._fitted().info.get("train_range")
        return (str(r[0]), str(r[1])) if r else None

    @property
    def data_hash_(self) -> str | None:
        return self._fitted().info.get("data_hash")

    @property
    def series_(self) -> dict[str, Any] | None:
        return self._fitted().info.get("series")

    # -- hooks a family provides ---------------------------------------------------------------
    def units(self, cfg: Any) -> Units:
        """How the features measure returns."""
        raise NotImplementedError

    def training_frames(
        self, history: pd.DataFrame, cfg: Any
    ) -> tuple[pd.DataFrame, pd.Series, str]:
        """(features, training target, price column) of a training frame."""
        raise NotImplementedError

    def fit_target_scaler(self, cfg: Any, y_train: np.ndarray) -> Scaler:
        raise NotImplementedError

    def loss_fn(self, cfg: Any, reduction: str = "mean") -> Any:
        raise NotImplementedError

    def feature_scaler_kind(self, cfg: Any) -> str:
        return "standard"

    def init_net(self, net: RecurrentNet, y_train: np.ndarray) -> None:
        """Adjust a freshly made net before training (e.g. the head's bias); default: nothing."""

    def spec_parts(self, cfg: Any) -> dict[str, Any]:
        """Further :class:`ModelSpec` fields of a fit (a hybrid's classical recursions);
        default: none."""
        return {}

    def spec_config(self, cfg: Any) -> Any:
        """The settings a fit's :class:`ModelSpec` records (its features and config) for the
        resolved ``cfg`` it trained with; default: ``cfg`` itself."""
        return cfg

    # -- shared machinery ------------------------------------------------------------------------
    def _new_net(self, cfg: Any, input_size: int | None = None) -> RecurrentNet:
        n_in = len(cfg.features) if input_size is None else input_size
        return RecurrentNet(cfg.cell, n_in, cfg.hidden, cfg.layers, cfg.dropout)

    def resolve(self, cfg: Any, history: pd.DataFrame) -> Any:
        """The settings a fit on ``history`` uses: ``cfg`` with anything left to the data (such
        as the variance model's inputs) chosen; default: ``cfg`` itself."""
        return cfg

    def _start_net(self, cfg: Any, y_train: np.ndarray) -> tuple[RecurrentNet, bool]:
        """The net to train: the current one for a warm refit, else a new one (seed first)."""
        warm = bool(cfg.warm_start) and self.net_ is not None
        if not warm:
            self.net_ = self._new_net(cfg)
            self.init_net(self.net_, y_train)
        assert self.net_ is not None
        return self.net_, warm

    def _finish(
        self,
        cfg: Any,
        *,
        column: str | None,
        feature_scaler: Scaler,
        target_scaler: Scaler,
        result: TrainResult,
        info: dict[str, Any],
    ) -> None:
        cfg = self.spec_config(cfg)
        self.result_ = result
        self.spec_ = ModelSpec(
            kind=self.kind,
            cell=cfg.cell,
            hidden=cfg.hidden,
            layers=cfg.layers,
            window=cfg.window,
            mode=getattr(cfg, "mode", "window"),
            features=tuple(cfg.features),
            units=self.units(cfg),
            column=column,
            target=cfg.target,
            feature_scaler=feature_scaler,
            target_scaler=target_scaler,
            dropout=cfg.dropout,
            config=cfg.to_dict() | {"column": column},
            **self.spec_parts(cfg),
            info={
                "seed": cfg.seed,
                **info,
                "history": result.to_dict(),
                "versions": {
                    "gatecast": __version__,
                    "torch": torch.__version__,
                    "numpy": np.__version__,
                    "python": platform.python_version(),
                },
            },
        )

    def fit(self, history: pd.DataFrame, y: None = None) -> Any:
        """Fit the scalers on the training range and train the network; returns ``self``."""
        refuse_y(self, y)
        cfg = self.resolve(self.config(), history)
        name = str(history.attrs.get("source", "the data"))
        self.strategy(cfg).fit(self, cfg, {name: history})
        self._record_calendar([history])
        return self

    def _record_calendar(self, frames: list[pd.DataFrame]) -> None:
        """Keep the calendar the training data follows in the spec (the manifest's
        ``calendar``), which dates the bars after a stream's rows; series on different
        calendars record none."""
        found = {json.dumps(calendar_of(f).to_dict(), sort_keys=True) for f in frames}
        spec = self._fitted()
        info = {k: v for k, v in spec.info.items() if k != "calendar"}
        if len(found) == 1:
            info["calendar"] = json.loads(found.pop())
        self.spec_ = replace(spec, info=info)

    def strategy(self, cfg: Any) -> Strategy:
        return WINDOW

    def min_rows(self) -> int:
        """Fewest rows of history ``fit`` can work with."""
        cfg = self.config()
        return self.strategy(cfg).min_rows(self, cfg)

    # -- forecasts -------------------------------------------------------------------------------
    def _engine(self) -> TorchEngine:
        self._fitted()
        return TorchEngine(self.net_)

    def _spec_engine(self) -> tuple[ModelSpec, TorchEngine]:
        return self._fitted(), self._engine()

    def forward_sequence(self, X: np.ndarray) -> np.ndarray:
        """Raw network outputs at every row of the scaled input rows ``X`` (T, F), run in order
        from a zero state."""
        return self._engine().forward_sequence(X)

    def stream(self, engine: str = "torch") -> Stream:
        """A live forecaster: ``update(observation)`` returns the forecast ``horizon`` steps ahead.

        Sequence mode carries the recurrent state: O(1) work per tick. Window mode keeps a buffer
        of the last ``window`` inputs and recomputes the window each tick (O(window)).
        ``engine="numpy"`` runs the ticks with the NumPy engine (no torch in the loop).
        See :class:`gatecast.serve.Stream`.
        """
        check_choice(engine, ENGINES, "engine")
        spec = self._fitted()
        assert self.net_ is not None
        tensors = weights_of(self.net_)
        if engine == "torch":
            return Stream.over(spec, TorchEngine(self.net_), tensors)
        return Stream.over(spec, NumpyEngine(spec, tensors), tensors)

    # -- warm starts -----------------------------------------------------------------------------
    def warm_state(self) -> dict[str, np.ndarray]:
        """The network weights as NumPy arrays (PyTorch names), for resuming a warm-start chain."""
        if self.net_ is None:
            raise NotFittedError(f"{type(self).__name__} is not fitted; call fit(history) first")
        return weights_of(self.net_)

    def set_warm_state(self, state: dict[str, np.ndarray]) -> Any:
        """Load weights saved by :meth:`warm_state`; the next ``fit`` with ``warm_start`` starts
        from them (the scalers are refit by that ``fit``)."""
        n_in = int(np.shape(state["rnn.weight_ih_l0"])[1])  # the inputs the weights were fit on
        self.net_ = with_weights(self._new_net(self.config(), n_in), state)
        return self

    def n_parameters(self) -> int:
        """Number of trainable weights."""
        self._fitted()
        assert self.net_ is not None
        n: int = sum(int(p.numel()) for p in self.net_.parameters())
        return n

    # -- model folder ----------------------------------------------------------------------------
    def manifest(self) -> dict[str, Any]:
        """The JSON manifest describing this fitted model."""
        return self._fitted().to_manifest()

    def save(self, folder: str | Path, *, signing_key: KeyLike = None) -> Path:
        """Write ``model.safetensors`` + ``manifest.json`` to ``folder`` (atomically; no pickle),
        signed with ``signing_key`` (a key file's path; default ``$GATECAST_SIGNING_KEY_FILE``,
        else unsigned)."""
        self._fitted()
        assert self.net_ is not None
        return save_model_folder(
            folder, weights_of(self.net_), self.manifest(), signing_key=signing_key
        )

    @classmethod
    def _read_folder(cls, folder: str | Path, key: KeyLike, required: bool | None) -> Any:
        return read_model_folder(folder, kind=cls.kind, signing_key=key, require_signature=required)

    @classmethod
    def _from_folder(cls, read: Any, device: str, where: str) -> Any:
        spec, tensors = read
        return cls.from_spec(spec, tensors, device=device, where=where)

    @classmethod
    def from_spec(
        cls,
        spec: ModelSpec,
        tensors: dict[str, np.ndarray],
        *,
        device: str = "auto",
        where: str = "the manifest",
    ) -> Any:
        """A fitted model from a validated spec and its weights."""
        names = {f.name for f in fields(cls.config_class)}
        settings = {k: v for k, v in spec.config.items() if k in names}
        try:
            cfg = cls.config_class(**(settings | {"device": device}))
        except (ConfigError, TypeError) as exc:
            raise ModelFileError(
                f"{where} holds settings this gatecast cannot use ({exc}); re-train the model"
            ) from exc
        model = cls(**params_of(cfg, cls.config_class))
        net = model._new_net(cfg, spec.input_size)
        if all(np.asarray(v).dtype == np.float64 for v in tensors.values()):
            net = net.double()  # weights saved in float64 are served in float64
        net = with_weights(net, tensors)
        model.net_ = net.to(resolve_device(device)).eval()
        model.spec_ = spec
        history = spec.info.get("history")
        model.result_ = TrainResult(**history) if history else None
        return model


class WindowStrategy:
    """Stateless training: every forecast from a fresh pass over the last ``window`` rows; the
    last ``val_size`` of the training windows drive early stopping."""

    def min_rows(self, model: RecurrentEstimator, cfg: Any) -> int:
        horizon = int(cfg.target.horizon)
        return int(cfg.window) + horizon + 1 + (2 if cfg.val_size > 0 else 0)

    @staticmethod
    def n_val(cfg: Any, n_windows: int) -> int:
        """The windows of the validation tail: the last ``val_size`` of them."""
        return int(round(n_windows * cfg.val_size)) if cfg.val_size > 0 else 0

    def fit(self, model: RecurrentEstimator, cfg: Any, frames: dict[str, pd.DataFrame]) -> None:
        if len(frames) != 1:
            raise ConfigError(
                f"window mode trains on one series, got {len(frames)}; use mode='sequence' "
                f"and fit_many for several"
            )
        ((where, history),) = frames.items()
        need = self.min_rows(model, cfg)
        if len(history) < need:
            raise TooFewRowsError(
                f"{len(history)} rows in {where} are too few for window={cfg.window}, "
                f"horizon={cfg.target.horizon} and a validation tail: need at least {need} "
                f"(and far more to learn anything)"
            )
        feats, y, column = model.training_frames(history, cfg)
        horizon = int(cfg.target.horizon)
        raw = make_windows(feats, y, cfg.window, horizon)
        n_val = self.n_val(cfg, len(raw))
        n_train = len(raw) - n_val
        if n_train < 1:
            raise TooFewRowsError(f"no training windows remain in {where}; use more data")
        train_end = raw.index[n_train - 1]
        # Scalers see the training range only: feature rows dated up to the last training target,
        # and the training targets. Validation and test rows never reach them.
        values = feats.to_numpy(dtype=float)
        fs = fit_scaler(
            model.feature_scaler_kind(cfg), values[feats.index <= train_end], list(cfg.features)
        )
        ts = model.fit_target_scaler(cfg, raw.y[:n_train])
        win = make_windows(feats, y, cfg.window, horizon, values=fs.transform(values))
        dev = resolve_device(cfg.device)
        X = torch.as_tensor(np.ascontiguousarray(win.X), dtype=torch.float32, device=dev)
        t = torch.as_tensor(ts.transform(win.y), dtype=torch.float32, device=dev)[:, None]
        gen = seed_everything(cfg.seed)
        net, warm = model._start_net(cfg, raw.y[:n_train])
        net.to(dev)
        val = (X[n_train:], t[n_train:]) if n_val > 0 else None
        result = train_loop(
            net,
            (X[:n_train], t[:n_train]),
            val,
            cfg.train_config(warm=warm),
            model.loss_fn(cfg),
            generator=gen,
        )
        model._finish(
            cfg,
            column=column,
            feature_scaler=fs,
            target_scaler=ts,
            result=result,
            info={
                "train_range": [str(raw.index[0]), str(train_end)],
                "data_hash": array_hash(values, y.to_numpy(dtype=float)),
            },
        )


WINDOW = WindowStrategy()
