"""The files of a panel backtest's run folder (kind ``panel-backtest``): ``backtest.csv``,
``returns.parquet``, ``weights.parquet``, ``lookahead.csv`` (the look-ahead screen per model and
instrument), ``pbo.json``, ``plots/equity.png``, ``metrics.json`` and ``report.html``."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from gatecast.data.panel import Panel
from gatecast.evaluation.trading import PBOResult, TrialSet, expected_max_sharpe
from gatecast.evaluation.trading.cross_section import CrossSectionTrades
from gatecast.experiment.report import write_report
from gatecast.experiment.run_folder import RunFolder, settings_record

__all__ = ["write_panel_backtest"]


class _Statistics(Protocol):
    """What is written of ``PanelStatistics`` (typed here by its shape: the backtest's module
    imports this one)."""

    trial_set: TrialSet
    n_trials: int
    var_sharpe: float
    pbo: PBOResult | None
    pbo_note: str


class _Backtest(Protocol):
    """What is written of a ``PanelBacktest``."""

    trades: CrossSectionTrades
    source: str
    notes: list[str]

    @property
    def statistics(self) -> _Statistics: ...

    @property
    def table(self) -> pd.DataFrame: ...

    def verdict(self) -> str: ...


class _Settings(Protocol):
    """What is written of a ``PanelBacktestConfig`` beside its whole record."""

    from_run: str | None
    n_trials: int | None
    var_sharpe_annual: float | None
    sweep: str | None


def write_panel_backtest(result: _Backtest, out: str | Path, panel: Panel, cfg: _Settings) -> Path:
    """The backtest's files (see
    :func:`~gatecast.experiment.panel_backtest.run_panel_backtest`), ``metrics.json`` last, then
    ``report.html``."""
    from gatecast.plots.trading import plot_equity

    folder = RunFolder(out)
    t = result.trades
    stats = result.statistics
    folder.write_csv("backtest.csv", result.table)
    daily = pd.DataFrame(
        {
            f"{m}_{what}": frame[m]
            for m in t.gross.columns
            for what, frame in (("gross", t.gross), ("net", t.net), ("turnover", t.turnover))
        }
    ).rename_axis("date")
    folder.write_parquet("returns.parquet", daily.reset_index())
    weights = pd.concat(
        [
            w.rename_axis(index="date", columns="instrument")
            .stack()
            .rename("weight")
            .reset_index()
            .assign(model=m)
            for m, w in t.weights.items()
        ],
        ignore_index=True,
    )
    folder.write_parquet("weights.parquet", weights[["model", "date", "instrument", "weight"]])
    screen = t.lookahead
    folder.write_csv("lookahead.csv", screen)
    ppy = t.periods_per_year
    pbo: dict[str, Any] = (
        stats.pbo.to_dict() if stats.pbo is not None else {"pbo": None, "reason": stats.pbo_note}
    )
    folder.write_json(
        "pbo.json",
        {
            **pbo,
            "cost_bps": t.cost_bps,
            "n_trials": stats.n_trials,
            "trials": stats.trial_set.to_dict(),
            "var_sharpe_per_period": stats.var_sharpe,
            "var_sharpe_annual": stats.var_sharpe * ppy,
            "sr0_per_period": expected_max_sharpe(stats.n_trials, stats.var_sharpe),
            "trials_overridden": cfg.n_trials is not None or cfg.var_sharpe_annual is not None,
            "sweep": cfg.sweep,
            "trial_sharpes_annual": (stats.trial_set.sharpes * math.sqrt(ppy)).to_dict(),
            "periods_per_year": ppy,
            "possible_look_ahead": t.look_ahead,
            "look_ahead_screen": screen.reset_index().to_dict(orient="records"),
        },
    )
    folder.write_figure(
        "plots/equity.png",
        plot_equity(t.net, title=f"net equity, {t.cost_bps:g} bps one-way"),
    )
    folder.write_metrics(
        {
            "config": settings_record(cfg),
            "source": result.source,
            "from_run": cfg.from_run,
            "instruments": sorted(map(str, panel)),
            "rule": {"cross_section": t.rule.scheme, "fraction": t.rule.fraction},
            "cost_bps": t.cost_bps,
            "first_date": t.gross.index.min(),
            "last_date": t.gross.index.max(),
            "n_trials": stats.n_trials,
            "pbo": None if stats.pbo is None else stats.pbo.pbo,
            "sweep": cfg.sweep,
            "possible_look_ahead": t.look_ahead,
            "summary": result.table.reset_index().to_dict(orient="records"),
            "verdict": result.verdict(),
            "notes": result.notes,
        }
    )
    write_report(folder.path)
    return folder.path
