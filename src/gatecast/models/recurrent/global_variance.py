"""A global recurrent variance model: one set of weights trained on the pooled windows of every
instrument of a panel, each instrument scaled by its own training rows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
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
from gatecast.data.per_instrument import panel_windows
from gatecast.data.scalers import Scaler, fit_scaler
from gatecast.data.volatility import VarianceTarget
from gatecast.data.windows import first_valid_row, make_windows
from gatecast.errors import (
    ConfigError,
    NotFittedError,
    PanelError,
    TooFewRowsError,
)
from gatecast.models.base import ParamsFromSignature
from gatecast.models.config import VarianceConfig
from gatecast.models.recurrent.base import WINDOW
from gatecast.models.recurrent.net import RecurrentNet, weights_of, with_weights
from gatecast.models.recurrent.variance import RecurrentVariance
from gatecast.serve import Stream, StreamSet
from gatecast.serve.global_numpy import read_global_folder
from gatecast.training.config import TrainResult
from gatecast.training.loop import resolve_device, seed_everything, train_loop
from gatecast.types import DateLike

#: The manifest ``kind`` of a global model's folder.
KIND = "global_variance"
#: The weights' tensor of the instrument embedding: (instruments, gates x hidden), row k the
#: first layer's input weights of instrument k's one-hot input.
EMBEDDING = "panel.embedding"

__all__ = ["GlobalRecurrentVariance"]

_D = VarianceConfig()


class GlobalRecurrentVariance(ParamsFromSignature):
    """One recurrent variance net for every instrument of a panel (a "global" model).

    The network, its loss (QLIKE on a log-variance head), its inputs and its training loop are
    those of :class:`RecurrentVariance`; what changes is the data it sees. ``fit(panel)`` makes
    each instrument's windows from its own rows only (:func:`gatecast.data.panel_windows`: no
    window spans two instruments), pools them, and trains one net on the pool. Per instrument,
    on its own training rows only (those before its validation tail, the last ``val_size`` of
    its windows):

    - its inputs are standardised by a scaler fit on its rows (``scalers_``);
    - its target is divided by its mean training target (``levels_``), so the net learns each
      instrument's variance relative to its own level; QLIKE is scale-free, so the loss of
      ``level * e^h`` on the variance equals the loss of ``e^h`` on the scaled target.

    Early stopping watches the pooled validation tails. ``embedding=True`` adds a learned
    vector per instrument: a one-hot instrument indicator joins every window step, so the first
    recurrent layer learns one input vector per instrument (off by default).

    :meth:`for_instrument` gives an ordinary fitted :class:`RecurrentVariance` for one instrument
    (its scaler; its level and embedding folded into the net's biases), which predicts, streams
    and saves as any single-series model does. Parameters are those of
    :class:`RecurrentVariance` but the hybrid ones (``classical_inputs``, ``residual``) and
    ``train_rows``, which a global model does not take yet.

    Fitted state: ``net_`` (the pooled net), ``scalers_`` and ``levels_`` per instrument,
    ``instruments_`` (those fit on), ``result_`` (the loss history).
    """

    fitted_attr = "net_"
    #: Marks a model that fits on a whole panel (the panel walk-forward asks this).
    pooled = True
    # set from the constructor's arguments (those the model reads itself)
    cell: str
    window: int
    embedding: bool
    covariates: tuple[str, ...] | list[str]

    def __init__(
        self,
        cell: str = _D.cell,
        hidden: int = _D.hidden,
        layers: int = _D.layers,
        dropout: float = _D.dropout,
        window: int = _D.window,
        features: tuple[str, ...] | list[str] | None = _D.features,
        target: VarianceTarget | str = _D.target,
        loss: str = _D.loss,
        column: str | None = _D.column,
        epochs: int = _D.epochs,
        warm_epochs: int | None = _D.warm_epochs,
        batch_size: int = _D.batch_size,
        lr: float = _D.lr,
        patience: int = _D.patience,
        val_size: float = _D.val_size,
        clip: float = _D.clip,
        seed: int = _D.seed,
        device: str = _D.device,
        warm_start: bool = _D.warm_start,
        quiet: bool = _D.quiet,
        train_proxy: str | None = _D.train_proxy,
        embedding: bool = False,
        covariates: tuple[str, ...] | list[str] = _D.covariates,
    ) -> None:
        for name, value in locals().items():
            if name not in ("self", "__class__"):
                setattr(self, name, value)
        self.net_: RecurrentNet | None = None
        self.scalers_: dict[str, Scaler] = {}
        self.levels_: dict[str, float] = {}
        self.instruments_: list[str] = []
        self.result_: TrainResult | None = None
        self._local()  # fail fast on a bad value; nothing is changed

    # -- the single-series model whose parts are reused -------------------------------------
    def _local(self) -> RecurrentVariance:
        params = {k: v for k, v in self.get_params().items() if k != "embedding"}
        return RecurrentVariance(**params)

    @property
    def name(self) -> str:
        return str(self.cell)

    def _resolved(self, frames: Mapping[str, pd.DataFrame]) -> Any:
        """The settings every instrument's fit uses (inputs and proxy chosen from the data, as
        :meth:`RecurrentVariance.resolve` chooses them); refuses a panel whose instruments would
        get different inputs."""
        local = self._local()
        cfg0 = local.config()
        chosen = {n: local.resolve(cfg0, df) for n, df in frames.items()}
        first = next(iter(chosen))
        for n, c in chosen.items():
            if (c.features, c.train_proxy) != (chosen[first].features, chosen[first].train_proxy):
                raise PanelError(
                    f"instrument {n!r} gets inputs {list(c.features)} (proxy {c.train_proxy}), "
                    f"{first!r} gets {list(chosen[first].features)} (proxy "
                    f"{chosen[first].train_proxy}): one net needs the same inputs for all; give "
                    f"features= and train_proxy=, or use instruments with the same columns"
                )
        return chosen[first]

    def min_history(self) -> int:
        """Fewest rows an instrument needs before its first forecast: the rows its inputs need
        before their first value (22 for the close-only inputs, whose ``log_rv22`` averages 22
        returns; 1 for the range inputs) plus ``window``; for the inputs of the fit (before
        one: the close-only inputs)."""
        cfg = self.resolved_ if self.net_ is not None else None
        return self._input_start(cfg) + int(self.window)

    def _input_start(self, cfg: Any) -> int:
        """The row of the first input value (the same on any price path with the columns)."""
        n = 200
        close = 100.0 * np.exp(0.01 * np.sin(np.arange(n)))
        data = pd.DataFrame(
            {"close": close}, index=pd.bdate_range("2000-01-03", periods=n, name="date")
        )
        for c in self.covariates:  # a covariate column is read as it is, from its first row
            data[c] = 0.0
        if cfg is None:
            cfg = self._resolved({"data": data})  # closes only: the default inputs
        else:
            data = data.assign(high=close * 1.01, low=close * 0.99)
        feats, _, _ = self._local().training_frames(data, cfg)
        return first_valid_row(feats)

    # -- fit ----------------------------------------------------------------------------------
    def fit(self, panel: Mapping[str, pd.DataFrame], y: None = None) -> GlobalRecurrentVariance:
        """Train one net on the pooled windows of every instrument of ``panel`` (a
        :class:`gatecast.Panel` or a mapping instrument -> price frame; every row may be used:
        pass the training part only); returns ``self``."""
        if y is not None:
            raise ConfigError(
                "fit takes no y: the target is computed from each instrument's prices"
            )
        if isinstance(panel, pd.DataFrame) or not isinstance(panel, Mapping) or not panel:
            raise PanelError(
                "GlobalRecurrentVariance.fit takes a panel (gatecast.load_panel, or a mapping "
                "instrument -> price frame) with at least one instrument; for one series use "
                "RecurrentVariance"
            )
        frames = {str(n): df for n, df in panel.items()}
        local = self._local()
        cfg = self._resolved(frames)
        # the rows the inputs need, then a window, a target and a validation tail
        need = self._input_start(cfg) + WINDOW.min_rows(local, cfg)
        for n, df in frames.items():
            if len(df) < need:
                raise TooFewRowsError(
                    f"instrument {n!r} has {len(df)} rows, too few to train on with "
                    f"window={cfg.window}, the rows its inputs need first and a validation "
                    f"tail: need at least {need}; leave it "
                    f"out of the fit (panel.select([...])): predict still forecasts it once it "
                    f"has {self.min_history()} rows"
                )
        feats, targets, train_end, scalers, levels, scaled = {}, {}, {}, {}, {}, {}
        for n, df in frames.items():
            f, y_n, _ = local.training_frames(df, cfg)
            raw = make_windows(f, y_n, cfg.window, 1)
            n_train = len(raw) - WINDOW.n_val(cfg, len(raw))
            if n_train < 1:
                raise TooFewRowsError(
                    f"instrument {n!r}: no training windows remain; use more data"
                )
            end = raw.index[n_train - 1]
            values = f.to_numpy(dtype=float)
            # each instrument's scaler and level see its training rows only: feature rows up to
            # its last training target, and its training targets; no validation or test row,
            # and no other instrument's row
            labels = [f"instrument {n!r}, feature {c!r}" for c in f.columns]
            scalers[n] = fit_scaler(local.feature_scaler_kind(cfg), values[f.index <= end], labels)
            levels[n] = float(np.mean(raw.y[:n_train]))
            feats[n], targets[n], train_end[n] = f, y_n / levels[n], end
            scaled[n] = scalers[n].transform(values)
        win = panel_windows(feats, targets, cfg.window, values=scaled)
        train = win.index <= pd.DatetimeIndex([train_end[n] for n in win.instrument])
        names = list(frames)
        X = win.X
        if self.embedding:
            X = np.concatenate([X, self._one_hot(win.instrument, names, cfg.window)], axis=2)
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
            local.init_net(self.net_, win.y[train])
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
        self.scalers_, self.levels_, self.instruments_ = scalers, levels, names
        self.train_ranges_ = {n: (str(feats[n].index[0]), str(train_end[n])) for n in names}
        return self

    @staticmethod
    def _one_hot(instrument: np.ndarray, names: list[str], window: int) -> np.ndarray:
        """(n, window, len(names)): each window's instrument as a one-hot row at every step."""
        pos = {n: i for i, n in enumerate(names)}
        hot = np.zeros((len(instrument), len(names)))
        hot[np.arange(len(instrument)), [pos[str(n)] for n in instrument]] = 1.0
        return np.repeat(hot[:, None, :], window, axis=1)

    # -- one instrument as a single-series model ---------------------------------------------
    def _check_fitted(self) -> RecurrentNet:
        if self.net_ is None:
            raise NotFittedError(
                "GlobalRecurrentVariance is not fitted; call fit(panel) before predict"
            )
        return self.net_

    def for_instrument(
        self, instrument: str, history: pd.DataFrame | None = None
    ) -> RecurrentVariance:
        """A fitted :class:`RecurrentVariance` that forecasts ``instrument`` exactly as the
        global model does: the shared weights, with the instrument's level added to the head's
        bias (and its embedding to the first layer's input bias), and its own scaler.

        An instrument the model was not fit on (and ``embedding=False``) needs ``history``: its
        rows before the first date to forecast, at least :meth:`min_history` of them; its
        scaler and level are fit on those rows."""
        net = self._check_fitted()
        cfg = self.resolved_
        state = weights_of(net)
        n_feat = len(cfg.features)
        if instrument in self.scalers_:
            scaler, level = self.scalers_[instrument], self.levels_[instrument]
        elif self.embedding:
            raise PanelError(
                f"instrument {instrument!r} was not in the fit ({', '.join(self.instruments_)}) "
                f"and embedding=True learns a vector per instrument it was fit on: refit with "
                f"it, or use embedding=False"
            )
        elif history is None:
            raise PanelError(
                f"instrument {instrument!r} was not in the fit ({', '.join(self.instruments_)}); "
                f"pass its history to fit its scaler and level on"
            )
        else:
            scaler, level = self._new_instrument(instrument, history)
        if self.embedding:
            # the one-hot input k adds column k of the input weights to the first layer's
            # pre-activations at every step: the same as adding it to the input bias
            k = self.instruments_.index(instrument)
            w = state["rnn.weight_ih_l0"]
            state["rnn.bias_ih_l0"] = state["rnn.bias_ih_l0"] + w[:, n_feat + k]
            state["rnn.weight_ih_l0"] = np.ascontiguousarray(w[:, :n_feat])
        # the net predicts log(variance / level): the level joins the head's bias
        state["head.bias"] = state["head.bias"] + np.float32(np.log(level))
        local = self._local()
        local_net = with_weights(local._new_net(cfg, n_feat), state)
        local.net_ = local_net.to(next(net.parameters()).device).eval()
        assert self.result_ is not None
        local._finish(
            cfg,
            column=cfg.column,
            feature_scaler=scaler,
            target_scaler=local.fit_target_scaler(cfg, np.ones(1)),
            result=self.result_,
            info={"instrument": instrument, "global": True},
        )
        return local

    def _new_instrument(self, instrument: str, history: pd.DataFrame) -> tuple[Scaler, float]:
        """The scaler and level of an instrument the model was not fit on, from ``history``."""
        cfg = self.resolved_
        local = self._local()
        need = self.min_history()
        if len(history) < need:
            raise TooFewRowsError(
                f"instrument {instrument!r} has {len(history)} rows before its first forecast; "
                f"the global model needs at least {need} (window={cfg.window} plus "
                f"{need - cfg.window} rows its inputs need before their first value)"
            )
        feats, y, _ = local.training_frames(history, cfg)
        values = feats.to_numpy(dtype=float)
        ok = np.isfinite(values).all(axis=1)
        labels = [f"instrument {instrument!r}, feature {c!r}" for c in feats.columns]
        scaler = fit_scaler(local.feature_scaler_kind(cfg), values[ok], labels)
        level = float(np.nanmean(y.to_numpy(dtype=float)))
        return scaler, level

    # -- forecasts ----------------------------------------------------------------------------
    def predict(
        self, panel: Mapping[str, pd.DataFrame], start: DateLike = None, end: DateLike = None
    ) -> pd.DataFrame:
        """Forecasts for every instrument of ``panel`` and every one of its dates in ``[start,
        end]`` with enough history, each from that instrument's rows before the date only.

        Returns a long frame with columns ``instrument``, ``date`` (the date each forecast is
        for) and ``forecast`` (the variance, in the units of :class:`RecurrentVariance`). An
        instrument the model was not fit on is forecast from its rows before ``start`` (its
        scaler and level fit on them; at least :meth:`min_history` rows)."""
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
        """The pooled net's weights as NumPy arrays (PyTorch names), copies: a later warm
        refit, which updates the weights in place, leaves them as they are."""
        return weights_of(self._check_fitted())

    def set_warm_state(self, state: dict[str, np.ndarray]) -> GlobalRecurrentVariance:
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
        weights once in ``model.safetensors`` (with the embedding, if any, as one more tensor,
        ``panel.embedding``) and, in ``manifest.json`` (kind ``global_variance``), the shared
        net's spec and, under ``panel``, each instrument's scaler, level and training range.
        The manifest's checksum covers all of it; ``signing_key`` signs it as for any folder."""
        net = self._check_fitted()
        cfg = self.resolved_
        n_feat = len(cfg.features)
        tensors = weights_of(net)
        w = tensors["rnn.weight_ih_l0"]
        tensors["rnn.weight_ih_l0"] = np.ascontiguousarray(w[:, :n_feat])
        if self.embedding:
            tensors[EMBEDDING] = np.ascontiguousarray(w[:, n_feat:].T)
        # the shared net's spec, as a single-series folder's (its top-level scalers are the
        # first instrument's, there to be validated as any spec is; the panel's are below)
        manifest = self.for_instrument(self.instruments_[0]).manifest()
        for key in ("instrument", "global"):
            manifest.pop(key, None)
        manifest["kind"] = KIND
        manifest["panel"] = {
            "instruments": list(self.instruments_),
            "embedding": bool(self.embedding),
            "scalers": {n: self.scalers_[n].to_dict() for n in self.instruments_},
            "levels": {n: float(self.levels_[n]) for n in self.instruments_},
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
    ) -> GlobalRecurrentVariance:
        """A fitted global model from a folder written by :meth:`save`; refuses a folder whose
        weights or manifest do not match their checksum, and with a key (``signing_key``, else
        ``$GATECAST_SIGNING_KEY_FILE``) one it did not sign, as every model folder is refused
        (see ``gatecast.inference.read_model_folder``)."""
        parts = read_global_folder(
            folder, KIND, signing_key=signing_key, require_signature=require_signature
        )
        spec, tensors, embedding_rows = parts.spec, parts.tensors, parts.embedding
        where = f"{folder}/{MANIFEST_FILE}"
        names, embedding = list(parts.instruments), embedding_rows is not None
        scalers, levels, ranges = parts.scalers, parts.levels, parts.train_ranges
        local = RecurrentVariance.from_spec(spec, tensors, device=device, where=where)
        keep = set(cls._param_names()) - {"embedding"}
        model = cls(
            **{k: v for k, v in local.get_params().items() if k in keep}, embedding=embedding
        )
        cfg = local.config()  # the folder lists the covariates apart; the fit read them last
        model.resolved_ = replace(cfg, features=(*cfg.features, *cfg.covariates))
        state = weights_of(local.net_)
        if embedding_rows is not None:
            state["rnn.weight_ih_l0"] = np.concatenate(
                [state["rnn.weight_ih_l0"], np.asarray(embedding_rows).T], axis=1
            )
        n_in = int(state["rnn.weight_ih_l0"].shape[1])
        net = RecurrentNet(spec.cell, n_in, spec.hidden, spec.layers, spec.dropout)
        model.net_ = with_weights(net, state).to(resolve_device(device)).eval()
        model.scalers_, model.levels_, model.instruments_ = scalers, levels, names
        model.train_ranges_ = ranges
        model.result_ = local.result_
        return model

    # -- serving ------------------------------------------------------------------------------
    def stream_set(
        self, engine: str = "numpy", *, history: Mapping[str, pd.DataFrame] | None = None
    ) -> StreamSet:
        """A :class:`gatecast.serve.StreamSet` over the panel's instruments: each instrument
        streams through its own :meth:`for_instrument` view (its scaler, its level, its
        embedding), so its forecasts are those of :meth:`predict`.

        An instrument the model was not fit on is served only if ``history`` holds its rows
        before its first streamed row (at least :meth:`min_history` of them; with
        ``embedding=False``): its scaler and level are fit on those rows, as :meth:`predict`
        fits them on the rows before ``start``. Feed the stream those rows too to warm it up.
        Any other instrument is refused by name when it first ticks. ``engine``: ``"numpy"``
        (default) or ``"torch"``."""
        self._check_fitted()
        histories = dict(history or {})
        for n, rows in histories.items():
            if n in self.scalers_:
                raise PanelError(
                    f"instrument {n!r} was in the fit: its scaler and level are the fit's; "
                    f"leave it out of history"
                )
            self.for_instrument(n, rows)  # refused now (too short, embedding) if it cannot be

        def stream_for(key: str) -> Stream:
            if key not in self.scalers_ and key not in histories:
                raise PanelError(
                    f"instrument {key!r} was not in the fit ({', '.join(self.instruments_)}) "
                    f"and has no history: give stream_set(history={{{key!r}: rows}}) with at "
                    f"least {self.min_history()} rows before its first streamed row"
                )
            return self.for_instrument(key, histories.get(key)).stream(engine)

        first = self.instruments_[0]
        return StreamSet(lambda: stream_for(first), stream_for=stream_for)
