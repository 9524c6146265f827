"""The everyday jobs as one call each, for a notebook or a script: ``gc.evaluate(df, ...)``.

Each takes the data first (a bundled name, a CSV/Parquet path, or the prices themselves: a
pandas DataFrame or Series, a pyarrow Table), the settings of its command as keyword arguments
(the same names as the command-line options, ``test_start``, ``refit_every``, ``models``...),
and returns the result object of its command: tables as DataFrames, ``summary()``, a notebook
view. ``out`` (optional) writes the run folder the command writes. Nothing here imports torch
until a job runs.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gatecast.data.sources import DataSource
from gatecast.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

    from gatecast.experiment.backtest_result import BacktestResult
    from gatecast.experiment.blocks import BlocksResult
    from gatecast.experiment.evaluation import EvaluationResult
    from gatecast.experiment.panel_serving import PanelTrainRun
    from gatecast.experiment.prediction import Prediction
    from gatecast.experiment.sweep import PanelSweepResult, SweepResult
    from gatecast.experiment.training import TrainRun
    from gatecast.experiment.var import VarResult

__all__ = ["backtest", "evaluate", "predict", "sweep", "train", "var"]

OutPath = str | os.PathLike[str] | None


def _config(job: str, cls: type, values: Mapping[str, Any]) -> Any:
    """``cls(**values)``, an unknown setting refused by name (:func:`~gatecast.experiment.
    settings.config_of`; imported here, when a job is called)."""
    from gatecast.experiment.settings import config_of

    return config_of(job, cls, values)


def _names(models: str | Iterable[str] | None) -> tuple[str, ...]:
    if models is None:
        return ()
    if isinstance(models, str):
        return tuple(m.strip() for m in models.split(",") if m.strip())
    return tuple(models)


def _out(out: OutPath) -> str | None:
    return None if out is None else os.fspath(out)


def evaluate(
    data: DataSource = "sp500",
    *,
    models: str | Iterable[str] | None = None,
    out: OutPath = None,
    blocks: str | int | None = None,
    **settings: Any,
) -> EvaluationResult | BlocksResult:
    """Walk-forward evaluation of ``models`` against the baselines (``gatecast evaluate``).

    Returns an :class:`~gatecast.experiment.evaluation.EvaluationResult` (``leaderboard``,
    ``forecasts``, ``losses`` as DataFrames); with ``blocks`` (e.g. ``"4y"``) the out-of-time
    protocol's :class:`~gatecast.experiment.blocks.BlocksResult`. ``settings`` are those of
    :class:`~gatecast.experiment.evaluation.EvaluationConfig` (``target``, ``test_start``,
    ``refit_every``, ``seeds``...).

    Examples
    --------
    >>> import gatecast as gc
    >>> res = gc.evaluate("sp500", models="garch,ewma", test_start="2018-07-02",
    ...                   refit_every=63, n_jobs=1, quiet=True)
    >>> list(res.leaderboard.index)
    ['garch', 'ewma']
    """
    from gatecast.experiment.evaluation import EvaluationConfig, evaluate_models

    values = {"data": data, "models": _names(models), "out": _out(out), **settings}
    cfg = _config("evaluate", EvaluationConfig, values)
    if blocks is not None:
        from gatecast.experiment.blocks import evaluate_blocks

        return evaluate_blocks(cfg, blocks)
    return evaluate_models(cfg)


def backtest(
    data: DataSource = "sp500",
    *,
    models: str | Iterable[str] | None = None,
    out: OutPath = None,
    **settings: Any,
) -> BacktestResult:
    """A cost-aware backtest of walk-forward forecasts with buy-and-hold, PSR/DSR and the PBO
    (``gatecast backtest``); ``settings`` are those of
    :class:`~gatecast.experiment.backtest.BacktestConfig` (``rule``, ``cost_bps``,
    ``from_run``...). Returns a :class:`~gatecast.experiment.backtest.BacktestResult`."""
    from gatecast.experiment.backtest import BacktestConfig, run_backtest

    values = {"data": data, "models": _names(models), "out": _out(out), **settings}
    return run_backtest(_config("backtest", BacktestConfig, values))


def var(
    data: DataSource = "sp500",
    *,
    models: str | Iterable[str] = ("lstm", "garch", "gjr_t"),
    out: OutPath = None,
    **settings: Any,
) -> VarResult:
    """Value-at-Risk and expected shortfall from walk-forward variance forecasts, backtested
    (``gatecast var``); ``settings`` are those of :class:`~gatecast.experiment.var.VarConfig`
    (``level``, ``es_level``, ``distributions``...). Returns a
    :class:`~gatecast.experiment.var.VarResult`."""
    from gatecast.experiment.var import VarConfig, run_var

    if isinstance(data, Mapping):  # a Panel, or {instrument: prices}
        raise ConfigError(
            "gc.var backtests one series; a panel's VaR is gc.var_panel(panel, models=..., "
            "test_start=...) (per instrument and pooled)"
        )
    values = {"data": data, "models": _names(models), "out": _out(out), **settings}
    return run_var(_config("var", VarConfig, values))


def sweep(
    data: Any = "sp500",
    *,
    out: str | os.PathLike[str],
    grid: Mapping[str, Sequence[Any]] | str | Sequence[str],
    fixed: Mapping[str, Any] | None = None,
    panel: bool = False,
    **settings: Any,
) -> SweepResult | PanelSweepResult:
    """Nested selection of a recurrent configuration on a selection period, the choice then
    tested once (``gatecast sweep``). ``grid`` maps parameters to the values tried
    (``{"window": [5, 22], "lr": [5e-4, 2e-3]}``, or the command line's ``"window=5,22 ..."``);
    ``fixed`` sets others for every configuration; ``settings`` are those of
    :class:`~gatecast.experiment.sweep.SweepConfig`. Returns a
    :class:`~gatecast.experiment.sweep.SweepResult`.

    On a panel (a :class:`gatecast.Panel`, a mapping of instruments, a bundled panel such as
    ``sp500_stocks``, or a long/wide file with ``panel=True``): the global model's parameters
    are swept (``embedding`` among them), each trial scored by the panel evaluation's pooled
    statistic, the choice tested by the panel evaluation; ``settings`` are those of
    :class:`~gatecast.experiment.sweep.PanelSweepConfig` (``layout``, ``min_train``...).
    Returns a :class:`~gatecast.experiment.sweep.PanelSweepResult`."""
    from gatecast.experiment.panel_serving import is_panel_source
    from gatecast.experiment.sweep import (
        PanelSweepConfig,
        SweepConfig,
        parse_space,
        run_panel_sweep,
        run_sweep,
    )

    on_panel = panel or is_panel_source(data)
    target = settings.get("target", "variance")
    space = (
        parse_space([grid] if isinstance(grid, str) else list(grid), target, panel=on_panel)
        if isinstance(grid, str) or not isinstance(grid, Mapping)
        else {k: tuple(v) for k, v in grid.items()}
    )
    values = {"data": data, "out": os.fspath(out), "grid": space, "fixed": dict(fixed or {})}
    if on_panel:
        return run_panel_sweep(_config("sweep", PanelSweepConfig, values | settings))
    if "layout" in settings:
        raise ConfigError("layout reads a panel: add panel=True, or leave layout out")
    return run_sweep(_config("sweep", SweepConfig, values | settings))


def train(
    data: Any = "sp500",
    *,
    out: OutPath = None,
    overwrite: bool = False,
    panel: bool = False,
    **settings: Any,
) -> TrainRun | PanelTrainRun:
    """Train a recurrent forecaster (or variance model: ``target="variance"``), score it against
    no-change and the historical mean (``gatecast train``); ``settings`` are those of
    :class:`~gatecast.experiment.training.TrainJob` (``target``, ``cell``, ``window``,
    ``epochs``, ``test_start``...). Returns a :class:`~gatecast.experiment.training.TrainRun`
    whose ``model`` is the fitted estimator; with ``out``, the model folder and the run.

    On a panel (a :class:`gatecast.Panel`, a mapping of instruments, a bundled panel such as
    ``sp500_stocks``, or a long/wide file with ``panel=True``; ``layout`` as in
    :func:`gatecast.load_panel`): the global model of the target (variance, return or
    direction), a :class:`~gatecast.experiment.panel_serving.PanelTrainRun` (see
    :func:`~gatecast.experiment.panel_serving.run_panel_training`)."""
    from gatecast.experiment.panel_serving import is_panel_source, run_panel_training
    from gatecast.experiment.training import TrainJob, run_training

    layout = settings.pop("layout", None)
    if panel or is_panel_source(data):
        job = _config("train", TrainJob, {"data": data, **settings})
        where = None if out is None else Path(out)
        return run_panel_training(job, where, layout=layout or "auto", overwrite=overwrite)
    if layout is not None:
        raise ConfigError("layout reads a panel: add panel=True, or leave layout out")
    job = _config("train", TrainJob, {"data": data, **settings})
    return run_training(job, None if out is None else Path(out), overwrite=overwrite)


def predict(
    model: str | os.PathLike[str],
    data: Any,
    *,
    out: OutPath = None,
    **settings: Any,
) -> Prediction | pd.DataFrame:
    """Forecast ``data`` with a saved model folder (``gatecast predict``): the table of
    forecasts, the last rows those for the bars after the data. ``settings`` are the keywords of
    :func:`~gatecast.experiment.prediction.run_prediction` (``start``, ``end``, ``calendar``...).

    With a global model's folder (``gc.train`` on a panel), ``data`` is read as a panel and the
    result is a long DataFrame, one forecast per instrument (``instrument, as_of, date,
    forecast, in_fit``; with ``steps=H`` one row per instrument and step); ``settings`` are
    then those of
    :func:`~gatecast.experiment.panel_serving.run_panel_prediction`."""
    from gatecast.experiment.panel_serving import (
        check_panel_predict_settings,
        global_folder,
        run_panel_prediction,
    )
    from gatecast.experiment.prediction import run_prediction

    if global_folder(model):
        check_panel_predict_settings(settings)
        return run_panel_prediction(Path(model), data, _out(out), **settings)
    return run_prediction(Path(model), data, _out(out), **settings)
