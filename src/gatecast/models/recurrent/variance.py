"""A recurrent variance forecaster: RNN/LSTM/GRU on past returns and ranges -> log-variance, QLIKE loss."""

from __future__ import annotations

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
    percent_returns,
)
from gatecast.models.config import VarianceConfig
from gatecast.models.recurrent.base import RecurrentEstimator
from gatecast.models.recurrent.net import RecurrentNet, gaussian_nll_logvar, qlike_logvar
from gatecast.models.volatility import training_proxy

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
        standardised on the training rows.
    target
        ``squared`` or ``parkinson`` proxy (what QLIKE is trained against and evaluated on).
    train_proxy
        The proxy trained against (default: ``target``'s). The less noisy ``parkinson`` range
        can train a model that is evaluated against the squared return.
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
        features: tuple[str, ...] | list[str] = _D.features,
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
        proxy_name = cfg.train_proxy or cfg.target.proxy
        proxy = training_proxy(history, as_variance_target(proxy_name), col)
        proxy = proxy.reindex(history.index)
        y = (percent_returns(history, col) ** 2) if cfg.loss == "gaussian_nll" else proxy
        return feats, y.clip(lower=QLIKE_FLOOR), col

    def fit_target_scaler(self, cfg: Any, y_train: np.ndarray) -> Scaler:
        return make_scaler("none").fit(y_train)  # the head gives a log-variance directly

    def loss_fn(self, cfg: Any, reduction: str = "mean") -> Any:
        return gaussian_nll_logvar if cfg.loss == "gaussian_nll" else qlike_logvar

    def init_net(self, net: RecurrentNet, y_train: np.ndarray) -> None:
        with torch.no_grad():  # start at the training mean variance, not at e^0 = 1
            net.head.bias.fill_(float(np.log(y_train.mean())))
