"""The page of any other run folder (backtest, var, sweep ...): its settings, tables and PNGs."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from gatecast.experiment.report.facts import data_title, versions
from gatecast.experiment.report.files import read_csv, read_json, source_files
from gatecast.experiment.report.formatting import BACKTEST_COLUMNS, count, decision_first
from gatecast.experiment.report.page import CLOCK_COLUMNS, Report, Table
from gatecast.experiment.report.rerun import NOT_SETTINGS, plain, recorded_command

#: Files that tell which command wrote a run folder the report has no page of its own for.
MARKERS = {"backtest.csv": "backtest", "var.csv": "var", "sweep.csv": "sweep"}
#: A table longer than this shows its first rows on the page, and says where the rest is.
FOLD_ROWS = 12


def generic_report(folder: Path, figures: bool) -> Report:
    """Any other run folder (``backtest`` ...): its settings, the first verdict of its JSON
    files, its CSV tables (long ones folded, the file holding them all named) and, inline, its
    PNGs."""
    has = {p.name for p in folder.iterdir()}
    record = read_json(folder, "run.json") if "run.json" in has else {}
    marked = next((c for name, c in MARKERS.items() if name in has), "run")
    command = str(record.get("kind") or marked)
    docs = {p.name: read_json(folder, p.name) for p in sorted(folder.glob("*.json"))}
    verdict = next((str(d["verdict"]) for d in docs.values() if d.get("verdict")), "")
    config = docs.get("config.json") or record.get("config") or {}
    tables = [_table(folder, p.name, config) for p in sorted(folder.glob("*.csv"))]
    settings = ", ".join(f"{k}={plain(v)}" for k, v in config.items() if k not in NOT_SETTINGS)
    facts = [
        ("Run", f"gatecast {command}" + (f": {settings}" if settings else "")),
        ("Versions", versions({})),
    ]
    typed, rerun = recorded_command(record)
    if typed:
        facts.insert(1, ("Command", typed))
    return Report(
        kind=command,
        title=_title(command, config, docs),
        verdict=verdict,
        facts=facts,
        command=rerun
        or "(this run folder does not record its command line; see the settings above)",
        tables=tables,
        sources=source_files(folder),
    )


def _title(kind: str, config: Mapping[str, Any], docs: Mapping[str, Mapping[str, Any]]) -> str:
    """E.g. "S&P 500 index (sp500), backtest: sign rule, 5 bps": the data, the command, and the
    settings that say what this run of it did."""
    data = data_title(config.get("data") or docs.get("pbo.json", {}).get("data") or "")
    if kind == "backtest" and "rule" in config:
        what = f"{config['rule']} rule, {float(config.get('cost_bps', 0.0)):g} bps"
    elif kind == "var" and "level" in config:
        what = f"{float(config['level']):.0%} VaR, {float(config.get('es_level', 0)):.1%} ES"
        what += f" of {', '.join(map(str, config.get('models', ())))}"
    elif kind == "sweep" and "target" in config:
        what = f"{config['target']} models, {config.get('sampler', 'grid')} search"
    else:
        what = ""
    head = f"{data}, {kind}" if data else f"gatecast {kind}"
    return f"{head}: {what}" if what else head


def _table(folder: Path, name: str, config: Mapping[str, Any]) -> Table:
    """One CSV file as a table of the page: decision-relevant columns first, a long table
    folded (the cost sweep as net Sharpe by cost level), the file with every row named."""
    frame = read_csv(folder, name).drop(columns=list(CLOCK_COLUMNS), errors="ignore")
    if name == "backtest.csv":
        return Table(
            "Backtest: net Sharpe ratio, its deflated (DSR) and probabilistic (PSR) versions "
            "and the break-even cost first",
            decision_first(frame, BACKTEST_COLUMNS),
        )
    if name == "cost_sweep.csv" and {"model", "sharpe"} <= set(frame.reset_index().columns):
        return _cost_summary(frame, name)
    if len(frame) <= FOLD_ROWS:
        return Table(name, frame)
    return Table(
        name,
        frame.head(FOLD_ROWS),
        f"The first {FOLD_ROWS} of {count(len(frame))} rows; the full table is in {name}.",
    )


def _cost_summary(frame: pd.DataFrame, name: str) -> Table:
    """The cost sweep (one row per cost level and model) as one row per model, its net Sharpe
    ratio at each cost level a column."""
    long = frame.reset_index()
    levels = sorted({float(c) for c in long["cost_bps"]})
    wide = long.pivot_table(index="model", columns="cost_bps", values="sharpe", sort=False)
    wide = wide.reindex(index=list(dict.fromkeys(long["model"])))
    wide.columns = [f"{float(c):g} bps" for c in wide.columns]
    wide.index.name = "model"
    return Table(
        f"Net Sharpe ratio at each one-way cost ({len(levels)} levels)",
        wide,
        f"A summary of {name}: the full table ({count(len(frame))} rows, the annualised return, "
        f"volatility and Sharpe ratio of each model at each cost level) is in {name}.",
    )
