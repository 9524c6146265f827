"""The page of a ``gatecast train`` run folder."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from gatecast.errors import GatecastError
from gatecast.experiment.registry import label
from gatecast.experiment.report.facts import (
    closing_facts,
    data_facts,
    data_title,
    row_label,
    run_notes,
)
from gatecast.experiment.report.figures import panel
from gatecast.experiment.report.files import read_csv, read_json, source_files
from gatecast.experiment.report.formatting import count, day
from gatecast.experiment.report.page import Panel, Report, Table
from gatecast.experiment.report.rerun import shell, train_command
from gatecast.experiment.report.verdict import LEVEL


def train_report(folder: Path, figures: bool) -> Report:
    """The page of a ``gatecast train`` run: the test metrics, the tests against each baseline,
    the forecast, the loss per epoch and the gates of the last test window."""
    metrics = read_json(folder, "metrics.json")
    config = read_json(folder, "config.json")
    manifest = read_json(folder, "manifest.json")
    cell = str(config.get("cell") or "lstm")
    model = cell if cell in metrics["models"] else next(iter(metrics["models"]))
    target = _target_words(config, metrics)
    data, data_note = data_facts(
        str(config["data"]),
        sort=bool(config.get("sort")),
        dropna=bool(config.get("dropna")),
        dayfirst=config.get("dayfirst"),
        date_format=config.get("date_format"),
    )
    train_range = manifest.get("train_range") or ["?", "?"]
    facts = [
        (
            "Run",
            f"gatecast train: {label(model)}, {config.get('layers')} layer(s) x "
            f"{config.get('hidden')} units, window {config.get('window')}, "
            f"{config.get('mode', 'window')} mode, seed {config.get('seed')}; target {target}",
        ),
        ("Data", data),
        (
            "Training targets",
            f"{day(train_range[0])} .. {day(train_range[-1])}"
            + ("; then the validation tail" if float(config.get("val_size") or 0) > 0 else ""),
        ),
        (
            "Test",
            f"{day(metrics['test_start'])} .. {day(metrics['test_end'])}, "
            f"{count(metrics['n_test'])} forecasts",
        ),
        *closing_facts(folder, manifest.get("versions")),
    ]
    table = pd.DataFrame(metrics["models"]).T
    table.index = [row_label(str(m), metrics) for m in table.index]
    tests = pd.DataFrame(
        {
            label(str(t["baseline"])): {
                "loss": t["loss"],
                "model_loss": t["model_loss"],
                "baseline_loss": t["baseline_loss"],
                "dm_stat": t["statistic"],
                "p_value": t["p_value"],
                "n": float(t["n"]),
                "beats": "yes" if t["beats"] else "no",
            }
            for t in metrics.get("tests", {}).values()
        }
    ).T
    tables = [
        Table(f"Test-period metrics ({count(metrics['n_test'])} forecasts)", table),
        Table(
            f"{label(model)} against each baseline",
            tests,
            f"Diebold-Mariano test (Harvey-Leybourne-Newbold correction) on per-date losses; "
            f"negative dm_stat: lower loss than the baseline; beats: lower loss and "
            f"p < {LEVEL:g}. Bold: p < {LEVEL:g} with a negative dm_stat (significantly lower "
            "loss; a significantly higher one is not bold).",
        ),
    ]
    notes = run_notes(metrics, data_note, "NaN prices were dropped (--dropna).")
    panels: list[Panel] = []
    if figures:
        from gatecast.plots.forecasts import forecast_figure, loss_figure

        fc = read_csv(folder, "forecasts.csv")
        lines = {label(model): fc["forecast"]}
        baseline = _no_change_line(str(metrics["target"]), fc["actual"], int(config["horizon"]))
        if baseline is not None:
            lines[label("no_change")] = baseline
        shown = min(250, len(fc))
        panels.append(
            panel(
                "fig-forecast",
                "forecast.png",
                lambda: forecast_figure(
                    fc["actual"],
                    lines,
                    title=f"{label(model)} forecast of the {target} of {config['data']} "
                    "(test period)",
                ),
                f"Line chart: the actual {target} (solid grey) and the forecasts of "
                f"{', '.join(lines)} over the last {shown} test days, "
                f"{day(fc.index[-shown])} to {day(fc.index[-1])}.",
                f"Forecasts against the actual {target} over the last {shown} test days.",
            )
        )
        history = read_json(folder, "loss.json").get("history", {})
        panels.append(
            panel(
                "fig-loss",
                "loss.png",
                lambda: loss_figure({label(model): history}),
                f"Line chart, log scale: training and validation loss of {label(model)} per "
                f"epoch over {len(history.get('train_loss', []))} epochs.",
                "Training loss (line) and validation loss (line with open circles) per epoch.",
            )
        )
        panels += _gate_panels(folder, config, metrics, notes)
    return Report(
        kind="train",
        title=f"{data_title(config['data'])}, train: {label(model)} forecast of the {target}"
        + (f" ({metrics['column']})" if metrics.get("column") else "")
        + f", test {day(metrics['test_start'])} .. {day(metrics['test_end'])}",
        verdict=str(metrics.get("verdict", "")),
        facts=facts,
        command=shell(train_command(config)),
        tables=tables,
        panels=panels,
        notes=[n for n in notes if n],
        sources=source_files(folder),
    )


def _gate_panels(
    folder: Path, config: Mapping[str, Any], metrics: Mapping[str, Any], notes: list[str]
) -> list[Panel]:
    """The gates of every unit of the top layer, and the carried state, over the last test
    window, computed by the NumPy engine from the saved model (what ``gatecast gates`` draws)."""
    from gatecast.data.sources import load
    from gatecast.plots.cells import cell_state_plot, gate_heatmaps
    from gatecast.serve import load_numpy

    try:
        model = load_numpy(folder)
        data = load(
            str(config["data"]),
            column=model.column,
            sort=bool(config.get("sort")),
            dropna=bool(config.get("dropna")),
            dayfirst=config.get("dayfirst"),
            date_format=config.get("date_format"),
            allow_outliers=bool(config.get("allow_outliers")),
        )
        gates = model.gates(data, day(metrics["test_end"]))
    except (GatecastError, OSError) as exc:
        notes.append(f"The gate panel is left out: {type(exc).__name__}: {exc}")
        return []
    record = gates.record
    cell = record.cell.upper()
    layers = int(record.values["h"].shape[0])
    days = [day(d) for d in gates.dates]
    when = (
        f"the {len(days)} input days {days[0]} to {days[-1]} behind the forecast for "
        f"{day(gates.target_date)} ({gates.forecast:.4g})"
    )
    where = f"layer {layers} of {layers}"
    state = "cell state c" if record.cell == "lstm" else "hidden state h"
    gate_names = ", ".join(n for n in record.values if n not in ("c", "h"))
    return [
        panel(
            "fig-gates",
            "",
            lambda: gate_heatmaps(
                record, layer=-1, time_labels=days, title=f"{cell} gates, {where}"
            ),
            f"Heatmaps, one per gate ({gate_names}) and the hidden state h, units by day, "
            f"for {when}; {where}.",
            f"{cell} gates of the last test window, {where}: {when}. Sigmoid gates run from 0 "
            "(closed, dark) to 1 (open, light); tanh quantities from -1 to 1.",
        ),
        panel(
            "fig-state",
            "",
            lambda: cell_state_plot(
                record, layer=-1, time_labels=days, title=f"{cell} {state}, {where}"
            ),
            f"Line chart: the {state} of each unit over {when}.",
            f"The {state} of each unit over the same window ({where}).",
        ),
    ]


def _no_change_line(target: str, actual: pd.Series, horizon: int) -> pd.Series | None:
    """The no-change forecast where the test rows alone give it: zero for a return, the price
    ``horizon`` rows back for a price (other targets need the data before the test)."""
    if target == "return":
        zero: pd.Series = pd.Series(0.0, index=actual.index)
        return zero
    if target == "price":
        shifted: pd.Series = actual.shift(horizon)
        return shifted
    return None


def _target_words(config: Mapping[str, Any], metrics: Mapping[str, Any]) -> str:
    target = str(config.get("target", metrics.get("target")))
    if target == "variance":
        words = f"next-day variance ({config.get('proxy', 'squared')} proxy)"
    elif target == "return":
        words = f"{'log' if config.get('log', True) else 'simple'} return"
    elif target == "price":
        words = "price (anchored)" if config.get("anchored", True) else "price level"
    else:
        words = "direction (up or down)"
    horizon = int(config.get("horizon", 1))
    return words + (f" {horizon} steps ahead" if horizon > 1 else "")
