"""The scores of a panel walk-forward: per-instrument leaderboards (QLIKE, ratio to the
reference, Diebold-Mariano, model confidence set) and their pooled summary."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from gatecast.data.volatility import variance_proxy
from gatecast.errors import AlignmentError, ConfigError
from gatecast.evaluation.losses import qlike_loss
from gatecast.evaluation.panel_walk import PanelWalkResult
from gatecast.evaluation.significance import (
    MCS_BLOCK_SIZE,
    MCS_REPS,
    diebold_mariano,
    model_confidence_set,
)
from gatecast.types import Proxy

__all__ = ["PanelScores", "score_panel"]


@dataclass
class PanelScores:
    """Per-instrument leaderboards and their pooled summary.

    ``table``: one row per (instrument, model): ``qlike`` (mean QLIKE on the dates every model
    forecasts for that instrument), ``ratio`` (to the reference's), ``dm_ref``/``p_ref``
    (Diebold-Mariano against the reference; negative = lower loss), ``mcs_p``/``in_mcs``
    (the instrument's model confidence set), ``n`` (dates). ``summary``: one row per model:
    ``median_ratio``, ``wins``/``losses`` (instruments where the DM test against the reference
    is significant at ``alpha``, for and against the model), ``in_mcs`` (instruments whose
    MCS holds it) and ``instruments``.
    """

    table: pd.DataFrame
    summary: pd.DataFrame
    reference: str
    alpha: float
    mcs_size: float
    #: The loss of the ratio, the DM tests and the MCS (``mse`` for return forecasts).
    loss: str = "qlike"

    def __str__(self) -> str:
        with pd.option_context("display.width", 160):
            return str(self.summary.to_string(float_format=lambda v: f"{v:.4g}"))


def score_panel(
    walk: PanelWalkResult,
    panel: Mapping[str, pd.DataFrame],
    *,
    reference: str = "gjr_t",
    proxy: Proxy = "squared",
    column: str | None = None,
    alpha: float = 0.05,
    mcs_size: float = 0.10,
    mcs_block_size: int = MCS_BLOCK_SIZE,
    mcs_reps: int = MCS_REPS,
    seed: int = 0,
) -> PanelScores:
    """Score a panel walk-forward of variance forecasts per instrument and pooled.

    Each instrument is scored against its own proxy (``variance_proxy``, e.g. the squared
    percent return) on the dates where every model forecasts it, with QLIKE; the DM test and
    the MCS (``size`` ``mcs_size``) are those of :mod:`gatecast.evaluation.significance`.
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
        actual = variance_proxy(panel[str(n)], proxy, column=column).reindex(fc.index)
        keep = actual.notna().to_numpy()
        fc, actual = fc[keep], actual[keep]
        if fc.empty:
            raise AlignmentError(f"instrument {n!r}: the models share no forecast date")
        losses = pd.DataFrame(
            {m: qlike_loss(actual.to_numpy(), fc[m].to_numpy()) for m in models}, index=fc.index
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
                    "qlike": float(losses[m].mean()),
                    "ratio": float(losses[m].mean()) / ref,
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
        table.assign(
            wins=sig & (table["dm_ref"] < 0),
            losses=sig & (table["dm_ref"] > 0),
        )
        .groupby("model", sort=False)
        .agg(
            median_ratio=("ratio", "median"),
            median_qlike=("qlike", "median"),
            wins=("wins", "sum"),
            losses=("losses", "sum"),
            in_mcs=("in_mcs", "sum"),
            instruments=("instrument", "size"),
        )
    )
    return PanelScores(table, summary, reference, alpha, mcs_size)
