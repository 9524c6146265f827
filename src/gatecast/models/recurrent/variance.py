"""A recurrent variance forecaster: RNN/LSTM/GRU on past returns and ranges -> log-variance, QLIKE loss."""

from __future__ import annotations

from dataclasses import replace
from functools import partial
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
    parkinson_scale,
    percent_returns,
    shrunk_proxy,
    variance_proxy,
)
from gatecast.data.windows import make_windows
from gatecast.errors import ConfigError
from gatecast.inference.classical import HarRecursion, Recursion, by_origin
from gatecast.inference.pipeline import check_covariates
from gatecast.models.base import refuse_y
from gatecast.models.config import (
    CLOSE_FEATURES,
    RANGE_FEATURES,
    VarianceConfig,
    VarianceParams,
    default_train_proxy,
)
from gatecast.models.recurrent.base import WINDOW, RecurrentEstimator
from gatecast.models.recurrent.net import RecurrentNet, gaussian_nll_logvar, qlike_logvar

__all__ = [
    "RecurrentVariance",
    "classical_inputs",
    "classical_model",
    "gaussian_nll_logvar",
    "qlike_logvar",
    "variance_features",
]


def has_range(data: pd.DataFrame) -> bool:
    """Whether ``data`` has High and Low columns (range inputs, the range HAR)."""
    return {"high", "low"} <= set(data.columns)


def classical_model(name: str, column: str | None = None) -> Any:
    """A fresh classical variance model of :data:`gatecast.models.config.CLASSICAL_MODELS`, as
    the leaderboard runs it (``garch``, ``gjr_t``, ``egarch_t``, ``har``, ``har_abs``)."""
    from gatecast.models.garch import ArchForecaster
    from gatecast.models.har import HARForecaster, HarMeasure

    if name in ("har", "har_abs"):
        measure: HarMeasure = "abs" if name == "har_abs" else "auto"
        return HARForecaster((1, 5, 22), column=column, name=name, measure=measure)
    o, dist = (0, "normal") if name == "garch" else (1, "t")
    vol = "EGARCH" if name == "egarch_t" else "GARCH"
    return ArchForecaster(vol, o=o, dist=dist, column=column, name=name)  # type: ignore[arg-type]


def classical_inputs(
    recursions: dict[str, Recursion], data: pd.DataFrame, column: str | None = None
) -> pd.DataFrame:
    """The hybrid inputs on every row of ``data``: on day s, the log of each classical model's
    one-step forecast made at s's close (for the day after s, from data up to s only), so a
    window ending at t - 1 reads forecasts of t made from data up to t - 1. ``recursions``:
    the fitted models frozen (``model.recursion()``), which a stream runs tick by tick too."""
    frame: pd.DataFrame = pd.DataFrame(
        {f"log_{n}_forecast": np.log(by_origin(r, data, column)) for n, r in recursions.items()},
        index=data.index,
    )
    return frame


def _valid_from(name: str, data: pd.DataFrame) -> int:
    """First row on which a classical model's forecast by origin exists (the structure of the
    inputs, known before anything is fit): the first return, or a full 22-day HAR average (of
    ranges from row 0, or of absolute returns from row 1)."""
    if name not in ("har", "har_abs"):
        return 1
    return 21 if name == "har" and has_range(data) else 22


def variance_features(
    data: pd.DataFrame, features: tuple[str, ...], column: str | None
) -> pd.DataFrame:
    """The variance model's inputs on day t, in percent units, from days up to t only (see
    :data:`gatecast.data.features.FEATURE_REGISTRY`: ``return``, ``squared_return``,
    ``abs_return``, ``log_parkinson``, ``log_rv5``/``log_rv22``,
    ``log_parkinson5``/``log_parkinson22``)."""
    return build_features(data, features, column, log=True, percent=True)


class RecurrentVariance(VarianceParams, RecurrentEstimator):
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
        The proxy trained against (``squared``, ``parkinson`` or ``shrunk``); ``None``
        (default): the less noisy ``parkinson`` range when the data has High/Low (a model still
        scored against the squared return); on closes only ``shrunk`` for a model with a
        ``residual`` base (0.5 r_t^2 + 0.5 times the base's forecast for t made at t - 1, a
        posterior mean of the day's variance; :func:`gatecast.data.volatility.shrunk_proxy`),
        else ``target``'s proxy. Chosen on 2001-2004 only (docs/close-only.md).
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
        ``egarch_t``, ``har``, ``har_abs``) whose log one-step forecasts join the inputs. Each
        is fit inside every ``fit`` on the rows before the validation tail, then frozen as a
        recursion (:mod:`gatecast.inference.classical`); the input row of day s holds the forecast
        made at s's close, so a forecast for t reads none of t's data. ``har`` is the HAR on
        the log range with High/Low and on absolute returns on closes only (``har_measures_``
        says which a fit used); ``har_abs`` is the absolute-return HAR always.
    residual
        One of the same names: the head predicts log(variance / its forecast), so the model is
        that classical model scaled by the net (and is that model when the net learns nothing).
        A hybrid predicts, walks forward, saves, loads and streams like any model: its model
        folder keeps the frozen recursions, and a stream steps them on every row.
    train_rows
        Fit on the last ``train_rows`` rows of the history only (a rolling training window for
        regime changes; classical models of a hybrid too); ``None`` (default): all of it.
    covariates
        Columns of the data that join the inputs as they are, after ``features`` (e.g.
        ``("vix_log",)``), standardised with them on the training rows. The row of day t must
        hold what is known at t's close: :func:`gatecast.data.covariates.join_covariates` joins
        a covariate group so (a value dated t is first read by the forecast for the next row).
        A model with covariates predicts, walks forward and saves like any; a stream's ticks
        carry the covariate columns by name beside the prices.

    Notes
    -----
    ``cell, hidden, layers, dropout, window`` may be given by position, the other parameters
    by keyword only. They are declared once in
    :class:`gatecast.models.config.VarianceParams` (the defaults are
    :class:`~gatecast.models.config.VarianceConfig`'s). A fitted model
    saves, loads, predicts and streams like :class:`RecurrentForecaster`; its forecasts are
    variances in percent^2 (``exp`` of the head's log-variance).
    """

    kind = "recurrent_variance"
    config_class = VarianceConfig

    def __post_init__(self) -> None:
        self.classical_: dict[str, Any] = {}  # fitted classical models of a hybrid
        self.recursions_: dict[str, Recursion] = {}  # the same, frozen (what the spec keeps)
        super().__post_init__()

    @property
    def target_spec(self) -> VarianceTarget:
        """The target as a :class:`VarianceTarget` (``target`` keeps what was given)."""
        spec: VarianceTarget = self.config().target_spec
        return spec

    def resolve(self, cfg: Any, history: pd.DataFrame) -> Any:
        """Choose the inputs and the training proxy the data allows (see
        :class:`VarianceConfig`): range inputs and the Parkinson proxy with High/Low columns,
        close-only inputs and the squared return (shrunk toward a residual base) without them."""
        ranges = has_range(history)
        features = cfg.features
        if features is None:
            features = RANGE_FEATURES if ranges else CLOSE_FEATURES
        proxy = cfg.train_proxy
        if proxy is None:
            proxy = default_train_proxy(ranges, cfg.residual, cfg.loss, cfg.target.proxy)
        clash = [c for c in cfg.covariates if c in features]
        if clash:
            raise ConfigError(f"covariates {clash} are also features; list each input once")
        extra = tuple(f"log_{n}_forecast" for n in cfg.classical_inputs)
        inputs = tuple(features) + tuple(cfg.covariates) + extra
        return replace(cfg, features=inputs, train_proxy=proxy)

    @staticmethod
    def _base_features(cfg: Any) -> tuple[str, ...]:
        """The registry inputs of a resolved config (without the covariates and the
        classical forecasts, which follow them in that order)."""
        n = len(cfg.features) - len(cfg.classical_inputs) - len(cfg.covariates)
        return tuple(cfg.features[:n])

    def min_rows(self) -> int:
        return int(self.config().window) + 50

    def fit(self, history: pd.DataFrame, y: None = None) -> Any:
        """Fit on ``history`` (its last ``train_rows`` rows when set); returns ``self``."""
        refuse_y(self, y)
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
        check_covariates(history, cfg.covariates)
        for c in cfg.covariates:
            feats[c] = history[c].astype(float)
        proxy_name = cfg.train_proxy or cfg.target.proxy  # resolve() has set it for a fit
        y = percent_returns(history, col) ** 2
        parkinson_target = cfg.loss == "qlike" and proxy_name == "parkinson"
        end = history.index[-1]
        if parkinson_target or cfg.hybrid:
            # the range's level and the classical models are fit on the training rows only:
            # those before the validation tail that the window strategy cuts from these inputs
            # (the classical inputs' leading NaN rows are part of the windows' structure)
            shape = feats.copy()
            for n in cfg.classical_inputs:
                first = _valid_from(n, history)
                shape[n] = np.where(np.arange(len(shape)) >= first, 0.0, np.nan)
            raw = make_windows(shape, None, cfg.window, 1)
            n_train = len(raw) - WINDOW.n_val(cfg, len(raw))
            end = raw.index[n_train - 1] if n_train >= 1 else history.index[-1]
        if parkinson_target:
            scale = parkinson_scale(history.loc[:end], col)
            y = variance_proxy(history, "parkinson", scale=scale, column=col)
        y = y.clip(lower=QLIKE_FLOOR)
        self.resolved_ = cfg
        self.classical_, self.recursions_ = {}, {}
        if cfg.hybrid:
            names = dict.fromkeys(
                (*cfg.classical_inputs, cfg.residual) if cfg.residual else cfg.classical_inputs
            )
            self.classical_ = {n: classical_model(n, col).fit(history.loc[:end]) for n in names}
            # frozen with the training rows' parameters and start: what predict and a stream run
            self.recursions_ = {n: m.recursion(n) for n, m in self.classical_.items()}
            inputs = {n: self.recursions_[n] for n in cfg.classical_inputs}
            feats = feats.join(classical_inputs(inputs, history, col))
            if cfg.residual is not None:
                base = by_origin(self.recursions_[cfg.residual], history, col).shift(1)
                if proxy_name == "shrunk":
                    # r_t^2 is one noisy draw of day t's variance; shrunk toward the base's
                    # forecast for t (made at t - 1, fit on the training rows) it is a posterior
                    # mean, and the net learns half of its correction of the base
                    y = shrunk_proxy(y, base)
                # QLIKE(y / g, e^h) = QLIKE(y, g e^h) + a constant: the net learns the log ratio
                y = y / base
        return feats, y, col

    def fit_target_scaler(self, cfg: Any, y_train: np.ndarray) -> Scaler:
        return make_scaler("none").fit(y_train)  # the head gives a log-variance directly

    def loss_fn(self, cfg: Any, reduction: str = "mean") -> Any:
        loss = gaussian_nll_logvar if cfg.loss == "gaussian_nll" else qlike_logvar
        return loss if reduction == "mean" else partial(loss, reduction=reduction)

    def init_net(self, net: RecurrentNet, y_train: np.ndarray) -> None:
        with torch.no_grad():  # start at the training mean variance, not at e^0 = 1
            net.head.bias.fill_(float(np.log(y_train.mean())))

    # -- hybrids: the classical recursions join the spec ----------------------------------------
    def spec_config(self, cfg: Any) -> Any:
        # The spec lists the registry features; a hybrid's classical forecasts follow them as
        # inputs (the scaler covers both), computed by the frozen recursions, which the model
        # folder keeps: predict, save, load and stream all run the same numbers.
        if cfg.hybrid or cfg.covariates:
            return replace(cfg, features=self._base_features(cfg))
        return cfg

    def spec_parts(self, cfg: Any) -> dict[str, Any]:
        covariates = {"covariates": tuple(cfg.covariates)} if cfg.covariates else {}
        if not cfg.hybrid:
            return covariates
        rec = self.recursions_
        return covariates | {
            "classical": tuple(rec[n] for n in cfg.classical_inputs),
            "residual": rec[cfg.residual] if cfg.residual is not None else None,
        }

    @property
    def har_measures_(self) -> dict[str, str]:
        """The realised measure of each HAR a fitted hybrid reads, by name (``range`` or
        ``abs``): which HAR ``har`` became on this data."""
        spec = self._fitted()
        recs = [*spec.classical, *([spec.residual] if spec.residual is not None else [])]
        return {r.name: r.measure for r in recs if isinstance(r, HarRecursion)}
