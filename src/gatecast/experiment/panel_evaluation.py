"""A panel evaluation: the global recurrent variance model and per-instrument classical models
walked forward over a panel, scored per instrument and pooled (``gatecast.evaluate_panel``)."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import pandas as pd

from gatecast.errors import ConfigError
from gatecast.evaluation.panel_walk import (
    PanelFactory,
    PanelScores,
    PanelWalkPlan,
    PanelWalkResult,
    panel_walk_forward,
    score_panel,
)
from gatecast.evaluation.significance import MCS_BLOCK_SIZE, MCS_REPS
from gatecast.experiment.notebook import html_view
from gatecast.experiment.registry import COMBINATIONS, HYBRIDS, canonical_names, model_spec
from gatecast.types import CELLS, PROXIES, Proxy, check_choice

__all__ = ["PANEL_MODELS", "PanelEvaluation", "evaluate_panel", "panel_factories"]

#: The models a panel evaluation runs by default: the global LSTM and three classical ones.
PANEL_MODELS = ("lstm", "gjr_t", "garch", "har")


@dataclass
class PanelEvaluation:
    """The walk-forward (``walk.forecasts``: (instrument, date) x model) and its scores
    (``scores.table`` per instrument and model, ``scores.summary`` pooled per model)."""

    walk: PanelWalkResult
    scores: PanelScores

    @property
    def table(self) -> pd.DataFrame:
        """One row per instrument and model (see :class:`PanelScores`)."""
        return self.scores.table

    @property
    def summary(self) -> pd.DataFrame:
        """One row per model, pooled over the instruments."""
        return self.scores.summary

    def __str__(self) -> str:
        return f"{self.walk.summary()}\n{self.scores}"

    def _repr_html_(self) -> str:
        lines = [self.walk.summary(), "per instrument: .table; pooled, one row per model:"]
        return html_view("panel walk-forward", self.summary, lines)


def panel_factories(
    models: Iterable[str],
    *,
    proxy: Proxy = "squared",
    column: str | None = None,
    hidden: int = 16,
    window: int = 5,
    epochs: int = 30,
    warm_epochs: int = 5,
    warm_start: bool = True,
    seed: int = 0,
    embedding: bool = False,
    device: str = "auto",
) -> dict[str, PanelFactory]:
    """A factory per model name: a recurrent cell (``lstm``, ``gru``, ``rnn``) is the global
    model (:class:`GlobalRecurrentVariance`), a classical variance model of the registry
    (``garch``, ``gjr_t``, ``har``...) runs per instrument."""
    from gatecast.models.recurrent.global_variance import GlobalRecurrentVariance

    names = canonical_names(tuple(models), "variance")
    out: dict[str, PanelFactory] = {}
    for name in names:
        if name in HYBRIDS or name in COMBINATIONS:
            raise ConfigError(
                f"model {name!r} does not run on a panel yet (hybrids and combinations are "
                f"single-series only); use a cell ({', '.join(CELLS)}) or a classical model"
            )
        if name in CELLS:
            out[name] = functools.partial(
                GlobalRecurrentVariance,
                cell=name,
                hidden=hidden,
                window=window,
                epochs=epochs,
                warm_epochs=warm_epochs,
                warm_start=warm_start,
                seed=seed,
                target=proxy,
                column=column,
                embedding=embedding,
                device=device,
            )
        else:
            spec = model_spec("variance", name)
            out[name] = functools.partial(spec.load(), **spec.params, target=proxy, column=column)
    return out


def evaluate_panel(
    panel: Mapping[str, pd.DataFrame],
    *,
    test_start: str,
    test_end: str | None = None,
    models: str | Iterable[str] = PANEL_MODELS,
    refit_every: int = 21,
    min_train: int = 250,
    reference: str = "gjr_t",
    proxy: Proxy = "squared",
    column: str | None = None,
    hidden: int = 16,
    window: int = 5,
    epochs: int = 30,
    warm_epochs: int = 5,
    warm_start: bool = True,
    seed: int = 0,
    embedding: bool = False,
    device: str = "auto",
    alpha: float = 0.05,
    mcs_size: float = 0.10,
    mcs_block_size: int = MCS_BLOCK_SIZE,
    mcs_reps: int = MCS_REPS,
) -> PanelEvaluation:
    """Walk the variance models forward over ``panel`` and score them per instrument and pooled.

    Parameters
    ----------
    panel
        A :class:`gatecast.Panel` (or a mapping instrument -> price frame).
    test_start, test_end, refit_every, min_train
        The :class:`~gatecast.evaluation.panel_walk.PanelWalkPlan`: a refit every
        ``refit_every`` dates of the panel's calendar, expanding windows.
    models
        Names, a list or ``"lstm,gjr_t"``: a cell is the global model (one net for every
        instrument, refit once per refit date), a classical model runs per instrument.
    reference
        The model each is compared with (DM test, QLIKE ratio); must be one of ``models``.
    proxy, column
        What is forecast and scored (``squared``: the squared percent return) and the price
        column.
    hidden, window, epochs, warm_epochs, warm_start, seed, embedding, device
        The global model's settings (those of ``gatecast evaluate`` by default).
    alpha, mcs_size, mcs_block_size, mcs_reps
        The DM tests' level for a win or loss, and the model confidence set's.

    Returns
    -------
    PanelEvaluation with ``table`` (instrument, model, qlike, ratio, dm_ref, p_ref, mcs_p,
    in_mcs, n) and ``summary`` (per model: median_ratio, wins, losses, in_mcs).
    """
    check_choice(proxy, PROXIES, "proxy")
    names = tuple(m.strip() for m in models.split(",")) if isinstance(models, str) else models
    factories = panel_factories(
        names,
        proxy=proxy,
        column=column,
        hidden=hidden,
        window=window,
        epochs=epochs,
        warm_epochs=warm_epochs,
        warm_start=warm_start,
        seed=seed,
        embedding=embedding,
        device=device,
    )
    if reference not in factories:
        raise ConfigError(
            f"reference {reference!r} is not among the models ({', '.join(factories)}); add it "
            f"or pass reference= one of them"
        )
    plan = PanelWalkPlan(test_start, test_end, refit_every=refit_every, min_train=min_train)
    refits = plan.refit_dates(panel)
    for name, df in panel.items():  # refuse a short instrument before anything is fit
        plan.folds(str(name), df.index, refits)
    walk = panel_walk_forward(factories, panel, plan, warm_start=warm_start)
    scores = score_panel(
        walk,
        panel,
        reference=reference,
        proxy=proxy,
        column=column,
        alpha=alpha,
        mcs_size=mcs_size,
        mcs_block_size=mcs_block_size,
        mcs_reps=mcs_reps,
        seed=seed,
    )
    return PanelEvaluation(walk, scores)
