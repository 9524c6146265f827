"""One page per run: ``report.html``, written from the files of a run folder (plain HTML and CSS,
figures as inline SVG, no script, nothing fetched from anywhere).

The page is a second rendering of the files the run wrote (``metrics.json``, ``leaderboard.csv``,
``forecasts.*``, ``loss.json`` ...), never of numbers held only in memory, so that
``gatecast report RUN_DIR`` writes the same page again later. The same run with the same seed
gives the same bytes: no clock time, no run-folder path, and matplotlib's SVG made reproducible
(:func:`gatecast.plots.svg.figure_svg`).

The package, one concept a module: :mod:`~gatecast.experiment.report.write` (which page a folder
gets, and writing it), one page builder per kind of run (``train``, ``evaluate``, ``demo`` and
``generic`` for any other), :mod:`~gatecast.experiment.report.page` (the page model and its HTML),
:mod:`~gatecast.experiment.report.rerun` (the command line that repeats a run),
:mod:`~gatecast.experiment.report.formatting` (numbers as the console prints them),
:mod:`~gatecast.experiment.report.verdict` (does a model beat doing nothing), and the pieces the
builders share: ``facts``, ``figures``, ``files``.
"""

from __future__ import annotations

from gatecast.experiment.report.evaluate import _evaluation_verdict as _evaluation_verdict
from gatecast.experiment.report.evaluate import _per_date_losses as _per_date_losses
from gatecast.experiment.report.page import Panel, Report, Table
from gatecast.experiment.report.rerun import RERUN_OUT, evaluate_command, train_command
from gatecast.experiment.report.write import REPORT_FILE, build_report, run_kind, write_report

__all__ = [
    "REPORT_FILE",
    "RERUN_OUT",
    "Panel",
    "Report",
    "Table",
    "build_report",
    "evaluate_command",
    "run_kind",
    "train_command",
    "write_report",
]
