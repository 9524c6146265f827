"""The global recurrent variance model on the 20-stock panel (sp500_stocks) against per-instrument
GJR-GARCH(1,1)-t, GARCH(1,1) and HAR: a panel walk-forward over a test period, refit every
``--refit-every`` trading days, scored per stock (QLIKE, DM vs GJR-t, 90% MCS) and pooled. Not a
test; prints the pooled summary and the wall time per model, and writes the per-stock table.

Every setting is a default of ``gatecast evaluate`` (hidden 16, window 5, 30 epochs cold, warm
starts of 5 epochs, seed 0); nothing is chosen on the test period.

    .venv/bin/python bench/panel_global.py [--test-start 2015-01-01] [--test-end 2018-12-31]
        [--refit-every 21] [--threads 1] [--n-jobs 1] [--out panel_scores.csv]
"""

from __future__ import annotations

import argparse
import functools
import time

import pandas as pd
import torch

from gatecast.data import load_panel
from gatecast.evaluation.panel_walk import PanelWalkPlan, panel_walk_forward, score_panel
from gatecast.models.garch import ArchForecaster
from gatecast.models.har import HARForecaster
from gatecast.models.recurrent.global_variance import GlobalRecurrentVariance


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--test-start", default="2015-01-01")
    ap.add_argument("--test-end", default="2018-12-31")
    ap.add_argument("--refit-every", type=int, default=21)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (a shared machine)")
    ap.add_argument(
        "--n-jobs", type=int, default=1, help="worker processes of the walk (-1: every core)"
    )
    ap.add_argument("--models", default="lstm,gjr_t,garch,har")
    ap.add_argument("--out", default="panel_scores.csv")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    panel = load_panel("sp500_stocks")
    every = {
        "lstm": functools.partial(
            GlobalRecurrentVariance, epochs=30, warm_epochs=5, warm_start=True, device="cpu"
        ),
        "gjr_t": functools.partial(ArchForecaster, "GARCH", o=1, dist="t", name="gjr_t"),
        "garch": functools.partial(ArchForecaster, "GARCH", name="garch"),
        "har": functools.partial(HARForecaster, (1, 5, 22), name="har"),
    }
    models = {m: every[m] for m in args.models.split(",")}
    plan = PanelWalkPlan(args.test_start, args.test_end, refit_every=args.refit_every)
    t0 = time.perf_counter()
    walk = panel_walk_forward(models, panel, plan, warm_start={"lstm": True}, n_jobs=args.n_jobs)
    scores = score_panel(walk, panel, reference="gjr_t")
    total = time.perf_counter() - t0
    scores.table.to_csv(args.out, index=False)
    fit = walk.folds.groupby("model")[["fit_seconds", "predict_seconds"]].sum()
    with pd.option_context("display.width", 160):
        print(walk.summary())
        print(f"refits: {walk.folds['fold'].nunique()}, total with scoring {total:.0f} s")
        print(fit.round(1).to_string())
        print(scores)
        print(scores.table[scores.table.model == "lstm"].round(4).to_string(index=False))


if __name__ == "__main__":
    main()
