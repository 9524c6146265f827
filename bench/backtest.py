"""Speed of the backtest's statistics: CSCV PBO (S = 16 blocks, N = 50 configurations, T = 2000
days; goal under 1 s) and what the 7-level cost sweep adds to a backtest of saved forecasts (goal
under 5%). Not a test; prints times and the ratio.

    .venv/bin/python bench/backtest.py [--repeats 7] [--from-run runs/bt/evaluation]

Without ``--from-run`` the saved forecasts are synthetic, shaped like an S&P 500 2015-2018 run
(1006 days; lstm and gru with 5 seeds each plus their means, ar1: 13 columns).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from gatecast.data.features import price_series, returns
from gatecast.evaluation.trading.pbo import _split_masks, cscv_pbo
from gatecast.experiment.backtest import BacktestConfig, backtest_forecasts, read_run
from gatecast.experiment.evaluation import load_checked


def _times(fn: Callable[[], object], repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def _saved(from_run: str | None) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    if from_run:
        cfg, fc = read_run(from_run)
        data, _ = load_checked(cfg)
        r = returns(price_series(data, cfg.column), log=False)
        var = (100 * r).pow(2).ewm(alpha=0.06).mean().shift(1).bfill()  # EWMA stand-in for GARCH
        return fc, r, var
    rng = np.random.default_rng(0)
    idx = pd.bdate_range("2015-01-02", periods=1006)
    r = pd.Series(rng.normal(3e-4, 0.01, len(idx)), index=idx)
    cols = {f"{m}[s{s}]": rng.normal(0, 1e-3, len(idx)) for m in ("lstm", "gru") for s in range(5)}
    fc = pd.DataFrame(cols, index=idx)
    for m in ("lstm", "gru"):
        fc[m] = fc[[f"{m}[s{s}]" for s in range(5)]].mean(axis=1)
    fc["ar1"] = rng.normal(0, 1e-3, len(idx))
    return fc, r, pd.Series(rng.uniform(0.3, 3.0, len(idx)), index=idx)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--from-run", default=None, help="a finished `gatecast evaluate` folder")
    args = ap.parse_args()

    x = np.random.default_rng(0).normal(0, 0.01, (2000, 50))
    _split_masks.cache_clear()
    first = _times(lambda: cscv_pbo(x, 16), 1)[0]
    warm = _times(lambda: cscv_pbo(x, 16), args.repeats)
    print(
        f"CSCV PBO, S=16 (12,870 splits), N=50, T=2000: first call {first * 1e3:.1f} ms "
        f"(builds the split masks), then median {statistics.median(warm) * 1e3:.1f} ms "
        f"(goal < 1000 ms)"
    )

    fc, r, var = _saved(args.from_run)
    models = tuple(c for c in fc.columns if c != "actual" and "[" not in c)
    without = BacktestConfig(cost_levels=())
    with_sweep = BacktestConfig()
    # interleave so that load on the machine hits both alike; the minimum is the least disturbed
    t_without, t_with = [], []
    for _ in range(args.repeats):
        t_without += _times(lambda: backtest_forecasts(fc, r, var, without, models), 1)
        t_with += _times(lambda: backtest_forecasts(fc, r, var, with_sweep, models), 1)
    a, b = min(t_without), min(t_with)
    res = backtest_forecasts(fc, r, var, without, models)
    sweep = min(
        _times(lambda: (res.trades.cost_sweep(), res.benchmarks.cost_sweep()), args.repeats)
    )
    print(
        f"backtest of saved forecasts ({fc.shape[0]} days x {fc.shape[1]} columns), best of "
        f"{args.repeats}: {a * 1e3:.1f} ms without the cost sweep, {b * 1e3:.1f} ms with 7 levels "
        f"({(b / a - 1) * 100:+.1f}%); the sweep alone {sweep * 1e3:.2f} ms = "
        f"{sweep / a * 100:.1f}% of the backtest (goal < 5%)"
    )


if __name__ == "__main__":
    main()
