"""The page of a ``gatecast evaluate`` run over a panel of instruments."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from gatecast.experiment.registry import label
from gatecast.experiment.report.facts import closing_facts, row_label
from gatecast.experiment.report.figures import panel
from gatecast.experiment.report.files import read_csv, read_json, source_files
from gatecast.experiment.report.formatting import count, day
from gatecast.experiment.report.page import Panel, Report, Table
from gatecast.experiment.report.rerun import recorded_command

#: The bundled panels as a page's title names them (gatecast.data.panel.BUNDLED_PANELS).
PANEL_TITLES = {"sp500_stocks": "20 S&P 500 stocks", "arch_panel": "S&P 500, NASDAQ and WTI"}


def panel_title(data: object) -> str:
    """A panel as a page's title names it: a bundled panel by what it is and its name ("20
    S&P 500 stocks (sp500_stocks)"), a file or folder by its name."""
    from gatecast.experiment.report.facts import data_title

    text = str(data)
    if text in PANEL_TITLES:
        return f"{PANEL_TITLES[text]} ({text})"
    return data_title(text)


def panel_report(
    folder: Path,
    metrics: Mapping[str, Any],
    kind: str,
    title: str,
    verdict: str,
    facts: list[tuple[str, str]],
    tables: list[Table],
    panels: list[Panel],
) -> Report:
    """The page of a panel run of ``kind``: its parts, with the command recorded in
    ``run.json``, the notes of ``metrics`` and the folder's files."""
    _, rerun = (
        recorded_command(read_json(folder, "run.json"))
        if (folder / "run.json").is_file()
        else ("", "")
    )
    return Report(
        kind=kind,
        title=title,
        verdict=verdict,
        facts=facts,
        command=rerun or "(this run folder does not record its command line; see the facts above)",
        tables=tables,
        panels=panels,
        notes=[str(n) for n in metrics.get("notes", []) if n],
        sources=source_files(folder),
    )


def panel_evaluation_report(folder: Path, figures: bool) -> Report:
    """The page of a panel evaluation: the pooled summary (median loss ratio to the reference,
    significant wins and losses, model-confidence-set membership), each instrument's loss
    ratios, and the figure of those ratios."""
    metrics = read_json(folder, "metrics.json")
    cfg: Mapping[str, Any] = metrics["config"]
    table = read_csv(folder, "per_instrument.csv").reset_index()
    summary = read_csv(folder, "summary.csv", index="model")
    reference, loss = str(metrics["reference"]), str(metrics.get("loss", "qlike"))
    instruments = [str(n) for n in metrics["instruments"]]
    target = str(cfg.get("target", "variance"))
    level = 1 - float(metrics.get("mcs", {}).get("size", 0.1))
    alpha = float(metrics.get("alpha", 0.05))
    models = [str(m) for m in summary.index]
    facts = [
        (
            "Run",
            f"gatecast evaluate on a panel: walk-forward of {len(models)} models "
            f"({', '.join(label(m) for m in models)}) on the {target} of {len(instruments)} "
            f"instruments; {cfg.get('scheme', 'expanding')} training window, one refit of "
            f"every model for all instruments every {cfg.get('refit_every', '?')} days",
        ),
        ("Data", f"{metrics.get('source', cfg.get('data'))}: {', '.join(instruments)}"),
        (
            "Test",
            f"{day(metrics['first_date'])} .. {day(metrics['last_date'])}, "
            f"{metrics['n_refits']} refits",
        ),
        *closing_facts(folder),
    ]
    pooled = summary.copy()
    pooled.index = [row_label(m, metrics) for m in pooled.index]
    ratios = table.pivot(index="instrument", columns="model", values="ratio")
    ratios = ratios[[m for m in models if m in ratios and m != reference]]
    out = table[~table["in_mcs"].astype(bool)].groupby("instrument")["model"]
    ratios["out_of_mcs"] = out.agg(lambda s: ", ".join(map(str, s))).reindex(ratios.index)
    ratios["out_of_mcs"] = ratios["out_of_mcs"].fillna("-")
    ratios.columns.name = None
    tables = [
        Table(
            f"Pooled over {len(instruments)} instruments: {loss.upper()} against "
            f"{label(reference)} (median ratio, lowest is best)",
            pooled,
            f"median_ratio: the median over instruments of the model's mean {loss.upper()} "
            f"divided by {label(reference)}'s on the same instrument; wins / losses: instruments "
            f"where the Diebold-Mariano (HLN) test against {label(reference)} is significant at "
            f"{alpha:g} for / against the model; in_mcs: instruments whose {level:.0%} model "
            "confidence set holds the model.",
        ),
        Table(
            f"Per instrument: {loss.upper()} ratio to {label(reference)}",
            ratios,
            f"Below 1: a lower mean {loss.upper()} than {label(reference)} on that instrument. "
            f"out_of_mcs: the models outside that instrument's {level:.0%} model confidence "
            "set. per_instrument.csv holds each instrument's losses, DM statistics and p-values.",
        ),
    ]
    panels: list[Panel] = []
    if figures:
        from gatecast.plots.panel import plot_panel_ratios

        panels.append(
            panel(
                "fig-per-instrument-ratio",
                "plots/per_instrument_ratio.png",
                lambda: plot_panel_ratios(table, reference, loss_name=loss.upper()),
                f"Dot chart: one row per instrument, one marker per model at its {loss.upper()} "
                f"ratio to {label(reference)} (the line at 1); a filled marker is in that "
                "instrument's model confidence set, a hollow one is not.",
                f"Each instrument's {loss.upper()} ratio to {label(reference)}: left of the "
                "line is better; filled markers are in the instrument's model confidence set.",
            )
        )
    return panel_report(
        folder,
        metrics,
        "panel-evaluate",
        f"{panel_title(cfg.get('data', ''))}, evaluate on a panel: walk-forward forecasts "
        f"of the {target}, test {day(metrics['first_date'])} .. {day(metrics['last_date'])}",
        panel_verdict(summary, reference, loss, len(instruments), level),
        facts,
        tables,
        panels,
    )


def panel_verdict(summary: pd.DataFrame, reference: str, loss: str, n: int, level: float) -> str:
    """E.g. "Over 20 instruments, Global LSTM's median QLIKE is 0.989 times GJR-GARCH(1,1)-t's:
    significantly better on 3 instruments, worse on 1; in the 90% model confidence set for 18
    of 20 (GJR-GARCH(1,1)-t: 19).": the rival with the lowest median ratio, with its counts."""
    rivals = summary.drop(index=reference, errors="ignore")
    ref, name = label(reference), loss.upper()
    if rivals.empty:
        return f"Only {ref} was evaluated, on {n} instruments."
    best = str(rivals["median_ratio"].astype(float).idxmin())
    row = rivals.loc[best]
    ratio = float(row["median_ratio"])
    if ratio < 1:
        text = f"Over {n} instruments, {label(best)}'s median {name} is {ratio:.3f} times {ref}'s"
    else:
        text = (
            f"Over {n} instruments, no model has a lower median {name} than {ref}; the "
            f"closest, {label(best)}, is {ratio:.3f} times it"
        )
    text += (
        f": significantly better on {count(row['wins'])} instruments, worse on "
        f"{count(row['losses'])}; in the {level:.0%} model confidence set for "
        f"{count(row['in_mcs'])} of {count(row['instruments'])}"
    )
    if reference in summary.index:
        text += f" ({ref}: {count(summary.loc[reference, 'in_mcs'])})"
    return text + "."
