"""The choice of a sweep, from the selection scores alone: the selection table that ranks the configurations, and the tables of the test scores of the chosen ones, the others (for the record) and the baselines."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gatecast.evaluation.significance import diebold_mariano
from gatecast.experiment.sweep.config import SweepConfig
from gatecast.experiment.sweep.space import show
from gatecast.experiment.sweep.trial_registry import date_losses


@dataclass(frozen=True)
class Choice:
    """The selection table (one row per configuration, ranked), the top k configurations chosen
    from it, and every configuration's parameters (as the grid's values)."""

    selection: pd.DataFrame
    chosen: list[str]
    params_of: dict[str, dict[str, Any]]

    @property
    def selected(self) -> dict[str, Any]:
        """The parameters of the best configuration."""
        return self.params_of[self.chosen[0]]

    @property
    def others(self) -> list[str]:
        """The configurations not chosen, by rank (tested only for the record)."""
        return [c for c in self.selection.index if c not in self.chosen]


def choose(
    trials: pd.DataFrame, records: list[dict[str, Any]], cfg: SweepConfig, swept: list[str]
) -> Choice:
    """Rank the candidates (no baseline) of ``trials`` by their mean selection loss over seeds
    and choose the top ``cfg.top_k``; nothing of the test period is read."""
    cand = trials[(trials["phase"] == "select") & ~trials["config"].isin(cfg.baselines)]
    params_of: dict[str, dict[str, Any]] = {}
    for r in records:
        if r["config"] not in cfg.baselines:
            params_of[r["config"]] = restore(r["params"], cfg)
    selection = selection_table(cand, params_of, swept)
    return Choice(selection, list(selection.index[: cfg.top_k]), params_of)


def restore(params: Mapping[str, Any], cfg: SweepConfig) -> dict[str, Any]:
    """Stored JSON params back as the grid's values (tuples stay tuples)."""
    out = {}
    for k, v in params.items():
        vals = cfg.grid.get(k, ())
        match = [g for g in vals if json.loads(json.dumps(g, default=list)) == v]
        out[k] = match[0] if match else v
    return out


def selection_table(
    cand: pd.DataFrame, params_of: Mapping[str, Mapping[str, Any]], swept: list[str]
) -> pd.DataFrame:
    """One row per configuration of the selection trials ``cand``: its swept values, seeds, the
    mean and sd of its selection loss over seeds and its rank (1: the lowest mean)."""
    g = cand.groupby("config")["score"]
    table = pd.DataFrame({"seeds": g.size(), "select_mean": g.mean(), "select_sd": g.std(ddof=1)})
    for name in reversed(swept):
        table.insert(0, name, [show(params_of[c][name]) for c in table.index])
    # ties broken by the configuration key: the same choice on every executor and rerun
    ranked: pd.DataFrame = table.sort_values(["select_mean"], kind="stable")
    ranked = ranked.rename_axis("config")
    ranked.insert(len(ranked.columns), "rank", np.arange(1, len(ranked) + 1))
    return ranked


def tested_table(
    trials: pd.DataFrame,
    root: Path,
    configs: list[str],
    baselines: tuple[str, ...],
    selection: pd.DataFrame,
    loss: str,
) -> pd.DataFrame:
    """One row per configuration of ``configs`` and baseline: its selection and test loss (mean
    over seeds), the test sd, its selection rank and, beside the first baseline, the
    Diebold-Mariano statistic and p-value of its per-date test losses against that baseline's."""
    rows = []
    ref = baselines[0] if baselines else None
    ref_loss = date_losses(trials, root, ref, "test") if ref else None
    for c in list(configs) + list(baselines):
        sel = trials[(trials["config"] == c) & (trials["phase"] == "select")]["score"]
        tst = trials[(trials["config"] == c) & (trials["phase"] == "test")]["score"]
        row: dict[str, Any] = {
            "config": c,
            "label": trials.loc[trials["config"] == c, "label"].iloc[0],
            "seeds": len(tst),
            f"select_{loss}": float(sel.mean()) if len(sel) else math.nan,
            f"test_{loss}": float(tst.mean()),
            "test_sd": float(tst.std(ddof=1)) if len(tst) > 1 else math.nan,
            "select_rank": selection["rank"].get(c, math.nan),
        }
        if ref_loss is not None and c != ref:
            mine = date_losses(trials, root, c, "test")
            both = pd.concat([mine, ref_loss], axis=1, join="inner")
            dm = diebold_mariano(both.iloc[:, 0].to_numpy(), both.iloc[:, 1].to_numpy())
            row[f"dm_{ref}"], row[f"p_{ref}"] = dm.statistic, dm.pvalue
        rows.append(row)
    out: pd.DataFrame = pd.DataFrame(rows).set_index("config")
    return out
