"""Seeds on a panel (``gatecast evaluate --seeds K`` on a panel): each recurrent model walked
forward once per seed, scored as one series scores its seeds (the mean of the seeds' losses,
or with ``--ensemble`` the loss of the seeds' mean forecast), each seed's pooled summary on its
own and the spread of the pooled median ratio over seeds."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from gatecast.evaluation.panel_scores import PanelScores
from gatecast.evaluation.panel_walk import (
    PanelFactory,
    PanelWalkPlan,
    PanelWalkResult,
    panel_walk_forward,
)
from gatecast.experiment.panel_evaluation_config import check_seeds as check_seeds
from gatecast.experiment.panel_evaluation_config import recurrent_models
from gatecast.experiment.panel_returns import score_panel_target
from gatecast.types import Proxy

__all__ = [
    "PanelSeeds",
    "check_seeds",
    "ensemble_walk",
    "score_seeds",
    "scorer",
    "seed_members",
    "walk_seeds",
]

#: Scores a walk whose recurrent models may have several columns (``members``: model -> its
#: columns; None: a column per model).
Scorer = Callable[[PanelWalkResult, Mapping[str, Sequence[str]] | None], PanelScores]
#: The summary columns a seed's row keeps (those of every target).
SEED_COLUMNS = ("median_ratio", "wins", "losses", "in_mcs", "instruments")


def seed_members(models: Sequence[str], seeds: int, first: int = 0) -> dict[str, list[str]]:
    """Model -> its walk-forward columns: with ``seeds`` > 1, ``lstm[s0]``, ``lstm[s1]``... (the
    seeds ``first``, ``first + 1``...) per recurrent model, as one series names them; the
    model itself otherwise, and for every model with one seed (a run of one seed keeps its
    names, its run folder and its numbers)."""
    recurrent = set(recurrent_models(models))
    return {
        m: [f"{m}[s{first + k}]" for k in range(seeds)] if seeds > 1 and m in recurrent else [m]
        for m in models
    }


@dataclass
class PanelSeeds:
    """The seeds of a panel evaluation's recurrent models: ``per_seed``, one row per model and
    seed (index ``model``, ``seed``) with the pooled summary of the panel evaluation of that
    seed alone (its recurrent models' forecasts of that seed beside the classical ones:
    ``median_ratio``, ``wins``, ``losses``, ``in_mcs``, ``instruments``), and ``spread``, one
    row per recurrent model: ``seeds`` and the ``min``, ``median``, ``max`` and ``sd`` (ddof 1)
    over seeds of the pooled median ratio (``ratio_min``...)."""

    per_seed: pd.DataFrame
    spread: pd.DataFrame
    members: dict[str, list[str]]

    def __str__(self) -> str:
        with pd.option_context("display.width", 160):
            return str(self.spread.to_string(float_format=lambda v: f"{v:.4g}"))

    def with_means(self, forecasts: pd.DataFrame) -> pd.DataFrame:
        """``forecasts`` (a column per seed) with a column per recurrent model: the mean of its
        seeds' forecasts (as one series writes them)."""
        out: pd.DataFrame = forecasts.copy()
        for m, keys in self.members.items():
            if len(keys) > 1:
                out[m] = forecasts[keys].mean(axis=1)
        return out


def score_seeds(
    walk: PanelWalkResult, members: Mapping[str, list[str]], score: Scorer
) -> PanelSeeds:
    """Score each seed of ``walk`` alone (:class:`PanelSeeds`): seed ``k``'s walk holds the
    ``k``-th column of each recurrent model under the model's name, beside the classical
    models, and ``score`` scores it as a panel evaluation of that one seed."""
    seeds = max(len(keys) for keys in members.values())
    rows: dict[str, list[dict[str, Any]]] = {m: [] for m, keys in members.items() if len(keys) > 1}
    for k in range(seeds):
        names = {(keys[k] if len(keys) > 1 else m): m for m, keys in members.items()}
        one = PanelWalkResult(walk.forecasts[list(names)].rename(columns=names), walk.folds, 0.0)
        summary = score(one, None).summary
        for m, keys in members.items():
            if len(keys) > 1:
                row = {c: summary.loc[m, c] for c in SEED_COLUMNS}
                rows[m].append({"model": m, "seed": _seed_of(keys[k]), **row})
    per_seed = pd.DataFrame([r for m in rows for r in rows[m]]).set_index(["model", "seed"])
    spread = per_seed.groupby(level="model", sort=False)["median_ratio"].agg(
        seeds="size",
        ratio_min="min",
        ratio_median="median",
        ratio_max="max",
        ratio_sd=lambda r: float(np.std(r, ddof=1)),
    )
    return PanelSeeds(per_seed, spread, {m: list(k) for m, k in members.items()})


def ensemble_walk(walk: PanelWalkResult, members: Mapping[str, Sequence[str]]) -> PanelWalkResult:
    """``walk`` with a column per model: a recurrent model's the mean of its seeds' forecasts
    (a seed ensemble; for variance the mean of the variance forecasts, as one series has it),
    every other model's its own."""
    fc = walk.forecasts
    means = {
        m: fc[list(keys)].mean(axis=1, skipna=False) if len(keys) > 1 else fc[keys[0]]
        for m, keys in members.items()
    }
    return PanelWalkResult(pd.DataFrame(means, index=fc.index), walk.folds, walk.seconds)


def walk_seeds(
    factories_of: Callable[[int], Mapping[str, PanelFactory]],
    panel: Mapping[str, pd.DataFrame],
    plan: PanelWalkPlan,
    score: Scorer,
    *,
    seeds: int = 1,
    first: int = 0,
    warm_start: bool = True,
    ensemble: bool = False,
    walker: Callable[..., PanelWalkResult] = panel_walk_forward,
    **where: Any,
) -> tuple[PanelWalkResult, PanelScores, PanelSeeds | None]:
    """The panel walk-forward of every model, each recurrent one once per seed (``first``,
    ``first + 1``... ``seeds`` of them; ``factories_of(seed)``: the models with that seed), and
    its scores: each recurrent model scored on the mean of its seeds' losses date by date
    (one series' rule) or, with ``ensemble``, on its seeds' mean forecast
    (:func:`ensemble_walk`), and (``seeds`` > 1) each seed alone (:func:`score_seeds`). ``where``:
    the keywords of :func:`~gatecast.evaluation.panel_walk.panel_walk_forward` (``run_dir``,
    ``n_jobs``...): a seeded walk resumes as any other; ``walker``: the walk-forward itself."""
    base = factories_of(first)
    members = seed_members(list(base), seeds, first)
    factories: dict[str, PanelFactory] = {}
    warm: dict[str, bool] = {}
    by_seed = {first: base} | {first + k: factories_of(first + k) for k in range(1, seeds)}
    for m, keys in members.items():
        recurrent = m in recurrent_models([m])
        for k, key in enumerate(keys):
            factories[key] = by_seed[first + k][m]
            warm[key] = warm_start and recurrent
    walk = walker(factories, panel, plan, warm_start=warm, **where)
    if seeds == 1:
        return walk, score(walk, None), None
    scores = score(ensemble_walk(walk, members), None) if ensemble else score(walk, members)
    return walk, scores, score_seeds(walk, members, score)


def _seed_of(key: str) -> int:
    """``lstm[s3]`` -> 3."""
    return int(key.rsplit("[s", 1)[1].rstrip("]"))


def scorer(
    target: str,
    panel: Mapping[str, pd.DataFrame],
    reference: str,
    proxy: Proxy,
    column: str | None,
    **tests: Any,
) -> Scorer:
    """The scores of a panel walk of ``target`` against ``reference``
    (:func:`~gatecast.experiment.panel_returns.score_panel_target`; ``tests``: ``alpha``, the
    MCS's ``mcs_size``, ``mcs_block_size``, ``mcs_reps`` and its bootstrap ``seed``), as a
    :data:`Scorer`."""

    def score(
        walk: PanelWalkResult, members: Mapping[str, Sequence[str]] | None = None
    ) -> PanelScores:
        return score_panel_target(
            target,
            walk,
            panel,
            reference=reference,
            proxy=proxy,
            column=column,
            members=members,
            **tests,
        )

    return score
