"""A global recurrent variance model: one set of weights trained on the pooled windows of every
instrument of a panel, each instrument scaled by its own training rows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from gatecast.data.scalers import Scaler
from gatecast.data.windows import first_valid_row
from gatecast.errors import PanelError
from gatecast.models.config import GlobalVarianceParams
from gatecast.models.recurrent.global_base import GlobalRecurrentModel, InstrumentPart
from gatecast.models.recurrent.variance import RecurrentVariance
from gatecast.serve.global_numpy import GlobalFolder
from gatecast.training.config import TrainResult
from gatecast.training.loop import train_loop

#: The manifest ``kind`` of a global model's folder.
KIND = "global_variance"

__all__ = ["GlobalRecurrentVariance"]


class GlobalRecurrentVariance(GlobalVarianceParams, GlobalRecurrentModel):
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

    ``mode="sequence"`` (with ``chunk_len``, ``chunks``, ``burn_in``, as the return model's)
    trains on each instrument's rows as lanes walked chunk by chunk, the state carried
    (truncated BPTT; :mod:`gatecast.models.recurrent.global_sequence`): per instrument the same
    scaler, level and validation tail as window mode, lanes never crossing two instruments;
    its view is a :class:`RecurrentVariance` whose spec runs in sequence mode (a stateful run
    over the history), which the single-series variance model has not.

    Fitted state: ``net_`` (the pooled net), ``scalers_`` and ``levels_`` per instrument,
    ``instruments_`` (those fit on), ``result_`` (the loss history).
    """

    local_class = RecurrentVariance
    folder_kind = KIND
    parts_name = "scaler and level"

    def __post_init__(self) -> None:
        super().__post_init__()
        self.levels_: dict[str, float] = {}
        self._local()  # fail fast on a bad value; nothing is changed

    def _fit_config(self, frames: Mapping[str, pd.DataFrame]) -> Any:
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
            cfg = self._fit_config({"data": data})  # closes only: the default inputs
        else:
            data = data.assign(high=close * 1.01, low=close * 0.99)
        feats, _, _ = self._local().training_frames(data, cfg)
        return first_valid_row(feats)

    def _train_loop(self, *args: Any, **kw: Any) -> TrainResult:
        # looked up in this module when the fit runs (tests spy on global_variance.train_loop)
        return train_loop(*args, **kw)

    # -- what the variance model says about its target -------------------------------------
    def _fit_target(self, instrument: str, cfg: Any, y: pd.Series, y_train: np.ndarray) -> Any:
        level = float(np.mean(y_train))
        return level, y / level

    def _fitted_part(self, instrument: str) -> InstrumentPart:
        return self.scalers_[instrument], self.levels_[instrument], self.resolved_.column

    def _fold_target(self, local: Any, state: dict[str, np.ndarray], target: Any) -> Scaler:
        # the net predicts log(variance / level): the level joins the head's bias
        state["head.bias"] = state["head.bias"] + np.float32(np.log(target))
        scaler: Scaler = local.fit_target_scaler(self.resolved_, np.ones(1))
        return scaler

    def _keep_parts(self, targets: dict[str, Any], columns: dict[str, str]) -> None:
        self.levels_ = targets

    def _panel_parts(self) -> dict[str, Any]:
        return {"levels": {n: float(self.levels_[n]) for n in self.instruments_}}

    def _restore(self, parts: GlobalFolder, cfg: Any) -> None:
        # the folder lists the covariates apart; the fit read them last
        self.resolved_ = replace(cfg, features=(*cfg.features, *cfg.covariates))
        self.levels_ = parts.levels

    def _history_target(self, instrument: str, y: pd.Series, column: str) -> tuple[Any, str | None]:
        return float(np.nanmean(y.to_numpy(dtype=float))), self.resolved_.column
