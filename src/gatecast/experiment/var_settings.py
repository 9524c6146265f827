"""The settings every VaR backtest shares, on one series (:mod:`gatecast.experiment.var`) or a
panel (:mod:`gatecast.experiment.panel_var_config`): :class:`VarSettings` (the expected
shortfall, the predictive distributions, the calibration and the ES test's paths) and
:class:`VarJobSettings`, the groups a VaR job is built from. Kept apart from
:mod:`gatecast.experiment.settings`, which every command loads at start, since the VaR
statistics load the statistics libraries."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from gatecast.errors import ConfigError
from gatecast.evaluation.var import DISTRIBUTIONS, Distribution, VarBacktest, backtest_var
from gatecast.experiment.settings import (
    CovariateSettings,
    DataSettings,
    RecurrentSettings,
    RunSettings,
    WalkSettings,
    _Group,
)
from gatecast.types import check_choice, check_number

__all__ = ["MIN_DOF_ROWS", "VarJobSettings", "VarSettings", "check_confidence_level"]

#: Fewer out-of-sample forecasts than this before a fold cannot fit the Student-t's nu.
MIN_DOF_ROWS = 30


def check_confidence_level(value: float, name: str) -> None:
    """Refuse a VaR or ES confidence level ``value`` (setting ``name``) outside (0.5, 1)."""
    if not 0.5 < value < 1:
        raise ConfigError(f"{name}={value}: a confidence level in (0.5, 1), e.g. 0.99")


@dataclass(kw_only=True)
class VarSettings(_Group):
    """A VaR backtest's expected shortfall and predictive distributions, on one series or a
    panel: ``es_level`` the expected shortfall's confidence level (0.975), ``distributions``
    the predictive distributions backtested (``normal``, ``t``), ``calibration`` rows of
    out-of-sample forecasts before the test that fit the first fold's Student-t degrees of
    freedom, ``sims`` simulated return paths for the ES test's p-value, drawn with ``seed``,
    and ``horizon``, the days of the h-day VaR also backtested on non-overlapping windows (1:
    none)."""

    es_level: float = 0.975
    distributions: tuple[str, ...] = DISTRIBUTIONS
    calibration: int = 250
    sims: int = 2000
    seed: int = 0
    horizon: int = 1

    def __post_init__(self) -> None:
        check_confidence_level(self.es_level, "es_level")
        self.distributions = tuple(d.strip() for d in self.distributions if d.strip())
        if not self.distributions:
            raise ConfigError("no distribution given; choose normal, t or both")
        for d in self.distributions:
            check_choice(d, DISTRIBUTIONS, "distribution")
        check_number(
            self.calibration,
            "calibration",
            at_least=MIN_DOF_ROWS,
            integer=True,
            hint="rows before the test whose forecasts fit the t's nu",
        )
        check_number(
            self.sims,
            "sims",
            at_least=20,
            integer=True,
            hint="the ES test's p-value is a share of simulated paths, and fewer than 20 "
            "cannot resolve a test at 5% (default 2000)",
        )
        check_number(self.seed, "seed", at_least=0, integer=True)
        check_number(self.horizon, "horizon", at_least=1, integer=True, hint="days, e.g. 10")
        super().__post_init__()

    def backtest(
        self,
        returns: pd.Series,
        variance: pd.Series,
        dist: Distribution,
        nu: pd.Series | None,
        *,
        level: float,
        seed: int,
    ) -> VarBacktest:
        """:func:`~gatecast.evaluation.var.backtest_var` of the VaR at ``level`` from the
        forecasts ``variance`` (Student-t: its ``nu``), the ES at this ``es_level``, its test
        on ``sims`` paths drawn with ``seed``."""
        return backtest_var(
            returns,
            variance,
            dist,
            nu,
            level=level,
            es_level=self.es_level,
            sims=self.sims,
            seed=seed,
        )


@dataclass(kw_only=True)
class VarJobSettings(
    VarSettings, DataSettings, WalkSettings, RecurrentSettings, CovariateSettings, RunSettings
):
    """The groups a VaR backtest is built from, on one series
    (:class:`~gatecast.experiment.var.VarConfig`) or a panel
    (:class:`~gatecast.experiment.panel_var_config.PanelVarConfig`): its expected shortfall and
    distributions, the data, the walk-forward, the recurrent models, the covariate groups its
    variance models read (an ablation, as ``gatecast evaluate``'s) and the run folder."""
