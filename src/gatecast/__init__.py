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

import importlib
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


#: Where each public name lives: it is imported from there when first asked for.
_HOMES: dict[str, str] = {
    "load": "gatecast.data.sources",
    "datasets": "gatecast.data.sources",
    "load_panel": "gatecast.data.panel",
    "Panel": "gatecast.data.panel",
    "TargetSpec": "gatecast.data.features",
    "WalkForwardPlan": "gatecast.evaluation.walkforward",
    "walk_forward": "gatecast.evaluation.walkforward",
    "backtest_panel": "gatecast.experiment.panel_backtest",
    "evaluate_panel": "gatecast.experiment.panel_evaluation",
    "var_panel": "gatecast.experiment.panel_var",
    "GlobalRecurrentReturn": "gatecast.models.recurrent.global_return",
    "GlobalRecurrentVariance": "gatecast.models.recurrent.global_variance",
    "Run": "gatecast.experiment.run_reader",
    **dict.fromkeys(("evaluate", "backtest", "var", "sweep", "train", "predict"), "gatecast.jobs"),
    "NoChange": "gatecast.models.baselines",
    "HistoricalMean": "gatecast.models.baselines",
    "AR1": "gatecast.models.linear",
    **dict.fromkeys(
        ("RecurrentForecaster", "RecurrentVariance", "load_model", "open_stream"),
        "gatecast.models.recurrent",
    ),
    "StreamSet": "gatecast.serve",
    "load_numpy": "gatecast.serve",
}


def __getattr__(name: str) -> Any:  # the module's attributes, imported when first asked for
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'gatecast' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)


def __dir__() -> list[str]:
    return sorted(__all__)
