"""Each setting is declared once: in a settings group (experiment/settings.py) that the job
configs are built from, or in the one job config it belongs to. A field name declared in two
places is either a mistake or one of the few listed here with the reason it is not the same
setting; a new restatement fails this test until it is made a group or listed with a reason."""

from __future__ import annotations

import dataclasses
import inspect
from collections import defaultdict

import pytest

from gatecast.errors import ConfigError
from gatecast.experiment import settings
from gatecast.experiment.backtest import BacktestConfig
from gatecast.experiment.backtest_config import BookSettings
from gatecast.experiment.evaluation import EvaluationConfig
from gatecast.experiment.panel_backtest import PanelBacktestConfig
from gatecast.experiment.panel_evaluation import PanelEvaluationConfig
from gatecast.experiment.panel_evaluation_config import PanelSettings
from gatecast.experiment.panel_var_config import PanelVarConfig
from gatecast.experiment.sweep import SweepConfig
from gatecast.experiment.training import TrainJob
from gatecast.experiment.var import VarConfig
from gatecast.experiment.var_settings import VarSettings

CONFIGS = (
    EvaluationConfig,
    BacktestConfig,
    VarConfig,
    SweepConfig,
    TrainJob,
    PanelEvaluationConfig,
    PanelVarConfig,
    PanelBacktestConfig,
)
GROUPS = (
    *(
        g
        for g in vars(settings).values()
        if isinstance(g, type) and g.__name__.endswith("Settings")
    ),
    VarSettings,  # a VaR backtest's, on one series and a panel
    BookSettings,  # a backtest's costs and deflation, on one series and a panel
    PanelSettings,  # every job on a panel
)

#: Names declared in more than one place, and why they are different settings.
NOT_THE_SAME = {
    # each job's own set of models, with its own default (evaluate: a set per target; backtest:
    # the models it trades; var: variance models; a panel: the global LSTM and three classical)
    # (and a panel's VaR: the panel evaluation's variance models, its global LSTM first)
    "models": {
        "EvaluationConfig",
        "BacktestConfig",
        "VarConfig",
        "PanelEvaluationConfig",
        "PanelVarConfig",
    },
    # a panel's source (a bundled panel, a long or wide file, a folder), not one series
    "data": {"DataSettings", "PanelSettings"},
    # var: the seed of the ES test's simulated paths; train: the network's initial weights
    "seed": {"VarSettings", "TrainJob"},
    # train's model settings are the model's own (None: the model family's default, e.g. a 2x50
    # LSTM), not the walk-forward's budget for its refits (RecurrentSettings: hidden 16, window
    # per target), and not the run's progress bar default
    "hidden": {"RecurrentSettings", "TrainJob"},
    "window": {"RecurrentSettings", "TrainJob"},
    "quiet": {"RunSettings", "TrainJob"},
    # train: None, the family's default; a panel evaluation's: its global model (and its local
    # return models), where one series' refuses a variance target
    "mode": {"EvaluationConfig", "TrainJob", "PanelEvaluationConfig"},
    # train is one split, not a walk: no test_start (None: the last --test-size of the rows)
    # and its gap is an embargo before that one test part
    "test_start": {"WalkSettings", "TrainJob"},
    "gap": {"WalkSettings", "TrainJob"},
    # train forecasts a price too and a variance model's proxy is None until resolved
    # a panel backtest trades return forecasts: its target is return (another is refused)
    "target": {"TargetSettings", "TrainJob", "PanelBacktestConfig"},
    "proxy": {"TargetSettings", "TrainJob"},
    # var: the VaR's holding period, backtested on non-overlapping windows; train: the target's
    # horizon, a direct h-step model
    "horizon": {"VarSettings", "TrainJob"},
    # train: None, the model's own choice; a panel's global model: auto (cuda when present)
    "device": {"TrainJob", "PanelSettings"},
}


def _declared() -> dict[str, set[str]]:
    where: dict[str, set[str]] = defaultdict(set)
    for cls in (*CONFIGS, *GROUPS):
        for name in inspect.get_annotations(cls):
            where[name].add(cls.__name__)
    return where


def test_no_setting_is_declared_twice_unless_listed_with_its_reason() -> None:
    twice = {name: places for name, places in _declared().items() if len(places) > 1}
    assert twice == NOT_THE_SAME


@pytest.mark.parametrize(
    "group",
    [
        settings.TargetSettings,
        settings.InputSettings,
        settings.ConfidenceSetSettings,
        settings.ExecutorSettings,
    ],
)
def test_the_configs_built_from_a_group_take_its_fields(group: type) -> None:
    names = {f.name for f in dataclasses.fields(group)}
    users = [c for c in CONFIGS if issubclass(c, group)]
    assert len(users) >= 2  # a group is shared, or it is one config's own fields
    for config in users:
        assert names <= {f.name for f in dataclasses.fields(config)}
        listed = {n for n, places in NOT_THE_SAME.items() if config.__name__ in places}
        assert not (names & set(inspect.get_annotations(config))) - listed


def test_every_config_that_runs_a_walk_takes_the_executor_settings_with_one_default() -> None:
    """Evaluate (one series or a panel), backtest, var and sweep: one executor setting, pool by
    default (a pool of one runs here: ``n_jobs=1`` is what a serial walk was before)."""
    walks = [c for c in CONFIGS if c is not TrainJob]
    for config in walks:
        assert issubclass(config, settings.ExecutorSettings), config.__name__
        defaults = {f.name: f.default for f in dataclasses.fields(config)}
        assert (defaults["executor"], defaults["n_jobs"], defaults["ray_address"]) == (
            "pool",
            -1,
            None,
        )


def test_the_executor_settings_refuse_what_does_not_apply() -> None:
    with pytest.raises(ConfigError, match="--n-jobs 4 sets the workers of --executor pool or ray"):
        settings.ExecutorSettings(executor="serial", n_jobs=4)
    with pytest.raises(ConfigError, match=r"--ray-address joins a Ray cluster; .* \(not pool\)"):
        EvaluationConfig(ray_address="auto")
    with pytest.raises(ConfigError, match="executor 'dask' is unknown; choose one of serial"):
        SweepConfig(out="x", executor="dask")  # type: ignore[arg-type]
    settings.ExecutorSettings(executor="serial", n_jobs=1)  # one job is what serial runs


def test_the_read_options_are_keywords_of_load_and_load_panel() -> None:
    from gatecast.data.panel import load_panel
    from gatecast.data.sources import load

    opts = settings.DataSettings(data="x.csv", column="close", sort=True).read_options()
    assert opts == {
        "column": "close",
        "sort": True,
        "dropna": False,
        "dayfirst": None,
        "date_format": None,
        "allow_outliers": False,
    }
    for reader in (load, load_panel):
        keywords = {
            name
            for name, p in inspect.signature(reader).parameters.items()
            if p.kind is inspect.Parameter.KEYWORD_ONLY
        }
        assert set(opts) <= keywords, reader.__name__
