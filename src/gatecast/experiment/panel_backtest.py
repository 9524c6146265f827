"""A panel backtest: the return models walked forward over a panel (the panel evaluation with a
return target), then each model's forecasts traded across instruments by a dollar-neutral
long/short rule after costs (``gatecast.backtest_panel``; ``gatecast backtest`` on a panel)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from gatecast.data.features import price_series
from gatecast.data.panel import Panel
from gatecast.errors import ConfigError
from gatecast.evaluation.trading.cross_section import (
    CrossSectionRule,
    CrossSectionTrades,
    Scheme,
    trade_cross_section,
)
from gatecast.experiment.panel_evaluation import (
    PanelEvaluation,
    PanelEvaluationConfig,
    _evaluate_into,
    evaluate_panel,
    load_checked_panel,
    long_forecasts,
    write_panel_evaluation,
)
from gatecast.experiment.run_folder import RunFolder, check_out_folder, run_output, settings_record
from gatecast.types import check_number

__all__ = [
    "PANEL_BACKTEST_KIND",
    "PanelBacktest",
    "PanelBacktestConfig",
    "backtest_panel",
    "run_panel_backtest",
]

#: The kind of run a panel backtest writes (``run.json``).
PANEL_BACKTEST_KIND = "panel-backtest"


@dataclass
class PanelBacktest:
    """The panel evaluation of the return forecasts (``evaluation``) and their cross-sectional
    trades (``trades``: weights, gross, net, turnover); ``table`` one row per model."""

    evaluation: PanelEvaluation
    trades: CrossSectionTrades

    @property
    def table(self) -> pd.DataFrame:
        """Per model: net and gross annualised return and Sharpe, turnover, days."""
        return self.trades.summary()

    def __str__(self) -> str:
        return str(self.trades)


def _trade(
    ev: PanelEvaluation,
    panel: Mapping[str, pd.DataFrame],
    column: str | None,
    rule: CrossSectionRule,
    cost_bps: float,
) -> CrossSectionTrades:
    fc = long_forecasts(ev.walk, panel, column=column, target="return")
    prices = {str(n): price_series(df, column) for n, df in panel.items()}
    return trade_cross_section(fc, prices, rule, cost_bps)


def backtest_panel(
    panel: Mapping[str, pd.DataFrame],
    *,
    test_start: str,
    models: str | Iterable[str] | None = None,
    cross_section: Scheme = "top_bottom",
    fraction: float = 0.2,
    cost_bps: float = 5.0,
    column: str | None = None,
    **evaluation: Any,
) -> PanelBacktest:
    """Walk the return models forward over ``panel`` and trade each across instruments.

    Parameters
    ----------
    panel, test_start, models, column
        As :func:`gatecast.evaluate_panel` with ``target="return"`` (default models: the global
        LSTM, no change, historical mean, AR(1)); further settings of it go in ``evaluation``.
    cross_section, fraction
        The :class:`~gatecast.evaluation.trading.cross_section.CrossSectionRule`: each day long
        the top ``fraction`` of instruments by forecast and short the bottom one
        (``top_bottom``), or rank weights (``rank``); dollar-neutral, gross exposure 1.
    cost_bps
        One-way cost in basis points of each day's turnover.

    Returns
    -------
    PanelBacktest with ``table`` (per model: ann_return, ann_return_gross, sharpe,
    sharpe_gross, turnover, turnover_year, days).
    """
    rule = CrossSectionRule(cross_section, fraction)  # refused before any fit
    check_number(cost_bps, "cost_bps", at_least=0.0)
    if evaluation.get("target", "return") != "return":
        raise ConfigError("a panel backtest trades return forecasts: leave target out")
    evaluation.pop("target", None)
    ev = evaluate_panel(
        panel, test_start=test_start, models=models, target="return", column=column, **evaluation
    )
    return PanelBacktest(ev, _trade(ev, panel, column, rule, cost_bps))


@dataclass(kw_only=True)
class PanelBacktestConfig(PanelEvaluationConfig):
    """A panel evaluation of returns (:class:`PanelEvaluationConfig`, ``target`` return) and
    the rule that trades it: ``cross_section`` (``top_bottom`` or ``rank``), ``fraction`` and
    ``cost_bps``."""

    target: Any = "return"
    cross_section: Scheme = "top_bottom"
    fraction: float = 0.2
    cost_bps: float = 5.0

    def __post_init__(self) -> None:
        if self.target != "return":
            raise ConfigError(
                f"--target {self.target}: a panel backtest trades return forecasts; leave "
                f"--target out"
            )
        super().__post_init__()
        self.rule()
        check_number(self.cost_bps, "cost_bps", at_least=0.0)

    def rule(self) -> CrossSectionRule:
        """The cross-sectional rule."""
        return CrossSectionRule(self.cross_section, self.fraction)


def run_panel_backtest(cfg: PanelBacktestConfig) -> PanelBacktest:
    """Walk, score and trade ``cfg``'s models over its panel; with ``cfg.out`` write the run
    folder (kind ``panel-backtest``): ``backtest.csv`` (per model), ``returns.parquet`` (daily
    gross and net return and turnover per model), ``weights.parquet`` (long: model,
    date, instrument, weight), the evaluation under ``evaluation/`` (its walk resumes after
    a kill) and, last, ``metrics.json``."""
    if cfg.out is not None:
        check_out_folder(
            cfg.out, overwrite=cfg.overwrite, resume=cfg.resume, kind=PANEL_BACKTEST_KIND
        )
    panel = load_checked_panel(cfg)
    if cfg.out is None:
        ev = _evaluate_into(cfg, panel, None)
        return PanelBacktest(ev, _trade(ev, panel, cfg.column, cfg.rule(), cfg.cost_bps))
    with run_output(
        cfg.out,
        PANEL_BACKTEST_KIND,
        overwrite=cfg.overwrite,
        resume=cfg.resume,
        config=settings_record(cfg),
        data=panel.identity(),
    ) as path:
        ev = _evaluate_into(cfg, panel, Path(path) / "evaluation")
        # its scores' files; the page of a run is written for a run folder (run.json) only
        write_panel_evaluation(ev, Path(path) / "evaluation", panel, cfg, report=False)
        result = PanelBacktest(ev, _trade(ev, panel, cfg.column, cfg.rule(), cfg.cost_bps))
        write_panel_backtest(result, path, panel, cfg)
    return result


def write_panel_backtest(
    result: PanelBacktest, out: str | Path, panel: Panel, cfg: PanelBacktestConfig
) -> Path:
    """The backtest's files (see :func:`run_panel_backtest`), ``metrics.json`` last."""
    folder = RunFolder(out)
    t = result.trades
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
    folder.write_metrics(
        {
            "config": settings_record(cfg),
            "source": result.evaluation.source,
            "instruments": sorted(map(str, panel)),
            "rule": {"cross_section": t.rule.scheme, "fraction": t.rule.fraction},
            "cost_bps": t.cost_bps,
            "first_date": t.gross.index.min(),
            "last_date": t.gross.index.max(),
            "summary": result.table.reset_index().to_dict(orient="records"),
            "notes": result.evaluation.notes,
        }
    )
    return folder.path
