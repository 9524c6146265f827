"""Wall time of the S&P 500 2015-2018 variance walk-forward (48 refits) for an LSTM: cold vs warm
start, sequential vs a process pool over seeds. Not a test; prints a table of times and ratios.

    .venv/bin/python bench/walkforward.py [--seeds 2] [--epochs 30] [--warm-epochs 5] [--folds 48]
"""

from __future__ import annotations

import argparse
import functools
import tempfile
import time

import pandas as pd

from gatecast.data import load
from gatecast.evaluation.executors import resolve_jobs
from gatecast.evaluation.walkforward import WalkForwardPlan, walk_forward
from gatecast.models.recurrent.variance import RecurrentVariance


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument(
        "--seeds", type=int, default=2, help="LSTMs per run (the pool runs them in parallel)"
    )
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--warm-epochs", type=int, default=5)
    ap.add_argument("--folds", type=int, default=48, help="fewer folds for a quick run")
    ap.add_argument("--n-jobs", type=int, default=-1)
    ap.add_argument("--skip-cold-pool", action="store_true")
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads of the sequential runs (pool workers always use 1); "
        "0 keeps torch's default, which oversubscribes a busy machine",
    )
    args = ap.parse_args()
    if args.threads > 0:
        import torch

        torch.set_num_threads(args.threads)
    df = load("sp500")
    idx = df.index
    first = int(idx.searchsorted(pd.Timestamp("2015-01-02")))
    end = idx[
        min(first + 21 * args.folds, int(idx.searchsorted(pd.Timestamp("2018-12-31"), "right"))) - 1
    ]
    plan = WalkForwardPlan("2015-01-02", str(end.date()), refit_every=21)
    jobs = resolve_jobs(args.n_jobs)
    rows = []
    for warm in (False, True):
        models = {
            f"lstm[s{s}]": functools.partial(
                RecurrentVariance,
                "lstm",
                seed=s,
                epochs=args.epochs,
                warm_epochs=args.warm_epochs,
                warm_start=warm,
            )
            for s in range(args.seeds)
        }
        for n_jobs in (1, jobs):
            if n_jobs > 1 and not warm and args.skip_cold_pool:
                continue
            with tempfile.TemporaryDirectory() as tmp:
                t0 = time.perf_counter()
                res = walk_forward(models, df, plan, warm_start=warm, n_jobs=n_jobs, run_dir=tmp)
                secs = time.perf_counter() - t0
            rows.append(
                {
                    "start": "warm" if warm else "cold",
                    "n_jobs": n_jobs,
                    "seconds": secs,
                    "per_lstm_walk": secs / args.seeds,
                    "folds": res.folds["fold"].nunique(),
                }
            )
            print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    table["vs_cold_sequential"] = table["seconds"] / table["seconds"].iloc[0]
    print(
        f"\nLSTM variance walk-forward, {args.seeds} seed(s), {rows[0]['folds']} refits, "
        f"epochs {args.epochs} cold / {args.warm_epochs} warm, pool of {jobs}, "
        f"sequential torch threads {args.threads or 'default'}"
    )
    print(table.to_string(index=False, float_format=lambda v: f"{v:.2f}"))


if __name__ == "__main__":
    main()
