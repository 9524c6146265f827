"""The scores of a panel walk-forward: per-instrument leaderboards (QLIKE, ratio to the
reference, Diebold-Mariano, model confidence set) and their pooled summary."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
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

__all__ = ["PanelScores", "pool_scores", "score_instruments", "score_panel"]


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
    members: Mapping[str, Sequence[str]] | None = None,
) -> PanelScores:
    """Score a panel walk-forward of variance forecasts per instrument and pooled.

    Each instrument is scored against its own proxy (``variance_proxy``, e.g. the squared
    percent return) on the dates where every model forecasts it, with QLIKE; the DM test and
    the MCS (``size`` ``mcs_size``) are those of :mod:`gatecast.evaluation.significance`.
    ``members``: model -> its forecast columns (a recurrent model's seeds), scored on the
    mean of their losses date by date (:func:`score_instruments`).
    """

    def metrics(a: np.ndarray, f: np.ndarray, loss: pd.Series, ref: float) -> dict[str, float]:
        return {"qlike": float(loss.mean()), "ratio": float(loss.mean()) / ref}

    mcs = {"size": mcs_size, "block_size": mcs_block_size, "reps": mcs_reps, "seed": seed}
    table = score_instruments(
        walk,
        panel,
        lambda df: variance_proxy(df, proxy, column=column),
        qlike_loss,
        metrics,
        reference=reference,
        mcs=mcs,
        members=members,
    )
    summary = pool_scores(table, alpha, ("ratio", "qlike"))
    return PanelScores(table, summary, reference, alpha, mcs_size)


def score_instruments(
    walk: PanelWalkResult,
    panel: Mapping[str, pd.DataFrame],
    actual_of: Callable[[pd.DataFrame], pd.Series],
    loss_of: Callable[[np.ndarray, np.ndarray], np.ndarray],
    metrics: Callable[[np.ndarray, np.ndarray, pd.Series, float], dict[str, float]],
    *,
    reference: str,
    mcs: Mapping[str, Any],
    members: Mapping[str, Sequence[str]] | None = None,
) -> pd.DataFrame:
    """The per-instrument table of :class:`PanelScores`, for any loss: each instrument's
    forecasts against ``actual_of(frame)`` on the dates every model forecasts it, the loss
    ``loss_of(actual, forecast)`` per date (that of the DM tests and the MCS), and a row per
    model of ``metrics(actual, forecast, loss, reference's mean loss)`` beside the tests (``mcs``:
    the keywords of :func:`~gatecast.evaluation.significance.model_confidence_set`).

    ``members`` (model -> its forecast columns; None: each column is a model): a model with
    several columns (a recurrent model's seeds, ``lstm[s0]``, ``lstm[s1]``) has as its loss
    the mean of its columns' losses date by date, as the single-series evaluation averages
    seeds, and ``metrics`` gets the mean of its columns as its forecast."""
    columns = members or {str(m): [str(m)] for m in walk.forecasts.columns}
    models = list(columns)
    if reference not in models:
        raise ConfigError(
            f"the reference {reference!r} is not among the models ({', '.join(models)}); add "
            f"it or pick one of them"
        )
    rows: list[dict[str, Any]] = []
    for n, fc in walk.forecasts.groupby(level="instrument", sort=True):
        fc = fc.droplevel("instrument").dropna()
        actual = actual_of(panel[str(n)]).reindex(fc.index)
        keep = actual.notna().to_numpy()
        fc, actual = fc[keep], actual[keep]
        if fc.empty:
            raise AlignmentError(f"instrument {n!r}: the models share no forecast date")
        a = actual.to_numpy()
        own = {
            m: fc[list(columns[m])].mean(axis=1).to_numpy()
            if len(columns[m]) > 1
            else fc[columns[m][0]].to_numpy()
            for m in models
        }
        losses = pd.DataFrame(
            {m: _mean_loss(loss_of, a, fc, columns[m]) for m in models}, index=fc.index
        )
        held = model_confidence_set(losses, **mcs)
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
                    **metrics(a, own[m], losses[m], ref),
                    "dm_ref": np.nan if dm is None else dm.statistic,
                    "p_ref": np.nan if dm is None else dm.pvalue,
                    "mcs_p": float(held["pvalue"][m]),
                    "in_mcs": bool(held.loc[m, "in_mcs"]),
                    "n": len(losses),
                }
            )
    table: pd.DataFrame = pd.DataFrame(rows)
    return table


def _mean_loss(
    loss_of: Callable[[np.ndarray, np.ndarray], np.ndarray],
    a: np.ndarray,
    fc: pd.DataFrame,
    columns: Sequence[str],
) -> np.ndarray:
    """The loss per date of one model: its column's, or the mean of its columns' (seeds)."""
    if len(columns) == 1:
        return loss_of(a, fc[columns[0]].to_numpy())
    mean: np.ndarray = np.mean([loss_of(a, fc[k].to_numpy()) for k in columns], axis=0)
    return mean


def pool_scores(table: pd.DataFrame, alpha: float, medians: tuple[str, ...]) -> pd.DataFrame:
    """The pooled summary of a per-instrument table: per model the median of each of
    ``medians`` (``median_<column>``), ``wins``/``losses`` (instruments where the DM test
    against the reference is significant at ``alpha``, for and against), ``in_mcs`` and
    ``instruments``."""
    sig = table["p_ref"] < alpha
    out: pd.DataFrame = (
        table.assign(wins=sig & (table["dm_ref"] < 0), losses=sig & (table["dm_ref"] > 0))
        .groupby("model", sort=False)
        .agg(
            **{f"median_{c}": (c, "median") for c in medians},
            wins=("wins", "sum"),
            losses=("losses", "sum"),
            in_mcs=("in_mcs", "sum"),
            instruments=("instrument", "size"),
        )
    )
    return out
