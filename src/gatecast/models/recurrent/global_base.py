"""What the global (panel) recurrent models share: one net fit on the pooled windows of every
instrument, per-instrument scalers, the instrument embedding, the model folder, forecasts and
streams through each instrument's single-series view. A model says only what its target is."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch

from gatecast.artifacts import KeyLike, save_model_folder
from gatecast.data.per_instrument import panel_windows
from gatecast.data.scalers import Scaler, fit_scaler
from gatecast.data.windows import make_windows
from gatecast.errors import ConfigError, NotFittedError, PanelError, TooFewRowsError
from gatecast.models.base import ParamsFromSignature
from gatecast.models.config import LANE_SETTINGS, NetParams, check_lanes
from gatecast.models.recurrent.base import WINDOW, FolderModel
from gatecast.models.recurrent.global_sequence import (
    PanelFit,
    as_sequence_view,
    fit_sequence,
    lane_min_rows,
)
from gatecast.models.recurrent.net import RecurrentNet, weights_of, with_weights
from gatecast.models.recurrent.panel_parts import (
    check_panel,
    fold_embedding,
    global_stream_set,
    one_hot,
)
from gatecast.serve import StreamSet
from gatecast.serve.global_numpy import EMBEDDING, GlobalFolder, read_global_folder
from gatecast.training.config import TrainResult
from gatecast.training.loop import resolve_device, seed_everything, train_loop
from gatecast.types import DateLike

#: An instrument's own part of a global model: its feature scaler, its target part (the
#: variance model's level, the return model's target scaler) and its price column.
InstrumentPart = tuple[Scaler, Any, "str | None"]


class GlobalRecurrentModel(NetParams, FolderModel, ParamsFromSignature):
    """The machinery of a global model (see :class:`GlobalRecurrentVariance`): a subclass
    names its single-series model (``local_class``) and its folder's kind, and says what an
    instrument's target part is (the variance model's level, the return model's target scaler):
    how it is fit (:meth:`_fit_target`, :meth:`_history_target`), folded into the instrument's
    view (:meth:`_fold_target`) and kept (:meth:`_fitted_part`, :meth:`_keep_parts`,
    :meth:`_panel_parts`, :meth:`_restore`); the rest is here. Its parameters are those of a
    parameter class of :mod:`gatecast.models.config`, which a subclass inherits first (its
    constructor, as :class:`RecurrentEstimator`'s)."""

    fitted_attr = "net_"
    #: Marks a model that fits on a whole panel (the panel walk-forward asks this).
    pooled = True
    #: The single-series model each instrument's view is.
    local_class: ClassVar[type[Any]]
    #: The manifest ``kind`` of the model's folder.
    folder_kind: ClassVar[str]
    #: What an instrument's own part is called in messages.
    parts_name: ClassVar[str]
    #: The covariate groups (``sp500``...) whose columns the model reads, when it was trained
    #: on data they were joined onto (``gatecast train --covariates``): the folder records
    #: them so that predict joins the same ones; empty otherwise.
    covariate_groups_: tuple[str, ...] = ()
    #: The trading calendar every instrument follows (``Calendar.to_dict()``), when it was
    #: trained with one (``gatecast train --calendar XNYS``): each instrument's view and the
    #: folder record it, so that predict and stream date the next bar by it; None otherwise.
    calendar_: dict[str, Any] | None = None
    #: Rows a new instrument's history needs beyond :meth:`min_history` (for its target part).
    extra_history: ClassVar[int] = 0
    # parameters the subclass's parameter class declares (the rest are NetParams')
    embedding: bool
    mode: str
    chunk_len: int
    chunks: int
    burn_in: int

    #: The one-hot instrument input of the embedding (see :func:`panel_parts.one_hot`).
    _one_hot = staticmethod(one_hot)

    def __post_init__(self) -> None:
        """Unfitted (the constructor keeps its arguments as given)."""
        self.net_: RecurrentNet | None = None
        self.scalers_: dict[str, Scaler] = {}
        self.instruments_: list[str] = []
        self.result_: TrainResult | None = None
        check_lanes(self.mode, self.chunk_len, self.chunks, self.burn_in)

    # -- the single-series model whose parts are reused -------------------------------------
    def _local(self) -> Any:
        # the single-series model's own parameters (the variance model has no sequence mode:
        # a global variance model's sequence settings are its own)
        takes = set(self.local_class._param_names())
        params = {k: v for k, v in self.get_params().items() if k in takes}
        return self.local_class(**params)

    @property
    def name(self) -> str:
        return str(self.cell)

    def identity_params(self) -> dict[str, Any]:
        """What a walk-forward's run folder records of the model: :meth:`get_params`, less the
        sequence settings in window mode (they change nothing there), so a window-mode run
        recorded before sequence mode came still resumes."""
        params: dict[str, Any] = self.get_params()
        if self.mode == "window":
            for k in LANE_SETTINGS:
                params.pop(k)
        return params

    def _fit_config(self, frames: Mapping[str, pd.DataFrame]) -> Any:
        """The settings every instrument's fit uses; default: the single-series model's."""
        return self._local().config()

    def _input_start(self, cfg: Any) -> int:
        """The row of the first input value of the inputs of ``cfg`` (``None``: before a fit)."""
        raise NotImplementedError

    def min_history(self) -> int:
        """Fewest rows an instrument needs before its first forecast: the rows its inputs need
        before their first value plus ``window``."""
        return self._input_start(None) + int(self.window)

    # -- what a subclass says about its target ---------------------------------------------
    def _fit_target(self, instrument: str, cfg: Any, y: pd.Series, y_train: np.ndarray) -> Any:
        """(the instrument's target part, its target as trained on) from its training target
        ``y_train`` (the targets of its training windows)."""
        raise NotImplementedError

    def _fitted_part(self, instrument: str) -> InstrumentPart:
        """The part of an instrument of the fit."""
        raise NotImplementedError

    def _history_target(self, instrument: str, y: pd.Series, column: str) -> tuple[Any, str | None]:
        """(target part, price column) of an instrument the model was not fit on, from the
        target ``y`` of its history read from ``column``."""
        raise NotImplementedError

    def _fold_target(self, local: Any, state: dict[str, np.ndarray], target: Any) -> Scaler:
        """Fold an instrument's target part into its view's weights ``state`` (in place);
        returns its view's target scaler."""
        raise NotImplementedError

    def _keep_parts(self, targets: dict[str, Any], columns: dict[str, str]) -> None:
        """Keep the fit's target parts and price columns per instrument."""
        raise NotImplementedError

    def _panel_parts(self) -> dict[str, Any]:
        """The manifest's per-instrument entries of the target parts (and columns)."""
        raise NotImplementedError

    def _restore(self, parts: GlobalFolder, cfg: Any) -> None:
        """Set the fitted settings and target parts of a model loaded from ``parts``."""
        raise NotImplementedError

    def _new_instrument(self, instrument: str, history: pd.DataFrame) -> InstrumentPart:
        """The part of an instrument the model was not fit on, from ``history``."""
        cfg = self.resolved_
        local = self._local()
        first = self.min_history()
        need = first + self.extra_history
        if len(history) < need:
            more = f", and {self.extra_history} more rows" if self.extra_history else ""
            raise TooFewRowsError(
                f"instrument {instrument!r} has {len(history)} rows before its first forecast; "
                f"the global model needs at least {need} to fit its {self.parts_name} on "
                f"(window={cfg.window} plus {first - cfg.window} rows its inputs need before "
                f"their first value{more})"
            )
        feats, y, column = local.training_frames(history, cfg)
        values = feats.to_numpy(dtype=float)
        ok = np.isfinite(values).all(axis=1)
        labels = [f"instrument {instrument!r}, feature {c!r}" for c in feats.columns]
        scaler = fit_scaler(local.feature_scaler_kind(cfg), values[ok], labels)
        return (scaler, *self._history_target(instrument, y, column))

    # -- fit ----------------------------------------------------------------------------------
    def fit(self, panel: Mapping[str, pd.DataFrame], y: None = None) -> Any:
        """Train one net on the pooled windows of every instrument of ``panel`` (a
        :class:`gatecast.Panel` or a mapping instrument -> price frame; every row may be used:
        pass the training part only); returns ``self``."""
        if y is not None:
            raise ConfigError(
                "fit takes no y: the target is computed from each instrument's prices"
            )
        frames = check_panel(panel, type(self).__name__, self.local_class.__name__)
        local = self._local()
        cfg = self._fit_config(frames)
        sequence = self.mode == "sequence"
        # the rows the inputs need, then a window (sequence mode: a burn-in), a target and a
        # validation tail
        start = self._input_start(cfg)
        need = start + (lane_min_rows(self, cfg) if sequence else WINDOW.min_rows(local, cfg))
        span = f"burn_in={self.burn_in}" if sequence else f"window={cfg.window}"
        for n, df in frames.items():
            if len(df) < need:
                raise TooFewRowsError(
                    f"instrument {n!r} has {len(df)} rows, too few to train on with "
                    f"{span}, the rows its inputs need first and a validation "
                    f"tail: need at least {need}; leave it "
                    f"out of the fit (panel.select([...])): predict still forecasts it once it "
                    f"has {self.min_history()} rows"
                )
        names = list(frames)
        warm = bool(cfg.warm_start) and self.net_ is not None
        if warm and self.embedding and names != self.instruments_:
            raise ConfigError(
                f"a warm refit with embedding=True needs the instruments it was fit on "
                f"({', '.join(self.instruments_)}); got {', '.join(names)}"
            )
        if sequence:
            fitted = fit_sequence(self, frames, local, cfg, warm=warm)
        else:
            fitted = self._fit_windows(frames, local, cfg, warm=warm)
        assert self.net_ is not None
        self.net_.eval()
        self.resolved_, self.result_ = cfg, fitted.result
        self.scalers_, self.instruments_ = fitted.scalers, names
        self._keep_parts(fitted.targets, fitted.columns)
        self.train_ranges_ = fitted.train_ranges
        return self

    def _fit_windows(
        self, frames: Mapping[str, pd.DataFrame], local: Any, cfg: Any, *, warm: bool
    ) -> PanelFit:
        """Train ``net_`` (new, or the current one when ``warm``) on the pooled windows."""
        feats, targets, train_end, scalers, kept, scaled, columns = {}, {}, {}, {}, {}, {}, {}
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
            scalers[n] = fit_scaler(local.feature_scaler_kind(cfg), values[f.index <= end], labels)
            kept[n], targets[n] = self._fit_target(n, cfg, y_n, raw.y[:n_train])
            feats[n], train_end[n] = f, end
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
        if not warm:
            self.net_ = RecurrentNet(cfg.cell, X.shape[2], cfg.hidden, cfg.layers, cfg.dropout)
            local.init_net(self.net_, win.y[train])
        assert self.net_ is not None
        self.net_.to(dev)
        val = (Xt[~mask], tt[~mask]) if bool((~mask).any()) else None
        result = self._train_loop(
            self.net_,
            (Xt[mask], tt[mask]),
            val,
            cfg.train_config(warm=warm),
            local.loss_fn(cfg),
            generator=gen,
        )
        ranges = {n: (str(feats[n].index[0]), str(train_end[n])) for n in names}
        return PanelFit(scalers, kept, columns, ranges, result)

    def _train_loop(self, *args: Any, **kw: Any) -> TrainResult:
        """:func:`gatecast.training.loop.train_loop`, as the fit calls it."""
        return train_loop(*args, **kw)

    # -- one instrument as a single-series model ---------------------------------------------
    def _check_fitted(self) -> RecurrentNet:
        if self.net_ is None:
            raise NotFittedError(
                f"{type(self).__name__} is not fitted; call fit(panel) before predict"
            )
        return self.net_

    def for_instrument(self, instrument: str, history: pd.DataFrame | None = None) -> Any:
        """A fitted single-series model (``local_class``) that forecasts ``instrument``
        exactly as the global model does: the shared weights (with its embedding, if any, in
        the first layer's input bias, and its target part folded in) and its own scalers.

        An instrument the model was not fit on (and ``embedding=False``) needs ``history``: its
        rows before the first date to forecast, at least :meth:`min_history` of them; its
        scalers are fit on those rows."""
        net = self._check_fitted()
        cfg = self.resolved_
        state = weights_of(net)
        n_feat = len(cfg.features)
        if instrument in self.scalers_:
            scaler, target, column = self._fitted_part(instrument)
        elif self.embedding:
            raise PanelError(
                f"instrument {instrument!r} was not in the fit ({', '.join(self.instruments_)}) "
                f"and embedding=True learns a vector per instrument it was fit on: refit with "
                f"it, or use embedding=False"
            )
        elif history is None:
            raise PanelError(
                f"instrument {instrument!r} was not in the fit ({', '.join(self.instruments_)}); "
                f"pass its history to fit its {self.parts_name} on"
            )
        else:
            scaler, target, column = self._new_instrument(instrument, history)
        if self.embedding:
            fold_embedding(state, n_feat, self.instruments_.index(instrument))
        local = self._local()
        target_scaler = self._fold_target(local, state, target)
        local_net = with_weights(local._new_net(cfg, n_feat), state)
        local.net_ = local_net.to(next(net.parameters()).device).eval()
        assert self.result_ is not None
        local._finish(
            cfg,
            column=column,
            feature_scaler=scaler,
            target_scaler=target_scaler,
            result=self.result_,
            info={
                "instrument": instrument,
                "global": True,
                **({"calendar": self.calendar_} if self.calendar_ else {}),
            },
        )
        if self.mode == "sequence":  # a stateful run over the history, as the fit trained it
            as_sequence_view(self, local)
        return local

    # -- forecasts ----------------------------------------------------------------------------
    def predict(
        self, panel: Mapping[str, pd.DataFrame], start: DateLike = None, end: DateLike = None
    ) -> pd.DataFrame:
        """Forecasts for every instrument of ``panel`` and every one of its dates in ``[start,
        end]`` with enough history, each from that instrument's rows before the date only.

        Returns a long frame with columns ``instrument``, ``date`` (the date each forecast is
        for) and ``forecast`` (in the units of the single-series model). An instrument the
        model was not fit on is forecast from its rows before ``start`` (its scalers fit on
        them; at least :meth:`min_history` rows)."""
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
        series: pd.Series = self.for_instrument(instrument, history).predict(data, start, end)
        return series

    def warm_state(self) -> dict[str, np.ndarray]:
        """The pooled net's weights as NumPy arrays (PyTorch names), copies: a later warm
        refit, which updates the weights in place, leaves them as they are."""
        return weights_of(self._check_fitted())

    def set_warm_state(self, state: dict[str, np.ndarray]) -> Any:
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
        ``panel.embedding``) and, in ``manifest.json`` (of the model's kind), the shared net's
        spec and, under ``panel``, each instrument's scalers (and level or price column) and
        training range. The manifest's checksum covers all of it; ``signing_key`` signs it as
        for any folder."""
        net = self._check_fitted()
        n_feat = len(self.resolved_.features)
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
        if self.covariate_groups_:  # the groups predict joins to give the covariate columns
            manifest["covariate_groups"] = list(self.covariate_groups_)
        manifest["kind"] = self.folder_kind
        manifest["panel"] = {
            "instruments": list(self.instruments_),
            "embedding": bool(self.embedding),
            "scalers": {n: self.scalers_[n].to_dict() for n in self.instruments_},
            **self._panel_parts(),
            "train_ranges": {n: list(self.train_ranges_[n]) for n in self.instruments_},
        }
        return save_model_folder(folder, tensors, manifest, signing_key=signing_key)

    @classmethod
    def _read_folder(cls, folder: str | Path, key: KeyLike, required: bool | None) -> Any:
        return read_global_folder(
            folder, cls.folder_kind, signing_key=key, require_signature=required
        )

    @classmethod
    def _from_folder(cls, parts: GlobalFolder, device: str, where: str) -> Any:
        spec, rows = parts.spec, parts.embedding
        local = cls.local_class.from_spec(spec, parts.tensors, device=device, where=where)
        keep = set(cls._param_names()) - {"embedding"}
        params = {k: v for k, v in local.get_params().items() if k in keep}
        # a sequence-mode model's settings, from its config (the variance view has none)
        params |= {k: spec.config[k] for k in LANE_SETTINGS if k in spec.config}
        model = cls(**params, embedding=rows is not None)  # type: ignore[call-arg]
        model._restore(parts, local.config())
        state = weights_of(local.net_)
        if rows is not None:
            state["rnn.weight_ih_l0"] = np.concatenate(
                [state["rnn.weight_ih_l0"], np.asarray(rows).T], axis=1
            )
        n_in = int(state["rnn.weight_ih_l0"].shape[1])
        net = RecurrentNet(spec.cell, n_in, spec.hidden, spec.layers, spec.dropout)
        model.net_ = with_weights(net, state).to(resolve_device(device)).eval()
        model.scalers_, model.instruments_ = parts.scalers, list(parts.instruments)
        model.train_ranges_ = parts.train_ranges
        model.result_ = local.result_
        model.covariate_groups_ = tuple(spec.info.get("covariate_groups", ()))
        model.calendar_ = spec.info.get("calendar")
        return model

    # -- serving ------------------------------------------------------------------------------
    def stream_set(
        self, engine: str = "numpy", *, history: Mapping[str, pd.DataFrame] | None = None
    ) -> StreamSet:
        """A :class:`gatecast.serve.StreamSet` over the panel's instruments: each instrument
        streams through its own :meth:`for_instrument` view (its scalers, its target part, its
        embedding), so its forecasts are those of :meth:`predict`.

        An instrument the model was not fit on is served only if ``history`` holds its rows
        before its first streamed row (at least :meth:`min_history` of them; with
        ``embedding=False``): its scalers are fit on those rows, as :meth:`predict` fits them
        on the rows before ``start``. Feed the stream those rows too to warm it up. Any other
        instrument is refused by name when it first ticks. ``engine``: ``"numpy"`` (default)
        or ``"torch"``."""
        self._check_fitted()
        return global_stream_set(self, engine, history)
