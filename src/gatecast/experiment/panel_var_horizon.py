"""The h-day VaR over a panel (``gc.var_panel(..., horizon=H)``; ``gatecast var --horizon H`` on
a panel): the one-series h-day VaR (:func:`gatecast.experiment.var.horizon_table`) applied to
each instrument's prices and its walk's one-day forecasts, and its pooled summary; with the
groupby every pooled panel VaR table shares (:func:`pool_rows`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from gatecast.data.volatility import percent_returns
from gatecast.errors import ConfigError
from gatecast.evaluation.panel_walk import PanelWalkResult
from gatecast.experiment.var import horizon_table

if TYPE_CHECKING:
    from gatecast.experiment.panel_var_config import PanelVarConfig

__all__ = ["backtest_panel_horizon", "pool_horizon", "pool_rows", "summed"]


def summed(*columns: str) -> dict[str, tuple[str, str]]:
    """Aggregations of :func:`pool_rows` that sum each of ``columns`` under its own name."""
    return {c: (c, "sum") for c in columns}


def pool_rows(table: pd.DataFrame, agg: Mapping[str, tuple[str, str]]) -> pd.DataFrame:
    """One row per (model, distribution, level) of a per-instrument VaR table: ``instruments``
    (how many), then the aggregations ``agg`` (name -> (column, function)), in that order."""
    spec = {"instruments": ("instrument", "size"), **agg}
    out: pd.DataFrame = table.groupby(["model", "distribution", "level"], sort=False).agg(**spec)
    return out


def pool_horizon(table: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """The pooled summary of a per-instrument h-day VaR table (:attr:`PanelVarResult.horizon_table`):
    one row per (model, distribution, level) with ``instruments``, ``windows``, ``expected``
    (summed), and per rule (``sqrt``: square-root-of-time; ``own``: the model's own h-day
    variance) the exceptions summed, ``hit_rate_*`` (exceptions / windows) and the instruments
    whose Kupiec test rejects at ``alpha`` (``kupiec_rejected_*``, of them ``too_many_*``)."""
    extra: dict[str, Any] = {}
    for tag in ("sqrt", "own"):
        rej = table[f"kupiec_p_{tag}"] < alpha
        extra[f"kupiec_rejected_{tag}"] = rej
        extra[f"too_many_{tag}"] = rej & (table[f"exceptions_{tag}"] > table["expected"])
    rejected = ("kupiec_rejected_sqrt", "too_many_sqrt", "kupiec_rejected_own", "too_many_own")
    out = pool_rows(
        table.assign(**extra),
        summed("windows", "expected", "exceptions_sqrt", "exceptions_own", *rejected)
        | {"own_is": ("own_is", "first")},
    )
    for k, tag in enumerate(("sqrt", "own")):
        out.insert(3 + 2 * k + 1, f"hit_rate_{tag}", out[f"exceptions_{tag}"] / out["windows"])
    out.insert(3, "expected_rate", 1.0 - out.index.get_level_values("level").to_numpy())
    return out


def backtest_panel_horizon(
    walk: PanelWalkResult,
    panel: Mapping[str, pd.DataFrame],
    cfg: PanelVarConfig,
    fold_starts: Iterable[pd.Timestamp],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every instrument's ``cfg.horizon``-day VaR at each level, on non-overlapping windows of
    its own rows from ``cfg.test_start``: the one-series h-day VaR
    (:func:`~gatecast.experiment.var.horizon_table`) applied to that instrument's prices and its
    walk's one-day forecasts, with the panel's refit dates as the folds (a GARCH/GJR model's
    own h-day variance with the parameters of the fold, refit on the instrument's training rows
    for it, the walk's ``cfg.scheme``, ``train_size`` and ``gap``; nu fit per fold before it). Returns the per-instrument table and the per-window frame of
    :class:`PanelVarResult`."""
    starts = sorted(pd.Timestamp(d) for d in fold_starts)
    test0 = pd.Timestamp(cfg.test_start)
    tables: list[pd.DataFrame] = []
    frames: list[pd.DataFrame] = []
    for key, fc in walk.forecasts.groupby(level="instrument", sort=True):
        name = str(key)
        fc = fc.droplevel("instrument")
        df = panel[name]
        returns = percent_returns(df, cfg.column)
        variances = {str(m): fc[m] for m in walk.forecasts.columns}
        fits: dict[tuple[str, pd.Timestamp], tuple[float, float, float, float] | None] = {}
        for level in cfg.levels:  # the GARCH fits of the first level reused by the others
            windows: list[pd.DataFrame] = []
            try:
                table = horizon_table(
                    variances,
                    df,
                    returns,
                    starts,
                    test0,
                    horizon=cfg.horizon,
                    level=level,
                    distributions=cfg.distributions,
                    column=cfg.column,
                    scheme=cfg.scheme,
                    train_size=cfg.train_size,
                    gap=cfg.gap,
                    windows=windows,
                    fits=fits,
                )
            except ConfigError as exc:
                raise ConfigError(f"instrument {name!r}: {exc}") from exc
            tables.append(table.reset_index().assign(instrument=name, level=level))
            for w in windows:
                w = w.assign(instrument=name, level=level)
                w["as_of"] = df.index[df.index.get_indexer(w["date"]) - 1]
                frames.append(w)
    first = ["instrument", "model", "distribution", "level", "windows", "expected"]
    out = pd.concat(tables, ignore_index=True)
    out = out[first + [c for c in out.columns if c not in first]]
    risk = pd.concat(frames, ignore_index=True)
    lead = ["instrument", "model", "distribution", "level", "date", "as_of", "return"]
    risk = risk[lead + [c for c in risk.columns if c not in lead]]
    return out, risk
