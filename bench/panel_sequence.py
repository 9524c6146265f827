"""The global recurrent model on the 20 S&P 500 stocks (``sp500_stocks``) in sequence mode against
window mode: fit seconds and the loss each reaches with the same epochs. Not a test; prints a table.

The return model is set up as ``bench/panel_peers.py`` sets up gatecast's global fit (a 1x16 LSTM,
the one-step log return standardised per stock, window 22, batch 128, Adam 1e-3, seed 0, one
torch thread), fit on 2005-2013 with the last 10% of each stock's windows as its validation tail
(the same dates in both modes) and no early stopping (``patience=0``: every epoch runs). Per mode:
the fit's seconds, the last epoch's validation loss (MSE on the standardised return, pooled over
the tails), and the MSE (x 1e4, log returns) of the one-step forecasts of every stock for every
day of 2014, as panel_peers scores them (window mode: each from its last 22 rows; sequence mode:
a stateful run over each stock's history). ``--target variance``: the global variance model with
its defaults instead (QLIKE; window 5), the 2014 score its QLIKE against the squared return.

``--sequence-epochs N`` adds a sequence-mode fit of N epochs (time to equal loss).

    python bench/panel_sequence.py [--epochs 5] [--rounds 1] [--target return|variance]
                                   [--sequence-epochs 30]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from typing import Any

import numpy as np
import pandas as pd
import torch

from gatecast.data import load_panel
from gatecast.data.volatility import percent_returns
from gatecast.models.recurrent.global_return import GlobalRecurrentReturn
from gatecast.models.recurrent.global_variance import GlobalRecurrentVariance

FIRST, FIT_END, VAL_END = "2005-01-01", "2013-12-31", "2014-12-31"


def _cpu() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
    except (OSError, StopIteration):
        return platform.machine()


CPU = _cpu()
EPOCHS = [5]  # the epochs of the compared fits (--epochs)
NET: dict[str, Any] = {"hidden": 16, "layers": 1, "window": 22, "batch_size": 128, "lr": 1e-3}


def model(target: str, mode: str, epochs: int) -> Any:
    common: dict[str, Any] = {
        "epochs": epochs,
        "patience": 0,
        "seed": 0,
        "device": "cpu",
        "quiet": True,
        "mode": mode,
    }
    if target == "variance":
        return GlobalRecurrentVariance(**common)
    return GlobalRecurrentReturn(cell="lstm", features=("return",), **NET, **common)


def score(target: str, fc: pd.DataFrame, frames: dict[str, pd.DataFrame]) -> float:
    """Pooled 2014 loss: MSE x 1e4 of the log return, or QLIKE against the squared return."""
    losses = []
    for n, df in frames.items():
        f = fc[fc.instrument == n].set_index("date").forecast
        if target == "variance":
            proxy = (percent_returns(df) ** 2).reindex(f.index).clip(lower=1e-8)
            ratio = (proxy / f).to_numpy()
            losses.append(ratio - np.log(ratio) - 1.0)
        else:
            r = np.log(df["close"]).diff().reindex(f.index)
            losses.append(((r - f) ** 2).to_numpy() * 1e4)
    return float(np.nanmean(np.concatenate(losses)))


def one_fit(target: str, mode: str, epochs: int, frames: dict[str, pd.DataFrame]) -> dict[str, Any]:
    train = {n: df.loc[:FIT_END] for n, df in frames.items()}
    upto = {n: df.loc[:VAL_END] for n, df in frames.items()}
    t0 = time.perf_counter()
    m = model(target, mode, epochs).fit(train)
    fit_s = time.perf_counter() - t0
    fc = m.predict(upto, start="2014-01-01", end=VAL_END)
    hist = m.result_.history
    return {
        "mode": mode if epochs == EPOCHS[0] else f"{mode} ({epochs} epochs)",
        "fit_s": fit_s,
        "s_per_epoch": fit_s / len(hist["train_loss"]),
        "val_loss": hist["val_loss"][-1],
        "score_2014": score(target, fc, upto),
        "n_forecasts": len(fc),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--target", choices=("return", "variance"), default="return")
    ap.add_argument(
        "--sequence-epochs",
        type=int,
        default=None,
        help="also fit sequence mode with this many epochs (time to equal loss)",
    )
    args = ap.parse_args()
    EPOCHS[0] = args.epochs
    torch.set_num_threads(1)
    frames = {n: df.loc[FIRST:] for n, df in load_panel("sp500_stocks").items()}
    rows = []
    for _ in range(args.rounds):  # alternate the modes, round by round
        for mode in ("window", "sequence"):
            rows.append(one_fit(args.target, mode, args.epochs, frames))
        if args.sequence_epochs:
            rows.append(one_fit(args.target, "sequence", args.sequence_epochs, frames))
    table = (
        pd.DataFrame(rows)
        .groupby("mode", sort=False)
        .agg(
            fit_s_min=("fit_s", "min"),
            fit_s_median=("fit_s", statistics.median),
            s_per_epoch=("s_per_epoch", "min"),
            val_loss=("val_loss", "first"),
            score_2014=("score_2014", "first"),
            n_forecasts=("n_forecasts", "first"),
        )
    )
    table["speedup"] = table.loc["window", "fit_s_median"] / table["fit_s_median"]
    score_name = "QLIKE" if args.target == "variance" else "MSE x 1e4"
    print(
        f"{args.target}, 20 stocks {FIRST[:4]}-2013, {args.epochs} epochs, {args.rounds} round(s), "
        f"1 torch thread; {CPU}, "
        f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}; score_2014: {score_name}"
    )
    print(table.round(4).to_string())


if __name__ == "__main__":
    main()
