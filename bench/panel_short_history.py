"""Stocks given only their last 3 years of history: the global recurrent variance model (one LSTM
for all stocks) against the local one (an LSTM per stock, ``lstm_local``) and per-stock
GJR-GARCH(1,1)-t, on ``sp500_stocks`` cut to the ``--years`` before the test
(``gatecast.experiment.panel_evaluation.short_history``). Not a test; prints the pooled summary,
the per-stock ratios of the two recurrent models and the wall time, and writes the per-stock table.

Every setting is a default of ``gatecast evaluate`` (hidden 16, window 5, 30 epochs cold, warm
refits of 5 epochs, seed 0), the same for the global and the local model; nothing is chosen on
the test period.

    .venv/bin/python bench/panel_short_history.py [--years 3] [--test-start 2015-01-01]
        [--test-end 2015-12-31] [--refit-every 21] [--instruments 20] [--threads 1]
        [--seeds 1] [--out short_history_scores.csv]

With ``--seeds K`` each recurrent model runs with seeds 0..K-1: the summary scores the mean of
the seeds' losses, and each seed's pooled summary and their spread are printed.
"""

from __future__ import annotations

import argparse
import time

import pandas as pd
import torch

import gatecast as gc
from gatecast.experiment.panel_evaluation import short_history


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--years", type=float, default=3.0)
    ap.add_argument("--test-start", default="2015-01-01")
    ap.add_argument("--test-end", default="2015-12-31")
    ap.add_argument("--refit-every", type=int, default=21)
    ap.add_argument("--instruments", type=int, default=20, help="the first N stocks by name")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (a shared machine)")
    ap.add_argument("--models", default="lstm,lstm_local,gjr_t")
    ap.add_argument("--seeds", type=int, default=1, help="seeds per recurrent model")
    ap.add_argument("--out", default="short_history_scores.csv")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    full = gc.load_panel("sp500_stocks")
    panel = short_history(
        full.select(full.instruments[: args.instruments]), args.test_start, args.years
    )
    t0 = time.perf_counter()
    res = gc.evaluate_panel(
        panel,
        test_start=args.test_start,
        test_end=args.test_end,
        models=args.models,
        refit_every=args.refit_every,
        device="cpu",
        seeds=args.seeds,
    )
    total = time.perf_counter() - t0
    res.table.to_csv(args.out, index=False)
    fit = res.walk.folds.groupby("model")[["fit_seconds", "predict_seconds"]].sum()
    rows = panel.summary()["rows"]
    wide = res.table.pivot(index="instrument", columns="model", values="ratio")
    with pd.option_context("display.width", 160):
        print(res.walk.summary())
        print(
            f"{len(panel)} stocks, {rows.min()}-{rows.max()} rows each from "
            f"{min(panel.summary()['first'])}; refits: {res.walk.folds['fold'].nunique()}, "
            f"total with scoring {total:.0f} s"
        )
        print(fit.round(1).to_string())
        print(res.scores)
        if res.seeds is not None:
            print(res.seeds.per_seed.to_string())
            print(res.seeds.spread.to_string())
        print(wide.round(4).to_string())
        if {"lstm", "lstm_local"} <= set(wide.columns):
            better = int((wide["lstm"] < wide["lstm_local"]).sum())
            print(f"global lower QLIKE than local on {better} of {len(wide)} stocks")


if __name__ == "__main__":
    main()
