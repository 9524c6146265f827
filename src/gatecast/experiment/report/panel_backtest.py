"""The page of a ``gatecast backtest`` run over a panel: a cross-sectional long/short book per
model, its net Sharpe ratio deflated for the trials run."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from gatecast.experiment.registry import label
from gatecast.experiment.report.facts import closing_facts
from gatecast.experiment.report.figures import panel
from gatecast.experiment.report.files import read_csv, read_json
from gatecast.experiment.report.formatting import day
from gatecast.experiment.report.page import Panel, Report, Table
from gatecast.experiment.report.panel import panel_report, panel_title

#: The DSR at or above which a Sharpe ratio is evidence of skill at 5% after the trials run.
DSR_LEVEL = 0.95
#: The page's table, in this order (backtest.csv holds them all).
SHOWN = (
    "sharpe",
    "dsr",
    "psr",
    "ann_return",
    "sharpe_gross",
    "ann_return_gross",
    "turnover_year",
    "n_trials",
    "days",
)


def panel_backtest_verdict(
    table: pd.DataFrame, cost_bps: float, n_trials: int, pbo: float | None
) -> str:
    """One sentence from a panel backtest's table (per model: ``sharpe`` net, ``psr``, ``dsr``,
    ``turnover_year``). A dollar-neutral book's benchmark is cash (a zero excess return): the
    models whose net Sharpe ratio is above zero beat it, as the single-series backtest says a
    model beats buy-and-hold, with their DSR (deflated for ``n_trials``); a DSR below 0.95 is
    said to be no evidence of skill. None above zero: the best one's numbers."""
    sharpe = table["sharpe"].astype(float).dropna()
    if sharpe.empty:
        return (
            f"No model's book ever trades at {cost_bps:g} bps (every forecast is the same "
            f"across instruments each day): there is nothing to compare with cash."
        )
    pbo_text = "" if pbo is None else f"; PBO {pbo:.2f}"

    def numbers(m: str) -> str:
        row = table.loc[m]
        return (
            f"{label(m)} {float(row['sharpe']):+.2f} (DSR {float(row['dsr']):.2f}, "
            f"PSR {float(row['psr']):.2f}, turnover {float(row['turnover_year']):.0f}x a year)"
        )

    beat = sharpe[sharpe > 0].sort_values(ascending=False)
    if beat.empty:
        best = str(sharpe.idxmax())
        return (
            f"No model's book beats cash after costs: at {cost_bps:g} bps one-way the best net "
            f"Sharpe ratio is {numbers(best)}, deflated for N = {n_trials} trials{pbo_text}."
        )
    dsr = table.loc[beat.index, "dsr"].astype(float)
    weak = bool((dsr < DSR_LEVEL).all() or dsr.isna().all())
    judged = (
        f"; no DSR reaches {DSR_LEVEL:g}, so none is evidence of skill after the trials"
        if weak
        else ""
    )
    verb = "beats" if len(beat) == 1 else "beat"
    return (
        f"{', '.join(label(str(m)) for m in beat.index)} {verb} cash after costs at "
        f"{cost_bps:g} bps one-way (a dollar-neutral book's benchmark, a zero net return): net "
        f"Sharpe ratio {'; '.join(numbers(str(m)) for m in beat.index)}, deflated for "
        f"N = {n_trials} trials{pbo_text}{judged}."
    )


def _net_returns(folder: Path, models: list[str]) -> pd.DataFrame:
    daily = pd.read_parquet(folder / "returns.parquet").set_index("date")
    net: pd.DataFrame = daily[[f"{m}_net" for m in models]]
    net.columns = models
    net.index = pd.to_datetime(net.index)
    return net


def panel_backtest_report(folder: Path, figures: bool) -> Report:
    """The page of a panel backtest: the verdict (the best net Sharpe ratio with its DSR and
    PSR, the turnover), the facts, the per-model table and the cumulative net return."""
    metrics = read_json(folder, "metrics.json")
    cfg: Mapping[str, Any] = metrics["config"]
    table = read_csv(folder, "backtest.csv", index="model")
    pbo_json = read_json(folder, "pbo.json") if (folder / "pbo.json").is_file() else {}
    pbo = pbo_json.get("pbo")
    n_trials = int(metrics.get("n_trials", pbo_json.get("n_trials", 1)))
    cost = float(metrics["cost_bps"])
    models = [str(m) for m in table.index]
    rule: Mapping[str, Any] = metrics["rule"]
    scheme = str(rule["cross_section"])
    how = (
        f"long the top {float(rule['fraction']):.0%} of instruments by forecast, short the "
        f"bottom {float(rule['fraction']):.0%}, equal weights"
        if scheme == "top_bottom"
        else "weights proportional to each forecast's centred rank"
    )
    instruments = [str(n) for n in metrics["instruments"]]
    source = (
        f"the forecasts of {metrics['from_run']} (no refitting)"
        if metrics.get("from_run")
        else f"a walk-forward of {len(models)} return models refit every "
        f"{cfg.get('refit_every', '?')} days (its scores under evaluation/)"
    )
    trials = pbo_json.get("trials") or {}
    same = trials.get("same_as") or {}
    n_text = f"N = {n_trials}: each model asked for is a trial, identical net return series once"
    if same:
        n_text += " (" + ", ".join(f"{a} repeats {b}" for a, b in same.items()) + ")"
    if pbo is None:
        pbo_fact = f"not computed: {pbo_json.get('reason', 'no pbo.json')}"
    else:
        pbo_fact = (
            f"{float(pbo):.2f} over {pbo_json.get('n_configs')} configurations "
            f"({int(pbo_json.get('n_splits', 0)):,} CSCV splits of {pbo_json.get('n_blocks')} "
            f"blocks); P(out-of-sample loss) {float(pbo_json.get('prob_oos_loss', math.nan)):.2f}"
        )
    facts = [
        (
            "Run",
            f"gatecast backtest on a panel: {len(models)} models' return forecasts traded "
            f"across instruments, {source}",
        ),
        ("Data", f"{metrics.get('source') or cfg.get('data')}: {', '.join(instruments)}"),
        (
            "Book",
            f"each day {how}; dollar-neutral, gross exposure 1; {cost:g} bps one-way on the "
            "day's turnover (sum of |w_t - w_(t-1)|)",
        ),
        ("Test", f"{day(metrics['first_date'])} .. {day(metrics['last_date'])}"),
        ("Trials", n_text),
        ("PBO", pbo_fact),
        *closing_facts(folder),
    ]
    shown = table[[c for c in SHOWN if c in table.columns]].copy()
    shown.index = [label(m) for m in shown.index]
    tables = [
        Table(
            f"Per model, net of {cost:g} bps one-way (highest Sharpe is best)",
            shown,
            "sharpe: annualised net Sharpe ratio (252 days); dsr: the probability that the true "
            f"Sharpe ratio exceeds the best of N = {n_trials} unskilled trials' (Bailey and "
            "Lopez de Prado), 0.95 or more is evidence at 5%; psr: the probability that it "
            "exceeds zero; turnover_year: the book traded over a year, in multiples of its "
            "gross exposure. backtest.csv holds every column; returns.parquet each day's "
            "gross and net return and turnover; weights.parquet every weight.",
        )
    ]
    panels: list[Panel] = []
    if figures:
        from gatecast.plots.trading import plot_equity

        net = _net_returns(folder, models)
        panels.append(
            panel(
                "fig-equity",
                "plots/equity.png",
                lambda: plot_equity(net, title=f"net equity, {cost:g} bps one-way"),
                "Line chart: the growth of 1 in each model's book, the product of one plus its "
                "daily net return, over the test; the line at 1 is cash.",
                "Cumulative net return of each model's book (start = 1): above the line at 1 "
                "it has made money after costs.",
            )
        )
    return panel_report(
        folder,
        metrics,
        "panel-backtest",
        f"{panel_title(cfg.get('data', ''))}, backtest on a panel: a cross-sectional "
        f"long/short book, test {day(metrics['first_date'])} .. {day(metrics['last_date'])}",
        panel_backtest_verdict(table, cost, n_trials, None if pbo is None else float(pbo)),
        facts,
        tables,
        panels,
    )
