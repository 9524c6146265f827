"""gatecast's global recurrent model against Darts and NeuralForecast on a panel: the 20 S&P 500
stocks (``sp500_stocks``), one net for all of them, one torch thread each. Not a test; prints a
table.

Every contender forecasts each stock's next daily log return with a 1x16 LSTM on windows of 22
returns (batch 128, Adam 1e-3, MSE on the return standardised by the stock's own training mean
and sd, no early stopping), trained on the pooled windows of the 20 stocks from 2005:

1. ``fit``: one global fit on 2005-2013 for ``--epochs`` epochs, then the one-step forecasts of
   every stock for every day of 2014 (5,040); seconds for both, and the validation MSE
   (x 1e4, log returns, pooled). gatecast: ``GlobalRecurrentReturn.fit`` and ``predict``;
   Darts: ``BlockRNNModel.fit`` on a list of 20 ``TimeSeries`` and ``historical_forecasts``
   (``retrain=False``); NeuralForecast: ``LSTM`` on the long frame (``unique_id``) through
   ``cross_validation(refit=False)``, its steps set to the same windows per epoch. ``gatecast
   sequence mode``: the same model with ``mode="sequence"`` (each stock's rows walked as lanes,
   truncated BPTT: each row computed once per epoch, not once per window it is in; its 2014
   forecasts a stateful run over each stock's history).
2. ``walk``: the panel walk-forward over the test period (2015-2018; ``--quick``: 2018),
   refit every 63 days on every stock's rows before the refit: gatecast's
   ``panel_walk_forward`` cold (a new net per refit, as the peers) and warm (each refit starts
   from the last weights, 1 epoch: what ``gatecast evaluate`` does on a panel), both also in
   sequence mode (``mode="sequence"``); Darts, a new
   global model fit on the 20 series at each refit, then ``historical_forecasts`` of the block
   (its own ``retrain`` refits one series at a time, which is not a global model);
   NeuralForecast ``cross_validation(refit=63)``, a global refit of its own.

"Time to equal loss": each line gives its seconds beside its MSE; with the same net, data and
epochs, a peer that reaches a lower MSE is said to (``x_gatecast`` is then a ratio at unequal
loss). The rounds alternate contenders; min and median over rounds.

    .venv-bench/bin/python bench/panel_peers.py [--quick] [--rounds 1] [--only fit,walk]
"""

from __future__ import annotations

import argparse
import functools
import importlib
import importlib.util
import logging
import math
import os
import statistics
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import torch

from gatecast.data import load_panel
from gatecast.evaluation.panel_walk import PanelWalkPlan, panel_walk_forward
from gatecast.models.recurrent.global_return import GlobalRecurrentReturn

FIRST = "2005-01-01"
FIT_END, VAL_END = "2013-12-31", "2014-12-31"
NET = {"hidden": 16, "layers": 1, "window": 22, "batch": 128, "lr": 1e-3}
REFIT = 63
QUIET_TRAINER = {
    "accelerator": "cpu",
    "enable_progress_bar": False,
    "enable_model_summary": False,
    "enable_checkpointing": False,
    "logger": False,
}
Result = tuple[float, float]  # seconds, MSE x 1e4


def installed(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


# -- data -------------------------------------------------------------------------------------
def returns(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Each stock's log return dated t (date x stock; the 20 stocks share their dates)."""
    prices = pd.DataFrame({n: df["close"] for n, df in frames.items()})
    return np.log(prices / prices.shift(1)).iloc[1:]  # type: ignore[no-any-return]


def standardised(r: pd.DataFrame, before: str) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """``r`` standardised per stock with the mean and sd of its returns before ``before``."""
    past = r.loc[r.index < pd.Timestamp(before)]
    mu, sd = past.mean(), past.std()
    return ((r - mu) / sd).astype(np.float32), mu, sd


def mse_e4(forecast: pd.DataFrame, r: pd.DataFrame) -> float:
    """Pooled MSE (x 1e4) of a date x stock frame of forecasts against the returns."""
    actual = r.reindex(index=forecast.index, columns=forecast.columns)
    return float(np.nanmean((actual.to_numpy() - forecast.to_numpy()) ** 2)) * 1e4


def gatecast_model(epochs: int, **extra: Any) -> GlobalRecurrentReturn:
    return GlobalRecurrentReturn(
        cell="lstm",
        hidden=NET["hidden"],
        layers=NET["layers"],
        window=NET["window"],
        features=("return",),
        epochs=epochs,
        batch_size=NET["batch"],
        lr=NET["lr"],
        val_size=0.0,
        patience=0,
        seed=0,
        device="cpu",
        quiet=True,
        **extra,
    )


def wide(long: pd.DataFrame) -> pd.DataFrame:
    return long.pivot(index="date", columns="instrument", values="forecast")


# -- 1. one global fit and a year of forecasts ------------------------------------------------
def fit_gatecast(
    frames: dict[str, pd.DataFrame], r: pd.DataFrame, epochs: int, mode: str = "window"
) -> Result:
    train = {n: df.loc[:FIT_END] for n, df in frames.items()}
    upto = {n: df.loc[:VAL_END] for n, df in frames.items()}
    t0 = time.perf_counter()
    model = gatecast_model(epochs, mode=mode).fit(train)
    fc = wide(model.predict(upto, start="2014-01-01", end=VAL_END))
    return time.perf_counter() - t0, mse_e4(fc, r)


def darts_model(epochs: int) -> Any:
    from darts.models import BlockRNNModel

    return BlockRNNModel(
        input_chunk_length=NET["window"],
        output_chunk_length=1,
        model="LSTM",
        hidden_dim=NET["hidden"],
        n_rnn_layers=NET["layers"],
        batch_size=NET["batch"],
        n_epochs=epochs,
        optimizer_kwargs={"lr": NET["lr"]},
        random_state=0,
        pl_trainer_kwargs=QUIET_TRAINER,
    )


def darts_block(
    z: pd.DataFrame, mu: pd.Series, sd: pd.Series, cut: int, stop: int, epochs: int
) -> pd.DataFrame:
    """A new global Darts model fit on rows [0, cut) of every stock, then its one-step
    forecasts for rows [cut, stop) (each from the rows before it), in return units."""
    from darts import TimeSeries

    model = darts_model(epochs)
    values = z.to_numpy()
    model.fit([TimeSeries.from_values(values[:cut, j]) for j in range(z.shape[1])], verbose=False)
    series = [TimeSeries.from_values(values[:stop, j]) for j in range(z.shape[1])]
    fc = model.historical_forecasts(
        series,
        start=cut,
        start_format="position",
        forecast_horizon=1,
        stride=1,
        retrain=False,
        last_points_only=True,
        verbose=False,
        show_warnings=False,
    )
    out = np.column_stack([f.values()[:, 0] for f in fc]).astype(float)
    return pd.DataFrame(out * sd.to_numpy() + mu.to_numpy(), z.index[cut:stop], z.columns)


def fit_darts(r: pd.DataFrame, epochs: int) -> Result:
    z, mu, sd = standardised(r.loc[:VAL_END], "2014-01-01")
    cut = int(z.index.searchsorted(pd.Timestamp("2014-01-01")))
    t0 = time.perf_counter()
    fc = darts_block(z, mu, sd, cut, len(z), epochs)
    return time.perf_counter() - t0, mse_e4(fc, r)


def nf_model(steps: int, n_series: int) -> Any:
    from neuralforecast.losses.pytorch import MSE
    from neuralforecast.models import LSTM

    return LSTM(
        h=1,
        input_size=NET["window"],
        encoder_n_layers=NET["layers"],
        encoder_hidden_size=NET["hidden"],
        decoder_hidden_size=NET["hidden"],
        decoder_layers=1,
        loss=MSE(),
        max_steps=steps,
        learning_rate=NET["lr"],
        batch_size=n_series,  # series per batch: all of them
        windows_batch_size=NET["batch"],  # windows per step
        scaler_type="identity",  # standardised already, as for the others
        val_check_steps=10**9,
        random_seed=0,
        **QUIET_TRAINER,
    )


def nf_long(z: pd.DataFrame) -> pd.DataFrame:
    """The long frame NeuralForecast takes: unique_id, ds (the row's position), y."""
    n = len(z)
    return pd.DataFrame(
        {
            "unique_id": np.repeat(z.columns.to_numpy(), n),
            "ds": np.tile(np.arange(n), z.shape[1]),
            "y": z.to_numpy().T.ravel(),
        }
    )


def nf_forecasts(cv: pd.DataFrame, z: pd.DataFrame, mu: pd.Series, sd: pd.Series) -> pd.DataFrame:
    fc = cv.pivot(index="ds", columns="unique_id", values="LSTM")[z.columns]
    out = fc.to_numpy(dtype=float) * sd.to_numpy() + mu.to_numpy()
    return pd.DataFrame(out, z.index[fc.index.to_numpy()], z.columns)


def steps_for(epochs: int, windows: float) -> int:
    return int(epochs * math.ceil(windows / NET["batch"]))


def fit_nf(r: pd.DataFrame, epochs: int) -> Result:
    from neuralforecast import NeuralForecast

    z, mu, sd = standardised(r.loc[:VAL_END], "2014-01-01")
    cut = int(z.index.searchsorted(pd.Timestamp("2014-01-01")))
    steps = steps_for(epochs, z.shape[1] * (cut - NET["window"]))
    nf = NeuralForecast(models=[nf_model(steps, z.shape[1])], freq=1)
    t0 = time.perf_counter()
    cv = nf.cross_validation(
        df=nf_long(z), n_windows=len(z) - cut, step_size=1, refit=False, verbose=False
    )
    return time.perf_counter() - t0, mse_e4(nf_forecasts(cv, z, mu, sd), r)


# -- 2. the panel walk-forward ----------------------------------------------------------------
def walk_gatecast(
    frames: dict[str, pd.DataFrame],
    r: pd.DataFrame,
    start: str,
    end: str,
    epochs: int,
    warm: bool,
    mode: str = "window",
) -> Result:
    extra: dict[str, Any] = {"warm_start": True, "warm_epochs": 1} if warm else {}
    factory = functools.partial(gatecast_model, epochs, mode=mode, **extra)
    plan = PanelWalkPlan(start, end, refit_every=REFIT, min_train=250)
    t0 = time.perf_counter()
    walk = panel_walk_forward({"lstm": factory}, frames, plan, warm_start=warm, n_jobs=1)
    secs = time.perf_counter() - t0
    fc = walk.forecasts["lstm"].unstack("instrument")
    return secs, mse_e4(fc, r)


def walk_darts(r: pd.DataFrame, start: str, end: str, epochs: int) -> Result:
    z, mu, sd = standardised(r.loc[:end], start)
    first = int(z.index.searchsorted(pd.Timestamp(start)))
    t0 = time.perf_counter()
    blocks = [
        darts_block(z, mu, sd, cut, min(cut + REFIT, len(z)), epochs)
        for cut in range(first, len(z), REFIT)
    ]
    return time.perf_counter() - t0, mse_e4(pd.concat(blocks), r)


def walk_nf(r: pd.DataFrame, start: str, end: str, epochs: int) -> Result:
    from neuralforecast import NeuralForecast

    z, mu, sd = standardised(r.loc[:end], start)
    first = int(z.index.searchsorted(pd.Timestamp(start)))
    n_test = len(z) - first
    # the steps of `epochs` epochs at the mean training length over the refits
    steps = steps_for(epochs, z.shape[1] * (first + n_test / 2 - NET["window"]))
    nf = NeuralForecast(models=[nf_model(steps, z.shape[1])], freq=1)
    t0 = time.perf_counter()
    cv = nf.cross_validation(
        df=nf_long(z), n_windows=n_test, step_size=1, refit=REFIT, verbose=False
    )
    return time.perf_counter() - t0, mse_e4(nf_forecasts(cv, z, mu, sd), r)


# -- the rounds -------------------------------------------------------------------------------
def run_rounds(contenders: dict[str, Callable[[], Result]], rounds: int) -> list[dict[str, Any]]:
    times: dict[str, list[float]] = {k: [] for k in contenders}
    mses: dict[str, float] = {}
    for _ in range(rounds):
        for name, run in contenders.items():
            secs, mse = run()
            times[name].append(secs)
            mses[name] = mse
            print(f"  {name}: {secs:.4g} s, mse {mse:.4f}e-4", flush=True)
    return [
        {"contender": k, "min_s": min(v), "median_s": statistics.median(v), "mse_e4": mses[k]}
        for k, v in times.items()
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="the walk over 2018 only, 1 round")
    ap.add_argument("--rounds", type=int, default=None, help="rounds (default fit 2, walk 1)")
    ap.add_argument("--epochs", type=int, default=5, help="epochs of every fit")
    ap.add_argument("--only", default="fit,walk", help="comparisons to run")
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    rounds = {"fit": 2, "walk": 1} if not args.quick else {"fit": 1, "walk": 1}
    if args.rounds:
        rounds = dict.fromkeys(rounds, args.rounds)
    peers = {"darts": installed("darts"), "neuralforecast": installed("neuralforecast")}
    for name, ok in peers.items():
        if ok:
            importlib.import_module(name)  # imports are not timed
            if name == "neuralforecast":
                importlib.import_module("neuralforecast.models")
        else:
            print(f"{name}: skipped: not installed (pip install -e '.[bench]')")
    for name in list(logging.root.manager.loggerDict):  # lightning's banners, once per fit
        if "lightning" in name or name.startswith(("darts", "neuralforecast")):
            logging.getLogger(name).setLevel(logging.ERROR)
    panel = load_panel("sp500_stocks")
    frames = {n: df.loc[FIRST:] for n, df in panel.items()}
    r = returns(frames)
    rows: list[dict[str, Any]] = []
    todo = set(args.only.split(","))
    e = args.epochs
    if "fit" in todo:
        c: dict[str, Callable[[], Result]] = {
            "gatecast": lambda: fit_gatecast(frames, r, e),
            "gatecast sequence mode": lambda: fit_gatecast(frames, r, e, mode="sequence"),
        }
        if peers["darts"]:
            c["darts BlockRNNModel"] = lambda: fit_darts(r, e)
        if peers["neuralforecast"]:
            c["neuralforecast LSTM"] = lambda: fit_nf(r, e)
        n_win = sum(len(df.loc[:FIT_END]) - 1 - NET["window"] for df in frames.values())
        print(f"fit: 20 stocks {FIRST[:4]}-2013 ({n_win} windows), {e} epochs; forecasts of 2014")
        rows += [{"comparison": "fit"} | x for x in run_rounds(c, rounds["fit"])]
        test = r.loc["2014"]
        rows.append(
            {"comparison": "fit", "contender": "(zero return)", "mse_e4": mse_e4(test * 0, r)}
        )
    if "walk" in todo:
        start, end = ("2018-01-01", "2018-12-31") if args.quick else ("2015-01-01", "2018-12-31")
        w: dict[str, Callable[[], Result]] = {
            "gatecast cold": lambda: walk_gatecast(frames, r, start, end, e, warm=False),
            "gatecast warm (1 epoch per refit)": lambda: walk_gatecast(
                frames, r, start, end, e, warm=True
            ),
            "gatecast sequence mode, cold": lambda: walk_gatecast(
                frames, r, start, end, e, warm=False, mode="sequence"
            ),
            "gatecast sequence mode, warm (1 epoch per refit)": lambda: walk_gatecast(
                frames, r, start, end, e, warm=True, mode="sequence"
            ),
        }
        if peers["darts"]:
            w["darts, a global fit per refit"] = lambda: walk_darts(r, start, end, e)
        if peers["neuralforecast"]:
            w["neuralforecast cross_validation"] = lambda: walk_nf(r, start, end, e)
        print(f"walk: {start}..{end}, refit every {REFIT} days, {e} epochs per fit")
        rows += [{"comparison": "walk"} | x for x in run_rounds(w, rounds["walk"])]
        test = r.loc[start:end]
        rows.append(
            {"comparison": "walk", "contender": "(zero return)", "mse_e4": mse_e4(test * 0, r)}
        )
    table = pd.DataFrame(rows)
    for _, g in table.groupby("comparison", sort=False):
        ref = "gatecast" if "gatecast" in set(g.contender) else "gatecast cold"
        ours = g.loc[g["contender"] == ref]
        table.loc[g.index, "x_gatecast"] = g["median_s"] / float(ours["median_s"].iloc[0])
    print(
        f"\n{pd.Timestamp.now():%Y-%m-%d}, torch {torch.__version__}, 1 torch thread, rounds "
        f"{rounds}; x_gatecast: median / gatecast's (cold in the walk)"
    )
    with pd.option_context("display.width", 160):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}", na_rep=""))


if __name__ == "__main__":
    main()
