"""The settings of a panel evaluation (``gatecast evaluate`` on a panel): its models and their
factories, its reference, what a panel refuses and why, and :class:`PanelEvaluationConfig`;
the run itself is :mod:`gatecast.experiment.panel_evaluation`."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gatecast.data.covariates import covariate_columns
from gatecast.data.panel import Layout
from gatecast.errors import ConfigError
from gatecast.evaluation.panel_walk import (
    PanelFactory,
    PanelWalkPlan,
)
from gatecast.experiment.applies import unused_settings
from gatecast.experiment.panel_models import (
    PanelModelSettings,
    checked_panel_names,
    mode_setting,
    recurrent_settings,
)
from gatecast.experiment.panel_returns import (
    POINT_TARGETS,
    RETURN_REFERENCE,
    point_defaults,
    return_covariate_models,
    return_factories,
    return_model_names,
)
from gatecast.experiment.registry import (
    COMBINATIONS,
    HYBRIDS,
    POINT_WINDOW,
    canonical_names,
    model_spec,
    split_name,
)
from gatecast.experiment.settings import (
    ConfidenceSetSettings,
    CovariateSettings,
    DataSettings,
    EnsembleSettings,
    LaneSettings,
    RecurrentSettings,
    RunSettings,
    TargetSettings,
    WalkSettings,
)
from gatecast.models.config import VarianceConfig
from gatecast.types import CELLS, MODES, Mode, Proxy, check_choice, check_number

if TYPE_CHECKING:
    from typing_extensions import Unpack

#: The models a panel evaluation runs by default: the global LSTM and three classical ones.
PANEL_MODELS = ("lstm", "gjr_t", "garch", "har")
#: The local per-instrument recurrent models: one :class:`RecurrentVariance` per instrument.
LOCAL_MODELS = {f"{c}_local": c for c in CELLS}
#: The hybrids on a panel, one per instrument (there is no global hybrid): ``lstm_resid_local``
#: is the single-series ``lstm_resid`` (a :class:`RecurrentVariance` with a GJR-t residual
#: base, :data:`~gatecast.experiment.registry.HYBRIDS`) walked forward per instrument.
LOCAL_HYBRIDS = {f"{h}_local": h for h in HYBRIDS}
#: The reference a panel evaluation compares with, the first of these among its models.
REFERENCES = ("gjr_t", "garch", "no_change")


def panel_factories(
    models: Iterable[str], *, proxy: Proxy = "squared", **settings: Unpack[PanelModelSettings]
) -> dict[str, PanelFactory]:
    """A factory per model name: a recurrent cell (``lstm``, ``gru``, ``rnn``) is the global
    model (:class:`GlobalRecurrentVariance`), ``lstm_local`` (``gru_local``, ``rnn_local``)
    the local one (a :class:`RecurrentVariance` per instrument, with the same settings),
    ``lstm_resid_local`` (``lstm_garch_local``, ``lstm_hybrid_local``) the single-series
    hybrid per instrument (:data:`LOCAL_HYBRIDS`, the same settings), a
    classical variance model of the registry (``garch``, ``gjr_t``, ``har``...) runs per
    instrument. A name with covariate groups (``lstm+sp500``, ``har_x+vix``) reads their
    columns, which every instrument's frame must hold
    (:func:`gatecast.experiment.panel_covariates.join_panel_covariates`). The recurrent
    settings: :class:`~gatecast.experiment.panel_models.PanelModelSettings` (``window`` 5 by
    default)."""
    from gatecast.models.recurrent.global_variance import GlobalRecurrentVariance
    from gatecast.models.recurrent.variance import RecurrentVariance

    names = panel_model_names(models)
    # the settings the global and the local recurrent models share
    recurrent = recurrent_settings(settings, window=VarianceConfig.window, target=proxy)
    column, embedding = recurrent["column"], settings.get("embedding", False)
    mode = mode_setting(settings)  # the global model's; the local variance models have none
    out: dict[str, PanelFactory] = {}
    for name in names:
        base, groups = split_name(name)
        reads: dict[str, Any] = {"covariates": covariate_columns(groups)} if groups else {}
        if base in LOCAL_MODELS:
            if mode:
                raise ConfigError(
                    f"model {name!r} is a RecurrentVariance per instrument, which has window "
                    f"mode only: mode 'sequence' trains the global model ({base.split('_')[0]}) "
                    f"in sequence mode; leave {name} out, or use mode 'window'"
                )
            out[name] = functools.partial(
                RecurrentVariance, cell=LOCAL_MODELS[base], **recurrent, **reads
            )
            continue
        if base in LOCAL_HYBRIDS:
            if groups:
                raise ConfigError(
                    f"model {name}: a hybrid on a panel reads no covariates yet; name it "
                    f"without them ({base})"
                )
            out[name] = functools.partial(
                RecurrentVariance, **HYBRIDS[LOCAL_HYBRIDS[base]], **recurrent
            )
            continue
        if name in HYBRIDS:
            raise ConfigError(
                f"model {name!r} does not run on a panel yet as one global model; a hybrid "
                f"runs per instrument there: use {name}_local"
            )
        if name in COMBINATIONS:
            raise ConfigError(
                f"model {name!r} does not run on a panel yet (combinations are single-series "
                f"only); use a cell ({', '.join(CELLS)}) or a classical model"
            )
        if base in CELLS:
            out[name] = functools.partial(
                GlobalRecurrentVariance,
                cell=base,
                embedding=embedding,
                **recurrent,
                **mode,
                **reads,
            )
        else:
            spec = model_spec("variance", name)
            params = {**spec.params, "target": proxy, "column": column, **reads}
            if groups and "name" in spec.params:  # har_x+vix: its forecasts' column
                params["name"] = name
            out[name] = functools.partial(spec.load(), **params)
    return out


def panel_model_names(models: Iterable[str]) -> tuple[str, ...]:
    """``models`` as identifiers (the registry's variance models and the local recurrent
    ones, either with covariate groups: ``lstm+sp500``); a :class:`ConfigError` names an
    unknown one or one given twice."""
    given = tuple(m.strip() for m in models if m.strip())

    def local(m: str) -> bool:
        return split_name(m)[0] in (*LOCAL_MODELS, *LOCAL_HYBRIDS)

    return checked_panel_names(
        given,
        local,
        lambda names: canonical_names(names, "variance", covariates=True),
        also=", ".join((*LOCAL_MODELS, *LOCAL_HYBRIDS)),
        example="lstm,lstm_local,gjr_t",
    )


def recurrent_models(models: Iterable[str]) -> list[str]:
    """The recurrent ones of ``models`` (global cells and local models)."""
    return [m for m in models if split_name(m)[0] in (*CELLS, *LOCAL_MODELS, *LOCAL_HYBRIDS)]


def default_reference(models: Iterable[str]) -> str:
    """The reference of a panel evaluation: GJR-t, else GARCH, else no change, whichever comes
    first among ``models``; a :class:`ConfigError` when none is there."""
    names = list(models)
    found = next((r for r in REFERENCES if r in names), None)
    if found is None:
        raise ConfigError(
            f"a panel evaluation compares every model with a classical reference "
            f"({', '.join(REFERENCES)}), and the models {', '.join(names)} have none; add gjr_t"
        )
    return found


def check_panel_target(target: str, proxy: str) -> None:
    """Refuse a target a panel does not evaluate and a proxy with a return or direction
    target."""
    if target not in ("variance", *POINT_TARGETS):
        raise ConfigError(
            f"--target {target}: a panel evaluates the variance, return and direction targets; "
            f"use --target variance, return or direction, or one series for {target}"
        )
    if proxy != "squared":
        what = {
            "return": "a return target is scored against the log return",
            "direction": "a direction target is scored against the sign of the log return",
        }.get(target, "a panel is scored against the squared return only so far")
        raise ConfigError(f"--proxy {proxy} does not apply: {what}; leave --proxy out")


# -- gatecast evaluate on a panel ------------------------------------------------------------
#: Settings of ``gatecast evaluate`` that a panel evaluation does not take, and why (each is
#: refused by name, before anything is read or fit, when given).
PANEL_REFUSED: Mapping[str, str] = {
    "blocks": "the out-of-time blocks run on one series only so far",
    "intervals": "conformal intervals run on one series only so far",
    "interval_scale": "it scales the conformal intervals, which run on one series only",
    "seeds": "a panel backtest or VaR runs one seed per recurrent model (seed 0) so far (a "
    "panel evaluation takes --seeds)",
    "features": "the panel's recurrent models take their default inputs only so far (other "
    "series as inputs: --covariates)",
    "train_proxy": "the panel's recurrent models train against their default proxy only so far",
}


def panel_refusals(
    given: Iterable[str],
    models: Iterable[str],
    target: str = "variance",
    seeds: int | None = None,
) -> dict[str, str]:
    """Of the settings ``given`` (option names as parameters: ``n_jobs``), those a panel
    evaluation of ``target`` with ``models`` does not use, each with its reason, in the order
    given. ``seeds``: the number a panel evaluation runs (``--seeds`` then refused only
    without a recurrent model, as on one series); None (a panel backtest or VaR): refused."""
    names = list(dict.fromkeys(given))
    # the recurrent settings, when no recurrent model is there (as a single-series evaluate)
    as_cells = [LOCAL_MODELS.get(m, LOCAL_HYBRIDS.get(m, m)) for m in models]
    refused = dict(PANEL_REFUSED)
    if seeds is not None:
        del refused["seeds"]
    else:  # no seeds, nothing to average
        refused["ensemble"] = f"it averages the seeds, and {PANEL_REFUSED['seeds']}"
    unused = unused_settings(
        {"target": target, "models": as_cells, "scheme": "expanding", "seeds": seeds},
        # train_size without --scheme rolling: refused by the walk's settings (WalkSettings)
        [n for n in names if n not in refused and n not in ("proxy", "train_proxy", "train_size")],
    )
    reasons = {**unused, **refused}
    if target in POINT_TARGETS:
        reasons["proxy"] = f"a {target} target is scored against the sign of the log return"
        if target == "return":
            reasons["proxy"] = "a return target is scored against the log return"
    return {n: reasons[n] for n in names if n in reasons}


@dataclass(kw_only=True)
class PanelSettings:
    """What every job on a panel shares (evaluate, backtest and VaR on a panel): ``data``, a
    bundled panel (``sp500_stocks``, ``arch_panel``), a long or wide file, a folder of files
    or a DataFrame, read by :func:`gatecast.load_panel` with ``layout``; ``min_train`` rows
    each instrument needs before its first refit; the global model's ``embedding`` (a learned
    vector per instrument) and ``device``; and ``alpha``, the size at which a test per
    instrument (DM, a VaR backtest) counts as significant."""

    data: Any = "sp500_stocks"
    layout: Layout = "auto"
    min_train: int = 250
    embedding: bool = False
    device: str = "auto"
    alpha: float = 0.05

    def __post_init__(self) -> None:
        check_number(self.min_train, "min_train", at_least=1, integer=True)
        if not 0 < self.alpha < 1:
            raise ConfigError(f"alpha={self.alpha}: the tests' size, in (0, 1), e.g. 0.05")
        parent: Any = getattr(super(), "__post_init__", None)
        if parent is not None:
            parent()


@dataclass(kw_only=True)
class PanelEvaluationConfig(
    PanelSettings,
    DataSettings,
    TargetSettings,
    WalkSettings,
    RecurrentSettings,
    EnsembleSettings,
    LaneSettings,
    CovariateSettings,
    ConfidenceSetSettings,
    RunSettings,
):
    """Everything a panel evaluation needs, as plain values (``gatecast evaluate`` on a panel).

    ``data`` is a bundled panel (``sp500_stocks``, ``arch_panel``), a long or wide file, a
    folder of files or a DataFrame, read by :func:`gatecast.load_panel` with ``layout``.
    ``models``: the global recurrent model (a cell), ``lstm_local`` (one per instrument) and
    per-instrument classical models; ``reference`` (None: GJR-t, else GARCH, else no change)
    is what each is compared with. The walk refits every ``refit_every`` dates of the panel's
    calendar from ``test_start``, each instrument trained on all its rows before the refit
    (``scheme`` expanding) or its last ``train_size`` rows (rolling), less ``gap`` rows, and
    needing ``min_train`` training rows. The recurrent settings are those of ``gatecast evaluate`` (window 5 for
    variance models); ``embedding`` gives the global model a learned vector per instrument;
    ``seeds`` runs each recurrent model once per seed in ``range(seeds)``
    (:mod:`gatecast.experiment.panel_seeds`), scored on the mean of its seeds' losses or, with
    ``ensemble``, on the loss of its seeds' mean forecast. ``mode`` ``sequence`` runs the
    global model (and the local return models) in sequence mode, with the lanes ``chunks``,
    ``chunk_len`` and ``burn_in`` (None: the model's own; refused in window mode).
    ``covariates`` names covariate groups (``sp500``, ``vix``) joined onto each instrument's
    dates, as for one series; ``models`` then becomes an ablation
    (:func:`gatecast.experiment.panel_covariates.panel_covariate_models`; for a return target
    :func:`gatecast.experiment.panel_returns.return_covariate_models`: ``arx`` beside
    ``ar1``).
    """

    #: Empty: the target's defaults (``PANEL_MODELS``, ``RETURN_MODELS``, ``DIRECTION_MODELS``).
    models: tuple[str, ...] = ()
    reference: str | None = None
    #: ``sequence``: the global model (and the local return models) in sequence mode.
    mode: Mode = "window"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_panel_target(self.target, self.proxy)
        check_choice(self.mode, MODES, "mode")
        if self.seeds != 1 and not self.takes_seeds():
            raise ConfigError(
                f"--seeds does not apply to a panel: {PANEL_REFUSED['seeds']}; leave it out"
            )
        self.panel_plan()  # its checks (a rolling window's train_size) before anything is read
        returns = self.target in POINT_TARGETS  # a return or its direction
        if self.window is None:
            self.window = POINT_WINDOW if returns else VarianceConfig.window
        if returns:
            self.covariates, self.models = return_covariate_models(
                self.covariates,
                return_model_names(self.models or point_defaults(self.target), self.target),
            )
        else:
            self.models = panel_model_names(self.models or PANEL_MODELS)
            self.covariates, self.models = _with_covariates(self.covariates, self.models)
        if self.reference is None:
            self.reference = RETURN_REFERENCE if returns else default_reference(self.models)
        if self.walks() and self.reference not in self.models:  # before the walk, not after it
            raise ConfigError(
                f"reference {self.reference!r} is not among the models "
                f"({', '.join(self.models)}); add it or pick one of them"
            )
        self.factories()  # refuses a model that does not run on a panel (a hybrid), by name
        check_seeds(self.seeds, self.models, self.ensemble)

    def takes_seeds(self) -> bool:
        """Whether this config runs its recurrent models once per seed (a panel evaluation
        does; :mod:`gatecast.experiment.panel_seeds`)."""
        return True

    def walks(self) -> bool:
        """Whether this config runs a walk-forward scored against ``reference`` (a panel
        backtest of a finished run's forecasts does not)."""
        return True

    def factories(self, seed: int = 0) -> dict[str, PanelFactory]:
        """A factory per model, the recurrent ones with ``seed`` (see :func:`panel_factories`)."""
        assert self.window is not None
        settings: PanelModelSettings = {
            "column": self.column,
            "hidden": self.hidden,
            "window": self.window,
            "epochs": self.recurrent_epochs,
            "warm_epochs": self.warm_epochs,
            "warm_start": self.warm_start,
            "seed": seed,
            "embedding": self.embedding,
            "device": self.device,
            "mode": self.mode,
            "chunks": self.chunks,
            "chunk_len": self.chunk_len,
            "burn_in": self.burn_in,
        }
        if self.target in POINT_TARGETS:
            return return_factories(self.models, self.target, **settings)
        return panel_factories(self.models, proxy=self.proxy, **settings)

    def panel_plan(self) -> PanelWalkPlan:
        """The refit dates' plan."""
        return PanelWalkPlan(
            self.test_start,
            self.test_end,
            refit_every=self.refit_every,
            min_train=self.min_train,
            scheme=self.scheme,
            train_size=self.train_size,
            gap=self.gap,
        )


def _with_covariates(
    covariates: tuple[str, ...], models: tuple[str, ...]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    from gatecast.experiment.panel_covariates import panel_covariate_models

    return panel_covariate_models(covariates, models)


def check_seeds(seeds: int, models: Sequence[str], ensemble: bool = False) -> None:
    """Refuse ``seeds`` below 1 or not whole, more than one seed for ``models`` without a
    recurrent model (nothing would differ between the seeds), as one series does, and an
    ``ensemble`` of fewer than two seeds."""
    check_number(seeds, "seeds", at_least=1, integer=True)
    if ensemble and seeds < 2:
        raise ConfigError(
            f"ensemble=True (--ensemble) scores each recurrent model on its seeds' mean "
            f"forecast, and seeds={seeds}; use seeds 2 or more (--seeds 2) or leave it out"
        )
    if seeds > 1 and not recurrent_models(models):
        raise ConfigError(
            f"--seeds {seeds} runs each recurrent model once per seed, and the models "
            f"{', '.join(models)} have none; leave --seeds out or add lstm"
        )
