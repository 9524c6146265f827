"""A global recurrent return model: one set of weights trained on the pooled windows of every
instrument of a panel, each instrument's inputs and target scaled by its own training rows."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from gatecast.data.scalers import Scaler, fit_scaler, make_scaler
from gatecast.data.windows import first_valid_row
from gatecast.errors import ConfigError
from gatecast.models.config import GlobalReturnParams
from gatecast.models.recurrent.forecaster import RecurrentForecaster
from gatecast.models.recurrent.global_base import GlobalRecurrentModel, InstrumentPart
from gatecast.serve.global_numpy import GlobalFolder

#: The manifest ``kind`` of a global return model's folder.
KIND = "global_return"

__all__ = ["GlobalRecurrentReturn"]


class GlobalRecurrentReturn(GlobalReturnParams, GlobalRecurrentModel):
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
    ``covariates``: columns every instrument's frame holds (an index's return and range joined
    on its own dates, :func:`gatecast.experiment.panel_covariates.join_panel_covariates`),
    read after the features and scaled with them per instrument on its training rows.

    :meth:`for_instrument` gives an ordinary fitted :class:`RecurrentForecaster` for one
    instrument (its scalers; its embedding folded into the first layer's bias), which predicts,
    streams and saves as any single-series model does. Parameters are those of
    :class:`RecurrentForecaster`. ``mode="sequence"`` trains on each instrument's rows as lanes
    walked chunk by chunk, the state carried (truncated BPTT;
    :mod:`gatecast.models.recurrent.global_sequence`): per instrument the same scalers and
    validation tail as window mode, lanes never crossing two instruments, and a sequence-mode
    view that forecasts by a stateful run over the history.

    ``target="direction"`` makes it the global direction model: the same net and pooled
    windows, the 0/1 sign of each instrument's next return as the target, learned as a logit
    (binary cross-entropy, as the single-series direction model), so a forecast is the
    probability of an up day; the target is not scaled (each instrument's target scaler is the
    identity), the features are scaled per instrument as for returns.

    Fitted state: ``net_`` (the pooled net), ``scalers_`` and ``target_scalers_`` per
    instrument, ``instruments_`` (those fit on), ``result_`` (the loss history).
    """

    local_class = RecurrentForecaster
    folder_kind = KIND
    parts_name = "scalers"
    extra_history = 2  # a few target values for its target scaler

    def __post_init__(self) -> None:
        super().__post_init__()
        self.target_scalers_: dict[str, Scaler] = {}
        spec = self._local().target_spec  # fail fast on a bad value; nothing is changed
        if spec.kind not in ("return", "direction") or spec.horizon != 1:
            raise ConfigError(
                f"target {spec.kind} over {spec.horizon} steps: the global return model "
                f"forecasts the one-step return or its direction only; use target='return' or "
                f"'direction'"
            )

    def _fit_config(self, frames: Any) -> Any:
        """The settings every instrument's fit uses: the features, then the covariates."""
        local = self._local()
        return local.resolve(local.config(), None)

    def _input_start(self, cfg: Any) -> int:
        """The row of the first input value (the same on any price path)."""
        local = self._local()
        cfg = local.config() if cfg is None else cfg
        n = 60
        close = 100.0 * np.exp(0.01 * np.sin(np.arange(n)))
        data = pd.DataFrame({"close": close}, index=pd.bdate_range("2000-01-03", periods=n))
        for c in cfg.covariates:  # a covariate column is read as it is, from its first row
            data[c] = 0.0
        feats, _, _ = local.training_frames(data, cfg)
        return first_valid_row(feats)

    # -- what the return model says about its target ---------------------------------------
    def _target_scaler(self, instrument: str, cfg: Any, y_train: np.ndarray) -> Scaler:
        """An instrument's target scaler, fit on its training targets ``y_train``: a return in
        units of its own spread; a direction (0 or 1, learned as a logit) is left as it is."""
        if cfg.target.kind == "direction":
            return make_scaler("none").fit(y_train)
        return fit_scaler(cfg.scaler, y_train, [f"instrument {instrument!r}, return"])

    def _fit_target(self, instrument: str, cfg: Any, y: pd.Series, y_train: np.ndarray) -> Any:
        tscaler = self._target_scaler(instrument, cfg, y_train)
        y_scaled = tscaler.transform(y.to_numpy(dtype=float))
        return tscaler, pd.Series(y_scaled, index=y.index)

    def _fitted_part(self, instrument: str) -> InstrumentPart:
        column = self.columns_.get(instrument, self.resolved_.column)
        return self.scalers_[instrument], self.target_scalers_[instrument], column

    def _fold_target(self, local: Any, state: dict[str, np.ndarray], target: Any) -> Scaler:
        scaler: Scaler = target  # the target scaler is the instrument's own
        return scaler

    def _keep_parts(self, targets: dict[str, Any], columns: dict[str, str]) -> None:
        self.target_scalers_, self.columns_ = targets, columns

    def _panel_parts(self) -> dict[str, Any]:
        names = self.instruments_
        return {
            "target_scalers": {n: self.target_scalers_[n].to_dict() for n in names},
            "columns": {n: self.columns_[n] for n in names},
        }

    def _restore(self, parts: GlobalFolder, cfg: Any) -> None:
        # the folder lists the covariates apart; the fit read them after the features
        self.resolved_ = self._local().resolve(cfg, None)
        self.target_scalers_, self.columns_ = parts.target_scalers, parts.columns

    def _history_target(self, instrument: str, y: pd.Series, column: str) -> tuple[Any, str | None]:
        target = y.to_numpy(dtype=float)
        tscaler = self._target_scaler(instrument, self.resolved_, target[np.isfinite(target)])
        return tscaler, column
