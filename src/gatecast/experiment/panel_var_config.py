"""The settings of a panel VaR backtest (``gatecast var`` on a panel):
:class:`PanelVarConfig`, the panel walk-forward it runs and what a panel refuses; the run itself
is :mod:`gatecast.experiment.panel_var`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gatecast.errors import ConfigError
from gatecast.experiment.panel_evaluation_config import (
    PANEL_MODELS,
    PanelEvaluationConfig,
    PanelSettings,
    panel_model_names,
    panel_refusals,
)
from gatecast.experiment.var_settings import VarJobSettings, check_confidence_level

__all__ = ["PANEL_VAR_REFUSED", "PanelVarConfig", "panel_var_refusals"]

#: Settings of ``gatecast var`` that a panel does not take, beside those of a panel evaluation.
#: ``--horizon`` runs per instrument as on one series, ``--scheme rolling``, ``--train-size``
#: and ``--gap`` walk the panel as ``gatecast evaluate --panel`` does.
PANEL_VAR_REFUSED: Mapping[str, str] = {
    "seeds": "the panel VaR backtest runs one seed per recurrent model (seed 0) so far",
}


@dataclass(kw_only=True)
class PanelVarConfig(PanelSettings, VarJobSettings):
    """Everything a panel VaR backtest needs, as plain values (``gatecast var`` on a panel).

    The panel and its models are those of
    :class:`~gatecast.experiment.panel_evaluation.PanelEvaluationConfig` (``data``, ``layout``,
    ``min_train``, ``embedding``, ``device`` and ``alpha``: the
    :class:`~gatecast.experiment.panel_evaluation_config.PanelSettings` both take; ``models``
    and the recurrent settings). ``levels``
    are the VaR confidence levels backtested (0.99: the 1% VaR; several allowed), ``es_level``
    the expected shortfall's (:class:`~gatecast.experiment.var_settings.VarSettings`, with the
    distributions, ``calibration`` and ``sims``). ``calibration`` rows of the panel's calendar
    before ``test_start`` (rounded up to whole refits, so the test folds are those of
    ``gatecast evaluate``) give each instrument the out-of-sample forecasts that fit its first
    test fold's Student-t degrees of freedom; ``seed`` draws the ES test's paths (a seed per
    instrument). An instrument is counted as rejected by a test when its p-value is below
    ``alpha``. ``covariates`` are joined onto each instrument's own dates and read by the
    variance models as in a panel evaluation: each model that reads them (a global cell,
    ``lstm_local``, ``har_x``) with and without each group, ``har`` beside ``har_x``.
    ``horizon`` > 1 adds each instrument's h-day VaR at every level, as on one series
    (:func:`~gatecast.experiment.var.horizon_table`), on non-overlapping windows of its own rows.
    ``scheme``, ``train_size`` and ``gap`` are the walk's (:class:`~gatecast.evaluation.panel_walk.
    PanelWalkPlan`): ``rolling`` refits every model, at each refit date, on each instrument's own
    last ``train_size`` rows before it, less ``gap`` rows, as the one-series ``gatecast var``
    does on that instrument alone (the Student-t's nu is still fit on every out-of-sample
    forecast before the fold, as there).
    """

    models: tuple[str, ...] = PANEL_MODELS
    levels: tuple[float, ...] = (0.99,)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.models = panel_model_names(self.models or PANEL_MODELS)
        levels = (self.levels,) if isinstance(self.levels, int | float) else self.levels
        self.levels = tuple(dict.fromkeys(float(v) for v in levels))
        if not self.levels:
            raise ConfigError("no VaR level given; e.g. levels=(0.99,) or --level 0.99,0.95")
        for v in self.levels:
            check_confidence_level(v, "level")
        if self.seeds != 1:
            raise ConfigError(
                f"--seeds does not apply to a panel: {PANEL_VAR_REFUSED['seeds']}; leave it out"
            )
        # the panel evaluation's own checks (a rolling window's train_size) and refusals
        self.evaluation()

    def evaluation(self, test_start: str | None = None, data: Any = None) -> PanelEvaluationConfig:
        """The panel walk-forward's settings from ``test_start`` (default: the test's start;
        :func:`~gatecast.experiment.panel_var.run_panel_var` starts it a calibration period earlier), on ``data`` (default:
        this config's)."""
        return PanelEvaluationConfig(
            data=self.data if data is None else data,
            layout=self.layout,
            **self.read_options(),
            test_start=test_start or self.test_start,
            test_end=self.test_end,
            refit_every=self.refit_every,
            scheme=self.scheme,
            train_size=self.train_size,
            gap=self.gap,
            seeds=self.seeds,
            recurrent_epochs=self.recurrent_epochs,
            warm_epochs=self.warm_epochs,
            warm_start=self.warm_start,
            hidden=self.hidden,
            window=self.window,
            n_jobs=self.n_jobs,
            models=self.models,
            covariates=self.covariates,
            reference=self.models[0],  # a VaR backtest compares no losses: any model will do
            min_train=self.min_train,
            embedding=self.embedding,
            device=self.device,
        )


def panel_var_refusals(given: Iterable[str], models: Iterable[str]) -> dict[str, str]:
    """Of the settings ``given`` (option names as parameters: ``n_jobs``), those a panel VaR
    backtest with ``models`` does not use, each with its reason, in the order given."""
    names = list(dict.fromkeys(given))
    evaluation = panel_refusals([n for n in names if n not in PANEL_VAR_REFUSED], models)
    reasons = {**evaluation, **PANEL_VAR_REFUSED}
    return {n: reasons[n] for n in names if n in reasons}
