"""Writing ``report.html``: which page a run folder gets, built from its files and written into it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

from gatecast.errors import ConfigError, GatecastError, ReportError, refused_as
from gatecast.experiment.report.demo import demo_report, keep_demo_series
from gatecast.experiment.report.evaluate import evaluation_report
from gatecast.experiment.report.figures import unmatched_pngs
from gatecast.experiment.report.generic import generic_report
from gatecast.experiment.report.page import Report
from gatecast.experiment.report.panel import panel_evaluation_report
from gatecast.experiment.report.panel_backtest import panel_backtest_report
from gatecast.experiment.report.panel_var import panel_var_report
from gatecast.experiment.report.train import train_report
from gatecast.experiment.run_folder import RunFolder
from gatecast.experiment.run_reader import Run

#: The page's name in every run folder.
REPORT_FILE = "report.html"

RunKind = Literal[
    "train", "evaluate", "panel-evaluate", "panel-backtest", "panel-var", "demo", "run"
]
#: The kinds with a page of their own (any other run folder gets the generic page).
_OWN_PAGE = ("train", "evaluate", "panel-evaluate", "panel-backtest", "panel-var", "demo")


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
    with refused_as(
        ReportError,
        (GatecastError, OSError, ValueError, KeyError, TypeError),
        lambda exc: (
            f"could not write {REPORT_FILE} in {folder.path}: {type(exc).__name__}: "
            f"{exc}. The run's own files are not changed by this; fix the cause and run "
            f"`gatecast report {folder.path}` to write the page"
        ),
    ):
        if series is not None:
            keep_demo_series(folder, series)
        page = build_report(folder.path, figures=figures).to_html()
        return folder.write_text(REPORT_FILE, page)


def build_report(run_dir: str | Path, *, figures: bool = True) -> Report:
    """The :class:`Report` of a run folder (nothing written)."""
    folder = Path(run_dir)
    kind = run_kind(folder)
    builder: dict[RunKind, Callable[[Path, bool], Report]] = {
        "train": train_report,
        "evaluate": evaluation_report,
        "panel-evaluate": panel_evaluation_report,
        "panel-backtest": panel_backtest_report,
        "panel-var": panel_var_report,
        "demo": demo_report,
        "run": generic_report,
    }
    report = builder[kind](folder, figures)
    if figures:
        report.panels += unmatched_pngs(folder, report.panels)
    return report


def run_kind(folder: Path) -> RunKind:
    """The page a run folder gets: that of the command that wrote it (:meth:`Run.open` reads
    that from ``run.json``), or the generic page of tables and figures."""
    has = {p.name for p in folder.iterdir()} if folder.is_dir() else set()
    try:
        kind = Run.open(folder).kind
    except ConfigError:
        kind = None
    if kind in _OWN_PAGE:
        return kind  # type: ignore[return-value]
    if kind is not None or any(name.endswith(".json") for name in has):
        return "run"
    raise ReportError(
        f"{folder} holds no run: no metrics.json or other JSON of a run (it has "
        f"{', '.join(sorted(has)) or 'nothing'}); give a folder written by gatecast train, "
        "evaluate or demo"
    )
