"""What should ``lstm_hybrid`` train against on a close-only file? A selection-period comparison,
strictly before any test block gatecast reports (those start in 2005). Not a test; prints tables.

    .venv/bin/python bench/hybrid_close_selection.py [--seeds 1] [--n-jobs 2]

Protocol: the blocks protocol of ``gatecast evaluate --blocks`` on selection blocks (S&P 500 with
High/Low dropped, 2001-2004; WTI, ``--dropna``, 1997-2000 and 2001-2004): each block an expanding
walk-forward from the first row, refit every 21 days, warm-started chains cold at each block, the
models and settings of ``gatecast evaluate`` (built by its own ``model_factory``), QLIKE against
the squared return. Per block: QLIKE, its difference to GARCH(1,1), the DM p-value against
GARCH(1,1), and whether the candidate is inside the 90% MCS of itself and the classical models.

Candidates (what the hybrid trains against on closes; everything else as ``lstm_hybrid``):

- ``A_squared``: QLIKE against r^2 (the close-only default before this selection);
- ``B_abs``: the absolute-return loss 2 sqrt(x) - log x - 2 with x = kappa r^2 / v (the Laplace
  likelihood of |r|: its minimiser is v = kappa (E|r|)^2), kappa = the close-only HAR's level
  fit on the training rows (mean r^2 / mean of its fitted |r| squared), so v is on the r^2
  level; a 5-sigma day weighs 5, not 25, as in the HAR on |r|;
- ``C_shrunk``: QLIKE against 0.5 r^2 + 0.5 g, g the residual base's forecast for the day made
  the day before (a posterior mean of the day's variance with g as its prior; the net learns
  half its correction of g);
- ``D_base_har``: the residual base the close-only HAR (on |r|) instead of GJR-t, QLIKE on r^2.

Diagnostic (S&P 500 with High/Low, the same block): the hybrid trained against the Parkinson
range (the default with the range) and against r^2, to test whether the training target is what
the close-only hybrid lacks.

Selection rule, fixed before the first run: the candidate with the lowest mean over the three
selection blocks of (QLIKE - GARCH(1,1)'s QLIKE) replaces A only if it beats A's mean by more
than 0.002; otherwise A stays.

C won (docs/close-only.md has the table) and is now the close-only default of residual models,
``train_proxy="shrunk"``; A passes ``train_proxy="squared"`` and C keeps its own subclass (the
same target, computed as it was for the recorded table), so a rerun computes what the table
recorded.
``--model lstm_resid --candidates AC --skip-diagnostic`` is the check on ``lstm_resid``.
"""

from __future__ import annotations

import argparse
import functools
import time
from typing import Any

import numpy as np
import pandas as pd
import torch

from gatecast.data import load
from gatecast.data.volatility import percent_returns
from gatecast.evaluation.losses import qlike_loss
from gatecast.evaluation.significance import diebold_mariano, model_confidence_set
from gatecast.evaluation.walkforward import WalkForwardPlan, walk_forward
from gatecast.experiment.evaluation import EvaluationConfig, model_factory
from gatecast.models.recurrent.net import RecurrentNet
from gatecast.models.recurrent.variance import RecurrentVariance

CLASSICAL = ("garch", "gjr_t", "egarch_t", "har")
SHRINK = 0.5


def abs_qlike_logvar(log_var: torch.Tensor, proxy: torch.Tensor) -> torch.Tensor:
    """2 sqrt(x) - log x - 2, x = p e^{-h}: the Laplace likelihood of sqrt(p) at scale e^{h/2}."""
    x = proxy * torch.exp(-log_var)
    return (2.0 * torch.sqrt(x) - torch.log(x) - 2.0).mean()


class AbsLoss(RecurrentVariance):
    """Candidate B: the |r| loss, the target on the r^2 level by the close-only HAR's level."""

    def training_frames(self, history: pd.DataFrame, cfg: Any) -> tuple[Any, Any, str]:
        feats, y, col = super().training_frames(history, cfg)
        har = self.classical_["har"]
        assert har.measure_ == "abs", "candidate B is for close-only data"
        return feats, y * har.level_, col

    def loss_fn(self, cfg: Any, reduction: str = "mean") -> Any:
        return abs_qlike_logvar

    def init_net(self, net: RecurrentNet, y_train: np.ndarray) -> None:
        with torch.no_grad():  # the minimiser of the |r| loss for a constant
            net.head.bias.fill_(float(2 * np.log(np.sqrt(y_train).mean())))


class Shrunk(RecurrentVariance):
    """Candidate C: QLIKE against SHRINK r^2 + (1 - SHRINK) g (on the ratio scale of a residual)."""

    def training_frames(self, history: pd.DataFrame, cfg: Any) -> tuple[Any, Any, str]:
        feats, y, col = super().training_frames(history, cfg)
        assert cfg.residual is not None
        return feats, SHRINK * y + (1 - SHRINK), col


def factories(
    seeds: int, ranges: bool, model: str = "lstm_hybrid", only: str = "ABCD"
) -> dict[str, Any]:
    cfg = EvaluationConfig(models=(model, *CLASSICAL))
    out: dict[str, Any] = {m: model_factory(m, cfg) for m in CLASSICAL}
    for s in range(seeds):
        kw = model_factory(model, cfg, seed=s).keywords
        if ranges:
            out[f"range_parkinson[s{s}]"] = functools.partial(RecurrentVariance, **kw)
            out[f"range_squared[s{s}]"] = functools.partial(
                RecurrentVariance, **(kw | {"train_proxy": "squared"})
            )
            continue
        sq = kw | {"train_proxy": "squared"}
        cands = {
            "A_squared": functools.partial(RecurrentVariance, **sq),
            "B_abs": functools.partial(AbsLoss, **sq),
            "C_shrunk": functools.partial(Shrunk, **sq),
            "D_base_har": functools.partial(RecurrentVariance, **(sq | {"residual": "har"})),
        }
        out |= {f"{k}[s{s}]": f for k, f in cands.items() if k[0] in only}
    return out


def score(
    df: pd.DataFrame, start: str, end: str, seeds: int, ranges: bool, jobs: int, **which: Any
) -> Any:
    data = df.loc[:end]
    plan = WalkForwardPlan(start, end, refit_every=21)
    models = factories(seeds, ranges, **which)
    warm = {m: m not in CLASSICAL for m in models}
    t0 = time.perf_counter()
    res = walk_forward(models, data, plan, warm_start=warm, n_jobs=jobs, quiet=True)
    secs = time.perf_counter() - t0
    fc = res.forecasts
    r2 = (percent_returns(data) ** 2).reindex(fc.index)
    per_seed = pd.DataFrame({m: qlike_loss(r2.to_numpy(), fc[m].to_numpy()) for m in fc})
    # a candidate's loss is the mean over its seeds, as gatecast reports recurrent models
    names = dict.fromkeys(m.split("[")[0] for m in fc)
    losses = pd.DataFrame(
        {n: per_seed[[m for m in fc if m.split("[")[0] == n]].mean(axis=1) for n in names}
    )
    rows = {}
    for n in names:
        row = {"qlike": losses[n].mean(), "vs_garch": losses[n].mean() - losses["garch"].mean()}
        row["p_garch"] = (
            np.nan
            if n == "garch"
            else diebold_mariano(losses[n].to_numpy(), losses["garch"].to_numpy()).pvalue
        )
        mcs = model_confidence_set(losses[list(dict.fromkeys((*CLASSICAL, n)))])
        row["in_mcs"] = bool(mcs.loc[n, "in_mcs"])
        rows[n] = row
    return pd.DataFrame(rows).T, secs, len(fc)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--n-jobs", type=int, default=2)
    ap.add_argument("--skip-diagnostic", action="store_true")
    ap.add_argument(
        "--model",
        default="lstm_hybrid",
        help="the leaderboard model the candidates change (lstm_resid: a check of the choice)",
    )
    ap.add_argument("--candidates", default="ABCD", help="letters of the candidates to run")
    args = ap.parse_args()
    sp = load("sp500")
    sp_close = sp.drop(columns=["high", "low"])
    wti = load("wti", dropna=True)
    blocks = [
        ("S&P 500 closes 2001-04", sp_close, "2001-01-01", "2004-12-31", False),
        ("WTI 1997-2000", wti, "1997-01-01", "2000-12-31", False),
        ("WTI 2001-04", wti, "2001-01-01", "2004-12-31", False),
    ]
    if not args.skip_diagnostic:
        blocks.append(("S&P 500 with range 2001-04", sp, "2001-01-01", "2004-12-31", True))
    tables = {}
    for label, df, start, end, ranges in blocks:
        table, secs, n = score(
            df, start, end, args.seeds, ranges, args.n_jobs, model=args.model, only=args.candidates
        )
        tables[label] = table
        print(f"\n{label}: {n} test days, {secs:.0f} s")
        print(table.to_string(float_format=lambda v: f"{v:.4f}"))
    close = [k for k in tables if "range" not in k]
    cands = [n for n in tables[close[0]].index if n[:2] in ("A_", "B_", "C_", "D_")]
    summary = pd.DataFrame(
        {
            n: {
                **{k: tables[k].loc[n, "vs_garch"] for k in close},
                "mean vs GARCH": np.mean([tables[k].loc[n, "vs_garch"] for k in close]),
                "blocks <= GARCH": sum(tables[k].loc[n, "vs_garch"] <= 0 for k in close),
                "blocks in MCS": sum(bool(tables[k].loc[n, "in_mcs"]) for k in close),
            }
            for n in cands
        }
    ).T
    print("\nselection (QLIKE minus GARCH(1,1)'s; lower is better):")
    print(summary.to_string(float_format=lambda v: f"{v:+.4f}"))


if __name__ == "__main__":
    main()
