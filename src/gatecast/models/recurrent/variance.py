"""A recurrent variance forecaster: RNN/LSTM/GRU on past returns and ranges -> log-variance, QLIKE loss."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from gatecast.artifacts import KeyLike
from gatecast.data.calendar import next_dates
from gatecast.data.features import PERCENT_LOG, Units, build_features
from gatecast.data.scalers import Scaler, make_scaler, scaler_from_dict
from gatecast.data.sources import resolve_column
from gatecast.data.splits import date_mask
from gatecast.data.volatility import (
    QLIKE_FLOOR,
    VarianceTarget,
    as_variance_target,
    parkinson_scale,
    percent_returns,
    variance_proxy,
)
from gatecast.data.windows import make_windows
from gatecast.errors import ConfigError, DataError
from gatecast.models.config import CLOSE_FEATURES, RANGE_FEATURES, VarianceConfig
from gatecast.models.recurrent.base import WINDOW, RecurrentEstimator
from gatecast.models.recurrent.net import RecurrentNet, gaussian_nll_logvar, qlike_logvar
from gatecast.serve import Stream
from gatecast.serve.pipeline import future_calendar, with_future_rows
from gatecast.types import DateLike

__all__ = [
    "RecurrentVariance",
    "classical_inputs",
    "classical_model",
    "gaussian_nll_logvar",
    "qlike_logvar",
    "variance_features",
]

_D = VarianceConfig()


def classical_model(name: str, column: str | None = None) -> Any:
    """A fresh classical variance model of :data:`gatecast.models.config.CLASSICAL_MODELS`, as
    the leaderboard runs it (``garch``, ``gjr_t``, ``egarch_t``, ``har``)."""
    from gatecast.models.garch import ArchForecaster
    from gatecast.models.har import HARForecaster

    if name == "har":
        return HARForecaster((1, 5, 22), column=column, name=name)
    o, dist = (0, "normal") if name == "garch" else (1, "t")
    vol = "EGARCH" if name == "egarch_t" else "GARCH"
    return ArchForecaster(vol, o=o, dist=dist, column=column, name=name)  # type: ignore[arg-type]


def classical_inputs(fitted: dict[str, Any], data: pd.DataFrame) -> pd.DataFrame:
    """The hybrid inputs on every row of ``data``: on day s, the log of each fitted classical
    model's one-step forecast made at s's close (for the day after s, from data up to s only),
    so a window ending at t - 1 reads forecasts of t made from data up to t - 1."""
    frame: pd.DataFrame = pd.DataFrame(
        {f"log_{n}_forecast": np.log(m.forecast_by_origin(data)) for n, m in fitted.items()},
        index=data.index,
    )
    return frame


def _valid_from(name: str) -> int:
    """First row on which a classical model's forecast by origin exists (the structure of the
    inputs, known before anything is fit): the first return, or a full 22-day HAR average."""
    return 21 if name == "har" else 1


def variance_features(
    data: pd.DataFrame, features: tuple[str, ...], column: str | None
) -> pd.DataFrame:
    """The variance model's inputs on day t, in percent units, from days up to t only (see
    :data:`gatecast.data.features.FEATURE_REGISTRY`: ``return``, ``squared_return``,
    ``abs_return``, ``log_parkinson``, ``log_rv5``/``log_rv22``,
    ``log_parkinson5``/``log_parkinson22``)."""
    return build_features(data, features, column, log=True, percent=True)


class RecurrentVariance(RecurrentEstimator):
    """One-day variance forecast from a recurrent net whose head outputs the log-variance.

    Parameters
    ----------
    cell
        ``lstm``, ``gru`` or ``rnn`` (:class:`gatecast.models.recurrent.net.RecurrentNet`).
    hidden, layers, dropout, window
        Network size and the input window in days.
    features
        Inputs from :data:`gatecast.data.features.FEATURE_REGISTRY` in percent units,
        standardised on the training rows; ``None`` (default): chosen from the data at fit
        (return, squared return and log Parkinson range with High/Low columns; return, squared
        and absolute return and the log 5- and 22-day realised variance on closes only).
    target
        ``squared`` or ``parkinson`` proxy (what QLIKE is trained against and evaluated on).
    train_proxy
        The proxy trained against; ``None`` (default): the less noisy ``parkinson`` range when
        the data has High/Low (a model still scored against the squared return), else
        ``target``'s proxy.
    loss
        ``qlike`` (against the proxy) or ``gaussian_nll`` (against the squared return; the same
        thing as QLIKE when the proxy is the squared return).
    epochs, warm_epochs
        Epochs of a cold fit, and of a refit that starts from the previous weights
        (``warm_start=True`` and already fitted).
    batch_size, lr, patience, val_size, clip, seed, device
        Training settings (:class:`gatecast.training.loop.TrainConfig`); the last ``val_size`` of
        the training windows drive early stopping.
    classical_inputs
        Names of :data:`gatecast.models.config.CLASSICAL_MODELS` (``garch``, ``gjr_t``,
        ``egarch_t``, ``har``) whose log one-step forecasts join the inputs. Each is fit inside
        every ``fit`` on the rows before the validation tail; the input row of day s holds the
        forecast made at s's close, so a forecast for t reads none of t's data.
    residual
        One of the same names: the head predicts log(variance / its forecast), so the model is
        that classical model scaled by the net (and is that model when the net learns nothing).
        Hybrids predict and walk forward like the others; saving and streaming one is refused.
    train_rows
        Fit on the last ``train_rows`` rows of the history only (a rolling training window for
        regime changes; classical models of a hybrid too); ``None`` (default): all of it.

    The defaults live in :class:`gatecast.models.config.VarianceConfig`. A fitted model
    saves, loads, predicts and streams like :class:`RecurrentForecaster`; its forecasts are
    variances in percent^2 (``exp`` of the head's log-variance).
    """

    kind = "recurrent_variance"
    config_class = VarianceConfig

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
        classical_inputs: tuple[str, ...] | list[str] = _D.classical_inputs,
        residual: str | None = _D.residual,
        train_rows: int | None = _D.train_rows,
    ) -> None:
        self._set_params(locals())
        self.classical_: dict[str, Any] = {}  # fitted classical models of a hybrid
        self.config()  # fail fast on a bad value; nothing is changed

    @property
    def target_spec(self) -> VarianceTarget:
        """The target as a :class:`VarianceTarget` (``target`` keeps what was given)."""
        spec: VarianceTarget = self.config().target_spec
        return spec

    def resolve(self, cfg: Any, history: pd.DataFrame) -> Any:
        """Choose the inputs and the training proxy the data allows (see
        :class:`VarianceConfig`): range inputs and the Parkinson proxy with High/Low columns,
        close-only inputs and the squared return without them."""
        has_range = {"high", "low"} <= set(history.columns)
        features = cfg.features
        if features is None:
            features = RANGE_FEATURES if has_range else CLOSE_FEATURES
        proxy = cfg.train_proxy
        if proxy is None:
            proxy = "parkinson" if has_range else cfg.target.proxy
        if "har" in (*cfg.classical_inputs, cfg.residual) and not has_range:
            raise DataError(
                f"a HAR forecast as an input or residual base needs High and Low columns, which "
                f"{history.attrs.get('source', 'the data')} lacks; use garch, gjr_t or egarch_t"
            )
        extra = tuple(f"log_{n}_forecast" for n in cfg.classical_inputs)
        return replace(cfg, features=tuple(features) + extra, train_proxy=proxy)

    @staticmethod
    def _base_features(cfg: Any) -> tuple[str, ...]:
        """The registry inputs of a resolved config (without the classical forecasts)."""
        n = len(cfg.features) - len(cfg.classical_inputs)
        return tuple(cfg.features[:n])

    def min_rows(self) -> int:
        return int(self.config().window) + 50

    def fit(self, history: pd.DataFrame) -> Any:
        """Fit on ``history`` (its last ``train_rows`` rows when set); returns ``self``."""
        rows = self.config().train_rows
        if rows is not None and len(history) > rows:
            history = history.iloc[-rows:]
        return super().fit(history)

    # -- the family's hooks ------------------------------------------------------------------
    def units(self, cfg: Any) -> Units:
        return PERCENT_LOG

    def training_frames(
        self, history: pd.DataFrame, cfg: Any
    ) -> tuple[pd.DataFrame, pd.Series, str]:
        col = resolve_column(history, cfg.column)
        feats = variance_features(history, self._base_features(cfg), col)
        proxy_name = cfg.train_proxy or cfg.target.proxy  # resolve() has set it for a fit
        y = percent_returns(history, col) ** 2
        parkinson_target = (
            cfg.loss == "qlike" and as_variance_target(proxy_name).proxy == "parkinson"
        )
        end = history.index[-1]
        if parkinson_target or cfg.hybrid:
            # the range's level and the classical models are fit on the training rows only:
            # those before the validation tail that the window strategy cuts from these inputs
            # (the classical inputs' leading NaN rows are part of the windows' structure)
            shape = feats.copy()
            for n in cfg.classical_inputs:
                shape[n] = np.where(np.arange(len(shape)) >= _valid_from(n), 0.0, np.nan)
            raw = make_windows(shape, None, cfg.window, 1)
            n_train = len(raw) - WINDOW.n_val(cfg, len(raw))
            end = raw.index[n_train - 1] if n_train >= 1 else history.index[-1]
        if parkinson_target:
            scale = parkinson_scale(history.loc[:end], col)
            y = variance_proxy(history, "parkinson", scale=scale, column=col)
        y = y.clip(lower=QLIKE_FLOOR)
        self.resolved_ = cfg
        self.classical_ = {}
        if cfg.hybrid:
            names = dict.fromkeys(
                (*cfg.classical_inputs, cfg.residual) if cfg.residual else cfg.classical_inputs
            )
            self.classical_ = {n: classical_model(n, col).fit(history.loc[:end]) for n in names}
            fitted = {n: self.classical_[n] for n in cfg.classical_inputs}
            feats = feats.join(classical_inputs(fitted, history))
            if cfg.residual is not None:
                # QLIKE(y / g, e^h) = QLIKE(y, g e^h) + a constant: the net learns the log ratio
                y = y / self._residual_base(history)
        return feats, y, col

    def _residual_base(self, data: pd.DataFrame) -> pd.Series:
        """The residual model's forecast for each day of ``data``, from data up to the day before."""
        cfg = self.resolved_
        base: pd.Series = self.classical_[cfg.residual].forecast_by_origin(data).shift(1)
        return base

    def fit_target_scaler(self, cfg: Any, y_train: np.ndarray) -> Scaler:
        return make_scaler("none").fit(y_train)  # the head gives a log-variance directly

    def loss_fn(self, cfg: Any, reduction: str = "mean") -> Any:
        return gaussian_nll_logvar if cfg.loss == "gaussian_nll" else qlike_logvar

    def init_net(self, net: RecurrentNet, y_train: np.ndarray) -> None:
        with torch.no_grad():  # start at the training mean variance, not at e^0 = 1
            net.head.bias.fill_(float(np.log(y_train.mean())))

    # -- hybrids: inputs and heads the model folder does not describe -----------------------------
    def _finish(
        self,
        cfg: Any,
        *,
        column: str | None,
        feature_scaler: Scaler,
        target_scaler: Scaler,
        result: Any,
        info: dict[str, Any],
    ) -> None:
        # The serving spec lists registry features only: a hybrid keeps the scaler of all its
        # inputs itself and hands the spec the part that covers the registry features.
        self.input_scaler_ = feature_scaler
        if cfg.hybrid:
            base = self._base_features(cfg)
            d = feature_scaler.to_dict()
            d |= {"shift": d["shift"][: len(base)], "scale": d["scale"][: len(base)]}
            feature_scaler, cfg = scaler_from_dict(d), replace(cfg, features=base)
        super()._finish(
            cfg,
            column=column,
            feature_scaler=feature_scaler,
            target_scaler=target_scaler,
            result=result,
            info=info,
        )

    def _is_hybrid(self) -> bool:
        self._fitted()
        return bool(getattr(self, "classical_", None))

    def predict(
        self,
        data: pd.DataFrame,
        start: DateLike = None,
        end: DateLike = None,
        *,
        future: bool = False,
    ) -> pd.Series:
        """Forecasts (variances, percent^2) for every date of ``data`` in ``[start, end]`` with
        enough history, indexed by the date each is for; ``future`` adds the next day's."""
        if not self._is_hybrid():
            return super().predict(data, start, end, future=future)
        cfg = self.resolved_
        col = resolve_column(data, cfg.column)
        feats = variance_features(data, self._base_features(cfg), col)
        fitted = {n: self.classical_[n] for n in cfg.classical_inputs}
        feats = feats.join(classical_inputs(fitted, data))
        scaled = self.input_scaler_.transform(feats.to_numpy(dtype=float))
        if future:
            dates = next_dates(data.index, 1, future_calendar(self._fitted(), data.index))
            feats = with_future_rows(feats, dates)
            scaled = np.vstack([scaled, np.zeros((len(dates), scaled.shape[1]))])
        win = make_windows(feats, None, cfg.window, 1, values=scaled)
        keep = date_mask(win.index, start, end)
        index = win.index[keep]
        raw = self._engine().forward_windows(win.X[keep]) if keep.any() else np.zeros(0)
        fc = np.exp(np.asarray(raw, dtype=float))
        if cfg.residual is not None:
            origin = self.classical_[cfg.residual].forecast_by_origin(data)
            base = origin.reindex(origin.index.append(index[index > data.index[-1]]))
            fc = fc * base.shift(1).reindex(index).to_numpy()
        out: pd.Series = pd.Series(fc, index=index, name=self.name)
        return out

    def _refuse_hybrid(self, what: str) -> None:
        if self._is_hybrid():
            cfg = self.resolved_
            raise ConfigError(
                f"{what} a hybrid RecurrentVariance (classical_inputs="
                f"{tuple(cfg.classical_inputs)}, residual={cfg.residual!r}) is not supported: "
                f"its classical models are refit inside every fit and a model folder has no "
                f"place for them; evaluate it walk-forward (gatecast evaluate --models "
                f"lstm_garch,lstm_resid), or save a model without classical_inputs and residual"
            )

    def manifest(self) -> dict[str, Any]:
        """The JSON manifest of this fitted model (refused for a hybrid)."""
        self._refuse_hybrid("describing")
        return super().manifest()

    def save(self, folder: str | Path, *, signing_key: KeyLike = None) -> Path:
        """Write the model folder (refused for a hybrid: see ``classical_inputs``)."""
        self._refuse_hybrid("saving")
        return super().save(folder, signing_key=signing_key)

    def stream(self, engine: str = "torch") -> Stream:
        """A live forecaster (refused for a hybrid: see ``classical_inputs``)."""
        self._refuse_hybrid("streaming")
        return super().stream(engine)
