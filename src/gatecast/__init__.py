"""gatecast: forecast financial time series with recurrent networks (RNN, LSTM, GRU), honestly.

The public face, one import for the common work::

    import gatecast as gc

    prices = gc.load("sp500")                       # or your CSV/Parquet path, or a DataFrame
    panel = gc.load_panel("arch_panel")             # many instruments, each its own calendar
    res = gc.evaluate(prices, target="variance", models="lstm,garch,gjr_t")
    res.leaderboard                                  # a DataFrame
    bt = gc.backtest(prices, models="lstm,ar1", rule="sign")
    run = gc.Run.open("runs/eval")                   # any run folder, read back

Names are imported on first use (PEP 562), so ``import gatecast`` loads neither torch nor
pandas' heavier parts until a job or a model is asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gatecast._version import __version__

if TYPE_CHECKING:
    from gatecast.data.features import TargetSpec
    from gatecast.data.panel import Panel, load_panel
    from gatecast.data.sources import datasets, load
    from gatecast.evaluation.walkforward import WalkForwardPlan, walk_forward
    from gatecast.experiment.panel_backtest import backtest_panel
    from gatecast.experiment.panel_evaluation import evaluate_panel
    from gatecast.experiment.panel_var import var_panel
    from gatecast.experiment.run_reader import Run
    from gatecast.jobs import backtest, evaluate, predict, sweep, train, var
    from gatecast.models.baselines import HistoricalMean, NoChange
    from gatecast.models.linear import AR1
    from gatecast.models.recurrent import (
        RecurrentForecaster,
        RecurrentVariance,
        load_model,
        open_stream,
    )
    from gatecast.models.recurrent.global_return import GlobalRecurrentReturn
    from gatecast.models.recurrent.global_variance import GlobalRecurrentVariance
    from gatecast.serve import StreamSet, load_numpy

__all__ = [
    "AR1",
    "GlobalRecurrentReturn",
    "GlobalRecurrentVariance",
    "HistoricalMean",
    "NoChange",
    "Panel",
    "RecurrentForecaster",
    "RecurrentVariance",
    "Run",
    "StreamSet",
    "TargetSpec",
    "WalkForwardPlan",
    "__version__",
    "backtest",
    "backtest_panel",
    "datasets",
    "evaluate",
    "evaluate_panel",
    "load",
    "load_model",
    "load_numpy",
    "load_panel",
    "open_stream",
    "predict",
    "sweep",
    "train",
    "var",
    "var_panel",
    "walk_forward",
]


def __getattr__(name: str) -> Any:  # the module's attributes, imported when first asked for
    if name in ("load", "datasets"):
        from gatecast.data import sources

        return getattr(sources, name)
    if name in ("load_panel", "Panel"):
        from gatecast.data import panel

        return getattr(panel, name)
    if name == "TargetSpec":
        from gatecast.data.features import TargetSpec

        return TargetSpec
    if name in ("WalkForwardPlan", "walk_forward"):
        from gatecast.evaluation import walkforward

        return getattr(walkforward, name)
    if name == "backtest_panel":
        from gatecast.experiment.panel_backtest import backtest_panel

        return backtest_panel
    if name == "evaluate_panel":
        from gatecast.experiment.panel_evaluation import evaluate_panel

        return evaluate_panel
    if name == "var_panel":
        from gatecast.experiment.panel_var import var_panel

        return var_panel
    if name == "GlobalRecurrentReturn":
        from gatecast.models.recurrent.global_return import GlobalRecurrentReturn

        return GlobalRecurrentReturn
    if name == "GlobalRecurrentVariance":
        from gatecast.models.recurrent.global_variance import GlobalRecurrentVariance

        return GlobalRecurrentVariance
    if name == "Run":
        from gatecast.experiment.run_reader import Run

        return Run
    if name in ("evaluate", "backtest", "var", "sweep", "train", "predict"):
        from gatecast import jobs

        return getattr(jobs, name)
    if name in ("NoChange", "HistoricalMean"):
        from gatecast.models import baselines

        return getattr(baselines, name)
    if name == "AR1":
        from gatecast.models.linear import AR1

        return AR1
    if name in ("RecurrentForecaster", "RecurrentVariance", "load_model", "open_stream"):
        from gatecast.models import recurrent

        return getattr(recurrent, name)
    if name in ("StreamSet", "load_numpy"):
        from gatecast import serve

        return getattr(serve, name)
    raise AttributeError(f"module 'gatecast' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
