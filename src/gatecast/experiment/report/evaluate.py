"""The page of a ``gatecast evaluate`` run folder."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd

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
from gatecast.experiment.report.formatting import count, day, num, p_value
from gatecast.experiment.report.page import Panel, Report, Table
from gatecast.experiment.report.rerun import evaluate_command
from gatecast.experiment.report.verdict import LEVEL

if TYPE_CHECKING:
    from gatecast.evaluation.losses import LossName


def evaluation_report(folder: Path, figures: bool) -> Report:
    """The page of a ``gatecast evaluate`` run: the leaderboard with its tests and model
    confidence set, the forecasts and the cumulative loss against the reference."""
    metrics = read_json(folder, "metrics.json")
    cfg = metrics["config"]
    board = read_csv(folder, "leaderboard.csv", index="model")
    primary = str(metrics["primary_loss"])
    reference, best = str(metrics["reference"]), str(metrics["best_baseline"])
    variance = cfg["target"] == "variance"
    target = f"variance ({cfg['proxy']} proxy)" if variance else str(cfg["target"])
    data, data_note = data_facts(
        str(cfg["data"]),
        sort=bool(cfg.get("sort")),
        dropna=False,  # evaluate drops NaN rows after reading (reported below)
        dayfirst=cfg.get("dayfirst"),
        date_format=cfg.get("date_format"),
    )
    models = [str(m) for m in cfg["models"]]
    facts = [
        (
            "Run",
            f"gatecast evaluate: walk-forward of {len(models)} models "
            f"({', '.join(label(m) for m in models)}) on the {target}; {cfg['scheme']} "
            f"training window, refit every {cfg['refit_every']} days"
            + (f", {cfg['seeds']} seeds per recurrent model" if cfg["seeds"] > 1 else ""),
        ),
        ("Data", data),
        (
            "Test",
            f"{day(metrics['first_date'])} .. {day(metrics['last_date'])}, "
            f"{count(metrics['n_dates'])} days, {metrics['n_folds']} refits",
        ),
        *closing_facts(folder),
    ]
    shown = board.copy()
    shown["in_mcs"] = shown["in_mcs"].map({True: "yes", False: "no"})
    shown = shown.dropna(axis=1, how="all")
    if "seeds" in shown and (shown["seeds"] == 1).all():
        shown = shown.drop(columns="seeds")
    shown.index = [row_label(str(m), metrics) for m in shown.index]
    mcs = metrics.get("mcs", {})
    level = 1 - float(mcs.get("size", cfg.get("mcs_size", 0.1)))
    tables = [
        Table(
            f"Leaderboard: mean {primary} over {count(metrics['n_dates'])} test days "
            "(lowest first)",
            shown,
            f"dm_ref / p_ref: Diebold-Mariano (HLN) against {label(reference)}; dm_best / "
            f"p_best: against the best baseline, {label(best)}; negative = lower {primary}. "
            f"in_mcs: in the {level:.0%} model confidence set (stationary bootstrap, block "
            f"length {mcs.get('block_size', '?')}, {mcs.get('reps', '?')} draws). "
            f"Bold: p < {LEVEL:g} on the better side only: a negative dm (lower {primary}), a "
            "positive pt_stat (direction better than chance); significantly worse is not bold.",
        )
    ]
    notes = run_notes(metrics, data_note, "NaN/inf values were dropped.")
    if metrics.get("dates_not_forecast_by_every_model"):
        notes.append(
            f"Scored on the {metrics['n_dates']} dates every model forecasts "
            f"({metrics['dates_not_forecast_by_every_model']} test date(s) left out)."
        )
    if metrics.get("outliers"):
        notes.append(f"{len(metrics['outliers'])} absurd price(s) kept by --allow-outliers.")
    panels: list[Panel] = []
    if figures:
        from gatecast.plots.evaluation import plot_cumulative_loss_difference, plot_forecasts

        fc = pd.read_parquet(folder / "forecasts.parquet")
        actual = fc["actual"].rename("proxy" if variance else "actual")
        drawn = [m for m in board.index if m in fc]
        title = f"{cfg['data']} {cfg['target']}: walk-forward forecasts"
        panels.append(
            panel(
                "fig-forecasts",
                "forecasts.png",
                lambda: plot_forecasts(actual, fc[drawn], log_scale=variance, title=title),
                f"Line chart{', log scale' if variance else ''}: the {actual.name} as grey dots "
                f"and the walk-forward forecasts of {', '.join(label(m) for m in drawn)}, "
                f"{day(fc.index[0])} to {day(fc.index[-1])}.",
                f"Walk-forward forecasts against the {actual.name} over the test period.",
            )
        )
        losses = _per_date_losses(fc, models, primary)
        panels.append(
            panel(
                "fig-cumulative-loss",
                "cumulative_loss.png",
                lambda: plot_cumulative_loss_difference(losses, reference, loss_name=primary),
                f"Line chart: for each model, the running sum of its {primary} minus that of "
                f"{label(reference)}, day by day over the test period; below zero means "
                f"better than {label(reference)} so far.",
                f"Cumulative {primary} difference against {label(reference)}: a steady "
                "downward slope is a consistent edge, a single jump is one lucky day.",
            )
        )
    return Report(
        kind="evaluate",
        title=f"{data_title(cfg['data'])}, evaluate: walk-forward forecasts of the {target}, "
        f"test {day(metrics['first_date'])} .. {day(metrics['last_date'])}",
        verdict=str(metrics.get("verdict") or _evaluation_verdict(board, metrics)),
        facts=facts,
        command=evaluate_command(cfg),
        tables=tables,
        panels=panels,
        notes=[n for n in notes if n],
        sources=source_files(folder),
    )


def _per_date_losses(fc: pd.DataFrame, models: Sequence[str], primary: str) -> pd.DataFrame:
    """Each model's ``primary`` loss per date, averaged over its seeds, from the stored
    forecasts (the per-date losses behind the leaderboard's mean)."""
    from gatecast.evaluation.losses import loss_series

    loss = cast("LossName", "mse" if primary == "brier" else primary)
    actual = fc["actual"].to_numpy()
    out = {}
    for m in models:
        keys = [c for c in fc.columns if str(c).startswith(f"{m}[s")] or [m]
        out[m] = np.mean([loss_series(loss, actual, fc[k].to_numpy()) for k in keys], axis=0)
    losses: pd.DataFrame = pd.DataFrame(out, index=fc.index)
    return losses


def _evaluation_verdict(board: pd.DataFrame, metrics: Mapping[str, Any]) -> str:
    """E.g. "No model beats GARCH(1,1) on qlike (DM p > 0.05 for each); the 90% model
    confidence set holds GJR-GARCH(1,1)-t, GARCH(1,1)."."""
    primary, reference = str(metrics["primary_loss"]), str(metrics["reference"])
    ref = label(reference)
    rivals = board.drop(index=reference, errors="ignore")
    wins = rivals[(rivals[primary] < board.loc[reference, primary]) & (rivals["p_ref"] < LEVEL)]
    if len(wins):
        m = str(wins.index[0])
        text = (
            f"{label(m)} beats {ref} on {primary}: {num(board.loc[m, primary])} vs "
            f"{num(board.loc[reference, primary])}, DM p = {p_value(board.loc[m, 'p_ref'])}"
        )
        if len(wins) > 1:
            text += f" (so do {', '.join(label(str(w)) for w in wins.index[1:])})"
    else:
        text = f"No model beats {ref} on {primary} (DM p > {LEVEL:g} for each)"
        lower = rivals[rivals[primary] < board.loc[reference, primary]]
        if len(lower):
            m = str(lower.index[0])
            text += (
                f"; {label(m)} has a lower mean ({num(board.loc[m, primary])} vs "
                f"{num(board.loc[reference, primary])}) but DM p = {p_value(board.loc[m, 'p_ref'])}"
            )
    held = [label(str(m)) for m in board.index[board["in_mcs"].astype(bool)]]
    size = float(metrics.get("mcs", {}).get("size", 0.1))
    return f"{text}. The {1 - size:.0%} model confidence set holds {', '.join(held)}."
