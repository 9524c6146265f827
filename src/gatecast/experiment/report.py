"""One page per run: ``report.html``, written from the files of a run folder (plain HTML and CSS,
figures as inline SVG, no script, nothing fetched from anywhere).

The page is a second rendering of the files the run wrote (``metrics.json``, ``leaderboard.csv``,
``forecasts.*``, ``loss.json`` ...), never of numbers held only in memory, so that
``gatecast report RUN_DIR`` writes the same page again later. The same run with the same seed
gives the same bytes: no clock time, no run-folder path, and matplotlib's SVG made reproducible
(:func:`gatecast.plots.svg.figure_svg`).
"""

from __future__ import annotations

import base64
import html
import json
import math
import platform
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np
import pandas as pd

from gatecast.artifacts import array_hash
from gatecast.errors import ConfigError, GatecastError, ReportError
from gatecast.experiment.applies import unused_settings
from gatecast.experiment.formatting import column_format, format_cell
from gatecast.experiment.registry import label
from gatecast.experiment.run_folder import Run, RunFolder
from gatecast.experiment.verdict import LEVEL

if TYPE_CHECKING:
    from gatecast.evaluation.losses import LossName

__all__ = ["REPORT_FILE", "Report", "build_report", "write_report"]

#: The page's name in every run folder.
REPORT_FILE = "report.html"
#: The ``--out`` of the command line that reruns a run (a new folder, not the old one).
RERUN_OUT = "runs/rerun"
#: Packages whose versions the header lists (besides Python and gatecast).
PACKAGES = ("numpy", "pandas", "torch", "arch", "statsmodels", "scipy", "matplotlib")
#: Columns holding test p-values: a value below LEVEL is set in bold.
P_VALUE_COLUMNS = ("p_ref", "p_best", "pt_p", "p_value", "dm_p_no_change")
#: Wall-clock columns: they differ on every run, so the page leaves them to the CSV files.
CLOCK_COLUMNS = ("train_s", "seconds")

RunKind = Literal["train", "evaluate", "demo", "run"]


@dataclass
class Table:
    """One table of the page: ``frame``'s index labels the rows; numbers as the console prints them."""

    title: str
    frame: pd.DataFrame
    note: str = ""


@dataclass
class Panel:
    """One figure of the page: an ``<svg>`` (or, for a PNG the report cannot redraw, an
    ``<img>`` with the PNG inline), its caption, and the PNG of the run it renders."""

    id: str
    caption: str
    body: str
    source: str = ""


@dataclass
class Report:
    """Everything on the page; :meth:`to_html` renders it."""

    kind: str
    title: str
    verdict: str
    facts: list[tuple[str, str]]
    command: str
    tables: list[Table] = field(default_factory=list)
    panels: list[Panel] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)

    def to_html(self) -> str:
        """The whole page, as one string."""
        parts = [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            '<meta name="generator" content="gatecast">',
            f"<title>{_e(self.title)}</title>",
            f"<style>{CSS}</style>",
            "</head>",
            "<body>",
            "<header>",
            f'<p class="kind">gatecast {_e(self.kind)}</p>',
            f"<h1>{_e(self.title)}</h1>",
            f'<p class="verdict">{_e(self.verdict)}</p>' if self.verdict else "",
            '<dl class="facts">',
            *(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in self.facts),
            f"<dt>Reproduce</dt><dd><pre>{_e(self.command)}</pre></dd>",
            "</dl>",
            "</header>",
            "<main>",
        ]
        if self.tables:
            parts.append('<section id="results"><h2>Results</h2>')
            parts += [_table_html(t) for t in self.tables]
            parts.append("</section>")
        if self.panels:
            parts.append('<section id="figures"><h2>Figures</h2>')
            for p in self.panels:
                source = f' data-source="{_e(p.source)}"' if p.source else ""
                parts.append(
                    f'<figure id="{_e(p.id)}"{source}>{p.body}'
                    f"<figcaption>{_e(p.caption)}</figcaption></figure>"
                )
            parts.append("</section>")
        if self.notes:
            parts.append('<section id="notes"><h2>Notes</h2><ul>')
            parts += [f"<li>{_e(n)}</li>" for n in self.notes]
            parts.append("</ul></section>")
        parts += [
            "</main>",
            "<footer><p>",
            f"Written by gatecast {_e(_version('gatecast'))} from this run folder's files "
            f"({_e(', '.join(self.sources))}). A single file of HTML and CSS with SVG figures: "
            "no script, nothing loaded from elsewhere; it prints as it shows.",
            "</p></footer>",
            "</body>",
            "</html>",
        ]
        return "\n".join(p for p in parts if p) + "\n"


def write_report(
    run_dir: str | Path,
    *,
    figures: bool = True,
    series: Mapping[str, Mapping[str, Any]] | None = None,
) -> Path:
    """Write ``report.html`` into a run folder of ``gatecast train``, ``evaluate`` or ``demo``
    (another folder with a ``metrics.json`` gets a page of its tables and PNGs).

    Parameters
    ----------
    run_dir : path
        The run folder; the page is drawn from its files only.
    figures : bool
        Draw the figures (``False``: tables and facts only, as a run without plots).
    series : mapping, optional
        The demo's forecasts and loss histories (``{"notebook": ..., "sp500": ...}`` as
        ``run_demo`` holds them), which it keeps in memory only: they are written beside its
        tables first (``notebook_forecasts.csv``, ``sp500_forecasts.csv``, ``sp500_loss.json``)
        so that the page, and ``gatecast report`` later, draw them from files.

    Returns
    -------
    Path
        Of ``report.html``.

    Raises
    ------
    ReportError
        The folder is not a run folder, or the page could not be drawn; the message says which
        file or step and why.

    Examples
    --------
    >>> write_report("runs/lstm")  # doctest: +SKIP
    PosixPath('runs/lstm/report.html')
    """
    folder = RunFolder(run_dir)
    if not folder.path.is_dir():
        raise ReportError(
            f"{folder.path} is not a folder; give the run folder of gatecast train, evaluate "
            "or demo (the one holding metrics.json)"
        )
    try:
        if series is not None:
            _keep_demo_series(folder, series)
        page = build_report(folder.path, figures=figures).to_html()
        return folder.write_text(REPORT_FILE, page)
    except ReportError:
        raise
    except (GatecastError, OSError, ValueError, KeyError, TypeError) as exc:
        raise ReportError(
            f"could not write {REPORT_FILE} in {folder.path}: {type(exc).__name__}: {exc}. The "
            f"run's own files are not changed by this; fix the cause and run "
            f"`gatecast report {folder.path}` to write the page"
        ) from exc


def build_report(run_dir: str | Path, *, figures: bool = True) -> Report:
    """The :class:`Report` of a run folder (nothing written)."""
    folder = Path(run_dir)
    kind = run_kind(folder)
    builder: dict[RunKind, Callable[[Path, bool], Report]] = {
        "train": _train_report,
        "evaluate": _evaluation_report,
        "demo": _demo_report,
        "run": _generic_report,
    }
    report = builder[kind](folder, figures)
    if figures:
        report.panels += _unmatched_pngs(folder, report.panels)
    return report


def run_kind(folder: Path) -> RunKind:
    """The page a run folder gets: that of the command that wrote it (:meth:`Run.open` reads
    that from ``run.json``), or the generic page of tables and figures."""
    has = {p.name for p in folder.iterdir()} if folder.is_dir() else set()
    try:
        kind = Run.open(folder).kind
    except ConfigError:
        kind = None
    if kind in ("train", "evaluate", "demo"):
        return kind
    if kind is not None or any(name.endswith(".json") for name in has):
        return "run"
    raise ReportError(
        f"{folder} holds no run: no metrics.json or other JSON of a run (it has "
        f"{', '.join(sorted(has)) or 'nothing'}); give a folder written by gatecast train, "
        "evaluate or demo"
    )


# -- gatecast train -------------------------------------------------------------------------------
def _train_report(folder: Path, figures: bool) -> Report:
    metrics = _read_json(folder, "metrics.json")
    config = _read_json(folder, "config.json")
    manifest = _read_json(folder, "manifest.json")
    cell = str(config.get("cell") or "lstm")
    model = cell if cell in metrics["models"] else next(iter(metrics["models"]))
    target = _target_words(config, metrics)
    data, data_note = _data_facts(
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
            f"{_day(train_range[0])} .. {_day(train_range[-1])}"
            + ("; then the validation tail" if float(config.get("val_size") or 0) > 0 else ""),
        ),
        (
            "Test",
            f"{_day(metrics['test_start'])} .. {_day(metrics['test_end'])}, "
            f"{_count(metrics['n_test'])} forecasts",
        ),
        ("Versions", _versions(manifest.get("versions") or {})),
    ]
    table = pd.DataFrame(metrics["models"]).T
    table.index = [_row_label(str(m), metrics) for m in table.index]
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
        Table(f"Test-period metrics ({_count(metrics['n_test'])} forecasts)", table),
        Table(
            f"{label(model)} against each baseline",
            tests,
            f"Diebold-Mariano test (Harvey-Leybourne-Newbold correction) on per-date losses; "
            f"negative dm_stat: lower loss than the baseline; beats: lower loss and "
            f"p < {LEVEL:g}. Bold: p < {LEVEL:g}.",
        ),
    ]
    notes = [str(n) for n in metrics.get("notes", [])] + [data_note]
    if metrics.get("dropped_rows"):
        notes.append(f"{metrics['dropped_rows']} row(s) with NaN prices were dropped (--dropna).")
    panels: list[Panel] = []
    if figures:
        from gatecast.plots.forecasts import forecast_figure, loss_figure

        fc = _read_csv(folder, "forecasts.csv")
        lines = {label(model): fc["forecast"]}
        baseline = _no_change_line(str(metrics["target"]), fc["actual"], int(config["horizon"]))
        if baseline is not None:
            lines[label("no_change")] = baseline
        shown = min(250, len(fc))
        panels.append(
            _panel(
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
                f"{_day(fc.index[-shown])} to {_day(fc.index[-1])}.",
                f"Forecasts against the actual {target} over the last {shown} test days.",
            )
        )
        history = _read_json(folder, "loss.json").get("history", {})
        panels.append(
            _panel(
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
        title=f"{label(model)} forecast of the {target} of {config['data']}"
        + (f" ({metrics['column']})" if metrics.get("column") else ""),
        verdict=str(metrics.get("verdict", "")),
        facts=facts,
        command=_shell(train_command(config)),
        tables=tables,
        panels=panels,
        notes=[n for n in notes if n],
        sources=_sources(folder),
    )


def train_command(config: Mapping[str, Any], out: str = RERUN_OUT) -> list[str]:
    """The ``gatecast train`` command line that repeats a run, from its ``config.json``: every
    setting that shapes the result spelled out (defaults included, so that a later change of a
    default does not change the rerun)."""
    args = ["gatecast", "train"]
    variance = config.get("target") == "variance"
    for key, value in config.items():
        if value is None or key == "quiet":
            continue
        if key in ("proxy", "train_proxy") and not variance:
            continue
        if key in ("chunks", "chunk_len", "burn_in") and config.get("mode") != "sequence":
            continue  # sequence mode's lanes: a window model has none
        if key == "log":
            args += [] if value else ["--simple"]
        elif key == "anchored":
            if config.get("target") == "price":
                args.append("--anchored" if value else "--no-anchored")
        elif isinstance(value, bool):
            args += [_option(key)] if value else []
        else:
            args += [_option(key), _plain(value)]
    return [*args, "--out", out]


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
        gates = model.gates(data, _day(metrics["test_end"]))
    except (GatecastError, OSError) as exc:
        notes.append(f"The gate panel is left out: {type(exc).__name__}: {exc}")
        return []
    record = gates.record
    cell = record.cell.upper()
    layers = int(record.values["h"].shape[0])
    days = [_day(d) for d in gates.dates]
    when = (
        f"the {len(days)} input days {days[0]} to {days[-1]} behind the forecast for "
        f"{_day(gates.target_date)} ({gates.forecast:.4g})"
    )
    where = f"layer {layers} of {layers}"
    state = "cell state c" if record.cell == "lstm" else "hidden state h"
    gate_names = ", ".join(n for n in record.values if n not in ("c", "h"))
    return [
        _panel(
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
        _panel(
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


# -- gatecast evaluate ----------------------------------------------------------------------------
def _evaluation_report(folder: Path, figures: bool) -> Report:
    metrics = _read_json(folder, "metrics.json")
    cfg = metrics["config"]
    board = _read_csv(folder, "leaderboard.csv", index="model")
    primary = str(metrics["primary_loss"])
    reference, best = str(metrics["reference"]), str(metrics["best_baseline"])
    variance = cfg["target"] == "variance"
    target = f"variance ({cfg['proxy']} proxy)" if variance else str(cfg["target"])
    data, data_note = _data_facts(
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
            f"{_day(metrics['first_date'])} .. {_day(metrics['last_date'])}, "
            f"{_count(metrics['n_dates'])} days, {metrics['n_folds']} refits",
        ),
        ("Versions", _versions({})),
    ]
    shown = board.copy()
    shown["in_mcs"] = shown["in_mcs"].map({True: "yes", False: "no"})
    shown = shown.dropna(axis=1, how="all")
    if "seeds" in shown and (shown["seeds"] == 1).all():
        shown = shown.drop(columns="seeds")
    shown.index = [_row_label(str(m), metrics) for m in shown.index]
    mcs = metrics.get("mcs", {})
    level = 1 - float(mcs.get("size", cfg.get("mcs_size", 0.1)))
    tables = [
        Table(
            f"Leaderboard: mean {primary} over {_count(metrics['n_dates'])} test days "
            "(lowest first)",
            shown,
            f"dm_ref / p_ref: Diebold-Mariano (HLN) against {label(reference)}; dm_best / "
            f"p_best: against the best baseline, {label(best)}; negative = lower {primary}. "
            f"in_mcs: in the {level:.0%} model confidence set (stationary bootstrap, block "
            f"length {mcs.get('block_size', '?')}, {mcs.get('reps', '?')} draws). "
            f"Bold: p < {LEVEL:g}.",
        )
    ]
    notes = [str(n) for n in metrics.get("notes", [])] + [data_note]
    if metrics.get("dropped_rows"):
        notes.append(f"{metrics['dropped_rows']} row(s) with NaN/inf values were dropped.")
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
            _panel(
                "fig-forecasts",
                "forecasts.png",
                lambda: plot_forecasts(actual, fc[drawn], log_scale=variance, title=title),
                f"Line chart{', log scale' if variance else ''}: the {actual.name} as grey dots "
                f"and the walk-forward forecasts of {', '.join(label(m) for m in drawn)}, "
                f"{_day(fc.index[0])} to {_day(fc.index[-1])}.",
                f"Walk-forward forecasts against the {actual.name} over the test period.",
            )
        )
        losses = _per_date_losses(fc, models, primary)
        panels.append(
            _panel(
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
        title=f"Walk-forward evaluation of the {target} of {cfg['data']}",
        verdict=str(metrics.get("verdict") or _evaluation_verdict(board, metrics)),
        facts=facts,
        command=evaluate_command(cfg),
        tables=tables,
        panels=panels,
        notes=[n for n in notes if n],
        sources=_sources(folder),
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
            f"{label(m)} beats {ref} on {primary}: {_num(board.loc[m, primary])} vs "
            f"{_num(board.loc[reference, primary])}, DM p = {_p(board.loc[m, 'p_ref'])}"
        )
        if len(wins) > 1:
            text += f" (so do {', '.join(label(str(w)) for w in wins.index[1:])})"
    else:
        text = f"No model beats {ref} on {primary} (DM p > {LEVEL:g} for each)"
        lower = rivals[rivals[primary] < board.loc[reference, primary]]
        if len(lower):
            m = str(lower.index[0])
            text += (
                f"; {label(m)} has a lower mean ({_num(board.loc[m, primary])} vs "
                f"{_num(board.loc[reference, primary])}) but DM p = {_p(board.loc[m, 'p_ref'])}"
            )
    held = [label(str(m)) for m in board.index[board["in_mcs"].astype(bool)]]
    size = float(metrics.get("mcs", {}).get("size", 0.1))
    return f"{text}. The {1 - size:.0%} model confidence set holds {', '.join(held)}."


def evaluate_command(cfg: Mapping[str, Any], out: str = RERUN_OUT) -> str:
    """The ``gatecast evaluate`` command line of an evaluation's config (``metrics.json``'s
    ``config``); settings that only the Python API takes make it the Python call instead."""
    python_only = {"mcs_size": 0.10, "mcs_block_size": 10, "mcs_reps": 1000, "extra": {}}
    changed = {k: cfg[k] for k, v in python_only.items() if k in cfg and cfg[k] != v}
    skip = {"out", "quiet", "n_jobs", *python_only}
    if changed:
        kept = {k: v for k, v in cfg.items() if k not in ("out", "quiet", "n_jobs")}
        call = ", ".join(f"{k}={_py(v)}" for k, v in kept.items())
        return (
            "from gatecast.experiment.evaluation import EvaluationConfig, evaluate_models\n"
            f"evaluate_models(EvaluationConfig({call}, out={out!r}))"
        )
    args = ["gatecast", "evaluate"]
    skip |= set(unused_settings(cfg, cfg))  # what the run did not use is not repeated
    skip |= {"overwrite", "resume"}
    for key, value in cfg.items():
        if key in skip or value is None:
            continue
        if key == "warm_start":
            args.append("--warm-start" if value else "--no-warm-start")
        elif isinstance(value, bool):
            args += [_option(key)] if value else []
        else:
            args += [_option(key), _plain(value)]
    return _shell([*args, "--out", out])


# -- gatecast demo --------------------------------------------------------------------------------
#: The demo's files that hold what its figures draw (written by :func:`_keep_demo_series`).
DEMO_SERIES = ("notebook_forecasts.csv", "sp500_forecasts.csv", "sp500_loss.json")


def _keep_demo_series(folder: RunFolder, series: Mapping[str, Mapping[str, Any]]) -> None:
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


def _demo_report(folder: Path, figures: bool) -> Report:
    from gatecast.data.synthetic import random_walk

    metrics = _read_json(folder, "metrics.json")
    labels = {str(k): str(v) for k, v in metrics.get("labels", {}).items()}
    quick, seed = bool(metrics.get("quick")), int(metrics.get("seed", 0))
    sp_data, data_note = _data_facts("sp500")
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
            f"{_day(walk.index[0])} .. {_day(walk.index[-1])}, sha256 {walk_hash}; {sp_data}",
        ),
        (
            "Test",
            f"random walk: the last 20% (200 days); S&P 500: from {test_start}"
            + (" (quick: trained on 2009-2014 only)" if quick else ""),
        ),
        ("Versions", _versions({})),
    ]
    clock = "train_s (training seconds) is in the CSV files, not here: it differs on every run."
    nb = _read_csv(folder, "notebook.csv", index="model")
    sp = _read_csv(folder, "sp500.csv", index="model")
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
            f"Bold: p < {LEVEL:g}. " + clock,
        ),
    ]
    notes = [str(v) for k, v in metrics.get("verdicts", {}).items() if k != "lstm"] + [data_note]
    panels: list[Panel] = []
    if figures:
        panels = _demo_panels(folder, sp, labels)
    return Report(
        kind="demo",
        title="The course notebook done honestly, then RNN vs LSTM vs GRU on the S&P 500",
        verdict=str(metrics.get("verdict", "")),
        facts=facts,
        command=_shell(
            ["gatecast", "demo", *(["--quick"] * quick), "--seed", str(seed), "--out", RERUN_OUT]
        ),
        tables=tables,
        panels=panels,
        notes=[n for n in notes if n],
        sources=_sources(folder),
    )


def _demo_panels(folder: Path, sp_table: pd.DataFrame, labels: Mapping[str, str]) -> list[Panel]:
    from gatecast.plots.forecasts import comparison_figure, forecast_figure, loss_figure

    panels = []
    if (folder / "notebook_forecasts.csv").is_file():
        nb = _read_csv(folder, "notebook_forecasts.csv")
        lines = {labels.get(str(c), str(c)): nb[c] for c in nb.columns if c != "actual"}
        panels.append(
            _panel(
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
        sp = _read_csv(folder, "sp500_forecasts.csv")
        lines = {labels.get(str(c), str(c)): sp[c] for c in sp.columns if c != "actual"}
        shown = min(120, len(sp))
        panels.append(
            _panel(
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
                f"{_day(sp.index[-shown])} to {_day(sp.index[-1])}.",
                f"S&P 500: forecasts against the actual return, last {shown} test days. The "
                "forecasts hug zero: the nets learn little beyond the mean.",
            )
        )
    if (folder / "sp500_loss.json").is_file():
        histories = {labels.get(k, k): v for k, v in _read_json(folder, "sp500_loss.json").items()}
        panels.append(
            _panel(
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
            _panel(
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


# -- any other run folder (backtest, ...) ---------------------------------------------------------
#: Files that tell which command wrote a run folder the report has no page of its own for.
MARKERS = {"backtest.csv": "backtest", "var.csv": "var", "sweep.csv": "sweep"}
#: Settings that do not shape a result (where it was written, how it talked).
NOT_SETTINGS = ("out", "quiet", "n_jobs")


def _generic_report(folder: Path, figures: bool) -> Report:
    """Any other run folder (``backtest`` ...): its settings, the first verdict of its JSON
    files, its CSV tables (first 50 rows) and, inline, its PNGs."""
    has = {p.name for p in folder.iterdir()}
    command = next((c for name, c in MARKERS.items() if name in has), "run")
    docs = {p.name: _read_json(folder, p.name) for p in sorted(folder.glob("*.json"))}
    verdict = next((str(d["verdict"]) for d in docs.values() if d.get("verdict")), "")
    config = docs.get("config.json", {})
    tables = [
        Table(p.name, _read_csv(folder, p.name).drop(columns=list(CLOCK_COLUMNS), errors="ignore"))
        for p in sorted(folder.glob("*.csv"))
    ]
    tables = [Table(t.title, t.frame.head(50), t.note) for t in tables]
    settings = ", ".join(f"{k}={_plain(v)}" for k, v in config.items() if k not in NOT_SETTINGS)
    facts = [
        ("Run", f"gatecast {command}" + (f": {settings}" if settings else "")),
        ("Versions", _versions({})),
    ]
    return Report(
        kind=command,
        title=f"gatecast {command}: {', '.join(t.title for t in tables) or 'run folder'}",
        verdict=verdict,
        facts=facts,
        command="(this run folder does not record its command line; see the settings above)",
        tables=tables,
        sources=_sources(folder),
    )


# -- pieces -------------------------------------------------------------------------------------
def _panel(figure_id: str, source: str, draw: Callable[[], Any], alt: str, caption: str) -> Panel:
    from gatecast.plots.svg import figure_svg, report_style

    with report_style():
        fig = draw()
    return Panel(figure_id, caption, figure_svg(fig, figure_id, alt), source)


def _unmatched_pngs(folder: Path, panels: Sequence[Panel]) -> list[Panel]:
    """The run's PNGs that no panel redraws, inline as they are (every figure the run made is
    on the page)."""
    drawn = {p.source for p in panels}
    out = []
    for png in sorted(folder.glob("*.png")):
        if png.name in drawn:
            continue
        data = base64.b64encode(png.read_bytes()).decode("ascii")
        alt = f"Figure {png.name} of this run, as the run drew it."
        out.append(
            Panel(
                f"fig-{png.stem.replace('_', '-')}",
                f"{png.name} (the run's PNG, shown as written).",
                f'<img alt="{_e(alt)}" src="data:image/png;base64,{data}">',
                png.name,
            )
        )
    return out


def _data_facts(name: str, **read: Any) -> tuple[str, str]:
    """ "<name>: <rows> rows, <first> .. <last>, sha256 <hash of prices and dates>" as the run
    read it, and a note when it cannot be read now."""
    from gatecast.data.sources import load

    try:
        df = load(name, **read)
    except (GatecastError, OSError) as exc:
        return name, f"The data {name} could not be read for this page ({exc}); no hash shown."
    digest = array_hash(df.to_numpy(dtype=float), np.asarray(df.index.astype("int64")))
    return (
        f"{name}: {_count(len(df))} rows, {_day(df.index[0])} .. {_day(df.index[-1])}, "
        f"columns {', '.join(map(str, df.columns))}; sha256 of the prices and dates {digest}",
        "",
    )


def _versions(recorded: Mapping[str, Any]) -> str:
    """Python's and the packages' versions (the run's own, from its manifest, where it has them)."""
    found = {"python": platform.python_version(), "gatecast": _version("gatecast")}
    found |= {p: _version(p) for p in PACKAGES}
    found |= {str(k): str(v) for k, v in recorded.items()}
    return ", ".join(f"{k} {v}" for k, v in found.items())


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _read_json(folder: Path, name: str) -> dict[str, Any]:
    path = folder / name
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ReportError(f"{path} is missing; the run folder {folder} is incomplete") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ReportError(f"{path} is not valid JSON ({exc}); was it edited by hand?") from exc
    if not isinstance(loaded, dict):
        raise ReportError(f"{path} holds a {type(loaded).__name__}, not a JSON object")
    return loaded


def _read_csv(folder: Path, name: str, *, index: str | None = None) -> pd.DataFrame:
    frame: pd.DataFrame = pd.read_csv(folder / name)
    key = index or str(frame.columns[0])
    frame = frame.set_index(key)
    if key == "date":
        frame.index = pd.to_datetime(frame.index)
    return frame


def _sources(folder: Path) -> list[str]:
    return sorted(
        p.name
        for p in folder.iterdir()
        if p.is_file() and p.suffix in (".json", ".csv", ".parquet") and not p.name.startswith(".")
    )


def _relabel(frame: pd.DataFrame, labels: Mapping[str, str]) -> pd.DataFrame:
    out: pd.DataFrame = frame.copy()
    out.index = pd.Index([labels.get(str(i), label(str(i))) for i in frame.index])
    return out


def _row_label(name: str, metrics: Mapping[str, Any]) -> str:
    shown = str(metrics.get("labels", {}).get(name) or label(name))
    return shown if shown == name else f"{shown} ({name})"


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


def _table_html(table: Table) -> str:
    frame = table.frame
    columns = [str(c) for c in frame.columns]
    formats = [column_format(c) for c in columns]
    head = "".join(f'<th scope="col">{_e(c)}</th>' for c in ["", *columns])
    rows = []
    for name, row in zip(frame.index, frame.itertuples(index=False), strict=True):
        cells = []
        for col, fmt, value in zip(columns, formats, row, strict=True):
            shown = format_cell(_native(value), fmt)
            bold = col in P_VALUE_COLUMNS and _is_number(value) and float(value) < LEVEL
            cls = ' class="sig"' if bold else ""
            cells.append(f"<td{cls}>{_e(shown)}</td>")
        rows.append(f'<tr><th scope="row">{_e(str(name))}</th>{"".join(cells)}</tr>')
    note = f'<p class="note">{_e(table.note)}</p>' if table.note else ""
    return (
        f'<div class="table"><table><caption>{_e(table.title)}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>{note}</div>"
    )


def _native(value: Any) -> Any:
    """numpy scalars as the Python values the console table gets."""
    if isinstance(value, np.generic):
        return value.item()
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.number)) and not (
        isinstance(value, (bool, np.bool_)) or math.isnan(float(value))
    )


def _option(key: str) -> str:
    return "--" + key.replace("_", "-")


def _plain(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    return str(value)


def _py(value: Any) -> str:
    return repr(tuple(value)) if isinstance(value, list) else repr(value)


def _shell(args: Sequence[str]) -> str:
    """``args`` as a shell command, wrapped before each option once a line is long."""
    lines, line = [], ""
    for i, arg in enumerate(args):
        word = shlex.quote(arg)
        starts_option = arg.startswith("--") and i > 0
        if starts_option and len(line) + len(word) > 80:
            lines.append(line + " \\")
            line = "    " + word
        else:
            line = f"{line} {word}" if line else word
    return "\n".join([*lines, line])


def _day(value: Any) -> str:
    """A date as YYYY-MM-DD (a timestamp string's time of day dropped)."""
    text = str(value)
    return text[:10] if len(text) >= 10 and text[4] == "-" else text


def _count(value: Any) -> str:
    return f"{int(value):,}"


def _num(value: Any) -> str:
    return f"{float(value):.4g}"


def _p(value: Any) -> str:
    p = float(value)
    return f"{p:.2g}" if p < 0.01 else f"{p:.2f}"


def _e(text: str) -> str:
    return html.escape(text, quote=True)


# Plain, printable, readable in greyscale; no web font, no URL.
CSS = """
:root { color-scheme: light; }
body { font: 15px/1.45 "DejaVu Sans", "Segoe UI", Helvetica, Arial, sans-serif; color: #161616;
  background: #fff; max-width: 1180px; margin: 0 auto; padding: 20px 32px 40px; }
.kind { margin: 0; font-size: .85rem; letter-spacing: .06em; text-transform: uppercase;
  color: #444; }
h1 { font-size: 1.55rem; margin: .15rem 0 .6rem; }
h2 { font-size: 1.2rem; margin: 1.8rem 0 .6rem; border-bottom: 2px solid #161616;
  padding-bottom: .15rem; }
.verdict { font-size: 1.2rem; font-weight: 700; margin: .4rem 0 1rem; padding: .55rem .9rem;
  border-left: 6px solid #161616; background: #f2f2f2; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; margin: 0;
  font-size: .9rem; }
dl.facts dt { font-weight: 700; }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
pre { margin: 0; padding: .45rem .7rem; background: #f6f6f6; border: 1px solid #d0d0d0;
  font: .82rem/1.4 "DejaVu Sans Mono", Menlo, Consolas, monospace; white-space: pre-wrap;
  overflow-wrap: anywhere; }
.table { overflow-x: auto; margin: .8rem 0 1.2rem; }
table { border-collapse: collapse; font-size: .88rem; font-variant-numeric: tabular-nums; }
caption { text-align: left; font-weight: 700; padding: .2rem 0 .4rem; }
th, td { padding: .28rem .65rem; text-align: right; border-bottom: 1px solid #d0d0d0;
  white-space: nowrap; }
thead th { border-bottom: 2px solid #161616; }
tbody th { text-align: left; font-weight: 600; white-space: normal; min-width: 8rem; }
td.sig { font-weight: 800; text-decoration: underline; }
.note { font-size: .85rem; color: #333; margin: .35rem 0 0; max-width: 60rem; }
figure { margin: 1.4rem 0; break-inside: avoid; }
figure svg, figure img { display: block; max-width: 100%; height: auto; }
figure svg * { stroke-linejoin: round; stroke-linecap: butt; }
figcaption { font-size: .88rem; color: #333; margin-top: .3rem; }
footer { margin-top: 2rem; font-size: .8rem; color: #444; border-top: 1px solid #d0d0d0; }
@media print {
  body { max-width: none; padding: 0; font-size: 10.5pt; }
  .verdict { background: none; }
  h2 { break-after: avoid; }
  .table, figure { break-inside: avoid; }
  .table { overflow: visible; }
}
@page { margin: 14mm; }
"""
