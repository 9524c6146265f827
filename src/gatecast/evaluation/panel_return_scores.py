"""Scores of a panel walk-forward of return forecasts (per instrument MSE, MAE and the hit rate)
and of direction forecasts (the Brier score and the hit rate), DM against the reference (no
change), the model confidence set, and a pooled summary."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Literal

import numpy as np
import pandas as pd

from gatecast.data.features import TargetSpec, make_target
from gatecast.errors import ConfigError
from gatecast.evaluation.losses import loss_series
from gatecast.evaluation.metrics import hit_rate
from gatecast.evaluation.panel_scores import PanelScores, pool_scores, score_instruments
from gatecast.evaluation.panel_walk import PanelWalkResult
from gatecast.evaluation.significance import MCS_BLOCK_SIZE, MCS_REPS

__all__ = ["panel_directions", "panel_returns", "score_panel_returns"]


def panel_returns(df: pd.DataFrame, column: str | None = None) -> pd.Series:
    """The one-step log return each return forecast of an instrument is scored against, dated
    by the day it is realised (as the single-series ``evaluate --target return``)."""
    return make_target(df, TargetSpec("return"), column)


def panel_directions(df: pd.DataFrame, column: str | None = None) -> pd.Series:
    """The direction each direction forecast of an instrument is scored against: 1.0 if its
    one-step log return is > 0, else 0.0, dated by the day it is realised (as the
    single-series ``evaluate --target direction``)."""
    return make_target(df, TargetSpec("direction"), column)


def _return_metrics(a: np.ndarray, f: np.ndarray, loss: pd.Series, ref: float) -> dict[str, float]:
    return {
        "mse": float(loss.mean()),
        "mae": float(np.mean(loss_series("mae", a, f))),
        "ratio": float(loss.mean()) / ref,
        "hit_rate": hit_rate(a, f),
    }


def _direction_metrics(
    a: np.ndarray, f: np.ndarray, loss: pd.Series, ref: float
) -> dict[str, float]:
    return {
        "brier": float(loss.mean()),
        "ratio": float(loss.mean()) / ref,
        "hit_rate": float(np.mean((f > 0.5) == (a > 0.5))),
    }


def _squared_error(a: np.ndarray, f: np.ndarray) -> np.ndarray:
    return loss_series("mse", a, f)


#: Per target: what its forecasts are scored against, its per-instrument metrics, the loss of
#: the DM test and the MCS (the squared error: MSE of a return, Brier score of a probability)
#: by name, and the columns pooled.
_POINT_TARGETS: dict[str, tuple[Callable[..., pd.Series], Callable[..., dict[str, float]], str]] = {
    "return": (panel_returns, _return_metrics, "mse"),
    "direction": (panel_directions, _direction_metrics, "brier"),
}


def score_panel_returns(
    walk: PanelWalkResult,
    panel: Mapping[str, pd.DataFrame],
    *,
    target: Literal["return", "direction"] = "return",
    reference: str = "no_change",
    column: str | None = None,
    alpha: float = 0.05,
    mcs_size: float = 0.10,
    mcs_block_size: int = MCS_BLOCK_SIZE,
    mcs_reps: int = MCS_REPS,
    seed: int = 0,
    members: Mapping[str, Sequence[str]] | None = None,
) -> PanelScores:
    """Score a panel walk-forward of one-step return forecasts, or of direction forecasts
    (``target="direction"``: probabilities of an up day), per instrument and pooled.

    Each instrument is scored against its own log return (:func:`panel_returns`), or its own
    direction (:func:`panel_directions`), on the dates where every model forecasts it, as the
    single-series evaluation scores the target:

    - a return: ``mse`` (the loss of the DM test and the MCS), ``mae``, ``ratio`` (MSE over
      the reference's; the reference is the zero-return no-change forecast by default) and
      ``hit_rate`` (share of dates where the forecast has the sign of the return; NaN for a
      forecast that is zero throughout, such as no change);
    - a direction: ``brier`` (the mean of (p - d)^2, the loss of the DM test and the MCS),
      ``ratio`` (Brier over the reference's; the reference is no change, the sign of the last
      return, by default) and ``hit_rate`` (share of dates where ``p > 0.5`` is ``d > 0.5``).

    The summary per model: ``median_ratio``, ``median_mse`` (``median_brier``),
    ``median_hit_rate``, ``wins``/``losses`` (instruments where the DM test against the
    reference is significant at ``alpha``, for and against), ``in_mcs`` and ``instruments``.

    ``members``: model -> its forecast columns (a recurrent model's seeds), scored on the mean
    of their losses date by date; its MAE and hit rate are those of their mean forecast
    (:func:`~gatecast.evaluation.panel_scores.score_instruments`).
    """
    if target not in _POINT_TARGETS:
        raise ConfigError(f"target={target!r}: a panel scores 'return' or 'direction' here")
    actual, metrics, loss = _POINT_TARGETS[target]
    mcs = {"size": mcs_size, "block_size": mcs_block_size, "reps": mcs_reps, "seed": seed}
    table = score_instruments(
        walk,
        panel,
        lambda df: actual(df, column),
        _squared_error,
        metrics,
        reference=reference,
        mcs=mcs,
        members=members,
    )
    summary = pool_scores(table, alpha, ("ratio", loss, "hit_rate"))
    return PanelScores(table, summary, reference, alpha, mcs_size, loss=loss)
