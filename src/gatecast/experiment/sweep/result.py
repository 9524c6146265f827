"""What a sweep returns and leaves in its run folder: the trials, the selection and test tables, the choice, as text, a plot and files."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from gatecast.data.covariates import covariate_columns
from gatecast.data.sources import data_label
from gatecast.evaluation.trading import TrialSet
from gatecast.experiment.notebook import draw_or_write, html_view
from gatecast.experiment.run_folder import RunFolder
from gatecast.experiment.sweep.config import SweepConfig
from gatecast.experiment.sweep.space import label
from gatecast.experiment.sweep.trial_registry import write_registry


@dataclass
class SweepResult:
    """The trials, the selection table, the chosen configuration(s) and their test scores.

    ``trials``: one row per (configuration, seed, phase) with its score; ``selection``: one row
    per configuration (mean and sd over seeds of the selection loss, rank); ``test``: the top
    k configurations and the baselines, selection and test loss side by side; ``record``: the
    test loss of every other configuration (``record=True`` only; never used to choose).
    """

    config: SweepConfig
    trials: pd.DataFrame
    selection: pd.DataFrame
    selected: dict[str, Any]
    test: pd.DataFrame
    record: pd.DataFrame | None
    loss_name: str
    swept: list[str]
    periods: dict[str, tuple[str, str]]
    seconds: float = 0.0
    resumed: int = 0
    trial_set: TrialSet | None = None

    @property
    def n_configs(self) -> int:
        """Distinct configurations scored on the selection period."""
        return len(self.selection)

    notes: list[str] = field(default_factory=list)  # which HAR a close-only file gave

    @property
    def n_trials(self) -> int:
        """The N of the DSR (:data:`~gatecast.evaluation.trading.TRIAL_RULE`): every
        (configuration, seed) and baseline run on the selection period, identical strategy
        returns counted once."""
        return self.trial_set.n_trials if self.trial_set is not None else self.n_configs

    @property
    def selected_model(self) -> str:
        """The recurrent model of the best configuration, with the covariate groups it reads
        (``lstm+vix``)."""
        chosen = self.selection.index[0]
        return str(self.trials.loc[self.trials["config"] == chosen, "model"].iloc[0])

    def selected_text(self) -> str:
        """``window=5``: the best configuration's swept values; with covariates, its model
        too (``window=5 (lstm+vix)``)."""
        text = label(self.selected, self.swept)
        return f"{text} ({self.selected_model})" if self.config.covariates else text

    def summary(self) -> str:
        """The selection table, the test table and (if run) the record, as text."""
        s0, s1 = self.periods["select"]
        t0, t1 = self.periods["test"]
        parts: list[str] = [
            f"selection {s0}..{s1} ({self.loss_name}, mean and sd over {self.config.seeds} "
            f"seed(s)); {self.n_configs} configurations tried, N = {self.n_trials} distinct "
            f"trials for the DSR:",
            _text(self.selection),
            f"\nselected: {self.selected_text()}",
            f"\ntest {t0}..{t1}: the top {self.config.top_k} by selection loss, and baselines:",
            _text(self.test),
        ]
        if self.record is not None:
            parts += [
                "\nfor the record (test loss of every other configuration; never used to choose):",
                _text(self.record),
            ]
        return "\n".join(parts)

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        s0, s1 = self.periods["select"]
        t0, t1 = self.periods["test"]
        title = (
            f"sweep on {data_label(self.config.data)}: {self.n_configs} configurations chosen on "
            f"{s0}..{s1} ({self.loss_name}), tested once on {t0}..{t1}"
        )
        lines = [f"selected: {self.selected_text()}", *self.notes]
        return html_view(title, self.test, lines)

    def plot(self, folder: str | Path | RunFolder | None = None) -> Any:
        """The selection loss against each swept parameter (seed spread, selected point
        marked): the figure, or (``folder``) ``selection.png`` written there (its path, in a list)."""
        from gatecast.plots.sweep import plot_selection

        fig = plot_selection(self.selection, self.swept, self.selected, loss_name=self.loss_name)
        return fig if folder is None else draw_or_write({"selection.png": fig}, folder)


def _text(frame: pd.DataFrame) -> str:
    return str(frame.to_string(float_format=lambda v: f"{v:.4g}"))


def write_sweep(result: SweepResult, root: Path) -> None:
    """The trial registry, ``selection.csv``, ``test.csv`` (``record.csv``), ``selection.png``
    and, last, ``sweep_summary.json`` in ``root``; sets ``result.trial_set``."""
    run = RunFolder(root)
    result.trial_set = write_registry(run, result.trials)
    run.write_csv("selection.csv", result.selection)
    run.write_csv("test.csv", result.test)
    if result.record is not None:
        run.write_csv("record.csv", result.record)
    if result.swept:
        result.plot(run)
    run.write_json(
        "sweep_summary.json",
        {
            "selected": json.loads(json.dumps(result.selected, default=list)),
            "selected_label": label(result.selected, result.swept),
            "selected_model": result.selected_model,
            "covariates": list(result.config.covariates),
            "covariate_columns": list(covariate_columns(result.config.covariates)),
            "n_trials": result.n_trials,
            "n_configs": result.n_configs,
            "trials": result.trial_set.to_dict() if result.trial_set is not None else None,
            "seeds": result.config.seeds,
            "loss": result.loss_name,
            "periods": result.periods,
            "test": result.test.reset_index().to_dict(orient="records"),
            "notes": result.notes,
        },
    )
