"""The settings of one backtest (`BacktestConfig`), checked before anything is fitted, and the
walk-forward settings a ``--from-run`` backtest takes from its run."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from gatecast.data.sources import is_frame
from gatecast.errors import ConfigError
from gatecast.evaluation.trading import (
    COST_LEVELS_BPS,
    DEFAULT_COST_BPS,
    PERIODS_PER_YEAR,
    RULES,
    Rule,
    RuleName,
)
from gatecast.experiment.evaluation import (
    WALK_SETTINGS,
    EvaluationConfig,
    walk_config,
)
from gatecast.experiment.registry import EvaluationTarget
from gatecast.experiment.settings import (
    CovariateSettings,
    DataSettings,
    ExecutorSettings,
    RecurrentSettings,
    RunSettings,
    WalkSettings,
    group_fields,
)
from gatecast.types import check_choice

#: The rows every backtest shows beside the models.
BENCHMARKS = ("buy_and_hold", "garch_vol_target")
_TARGET_OF_RULE: dict[RuleName, EvaluationTarget] = {
    "sign": "return",
    "long_flat": "return",
    "threshold": "direction",
    "vol_target": "variance",
}
_DEFAULT_MODELS: dict[EvaluationTarget, tuple[str, ...]] = {
    "return": ("lstm", "gru", "ar1"),
    "direction": ("lstm", "gru", "ar1", "always_up"),
    "variance": ("lstm", "gru", "gjr_t", "egarch_t", "ewma", "har"),
}
#: The settings of the walk-forward that made the forecasts: with ``from_run`` they are the run's
#: own (its config), so a value given here would be ignored and is refused instead.
RUN_SETTINGS = (
    "test_start",
    "covariates",
    *(s for s in WALK_SETTINGS if s not in (*group_fields(ExecutorSettings), "quiet")),
)
#: The command-line option of each setting, for messages.
OPTION_OF = {
    "cost_bps": "--cost-bps",
    "cost_levels": "cost_levels",
    "upper": "--upper",
    "lower": "--lower",
    "target_vol": "--target-vol",
    "cap": "--cap",
    "var_sharpe_annual": "--var-sharpe",
    "n_trials": "--n-trials",
    "pbo_blocks": "--blocks",
    "seeds": "--seeds",
    "refit_every": "--refit-every",
    "recurrent_epochs": "--epochs",
    "warm_epochs": "--warm-epochs",
    "hidden": "--hidden",
    "data": "--data",
    "column": "--column",
    "test_start": "--test-start",
    "test_end": "--test-end",
    "window": "window",
    "covariates": "--covariates",
    "sort": "sort",
    "dropna": "dropna",
}


@dataclass(kw_only=True)
class BookSettings:
    """How a backtest's book is costed and its Sharpe ratio judged, on one series
    (:class:`BacktestConfig`) or a panel
    (:class:`~gatecast.experiment.panel_backtest.PanelBacktestConfig`): ``cost_bps`` one-way
    cost in basis points of |w_t - w_{t-1}|; ``pbo_blocks`` the CSCV blocks of the PBO (even,
    >= 2); ``n_trials`` and ``var_sharpe_annual`` override the deflated Sharpe ratio's number
    of trials and Var[SR_n]; ``from_run`` a finished evaluation whose forecasts are traded
    without refitting; ``sweep`` a sweep folder (one series, or a panel sweep for a panel)
    whose trials count in the deflated Sharpe ratio's N."""

    cost_bps: float = DEFAULT_COST_BPS
    from_run: str | None = None
    pbo_blocks: int = 16
    n_trials: int | None = None
    var_sharpe_annual: float | None = None
    sweep: str | None = None

    def __post_init__(self) -> None:
        for name in ("cost_bps", "var_sharpe_annual"):
            check_cost(name, getattr(self, name))
        if self.n_trials is not None and (self.n_trials < 1 or self.n_trials != int(self.n_trials)):
            raise ConfigError(
                f"{OPTION_OF['n_trials']} {self.n_trials}: must be >= 1 (a whole number)"
            )
        if self.pbo_blocks < 2 or self.pbo_blocks % 2:
            raise ConfigError(
                f"--blocks {self.pbo_blocks}: the CSCV blocks of the PBO must be an even number "
                f">= 2 (each split takes half of them in sample; the default is 16)"
            )
        parent: Any = getattr(super(), "__post_init__", None)
        if parent is not None:
            parent()


def check_cost(name: str, value: float | None) -> None:
    """Refuse a NaN, infinite or negative ``value`` of the number ``name`` (None passes)."""
    if value is not None and not (math.isfinite(value) and value >= 0):
        raise ConfigError(
            f"{OPTION_OF.get(name, name)} {value}: must be a finite number >= 0 (NaN, infinity "
            f"and negative values have no meaning here)"
        )


@dataclass(kw_only=True)
class BacktestConfig(
    BookSettings, DataSettings, WalkSettings, RecurrentSettings, CovariateSettings, RunSettings
):
    """Everything one backtest needs, as plain values: the shared settings of
    :mod:`gatecast.experiment.settings` (of the walk-forward that makes the forecasts) and the
    backtest's own.

    ``rule`` picks the forecast target: ``sign`` / ``long_flat`` trade return forecasts,
    ``threshold`` up-probabilities (``upper`` / ``lower``), ``vol_target`` variance forecasts
    (``target_vol`` annualised percent, ``cap`` the largest position). ``cost_bps`` is one-way, on
    |w_t - w_{t-1}|. ``from_run``: a finished ``gatecast evaluate`` folder whose
    ``forecasts.parquet`` is traded without refitting; its data, test period and walk-forward
    settings (:data:`RUN_SETTINGS`) are the run's own and label the result, so a value other
    than the default here is refused. ``n_trials`` / ``var_sharpe_annual`` override the trial
    count and the variance of the trials' annualised Sharpe ratios, which otherwise come from
    the trials of the study (:func:`~gatecast.evaluation.trading.count_trials`: every seed of every
    model asked for, identical return series once). ``models`` empty: lstm, gru, ar1 for returns
    (a set per target otherwise), or every model of ``from_run``. ``sweep``: a ``gatecast
    sweep`` folder (of the same target) the backtest cites: N of the DSR, Var[SR_n] and the PBO
    are those of its trials on its selection period (``n_trials`` / ``var_sharpe_annual`` still
    override). ``covariates``: covariate groups joined onto the data and read by the models
    exactly as ``gatecast evaluate`` does (:class:`EvaluationConfig`): the recurrent models and
    ``arx`` (return, direction) or ``har_x`` (variance) beside the same models without them,
    e.g. ``lstm`` and ``lstm+vix``, each a row of the table. Every value is checked here,
    before anything is fitted: NaN, infinite or negative numbers are refused, and so are
    covariates that no model asked for reads.
    """

    models: tuple[str, ...] = ()
    rule: RuleName = "sign"
    cost_levels: tuple[float, ...] = COST_LEVELS_BPS
    upper: float = 0.55
    lower: float = 0.45
    target_vol: float = 10.0
    cap: float = 1.0
    periods_per_year: float | None = None  # None: from the data's calendar (periods_of)

    def __post_init__(self) -> None:
        super().__post_init__()  # the shared groups' checks
        check_choice(self.rule, RULES, "rule")
        self.models = tuple(m.strip() for m in self.models if m.strip())
        self.cost_levels = tuple(float(c) for c in self.cost_levels)
        numbers = {
            "upper": self.upper,
            "lower": self.lower,
            "target_vol": self.target_vol,
            "cap": self.cap,
        } | {f"cost_levels[{k}]": c for k, c in enumerate(self.cost_levels)}
        for name, value in numbers.items():
            check_cost(name, value)
        if self.periods_per_year is not None and self.periods_per_year < 1:
            option = OPTION_OF.get("periods_per_year", "periods_per_year")
            raise ConfigError(f"{option} {self.periods_per_year}: must be >= 1")
        self.trading_rule()  # fail fast on thresholds, target_vol, cap
        if self.covariates and not self.from_run:  # the groups and the models that read them
            self.covariates = self.evaluation().covariates

    def changed_run_settings(self) -> list[str]:
        """The :data:`RUN_SETTINGS` set to other than their defaults (what ``from_run`` would
        ignore)."""
        defaults = {f.name: f.default for f in dataclasses.fields(BacktestConfig)}
        return [
            name
            for name in RUN_SETTINGS
            if not (name == "data" and is_frame(self.data))  # checked against the run
            and (is_frame(getattr(self, name)) or getattr(self, name) != defaults[name])
        ]

    @property
    def target(self) -> EvaluationTarget:
        """The forecast target the rule trades."""
        return _TARGET_OF_RULE[self.rule]

    def trading_rule(self) -> Rule:
        """The :class:`Rule` of the models."""
        ppy = self.periods_per_year if self.periods_per_year is not None else PERIODS_PER_YEAR
        return Rule(self.rule, self.upper, self.lower, self.target_vol, self.cap, ppy)

    def evaluation(self) -> EvaluationConfig:
        """The walk-forward that makes the models' forecasts (``out/evaluation``)."""
        return walk_config(
            self,
            target=self.target,
            test_start=self.test_start,
            models=self.models or _DEFAULT_MODELS[self.target],
            covariates=self.covariates,
        )
