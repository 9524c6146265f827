"""Recurrent forecasters of a price, a return or its direction (RNN, LSTM, GRU), in torch."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from gatecast.data.features import (
    TargetSpec,
    Units,
    build_features,
    check_not_constant,
    price_series,
    training_target,
)
from gatecast.data.scalers import Scaler, fit_scaler, make_scaler
from gatecast.data.sources import resolve_column
from gatecast.inference.pipeline import check_covariates
from gatecast.models.config import ForecasterConfig, ForecasterParams
from gatecast.models.recurrent.base import WINDOW, RecurrentEstimator, Strategy
from gatecast.models.recurrent.net import point_loss
from gatecast.models.recurrent.sequence import SEQUENCE

#: The training strategy of each mode.
STRATEGIES: dict[str, Strategy] = {"window": WINDOW, "sequence": SEQUENCE}


class RecurrentForecaster(ForecasterParams, RecurrentEstimator):
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
        ``return`` (log by default), ``price`` or ``direction``, or a :class:`TargetSpec`. A
        price is forecast anchored (the default, ``TargetSpec("price", anchored=True)``): the
        net learns the return from the last observed price and the forecast is that price moved
        by it, so it never saturates when prices leave the training range.
    features
        Input features (see :data:`gatecast.data.features.FEATURE_REGISTRY`), computed from
        ``column``.
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
        Epochs of such a warm refit (default: ``epochs``). In sequence mode a warm refit trains
        on every row, the validation tail included, with no early stopping (the stateful
        walk-forward, ``gatecast evaluate --mode sequence``).
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
    covariates
        Columns of the data that follow the features as inputs, scaled with them on the
        training rows; the row of day t must hold what is known at t's close
        (:func:`gatecast.data.covariates.join_covariates` joins an index so: a value dated t
        is first read by the forecast for the next row). A stream refuses such a model.

    Notes
    -----
    ``cell, hidden, layers, dropout, window`` may be given by position, the other parameters
    by keyword only. They are declared once in
    :class:`gatecast.models.config.ForecasterParams` (whose fields
    :class:`~gatecast.models.config.ForecasterConfig` validates); the constructor stores its
    arguments unchanged (``get_params()`` returns them), checks them through the config (a
    :class:`ConfigError` on a bad one) and changes nothing.

    Examples
    --------
    >>> from gatecast.data import load
    >>> m = RecurrentForecaster(cell="gru", epochs=5).fit(load("sp500").loc[:"2014"])  # doctest: +SKIP
    >>> m.predict(load("sp500"), start="2015-01-01")  # doctest: +SKIP
    """

    kind = "recurrent"
    config_class = ForecasterConfig

    @property
    def target_spec(self) -> TargetSpec:
        """The target as a :class:`TargetSpec` (``target`` keeps what was given)."""
        spec: TargetSpec = self.config().target_spec
        return spec

    def strategy(self, cfg: Any) -> Strategy:
        return STRATEGIES[cfg.mode]

    # -- the family's hooks ------------------------------------------------------------------
    def units(self, cfg: Any) -> Units:
        return Units(log=cfg.target.log)

    def resolve(self, cfg: Any, history: pd.DataFrame | None) -> Any:
        """The inputs of a fit: the features, then the covariate columns."""
        return replace(cfg, features=(*_base_features(cfg), *cfg.covariates))

    def spec_config(self, cfg: Any) -> Any:
        # the spec lists the registry features; the covariates follow them (spec_parts)
        return replace(cfg, features=_base_features(cfg)) if cfg.covariates else cfg

    def spec_parts(self, cfg: Any) -> dict[str, Any]:
        return {"covariates": tuple(cfg.covariates)} if cfg.covariates else {}

    def training_frames(
        self, history: pd.DataFrame, cfg: Any
    ) -> tuple[pd.DataFrame, pd.Series, str]:
        col = resolve_column(history, cfg.column)
        check_not_constant(price_series(history, col), col, history.attrs.get("source", "the data"))
        feats = build_features(history, _base_features(cfg), col, log=cfg.target.log)
        check_covariates(history, cfg.covariates)
        for c in cfg.covariates:  # a covariate column is read as it is (known at t's close)
            feats[c] = history[c].astype(float)
        return feats, training_target(history, cfg.target, col), col

    def fit_target_scaler(self, cfg: Any, y_train: np.ndarray) -> Scaler:
        if cfg.target.kind == "direction":  # a probability: the head gives a logit
            return make_scaler("none").fit(y_train)
        return fit_scaler(cfg.scaler, y_train, ["the target"])

    def feature_scaler_kind(self, cfg: Any) -> str:
        return str(cfg.scaler)

    def loss_fn(self, cfg: Any, reduction: str = "mean") -> Any:
        return point_loss(cfg.target.kind, reduction)

    def fit_many(self, frames: dict[str, pd.DataFrame]) -> RecurrentForecaster:
        """Train one sequence-mode model on several series at once (e.g. sp500, nasdaq, wti and a
        short series of your own); returns ``self``. See
        :class:`gatecast.models.recurrent.sequence.SequenceStrategy`.

        Examples
        --------
        >>> from gatecast.data import load
        >>> m = RecurrentForecaster(mode="sequence", epochs=5)  # doctest: +SKIP
        >>> m.fit_many({n: load(n).loc[:"2014"] for n in ("sp500", "nasdaq", "wti")})  # doctest: +SKIP
        """
        cfg = self.resolve(self.config(), next(iter(frames.values())))
        SEQUENCE.fit(self, cfg, frames)
        self._record_calendar(list(frames.values()))
        return self


def _base_features(cfg: Any) -> tuple[str, ...]:
    """The registry features of ``cfg`` (resolved or not): its features but the covariates."""
    return tuple(f for f in cfg.features if f not in cfg.covariates)
