"""The page of a ``gatecast demo`` run folder."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gatecast.artifacts import array_hash
from gatecast.experiment.registry import label
from gatecast.experiment.report.facts import closing_facts, data_facts, data_title
from gatecast.experiment.report.figures import panel
from gatecast.experiment.report.files import read_csv, read_json, source_files
from gatecast.experiment.report.formatting import day
from gatecast.experiment.report.page import CLOCK_COLUMNS, Panel, Report, Table
from gatecast.experiment.report.rerun import RERUN_OUT, shell
from gatecast.experiment.report.verdict import LEVEL
from gatecast.experiment.run_folder import RunFolder

#: The demo's files that hold what its figures draw (written by :func:`keep_demo_series`).
DEMO_SERIES = ("notebook_forecasts.csv", "sp500_forecasts.csv", "sp500_loss.json")


def keep_demo_series(folder: RunFolder, series: Mapping[str, Mapping[str, Any]]) -> None:
    """Write the demo's forecasts and loss histories (held in memory only) into its folder."""
    nb, sp = series["notebook"], series["sp500"]
    notebook = pd.DataFrame(
        {"actual": nb["actual"], **nb["forecasts"], "no_change": nb["no_change"]}
    )
    notebook.index.name = "date"
    folder.write_csv("notebook_forecasts.csv", notebook)
    sp500 = pd.DataFrame({"actual": sp["actual"], **sp["forecasts"]})
    sp500.index.name = "date"
    folder.write_csv("sp500_forecasts.csv", sp500)
    folder.write_json("sp500_loss.json", {k: dict(v) for k, v in sp["histories"].items()})


def demo_report(folder: Path, figures: bool) -> Report:
    """The page of a ``gatecast demo`` run: the notebook's random walk, then RNN, LSTM and GRU
    on the S&P 500."""
    from gatecast.data.synthetic import random_walk

    metrics = read_json(folder, "metrics.json")
    labels = {str(k): str(v) for k, v in metrics.get("labels", {}).items()}
    quick, seed = bool(metrics.get("quick")), int(metrics.get("seed", 0))
    sp_data, data_note = data_facts("sp500")
    walk = random_walk(1000, seed=42)
    walk_hash = array_hash(walk.to_numpy(dtype=float), np.asarray(walk.index.astype("int64")))
    test_start = str(metrics.get("sp500_test_start", "2015-01-01"))
    facts = [
        (
            "Run",
            f"gatecast demo{' --quick' if quick else ''}, seed {seed}: the course notebook's "
            "2 x 50 LSTM on a random walk (price target), then RNN, LSTM and GRU (2 x 50, "
            "window 20) on S&P 500 daily log returns",
        ),
        (
            "Data",
            f"random_walk(1000, seed=42): the notebook's walk, 2% daily noise, "
            f"{day(walk.index[0])} .. {day(walk.index[-1])}, sha256 {walk_hash}; {sp_data}",
        ),
        (
            "Test",
            f"random walk: the last 20% (200 days); S&P 500: from {test_start}"
            + (" (quick: trained on 2009-2014 only)" if quick else ""),
        ),
        *closing_facts(folder),
    ]
    clock = "train_s (training seconds) is in the CSV files, not here: it differs on every run."
    nb = read_csv(folder, "notebook.csv", index="model")
    sp = read_csv(folder, "sp500.csv", index="model")
    tables = [
        Table(
            "1. The course notebook's random walk: price forecasts of a 2 x 50 LSTM",
            _relabel(nb.drop(columns=list(CLOCK_COLUMNS), errors="ignore"), labels),
            "Theil U > 1: worse than repeating yesterday's price. The min-max level model "
            "saturates once prices leave the training range; the anchored one cannot. " + clock,
        ),
        Table(
            f"2. S&P 500 daily log returns, test from {test_start}",
            _relabel(sp.drop(columns=list(CLOCK_COLUMNS), errors="ignore"), labels),
            "theil_u < 1 beats the zero-return forecast; oos_r2 > 0 beats the training mean; "
            "dm_p_no_change: Diebold-Mariano (HLN) p-value against the zero-return forecast. "
            f"Bold: p < {LEVEL:g} with theil_u < 1 (significantly better, never worse). " + clock,
        ),
    ]
    notes = [str(v) for k, v in metrics.get("verdicts", {}).items() if k != "lstm"] + [data_note]
    panels: list[Panel] = []
    if figures:
        panels = _demo_panels(folder, sp, labels)
    return Report(
        kind="demo",
        title=f"{data_title('sp500')} and a random walk, demo: the course notebook done "
        "honestly, then RNN vs LSTM vs GRU",
        verdict=str(metrics.get("verdict", "")),
        facts=facts,
        command=shell(
            ["gatecast", "demo", *(["--quick"] * quick), "--seed", str(seed), "--out", RERUN_OUT]
        ),
        tables=tables,
        panels=panels,
        notes=[n for n in notes if n],
        sources=source_files(folder),
    )


def _demo_panels(folder: Path, sp_table: pd.DataFrame, labels: Mapping[str, str]) -> list[Panel]:
    from gatecast.plots.forecasts import comparison_figure, forecast_figure, loss_figure

    panels = []
    if (folder / "notebook_forecasts.csv").is_file():
        nb = read_csv(folder, "notebook_forecasts.csv")
        lines = {labels.get(str(c), str(c)): nb[c] for c in nb.columns if c != "actual"}
        panels.append(
            panel(
                "fig-notebook-forecast",
                "notebook_forecast.png",
                lambda: forecast_figure(
                    nb["actual"],
                    lines,
                    last=None,
                    title="Notebook random walk: LSTM price forecasts vs yesterday's price",
                ),
                f"Line chart: the random walk's actual price (solid grey) over its "
                f"{len(nb)} test days and the price forecasts of {'; '.join(lines)}.",
                "The notebook's random walk: each LSTM recipe's price forecasts against the "
                "actual price and yesterday's price.",
            )
        )
    if (folder / "sp500_forecasts.csv").is_file():
        sp = read_csv(folder, "sp500_forecasts.csv")
        lines = {labels.get(str(c), str(c)): sp[c] for c in sp.columns if c != "actual"}
        shown = min(120, len(sp))
        panels.append(
            panel(
                "fig-sp500-forecast",
                "sp500_forecast.png",
                lambda: forecast_figure(
                    sp["actual"],
                    lines,
                    last=shown,
                    title=f"S&P 500 daily log return: forecasts vs actual (last {shown} test days)",
                ),
                f"Line chart: the S&P 500's actual daily log return (solid grey) and the "
                f"forecasts of {', '.join(lines)} over the last {shown} test days, "
                f"{day(sp.index[-shown])} to {day(sp.index[-1])}.",
                f"S&P 500: forecasts against the actual return, last {shown} test days. The "
                "forecasts hug zero: the nets learn little beyond the mean.",
            )
        )
    if (folder / "sp500_loss.json").is_file():
        histories = {labels.get(k, k): v for k, v in read_json(folder, "sp500_loss.json").items()}
        panels.append(
            panel(
                "fig-sp500-loss",
                "sp500_loss.png",
                lambda: loss_figure(histories),
                f"Line chart, log scale: training and validation loss per epoch of "
                f"{', '.join(histories)} on the S&P 500.",
                "Training loss (line) and validation loss (line with open circles) per epoch "
                "on the S&P 500.",
            )
        )
    if "theil_u" in sp_table:
        panels.append(
            panel(
                "fig-sp500-comparison",
                "sp500_comparison.png",
                lambda: comparison_figure(sp_table),
                "Bar chart: each model's test RMSE relative to the no-change forecast in "
                "percent, 100 (U - 1); "
                + "; ".join(
                    f"{m} {100 * (float(u) - 1):+.2f}" for m, u in sp_table["theil_u"].items()
                )
                + ".",
                "Test-period RMSE relative to the zero-return forecast (below 0 = better); "
                "baselines grey and hatched.",
            )
        )
    return panels


def _relabel(frame: pd.DataFrame, labels: Mapping[str, str]) -> pd.DataFrame:
    out: pd.DataFrame = frame.copy()
    out.index = pd.Index([labels.get(str(i), label(str(i))) for i in frame.index])
    return out
