"""Scores of a panel walk-forward of return forecasts: per instrument MSE, MAE and the hit rate,
DM against the reference (no change), the model confidence set, and a pooled summary."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from gatecast.data.features import TargetSpec, make_target
from gatecast.errors import AlignmentError, ConfigError
from gatecast.evaluation.losses import loss_series
from gatecast.evaluation.metrics import hit_rate
from gatecast.evaluation.panel_scores import PanelScores
from gatecast.evaluation.panel_walk import PanelWalkResult
from gatecast.evaluation.significance import (
    MCS_BLOCK_SIZE,
    MCS_REPS,
    diebold_mariano,
    model_confidence_set,
)

__all__ = ["panel_returns", "score_panel_returns"]


def panel_returns(df: pd.DataFrame, column: str | None = None) -> pd.Series:
    """The one-step log return each return forecast of an instrument is scored against, dated
    by the day it is realised (as the single-series ``evaluate --target return``)."""
    return make_target(df, TargetSpec("return"), column)


def score_panel_returns(
    walk: PanelWalkResult,
    panel: Mapping[str, pd.DataFrame],
    *,
    reference: str = "no_change",
    column: str | None = None,
    alpha: float = 0.05,
    mcs_size: float = 0.10,
    mcs_block_size: int = MCS_BLOCK_SIZE,
    mcs_reps: int = MCS_REPS,
    seed: int = 0,
) -> PanelScores:
    """Score a panel walk-forward of one-step return forecasts per instrument and pooled.

    Each instrument is scored against its own log return on the dates where every model
    forecasts it: ``mse`` (the loss of the DM test and the MCS), ``mae``, ``ratio`` (MSE over
    the reference's; the reference is the zero-return no-change forecast by default) and
    ``hit_rate`` (share of dates where the forecast has the sign of the return; NaN for a
    forecast that is zero throughout, such as no change), as the single-series evaluation
    scores a return target. The summary per model: ``median_ratio``, ``median_mse``,
    ``median_hit_rate``, ``wins``/``losses`` (instruments where the DM test against the
    reference is significant at ``alpha``, for and against), ``in_mcs`` and ``instruments``.
    """
    models = list(walk.forecasts.columns)
    if reference not in models:
        raise ConfigError(
            f"the reference {reference!r} is not among the models ({', '.join(models)}); add "
            f"it or pick one of them"
        )
    rows: list[dict[str, Any]] = []
    for n, fc in walk.forecasts.groupby(level="instrument", sort=True):
        fc = fc.droplevel("instrument").dropna()
        actual = panel_returns(panel[str(n)], column).reindex(fc.index)
        keep = actual.notna().to_numpy()
        fc, actual = fc[keep], actual[keep]
        if fc.empty:
            raise AlignmentError(f"instrument {n!r}: the models share no forecast date")
        a = actual.to_numpy()
        losses = pd.DataFrame(
            {m: loss_series("mse", a, fc[m].to_numpy()) for m in models}, index=fc.index
        )
        mcs = model_confidence_set(
            losses, size=mcs_size, block_size=mcs_block_size, reps=mcs_reps, seed=seed
        )
        ref = float(losses[reference].mean())
        for m in models:
            dm = (
                diebold_mariano(losses[m].to_numpy(), losses[reference].to_numpy())
                if m != reference
                else None
            )
            rows.append(
                {
                    "instrument": n,
                    "model": m,
                    "mse": float(losses[m].mean()),
                    "mae": float(np.mean(loss_series("mae", a, fc[m].to_numpy()))),
                    "ratio": float(losses[m].mean()) / ref,
                    "hit_rate": hit_rate(a, fc[m].to_numpy()),
                    "dm_ref": np.nan if dm is None else dm.statistic,
                    "p_ref": np.nan if dm is None else dm.pvalue,
                    "mcs_p": float(mcs["pvalue"][m]),
                    "in_mcs": bool(mcs.loc[m, "in_mcs"]),
                    "n": len(losses),
                }
            )
    table = pd.DataFrame(rows)
    sig = table["p_ref"] < alpha
    summary = (
        table.assign(wins=sig & (table["dm_ref"] < 0), losses=sig & (table["dm_ref"] > 0))
        .groupby("model", sort=False)
        .agg(
            median_ratio=("ratio", "median"),
            median_mse=("mse", "median"),
            median_hit_rate=("hit_rate", "median"),
            wins=("wins", "sum"),
            losses=("losses", "sum"),
            in_mcs=("in_mcs", "sum"),
            instruments=("instrument", "size"),
        )
    )
    return PanelScores(table, summary, reference, alpha, mcs_size, loss="mse")
