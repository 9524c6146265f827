"""A global recurrent return model: one set of weights trained on the pooled windows of every
instrument of a panel, each instrument's inputs and target scaled by its own training rows."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from gatecast.artifacts import (
    MANIFEST_FILE,
    KeyLike,
    save_model_folder,
)
from gatecast.data.features import TargetSpec
from gatecast.data.per_instrument import panel_windows
from gatecast.data.scalers import Scaler, fit_scaler
from gatecast.data.windows import first_valid_row, make_windows
from gatecast.errors import (
    ConfigError,
    NotFittedError,
    PanelError,
    TooFewRowsError,
)
from gatecast.models.base import ParamsFromSignature
from gatecast.models.config import ForecasterConfig
from gatecast.models.recurrent.base import WINDOW
from gatecast.models.recurrent.forecaster import RecurrentForecaster
from gatecast.models.recurrent.net import RecurrentNet, weights_of, with_weights
from gatecast.models.recurrent.panel_parts import (
    check_panel,
    fold_embedding,
    global_stream_set,
    one_hot,
)
from gatecast.serve import StreamSet
from gatecast.serve.global_numpy import read_global_folder
from gatecast.training.config import TrainResult
from gatecast.training.loop import resolve_device, seed_everything, train_loop
from gatecast.types import DateLike

#: The manifest ``kind`` of a global return model's folder.
KIND = "global_return"
#: The weights' tensor of the instrument embedding: (instruments, gates x hidden).
EMBEDDING = "panel.embedding"

__all__ = ["GlobalRecurrentReturn"]

_D = ForecasterConfig()


class GlobalRecurrentReturn(ParamsFromSignature):
    """One recurrent return net for every instrument of a panel (a "global" model).

    The network, its loss (MSE on the standardised return), its inputs and its training loop
    are those of :class:`RecurrentForecaster` in window mode with a one-step ``return`` target;
    what changes is the data it sees. ``fit(panel)`` makes each instrument's windows from its
    own rows only (:func:`gatecast.data.panel_windows`), pools them and trains one net on the
    pool. Per instrument, on its own training rows only (those before its validation tail, the
    last ``val_size`` of its windows), a feature scaler (``scalers_``) and a target scaler
    (``target_scalers_``) are fit, so the net learns each instrument's return in units of its
    own training spread. Early stopping watches the pooled validation tails. ``embedding=True``
    adds a learned vector per instrument (a one-hot input at every step; off by default).

    :meth:`for_instrument` gives an ordinary fitted :class:`RecurrentForecaster` for one
    instrument (its scalers; its embedding folded into the first layer's bias), which predicts,
    streams and saves as any single-series model does. Parameters are those of
    :class:`RecurrentForecaster` but ``mode`` and its sequence settings (window mode only).

    Fitted state: ``net_`` (the pooled net), ``scalers_`` and ``target_scalers_`` per
    instrument, ``instruments_`` (those fit on), ``result_`` (the loss history).
    """

    fitted_attr = "net_"
    #: Marks a model that fits on a whole panel (the panel walk-forward asks this).
    pooled = True
    cell: str
    window: int
    embedding: bool

    def __init__(
        self,
        cell: str = _D.cell,
        hidden: int = _D.hidden,
        layers: int = _D.layers,
        dropout: float = _D.dropout,
        window: int = _D.window,
        target: TargetSpec | str = "return",
        features: tuple[str, ...] | list[str] | None = _D.features,
        column: str | None = _D.column,
        scaler: str = _D.scaler,
        epochs: int = _D.epochs,
        batch_size: int = _D.batch_size,
        lr: float = _D.lr,
        patience: int = _D.patience,
        clip: float = _D.clip,
        val_size: float = _D.val_size,
        seed: int = _D.seed,
        device: str = _D.device,
        quiet: bool = _D.quiet,
        warm_start: bool = _D.warm_start,
        warm_epochs: int | None = _D.warm_epochs,
        embedding: bool = False,
    ) -> None:
        for name, value in locals().items():
            if name not in ("self", "__class__"):
                setattr(self, name, value)
        self.net_: RecurrentNet | None = None
        self.scalers_: dict[str, Scaler] = {}
        self.target_scalers_: dict[str, Scaler] = {}
        self.instruments_: list[str] = []
        self.result_: TrainResult | None = None
        spec = self._local().target_spec  # fail fast on a bad value; nothing is changed
        if spec.kind != "return" or spec.horizon != 1:
            raise ConfigError(
                f"target {spec.kind} over {spec.horizon} steps: the global return model "
                f"forecasts the one-step return only; use target='return'"
            )

    def _local(self) -> RecurrentForecaster:
        params = {k: v for k, v in self.get_params().items() if k != "embedding"}
        return RecurrentForecaster(**params)

    @property
    def name(self) -> str:
        return str(self.cell)

    def min_history(self) -> int:
        """Fewest rows an instrument needs before its first forecast: the rows its inputs need
        before their first value plus ``window``."""
        local = self._local()
        return first_valid_row_of(local, local.config()) + int(self.window)

    # -- fit ----------------------------------------------------------------------------------
    def fit(self, panel: Mapping[str, pd.DataFrame], y: None = None) -> GlobalRecurrentReturn:
        """Train one net on the pooled windows of every instrument of ``panel`` (a
        :class:`gatecast.Panel` or a mapping instrument -> price frame; every row may be used:
        pass the training part only); returns ``self``."""
        if y is not None:
            raise ConfigError(
                "fit takes no y: the target is computed from each instrument's prices"
            )
        frames = check_panel(panel, "GlobalRecurrentReturn", "RecurrentForecaster")
        local = self._local()
        cfg = local.config()
        need = WINDOW.min_rows(local, cfg) + first_valid_row_of(local, cfg)
        for n, df in frames.items():
            if len(df) < need:
                raise TooFewRowsError(
                    f"instrument {n!r} has {len(df)} rows, too few to train on with "
                    f"window={cfg.window} and a validation tail: need at least {need}; leave "
                    f"it out of the fit (panel.select([...])): predict still forecasts it once "
                    f"it has {self.min_history()} rows"
                )
        feats, targets, train_end, scalers, tscalers, scaled, columns = {}, {}, {}, {}, {}, {}, {}
        for n, df in frames.items():
            f, y_n, columns[n] = local.training_frames(df, cfg)
            raw = make_windows(f, y_n, cfg.window, 1)
            n_train = len(raw) - WINDOW.n_val(cfg, len(raw))
            if n_train < 1:
                raise TooFewRowsError(
                    f"instrument {n!r}: no training windows remain; use more data"
                )
            end = raw.index[n_train - 1]
            values = f.to_numpy(dtype=float)
            # each instrument's scalers see its training rows only: feature rows up to its last
            # training target, and its training targets; no validation or test row, and no
            # other instrument's row
            labels = [f"instrument {n!r}, feature {c!r}" for c in f.columns]
            scalers[n] = fit_scaler(cfg.scaler, values[f.index <= end], labels)
            tscalers[n] = fit_scaler(cfg.scaler, raw.y[:n_train], [f"instrument {n!r}, return"])
            y_scaled = tscalers[n].transform(y_n.to_numpy(dtype=float))
            feats[n], train_end[n] = f, end
            targets[n] = pd.Series(y_scaled, index=y_n.index)
            scaled[n] = scalers[n].transform(values)
        win = panel_windows(feats, targets, cfg.window, values=scaled)
        train = win.index <= pd.DatetimeIndex([train_end[n] for n in win.instrument])
        names = list(frames)
        X = win.X
        if self.embedding:
            X = np.concatenate([X, one_hot(win.instrument, names, cfg.window)], axis=2)
        dev = resolve_device(cfg.device)
        Xt = torch.as_tensor(np.ascontiguousarray(X), dtype=torch.float32, device=dev)
        tt = torch.as_tensor(win.y, dtype=torch.float32, device=dev)[:, None]
        mask = torch.as_tensor(train, device=dev)
        gen = seed_everything(cfg.seed)
        warm = bool(cfg.warm_start) and self.net_ is not None
        if warm and self.embedding and names != self.instruments_:
            raise ConfigError(
                f"a warm refit with embedding=True needs the instruments it was fit on "
                f"({', '.join(self.instruments_)}); got {', '.join(names)}"
            )
        if not warm:
            self.net_ = RecurrentNet(cfg.cell, X.shape[2], cfg.hidden, cfg.layers, cfg.dropout)
        assert self.net_ is not None
        self.net_.to(dev)
        val = (Xt[~mask], tt[~mask]) if bool((~mask).any()) else None
        self.result_ = train_loop(
            self.net_,
            (Xt[mask], tt[mask]),
            val,
            cfg.train_config(warm=warm),
            local.loss_fn(cfg),
            generator=gen,
        )
        self.net_.eval()
        self.resolved_ = cfg
        self.scalers_, self.target_scalers_, self.instruments_ = scalers, tscalers, names
        self.columns_ = columns
        self.train_ranges_ = {n: (str(feats[n].index[0]), str(train_end[n])) for n in names}
        return self

    # -- one instrument as a single-series model ---------------------------------------------
    def _check_fitted(self) -> RecurrentNet:
        if self.net_ is None:
            raise NotFittedError(
                "GlobalRecurrentReturn is not fitted; call fit(panel) before predict"
            )
        return self.net_

    def for_instrument(
        self, instrument: str, history: pd.DataFrame | None = None
    ) -> RecurrentForecaster:
        """A fitted :class:`RecurrentForecaster` that forecasts ``instrument`` exactly as the
        global model does: the shared weights (with its embedding, if any, in the first layer's
        input bias) and its own feature and target scalers.

        An instrument the model was not fit on (and ``embedding=False``) needs ``history``: its
        rows before the first date to forecast, at least :meth:`min_history` of them (and a
        few more for the target scaler); its scalers are fit on those rows."""
        net = self._check_fitted()
        cfg = self.resolved_
        state = weights_of(net)
        n_feat = len(cfg.features)
        if instrument in self.scalers_:
            scaler, tscaler = self.scalers_[instrument], self.target_scalers_[instrument]
            column = self.columns_.get(instrument, cfg.column)
        elif self.embedding:
            raise PanelError(
                f"instrument {instrument!r} was not in the fit ({', '.join(self.instruments_)}) "
                f"and embedding=True learns a vector per instrument it was fit on: refit with "
                f"it, or use embedding=False"
            )
        elif history is None:
            raise PanelError(
                f"instrument {instrument!r} was not in the fit ({', '.join(self.instruments_)}); "
                f"pass its history to fit its scalers on"
            )
        else:
            scaler, tscaler, column = self._new_instrument(instrument, history)
        if self.embedding:
            fold_embedding(state, n_feat, self.instruments_.index(instrument))
        local = self._local()
        local.net_ = with_weights(local._new_net(cfg, n_feat), state)
        local.net_ = local.net_.to(next(net.parameters()).device).eval()
        assert self.result_ is not None
        local._finish(
            cfg,
            column=column,
            feature_scaler=scaler,
            target_scaler=tscaler,
            result=self.result_,
            info={"instrument": instrument, "global": True},
        )
        return local

    def _new_instrument(self, instrument: str, history: pd.DataFrame) -> tuple[Scaler, Scaler, str]:
        """The scalers of an instrument the model was not fit on, from ``history``."""
        cfg = self.resolved_
        local = self._local()
        need = self.min_history() + 2
        if len(history) < need:
            raise TooFewRowsError(
                f"instrument {instrument!r} has {len(history)} rows before its first forecast; "
                f"the global model needs at least {need} to fit its scalers on"
            )
        feats, y, column = local.training_frames(history, cfg)
        values = feats.to_numpy(dtype=float)
        ok = np.isfinite(values).all(axis=1)
        labels = [f"instrument {instrument!r}, feature {c!r}" for c in feats.columns]
        scaler = fit_scaler(cfg.scaler, values[ok], labels)
        target = y.to_numpy(dtype=float)
        tscaler = fit_scaler(
            cfg.scaler, target[np.isfinite(target)], [f"instrument {instrument!r}, return"]
        )
        return scaler, tscaler, column

    # -- forecasts ----------------------------------------------------------------------------
    def predict(
        self, panel: Mapping[str, pd.DataFrame], start: DateLike = None, end: DateLike = None
    ) -> pd.DataFrame:
        """Forecasts for every instrument of ``panel`` and every one of its dates in ``[start,
        end]`` with enough history, each from that instrument's rows before the date only.

        Returns a long frame with columns ``instrument``, ``date`` (the date each forecast is
        for) and ``forecast`` (the log return, as :class:`RecurrentForecaster` gives it). An
        instrument the model was not fit on is forecast from its rows before ``start``."""
        self._check_fitted()
        parts = []
        for name, df in panel.items():
            n = str(name)
            history = None
            if n not in self.scalers_:
                cut = df.index[0] if start is None else pd.Timestamp(start)
                history = df.loc[df.index < cut]
            fc = self.predict_instrument(n, df, start, end, history=history)
            parts.append(pd.DataFrame({"instrument": n, "date": fc.index, "forecast": fc.values}))
        out: pd.DataFrame = pd.concat(parts, ignore_index=True)
        return out

    def predict_instrument(
        self,
        instrument: str,
        data: pd.DataFrame,
        start: DateLike = None,
        end: DateLike = None,
        *,
        history: pd.DataFrame | None = None,
    ) -> pd.Series:
        """One instrument's forecasts (see :meth:`predict`), indexed by date."""
        return self.for_instrument(instrument, history).predict(data, start, end)

    def warm_state(self) -> dict[str, np.ndarray]:
        """The pooled net's weights as NumPy arrays (PyTorch names), copies."""
        return weights_of(self._check_fitted())

    def set_warm_state(self, state: dict[str, np.ndarray]) -> GlobalRecurrentReturn:
        """Load weights saved by :meth:`warm_state`; the next ``fit`` with ``warm_start``
        starts from them."""
        cfg = self._local().config()
        n_in = int(np.shape(state["rnn.weight_ih_l0"])[1])
        self.net_ = with_weights(
            RecurrentNet(cfg.cell, n_in, cfg.hidden, cfg.layers, cfg.dropout), state
        )
        return self

    # -- model folder -------------------------------------------------------------------------
    def save(self, folder: str | Path, *, signing_key: KeyLike = None) -> Path:
        """Write the model to ``folder`` as one model folder (atomically; no pickle): the shared
        weights once in ``model.safetensors`` (the embedding, if any, as ``panel.embedding``)
        and, in ``manifest.json`` (kind ``global_return``), the shared net's spec and, under
        ``panel``, each instrument's feature and target scalers, price column and training
        range. The manifest's checksum covers all of it; ``signing_key`` signs it."""
        net = self._check_fitted()
        n_feat = len(self.resolved_.features)
        tensors = weights_of(net)
        w = tensors["rnn.weight_ih_l0"]
        tensors["rnn.weight_ih_l0"] = np.ascontiguousarray(w[:, :n_feat])
        if self.embedding:
            tensors[EMBEDDING] = np.ascontiguousarray(w[:, n_feat:].T)
        manifest = self.for_instrument(self.instruments_[0]).manifest()
        for key in ("instrument", "global"):
            manifest.pop(key, None)
        manifest["kind"] = KIND
        manifest["panel"] = {
            "instruments": list(self.instruments_),
            "embedding": bool(self.embedding),
            "scalers": {n: self.scalers_[n].to_dict() for n in self.instruments_},
            "target_scalers": {n: self.target_scalers_[n].to_dict() for n in self.instruments_},
            "columns": {n: self.columns_[n] for n in self.instruments_},
            "train_ranges": {n: list(self.train_ranges_[n]) for n in self.instruments_},
        }
        return save_model_folder(folder, tensors, manifest, signing_key=signing_key)

    @classmethod
    def load(
        cls,
        folder: str | Path,
        *,
        device: str = "auto",
        signing_key: KeyLike = None,
        require_signature: bool | None = None,
    ) -> GlobalRecurrentReturn:
        """A fitted global return model from a folder written by :meth:`save`; refuses a folder
        whose weights or manifest do not match their checksum (and, with a key, one it did not
        sign), as every model folder is refused."""
        parts = read_global_folder(
            folder, KIND, signing_key=signing_key, require_signature=require_signature
        )
        spec, tensors, rows = parts.spec, parts.tensors, parts.embedding
        where = f"{folder}/{MANIFEST_FILE}"
        names, embedding = list(parts.instruments), rows is not None
        scalers, tscalers = parts.scalers, parts.target_scalers
        columns, ranges = parts.columns, parts.train_ranges
        local = RecurrentForecaster.from_spec(spec, tensors, device=device, where=where)
        keep = set(cls._param_names()) - {"embedding"}
        model = cls(
            **{k: v for k, v in local.get_params().items() if k in keep}, embedding=embedding
        )
        model.resolved_ = local.config()
        state = weights_of(local.net_)
        if rows is not None:
            state["rnn.weight_ih_l0"] = np.concatenate(
                [state["rnn.weight_ih_l0"], np.asarray(rows).T], axis=1
            )
        n_in = int(state["rnn.weight_ih_l0"].shape[1])
        net = RecurrentNet(spec.cell, n_in, spec.hidden, spec.layers, spec.dropout)
        model.net_ = with_weights(net, state).to(resolve_device(device)).eval()
        model.scalers_, model.target_scalers_, model.instruments_ = scalers, tscalers, names
        model.columns_, model.train_ranges_ = columns, ranges
        model.result_ = local.result_
        return model

    # -- serving ------------------------------------------------------------------------------
    def stream_set(
        self, engine: str = "numpy", *, history: Mapping[str, pd.DataFrame] | None = None
    ) -> StreamSet:
        """A :class:`gatecast.serve.StreamSet` over the panel's instruments, each streaming
        through its own :meth:`for_instrument` view, so its forecasts are those of
        :meth:`predict`. An instrument the model was not fit on is served only with its rows
        before its first streamed row in ``history`` (``embedding=False``); any other is
        refused by name when it first ticks. ``engine``: ``"numpy"`` or ``"torch"``."""
        self._check_fitted()
        return global_stream_set(self, engine, history)


def first_valid_row_of(local: RecurrentForecaster, cfg: Any) -> int:
    """The row of the first input value of ``local``'s features (on any price path)."""
    n = 60
    close = 100.0 * np.exp(0.01 * np.sin(np.arange(n)))
    data = pd.DataFrame({"close": close}, index=pd.bdate_range("2000-01-03", periods=n))
    feats, _, _ = local.training_frames(data, cfg)
    return first_valid_row(feats)
