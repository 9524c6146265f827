"""A recurrent variance forecaster: RNN/LSTM/GRU on past returns and ranges -> log-variance, QLIKE loss."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import torch

from gatecast.data.features import PERCENT_LOG, Units, build_features
from gatecast.data.scalers import Scaler, make_scaler
from gatecast.data.sources import resolve_column
from gatecast.data.volatility import (
    QLIKE_FLOOR,
    VarianceTarget,
    as_variance_target,
    parkinson,
    parkinson_scale,
    percent_returns,
    variance_proxy,
)
from gatecast.data.windows import make_windows
from gatecast.models.config import CLOSE_FEATURES, RANGE_FEATURES, VarianceConfig
from gatecast.models.recurrent.base import WINDOW, RecurrentEstimator
from gatecast.models.recurrent.net import RecurrentNet, gaussian_nll_logvar, qlike_logvar

__all__ = ["RecurrentVariance", "gaussian_nll_logvar", "qlike_logvar", "variance_features"]

_D = VarianceConfig()


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
        Training settings (:class:`gatecast.train.loop.TrainConfig`); the last ``val_size`` of
        the training windows drive early stopping.

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
    ) -> None:
        self._set_params(locals())
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
        return replace(cfg, features=tuple(features), train_proxy=proxy)

    def min_rows(self) -> int:
        return int(self.config().window) + 50

    # -- the family's hooks ------------------------------------------------------------------
    def units(self, cfg: Any) -> Units:
        return PERCENT_LOG

    def training_frames(
        self, history: pd.DataFrame, cfg: Any
    ) -> tuple[pd.DataFrame, pd.Series, str]:
        col = resolve_column(history, cfg.column)
        feats = variance_features(history, cfg.features, col)
        proxy_name = cfg.train_proxy or cfg.target.proxy  # resolve() has set it for a fit
        y = percent_returns(history, col) ** 2
        if cfg.loss == "qlike" and as_variance_target(proxy_name).proxy == "parkinson":
            # the range's level is a constant fit on the training rows only: those before the
            # validation tail that the window strategy cuts from these same inputs
            pk = parkinson(history)
            raw = make_windows(feats, pk, cfg.window, 1)
            n_train = len(raw) - WINDOW.n_val(cfg, len(raw))
            end = raw.index[n_train - 1] if n_train >= 1 else history.index[-1]
            scale = parkinson_scale(history.loc[:end], col)
            y = variance_proxy(history, "parkinson", scale=scale, column=col)
        return feats, y.clip(lower=QLIKE_FLOOR), col

    def fit_target_scaler(self, cfg: Any, y_train: np.ndarray) -> Scaler:
        return make_scaler("none").fit(y_train)  # the head gives a log-variance directly

    def loss_fn(self, cfg: Any, reduction: str = "mean") -> Any:
        return gaussian_nll_logvar if cfg.loss == "gaussian_nll" else qlike_logvar

    def init_net(self, net: RecurrentNet, y_train: np.ndarray) -> None:
        with torch.no_grad():  # start at the training mean variance, not at e^0 = 1
            net.head.bias.fill_(float(np.log(y_train.mean())))
