"""The settings of a sweep on a panel: the global model's search space, the two periods as panel walks, the trials' factories and the panel evaluation that tests the choice."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from gatecast.data.panel import Layout
from gatecast.errors import ConfigError
from gatecast.evaluation.panel_walk import PanelFactory, PanelWalkPlan
from gatecast.experiment.panel_evaluation_config import (
    PanelEvaluationConfig,
    check_panel_target,
    panel_factories,
    panel_model_names,
)
from gatecast.experiment.panel_models import DEFAULTS
from gatecast.experiment.panel_returns import (
    POINT_TARGETS,
    RETURN_REFERENCE,
    return_factories,
    return_model_names,
)
from gatecast.experiment.registry import split_name
from gatecast.experiment.sweep.config import SweepConfig
from gatecast.types import CELLS, check_number

#: The reference every trial's loss is a ratio to, by target (the panel evaluation's).
PANEL_SWEEP_REFERENCE = {"variance": "gjr_t", "return": RETURN_REFERENCE}
#: Settings of a sweep that a panel sweep does not take, and why (refused by name when given).
PANEL_SWEEP_REFUSED = {
    "top_k": "a panel sweep walks only the chosen configuration over the test period",
    "record": "testing the configurations not chosen is not built on a panel yet",
    "grid covariates": "choosing among covariate groups is not built on a panel yet; every "
    "configuration reads the groups of --covariates",
}


@dataclass(kw_only=True)
class PanelSweepConfig(SweepConfig):
    """A sweep on a panel (``gatecast sweep --data sp500_stocks``): the settings of
    :class:`SweepConfig`, with ``grid`` and ``fixed`` the parameters of the global recurrent
    model of ``target`` (:class:`GlobalRecurrentVariance`, :class:`GlobalRecurrentReturn`,
    ``embedding`` among them), and the panel's own: ``layout`` (how
    :func:`gatecast.load_panel` reads ``data``), ``min_train`` (rows each instrument needs
    before a refit), ``device`` and ``alpha`` (the DM tests' size in the test's leaderboard).

    Each (configuration, seed) is walked forward over the selection period on the panel cut
    at the selection's last day; its selection statistic is the pooled one of the panel
    evaluation: the median over instruments of its loss ratio to the reference (GJR-t for
    variance, no change for returns), walked once. The configuration with the lowest mean
    over seeds is walked alone over the test period beside ``baselines`` (the reference is
    always among them) by the ordinary panel evaluation, with seed 0 (a panel evaluation runs
    one seed). ``top_k``, ``record`` and a swept ``covariates`` are refused.
    """

    data: Any = "sp500_stocks"
    layout: Layout = "auto"
    min_train: int = 250
    device: str = "auto"
    alpha: float = 0.05
    #: Filled in: the reference of the selection statistic (the target's).
    reference: str = field(default="", init=False)

    on_panel = True

    def __post_init__(self) -> None:
        check_panel_target(self.target, self.proxy)  # before the grid is read as its model's
        if self.target == "direction":
            raise ConfigError(
                "--target direction: a panel sweep chooses on the variance or return target; "
                "use --target variance or return"
            )
        self.reference = PANEL_SWEEP_REFERENCE[self.target]
        super().__post_init__()
        check_number(self.min_train, "min_train", at_least=1, integer=True)
        if not 0 < self.alpha < 1:
            raise ConfigError(f"alpha={self.alpha}: the tests' size, in (0, 1), e.g. 0.05")
        refused = {
            "top_k": self.top_k != 1,
            "record": self.record,
            "grid covariates": "covariates" in self.grid,
        }
        for name, given in refused.items():
            if given:
                option = "--grid covariates" if " " in name else f"--{name.replace('_', '-')}"
                raise ConfigError(
                    f"{option} does not apply to a panel sweep: {PANEL_SWEEP_REFUSED[name]}; "
                    f"leave it out"
                )
        self.selection_plan()  # a rolling window's checks before anything is read

    def checked_baselines(self) -> tuple[str, ...]:
        """The baselines as the panel's model names (a per-instrument model each: classical,
        or ``lstm_local``), the reference first when not named."""
        given = tuple(b.strip() for b in self.baselines if b.strip())
        points = self.target in POINT_TARGETS
        names: tuple[str, ...] = ()
        if given:
            names = return_model_names(given, self.target) if points else panel_model_names(given)
        for b in names:
            if split_name(b)[0] in CELLS:
                raise ConfigError(
                    f"baseline {b}: the global recurrent model is swept (--grid cell=...), not "
                    f"a baseline; name per-instrument models such as gjr_t,har (or lstm_local)"
                )
        return names if self.reference in names else (self.reference, *names)

    def fingerprint(self) -> dict[str, Any]:
        """:meth:`SweepConfig.fingerprint`, a panel passed in named by its source (the data's
        hash is added by the run)."""
        d = super().fingerprint()
        if not isinstance(self.data, str):
            d["data"] = str(getattr(self.data, "source", "a panel"))
        return d

    # -- the walks --------------------------------------------------------------------------
    def _plan(self, start: str, end: str | None) -> PanelWalkPlan:
        return PanelWalkPlan(
            start,
            end,
            refit_every=self.refit_every,
            min_train=self.min_train,
            scheme=self.scheme,
            train_size=self.train_size,
            gap=self.gap,
        )

    def selection_plan(self) -> PanelWalkPlan:
        """The panel walk of the selection period (the test's scheme)."""
        return self._plan(*self.selection_period())

    def settings(self, params: dict[str, Any]) -> dict[str, Any]:
        """A configuration's settings of the global model: ``fixed``, then its ``params``
        (the cell is its model's name, :meth:`model_of`)."""
        return {k: v for k, v in {**self.fixed, **params}.items() if k != "cell"}

    def model_of(self, params: dict[str, Any]) -> str:
        """A configuration's model name: its cell, with the covariate groups it reads."""
        return self.model_name(str({**self.fixed, **params}.get("cell", "lstm")))

    def warm(self, params: dict[str, Any]) -> bool:
        """Whether a configuration's refits warm-start (the panel's default: yes)."""
        return bool({**DEFAULTS, **self.settings(params)}["warm_start"])

    def factory(self, params: dict[str, Any], seed: int) -> PanelFactory:
        """The global model of a configuration with ``seed``: the panel evaluation's factory
        of its cell, with the configuration's settings."""
        name = self.model_of(params)
        base = self.factories((name,), seed)[name]
        return functools.partial(base, **self.settings(params))

    def factories(self, names: tuple[str, ...], seed: int = 0) -> dict[str, PanelFactory]:
        """The panel evaluation's factories of ``names`` (the recurrent ones with ``seed``)."""
        settings: dict[str, Any] = {"column": self.column, "seed": seed, "device": self.device}
        if self.target in POINT_TARGETS:
            return return_factories(names, self.target, **settings)
        return panel_factories(names, proxy=self.proxy, **settings)

    def test_config(
        self, params: dict[str, Any], out: str | None = None, *, resume: bool = False
    ) -> PanelSweepTest:
        """The panel evaluation of the test period: the chosen configuration (seed 0) beside
        the baselines, written to ``out`` (``resume``: continued there)."""
        chosen = self.settings(params)
        recurrent = {"hidden", "window", "warm_epochs", "warm_start"}
        return PanelSweepTest(
            data=self.data,
            layout=self.layout,
            **self.read_options(),
            target=self.target,
            proxy=self.proxy,
            test_start=self.test_start,
            test_end=self.test_end,
            refit_every=self.refit_every,
            scheme=self.scheme,
            train_size=self.train_size,
            gap=self.gap,
            min_train=self.min_train,
            device=self.device,
            alpha=self.alpha,
            models=(split_name(self.model_of(params))[0], *self.baselines),
            reference=self.reference,
            covariates=self.covariates,
            embedding=bool(chosen.get("embedding", False)),
            recurrent_epochs=int(chosen.get("epochs", DEFAULTS["epochs"])),
            **{k: v for k, v in chosen.items() if k in recurrent and v is not None},
            chosen=chosen,
            out=out,
            executor=self.executor,
            n_jobs=self.n_jobs,
            ray_address=self.ray_address,
            quiet=True,
            resume=resume,
        )


@dataclass(kw_only=True)
class PanelSweepTest(PanelEvaluationConfig):
    """The panel evaluation that tests a sweep's choice: a :class:`PanelEvaluationConfig`
    whose global recurrent models take the ``chosen`` settings (all of them: also those the
    panel evaluation has no option for, such as ``lr``)."""

    chosen: dict[str, Any] = field(default_factory=dict)

    def factories(self, seed: int = 0) -> dict[str, PanelFactory]:
        """The panel evaluation's factories, the global recurrent ones with ``chosen``."""
        out = super().factories(seed)
        return {
            m: functools.partial(f, **self.chosen) if split_name(m)[0] in CELLS else f
            for m, f in out.items()
        }
