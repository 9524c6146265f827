"""The page of a ``gatecast var`` run over a panel: each instrument's VaR backtested, counted
per model."""

from __future__ import annotations

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

#: Names listed in the verdict before it gives a count only.
_NAMED = 4
_DIST_WORDS = {"t": "Student-t", "normal": "Normal"}


def rejected(table: pd.DataFrame, alpha: float) -> pd.Series:
    """Per row of a per-instrument VaR table: Kupiec's test or Christoffersen's conditional
    coverage test rejects at ``alpha``."""
    out: pd.Series = (table["kupiec_p"] < alpha) | (table["cc_p"] < alpha)
    return out


def panel_var_verdict(table: pd.DataFrame, level: float, alpha: float) -> str:
    """E.g. "99% VaR over 20 instruments, rejected at 5% by Kupiec or Christoffersen's
    conditional coverage: Student-t: GARCH(1,1) on 0, GJR-GARCH(1,1)-t on 2 (PG, RRC); Normal:
    ...": per distribution and model, the instruments whose VaR at ``level`` is rejected."""
    part = table[table["level"].astype(float).round(6) == round(level, 6)]
    part = part.assign(rejected=rejected(part, alpha).to_numpy())
    n = part["instrument"].nunique()
    clauses = []
    for dist, by_dist in part.groupby("distribution", sort=False):
        items = []
        for model, rows in by_dist.groupby("model", sort=False):
            names = sorted(rows.loc[rows["rejected"], "instrument"].astype(str))
            shown = ", ".join(names[:_NAMED]) + (", ..." if len(names) > _NAMED else "")
            items.append(f"{label(str(model))} on {len(names)}" + (f" ({shown})" if names else ""))
        clauses.append(f"{_DIST_WORDS.get(str(dist), str(dist))}: {', '.join(items)}")
    counts = part.groupby(["distribution", "model"], sort=False)["rejected"].sum()
    best = counts.idxmin()
    fewest = (
        f" Fewest: {label(str(best[1]))} with the {_DIST_WORDS.get(str(best[0]), best[0])} "
        f"({int(counts[best])} of {n})."
        if len(counts) > 1
        else ""
    )
    return (
        f"{level:.3g} VaR over {n} instruments, rejected at {alpha:g} by Kupiec or "
        f"Christoffersen's conditional coverage: {'; '.join(clauses)}.{fewest}"
    )


def panel_var_report(folder: Path, figures: bool) -> Report:
    """The page of a panel VaR backtest: the verdict (per model, the instruments whose VaR is
    rejected), the facts, the pooled and the per-instrument tables, and each instrument's
    exceptions over those expected."""
    metrics = read_json(folder, "metrics.json")
    cfg: Mapping[str, Any] = metrics["config"]
    table = read_csv(folder, "per_instrument.csv").reset_index()
    summary = pd.read_csv(folder / "summary.csv").set_index(["model", "distribution", "level"])
    alpha = float(cfg.get("alpha", 0.05))
    levels = [float(v) for v in cfg.get("levels") or sorted(set(table["level"]), reverse=True)]
    level = levels[0]
    instruments = [str(n) for n in metrics["instruments"]]
    models = list(dict.fromkeys(table["model"].astype(str)))
    tests: Mapping[str, Any] = metrics.get("tests", {})
    facts = [
        (
            "Run",
            f"gatecast var on a panel: VaR at {', '.join(f'{v:.3g}' for v in levels)} from the "
            f"walk-forward variance forecasts of {len(models)} models "
            f"({', '.join(label(m) for m in models)}), backtested per instrument; one refit "
            f"for all instruments every {cfg.get('refit_every', '?')} days",
        ),
        ("Data", f"{metrics.get('source') or cfg.get('data')}: {', '.join(instruments)}"),
        (
            "Test",
            f"{day(metrics['first_date'])} .. {day(metrics['last_date'])}, "
            f"{metrics.get('n_refits', '?')} refits; Student-t nu fit per instrument and fold "
            f"from {metrics.get('calibration_start', '?')}",
        ),
        *[(f"Test: {k}", str(v)) for k, v in tests.items()],
        *closing_facts(folder),
    ]
    pooled = summary.reset_index()
    pooled.index = [
        f"{label(str(m))}, {_DIST_WORDS.get(str(d), d)}, {float(lv):.3g}"
        for m, d, lv in zip(pooled["model"], pooled["distribution"], pooled["level"], strict=True)
    ]
    pooled = pooled.drop(columns=["model", "distribution", "level"])
    first = table[table["level"].astype(float).round(6) == round(level, 6)]
    cols = [c for c in ("exceptions", "expected", "kupiec_p", "cc_p") if c in first.columns]
    wide = first.pivot_table(
        index="instrument", columns=["model", "distribution"], values=cols, aggfunc="first"
    )
    pairs = list(dict.fromkeys(zip(first["model"], first["distribution"], strict=True)))
    wide = wide[[(c, m, d) for m, d in pairs for c in cols]]  # each model's columns together
    wide.columns = [f"{m} {d}: {c}" for c, m, d in wide.columns]
    tables = [
        Table(
            f"Pooled over {len(instruments)} instruments, per model, distribution and level",
            pooled,
            f"hit_rate: all exceptions over all instrument-days, beside expected_rate; "
            f"median_ratio: the median over instruments of exceptions / expected; "
            f"kupiec_rejected (too_many, too_few), ind_rejected, cc_rejected, es_rejected: "
            f"instruments whose test rejects at {alpha:g}. No pooled test: exceptions on a "
            "crash day come together across instruments.",
        ),
        Table(
            f"Per instrument, {level:.3g} VaR: exceptions, expected and the tests' p-values",
            wide,
            "kupiec_p: proportion of failures (LR ~ chi2(1)); cc_p: Christoffersen's "
            "conditional coverage (chi2(2)). per_instrument.csv holds every level, the "
            "independence test, the Basel zone and the ES test.",
        ),
    ]
    horizon: Mapping[str, Any] | None = metrics.get("horizon")
    if horizon and (folder / "horizon_summary.csv").is_file():
        h_table = pd.read_csv(folder / "horizon_summary.csv")
        h_table.index = [
            f"{label(str(m))}, {_DIST_WORDS.get(str(d), d)}, {float(lv):.3g}"
            for m, d, lv in zip(
                h_table["model"], h_table["distribution"], h_table["level"], strict=True
            )
        ]
        tables.append(
            Table(
                f"{horizon['days']}-day VaR on non-overlapping windows, pooled over "
                f"{len(instruments)} instruments",
                h_table.drop(columns=["model", "distribution", "level"]),
                f"sqrt: the square-root-of-time rule; own: {horizon['own']}. "
                f"{horizon['windows']}. kupiec_rejected_*: instruments whose Kupiec test on "
                f"its windows rejects at {alpha:g}. horizon_per_instrument.csv holds each "
                "instrument's, horizon_risk.parquet each window's.",
            )
        )
    panels: list[Panel] = []
    if figures:
        from gatecast.plots.panel_risk import plot_exception_ratios

        dist = "t" if "t" in set(first["distribution"]) else str(first["distribution"].iloc[0])
        shown = first[first["distribution"] == dist]
        shown = shown.assign(rejected=rejected(shown, alpha).to_numpy())
        words = _DIST_WORDS.get(dist, dist)
        panels.append(
            panel(
                "fig-exception-ratio",
                "plots/exception_ratio.png",
                lambda: plot_exception_ratios(
                    shown, title=f"{level:.3g} VaR ({words}): exceptions / expected"
                ),
                f"Dot chart: one row per instrument, one marker per model at its {level:.3g} "
                f"VaR ({words}) exceptions divided by those expected (the line at 1); a hollow "
                f"marker is rejected at {alpha:g} by Kupiec or conditional coverage.",
                f"Each instrument's {level:.3g} VaR ({words}) exceptions over those expected: "
                "right of the line, too many; hollow markers are rejected.",
            )
        )
    return panel_report(
        folder,
        metrics,
        "panel-var",
        f"{panel_title(cfg.get('data', ''))}, VaR on a panel: test "
        f"{day(metrics['first_date'])} .. {day(metrics['last_date'])}",
        panel_var_verdict(table, level, alpha),
        facts,
        tables,
        panels,
    )
