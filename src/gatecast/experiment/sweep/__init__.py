"""Walk-forward sweeps with nested selection: score configurations on a selection period, test only the chosen one.

``run_sweep(SweepConfig(...))`` is what ``gatecast sweep`` runs. Every (configuration, seed) is one
task: a warm-started walk-forward chain over the selection period (data cut at its last day, so
nothing of the test period can reach the choice). The configuration with the lowest mean selection
loss over its seeds (or the top k) is then walked over the test period; the other configurations'
test scores are computed only with ``record=True`` and kept in a separate table. Every trial is
written to the run folder as it finishes (the trial registry, Parquet: per-date forecast, actual,
loss and ``strategy``, the net return of trading the forecasts with the rule of the target, as
``gatecast backtest`` would), so a killed sweep resumes and the deflated Sharpe ratio's N and the
CSCV matrix come from the trials actually run (``gatecast backtest --sweep`` cites them).

The package, one concept a module, read in this order: :mod:`~.space` (the parameters and their
values), :mod:`~.config` (the settings and periods), :mod:`~.trials` (one trial and where it
runs), :mod:`~.sampling` (Optuna), :mod:`~.select` (the choice), :mod:`~.result` and
:mod:`~.trial_registry` (what is written and read back), :mod:`~.run` (the sweep end to end).
On a panel, :mod:`~.panel_config` (the global model's space, the panel walks, the test's panel
evaluation) and :mod:`~.panel_run` (the panel sweep end to end) reuse the space, the sampler and
the choice.
"""

from __future__ import annotations

from gatecast.experiment.sweep.config import (
    SAMPLERS,
    Phase,
    Sampler,
    SweepConfig,
)
from gatecast.experiment.sweep.panel_config import PanelSweepConfig
from gatecast.experiment.sweep.panel_run import PANEL_SWEEP_KIND, PanelSweepResult, run_panel_sweep
from gatecast.experiment.sweep.result import SweepResult
from gatecast.experiment.sweep.run import run_sweep
from gatecast.experiment.sweep.space import parse_space, sweepable_parameters
from gatecast.experiment.sweep.trial_registry import (
    read_trials,
    trial_count,
    trial_losses,
    trial_returns,
    trial_set,
)
from gatecast.experiment.sweep.trials import TrialTask, read_trial, run_trial
from gatecast.types import EXECUTORS, Executor

__all__ = [
    "EXECUTORS",
    "PANEL_SWEEP_KIND",
    "SAMPLERS",
    "Executor",
    "PanelSweepConfig",
    "PanelSweepResult",
    "Phase",
    "Sampler",
    "SweepConfig",
    "SweepResult",
    "TrialTask",
    "parse_space",
    "read_trial",
    "read_trials",
    "run_panel_sweep",
    "run_sweep",
    "run_trial",
    "sweepable_parameters",
    "trial_count",
    "trial_losses",
    "trial_returns",
    "trial_set",
]
