"""gatecast against the libraries its users would otherwise pick: a bare PyTorch loop, Darts and
NeuralForecast, on S&P 500 daily log returns, one torch thread each. Not a test; prints one table.

Three comparisons, every contender run once per round, the rounds alternating contenders (min and
median over the rounds; ``x_torch`` = median / the bare loop's median, ``x_gatecast`` = median /
the fastest gatecast contender's median):

1. ``epoch``: seconds per training epoch of a 2x50 LSTM on windows of 20 returns (batch 32),
   1999-2014, no validation: gatecast window mode, gatecast sequence mode (lanes, truncated BPTT),
   the bare loop, Darts ``BlockRNNModel``, NeuralForecast ``LSTM`` (``windows_batch_size=32``: its
   ``batch_size`` counts series; its steps set to the same windows per epoch). Fit time / epochs.
2. ``walk``: one-step forecasts of every day 2015-01-02..2018-12-31 (1006 days), refit every 21
   days (48 refits), 1x16 LSTM, 22 returns in, 5 epochs per refit, batch 128; the MSE of each
   (x 1e4, log returns) beside its time. gatecast window mode warm-starts each refit (its
   validation tail and early stop as ``gatecast evaluate``); gatecast sequence mode warm-starts,
   refits on lanes and carries the state day by day (``gatecast evaluate --mode sequence``); the
   bare loop, Darts ``historical_forecasts(retrain=21)`` and NeuralForecast
   ``cross_validation(refit=21)`` train a new model at each refit. The peers see returns
   standardised with the mean and sd of the days before the test (none after it).
3. ``latency``: one new forecast when a bar arrives, 2x50 LSTM: gatecast's stream (NumPy and torch
   engines, state carried), one step of a bare ``nn.LSTM`` with its state, Darts ``predict(n=1)``
   and NeuralForecast ``predict`` on the history up to the bar. Seconds per bar.

With a CUDA device, gatecast and the bare loop also run on it (``device="auto"``), the card named.
The peers come from the optional ``bench`` extra, in their own environment (``make bench-peers``);
a peer that is not installed prints ``skipped: not installed``.

    .venv-bench/bin/python bench/peers.py [--quick] [--rounds 2] [--only epoch,walk,latency]
"""

from __future__ import annotations

import argparse
import functools
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
from torch import nn

from gatecast.data import load
from gatecast.data.features import TargetSpec, make_target
from gatecast.evaluation.walkforward import WalkForwardPlan, walk_forward
from gatecast.models.recurrent import RecurrentForecaster

TEST_START, TEST_END = "2015-01-02", "2018-12-31"
REFIT = 21
EPOCH_NET = {"hidden": 50, "layers": 2, "window": 20, "batch": 32}
WALK_NET = {"hidden": 16, "layers": 1, "window": 22, "batch": 128, "epochs": 5}
QUIET_TRAINER = {
    "accelerator": "cpu",
    "enable_progress_bar": False,
    "enable_model_summary": False,
    "enable_checkpointing": False,
    "logger": False,
}

Result = tuple[float, float | None]  # seconds, MSE (walk only)


def installed(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


# -- data ------------------------------------------------------------------------------------------
def log_returns(df: pd.DataFrame) -> pd.Series:
    """r_t = log(p_t / p_{t-1}) dated t: the series every contender forecasts."""
    return make_target(df, TargetSpec("return")).dropna()


def standardised(r: pd.Series, before: str) -> tuple[np.ndarray, float, float]:
    """``r`` standardised with the mean and sd of its days before ``before`` (as float32)."""
    past = r[r.index < pd.Timestamp(before)]
    mu, sd = float(past.mean()), float(past.std())
    return ((r.to_numpy() - mu) / sd).astype(np.float32), mu, sd


def windows(z: np.ndarray, window: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs z[t-window..t-1] (N, window, 1) and targets z[t] (N, 1) for t = window..len-1."""
    X = np.lib.stride_tricks.sliding_window_view(z[:-1], window)
    return torch.from_numpy(np.ascontiguousarray(X))[..., None], torch.from_numpy(z[window:])[
        :, None
    ]


# -- 1. epoch cost -------------------------------------------------------------------------------
def epoch_gatecast(train: pd.DataFrame, epochs: int, mode: str, device: str) -> Result:
    m = RecurrentForecaster(
        cell="lstm",
        hidden=EPOCH_NET["hidden"],
        layers=EPOCH_NET["layers"],
        window=EPOCH_NET["window"],
        epochs=epochs,
        batch_size=EPOCH_NET["batch"],
        val_size=0.0,
        patience=0,
        device=device,
        mode=mode,
    ).fit(train)
    assert m.result_ is not None
    return m.result_.seconds / m.result_.epochs_run, None


class BareLSTM(nn.Module):
    """What a user writes by hand: an LSTM and a linear head on its last step."""

    def __init__(self, hidden: int, layers: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(1, hidden, layers, batch_first=True)
        self.fc = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)
        return self.fc(out[:, -1])  # type: ignore[no-any-return]


def bare_train(
    X: torch.Tensor, y: torch.Tensor, hidden: int, layers: int, epochs: int, batch: int, dev: str
) -> BareLSTM:
    torch.manual_seed(0)
    net = BareLSTM(hidden, layers).to(dev)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(0)
    X, y = X.to(dev), y.to(dev)
    for _ in range(epochs):
        perm = torch.randperm(len(X), generator=g).to(dev)
        for s in range(0, len(X), batch):
            idx = perm[s : s + batch]
            opt.zero_grad()
            nn.functional.mse_loss(net(X[idx]), y[idx]).backward()
            opt.step()
    return net


def epoch_bare(z: np.ndarray, epochs: int, device: str) -> Result:
    X, y = windows(z, EPOCH_NET["window"])
    t0 = time.perf_counter()
    bare_train(X, y, EPOCH_NET["hidden"], EPOCH_NET["layers"], epochs, EPOCH_NET["batch"], device)
    if device == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - t0) / epochs, None


def darts_model(net: dict[str, int], epochs: int) -> Any:
    from darts.models import BlockRNNModel

    return BlockRNNModel(
        input_chunk_length=net["window"],
        output_chunk_length=1,
        model="LSTM",
        hidden_dim=net["hidden"],
        n_rnn_layers=net["layers"],
        batch_size=net["batch"],
        n_epochs=epochs,
        random_state=0,
        pl_trainer_kwargs=QUIET_TRAINER,
    )


def epoch_darts(z: np.ndarray, epochs: int) -> Result:
    from darts import TimeSeries

    series = TimeSeries.from_values(z)
    model = darts_model(EPOCH_NET, epochs)
    t0 = time.perf_counter()
    model.fit(series, verbose=False)
    return (time.perf_counter() - t0) / epochs, None


def nf_model(net: dict[str, int], steps: int) -> Any:
    from neuralforecast.losses.pytorch import MSE
    from neuralforecast.models import LSTM

    return LSTM(
        h=1,
        input_size=net["window"],
        encoder_n_layers=net["layers"],
        encoder_hidden_size=net["hidden"],
        decoder_hidden_size=net["hidden"],
        decoder_layers=1,
        loss=MSE(),
        max_steps=steps,
        batch_size=1,  # series per batch: there is one
        windows_batch_size=net["batch"],  # windows per batch
        scaler_type="identity",  # the series is standardised already, as for the others
        val_check_steps=10**9,
        random_seed=0,
        **QUIET_TRAINER,
    )


def nf_frame(z: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"unique_id": "spx", "ds": np.arange(len(z)), "y": z})


def epoch_nf(z: np.ndarray, epochs: int) -> Result:
    from neuralforecast import NeuralForecast

    steps = epochs * math.ceil((len(z) - EPOCH_NET["window"]) / EPOCH_NET["batch"])
    nf = NeuralForecast(models=[nf_model(EPOCH_NET, steps)], freq=1)
    t0 = time.perf_counter()
    nf.fit(df=nf_frame(z))
    return (time.perf_counter() - t0) / epochs, None


# -- 2. the walk-forward -----------------------------------------------------------------------------
def plan_of(df: pd.DataFrame, folds: int) -> WalkForwardPlan:
    idx = df.index
    first = int(idx.searchsorted(pd.Timestamp(TEST_START)))
    stop = min(first + REFIT * folds, int(idx.searchsorted(pd.Timestamp(TEST_END), "right")))
    return WalkForwardPlan(TEST_START, str(idx[stop - 1].date()), refit_every=REFIT)


def mse_e4(fc: pd.Series, actual: pd.Series) -> float:
    a = actual.reindex(fc.index)
    return float(np.mean((a.to_numpy() - fc.to_numpy()) ** 2)) * 1e4


def walk_gatecast(
    df: pd.DataFrame, plan: WalkForwardPlan, mode: str, device: str, warm_epochs: int = 5
) -> Result:
    params: dict[str, Any] = {
        "cell": "lstm",
        "hidden": WALK_NET["hidden"],
        "layers": WALK_NET["layers"],
        "window": WALK_NET["window"],
        "epochs": WALK_NET["epochs"],
        "warm_epochs": warm_epochs,
        "batch_size": WALK_NET["batch"],
        "warm_start": True,
        "device": device,
        "mode": mode,
    }
    factory = functools.partial(RecurrentForecaster, **params)
    t0 = time.perf_counter()
    res = walk_forward({"m": factory}, df, plan, warm_start=True, n_jobs=1, quiet=True)
    secs = time.perf_counter() - t0
    return secs, mse_e4(res.forecasts["m"], log_returns(df))


def walk_bare(r: pd.Series, plan: WalkForwardPlan, device: str) -> Result:
    """A new 1x16 LSTM per refit on every window before it, standardised on its training days."""
    w = WALK_NET["window"]
    t0 = time.perf_counter()
    out = []
    dates = r.index
    first = int(dates.searchsorted(pd.Timestamp(plan.test_start)))
    last = int(dates.searchsorted(pd.Timestamp(plan.test_end), "right"))
    for s in range(first, last, REFIT):
        train = r.to_numpy()[:s]
        mu, sd = train.mean(), train.std()
        z = ((r.to_numpy() - mu) / sd).astype(np.float32)
        X, y = windows(z[:s], w)
        net = bare_train(X, y, WALK_NET["hidden"], 1, WALK_NET["epochs"], WALK_NET["batch"], device)
        e = min(s + REFIT, last)
        Xt = torch.from_numpy(np.lib.stride_tricks.sliding_window_view(z[s - w : e - 1], w).copy())
        with torch.no_grad():
            pred = net(Xt[..., None].to(device)).cpu().numpy()[:, 0]
        out.append(pd.Series(pred * sd + mu, index=dates[s:e]))
    secs = time.perf_counter() - t0
    return secs, mse_e4(pd.concat(out), r)


def walk_darts(r: pd.Series, plan: WalkForwardPlan) -> Result:
    from darts import TimeSeries

    z, mu, sd = standardised(r, plan.test_start)
    first = int(r.index.searchsorted(pd.Timestamp(plan.test_start)))
    last = int(r.index.searchsorted(pd.Timestamp(plan.test_end), "right"))
    series = TimeSeries.from_values(z[:last])
    model = darts_model(WALK_NET, WALK_NET["epochs"])
    t0 = time.perf_counter()
    fc = model.historical_forecasts(
        series,
        start=first,
        start_format="position",
        forecast_horizon=1,
        stride=1,
        retrain=REFIT,
        last_points_only=True,
        verbose=False,
        show_warnings=False,
    )
    secs = time.perf_counter() - t0
    pred = fc.values()[:, 0].astype(float) * sd + mu
    return secs, mse_e4(pd.Series(pred, index=r.index[first:last]), r)


def walk_nf(r: pd.Series, plan: WalkForwardPlan) -> Result:
    from neuralforecast import NeuralForecast

    z, mu, sd = standardised(r, plan.test_start)
    first = int(r.index.searchsorted(pd.Timestamp(plan.test_start)))
    last = int(r.index.searchsorted(pd.Timestamp(plan.test_end), "right"))
    n_test = last - first
    # steps of 5 epochs of windows of 128 at the mean training length over the refits
    mean_windows = first + n_test / 2 - WALK_NET["window"]
    steps = WALK_NET["epochs"] * math.ceil(mean_windows / WALK_NET["batch"])
    nf = NeuralForecast(models=[nf_model(WALK_NET, steps)], freq=1)
    t0 = time.perf_counter()
    cv = nf.cross_validation(
        df=nf_frame(z[:last]), n_windows=n_test, step_size=1, refit=REFIT, verbose=False
    )
    secs = time.perf_counter() - t0
    pred = cv.sort_values("ds")["LSTM"].to_numpy(dtype=float) * sd + mu
    return secs, mse_e4(pd.Series(pred, index=r.index[first:last]), r)


# -- 3. per-bar latency --------------------------------------------------------------------------
def latency_gatecast(stream: Any, prices: np.ndarray) -> Result:
    stream.reset()
    t0 = time.perf_counter()
    for p in prices:
        stream.update(float(p))
    return (time.perf_counter() - t0) / len(prices), None


def latency_bare(net: BareLSTM, z: np.ndarray) -> Result:
    state = None
    x = torch.from_numpy(z)[None, :, None]
    with torch.no_grad():
        t0 = time.perf_counter()
        for k in range(x.shape[1]):
            out, state = net.lstm(x[:, k : k + 1], state)
            float(net.fc(out[:, -1]))
    return (time.perf_counter() - t0) / x.shape[1], None


def latency_calls(call: Callable[[int], Any], ends: range) -> Result:
    t0 = time.perf_counter()
    for e in ends:
        call(e)
    return (time.perf_counter() - t0) / len(ends), None


# -- the rounds --------------------------------------------------------------------------------------
def run_rounds(contenders: dict[str, Callable[[], Result]], rounds: int) -> list[dict[str, Any]]:
    times: dict[str, list[float]] = {k: [] for k in contenders}
    mses: dict[str, float | None] = dict.fromkeys(contenders)
    for _ in range(rounds):
        for name, run in contenders.items():
            secs, mse = run()
            times[name].append(secs)
            mses[name] = mse
            print(f"  {name}: {secs:.4g} s" + (f", mse {mse:.4f}e-4" if mse else ""), flush=True)
    return [
        {
            "contender": k,
            "min_s": min(v),
            "median_s": statistics.median(v),
            "mse_e4": mses[k],
        }
        for k, v in times.items()
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="12 refits, 1 round, 1 epoch: ~3 min")
    ap.add_argument(
        "--rounds", type=int, default=None, help="rounds per comparison (default 3/2/3)"
    )
    ap.add_argument("--epochs", type=int, default=2, help="epochs of the epoch comparison")
    ap.add_argument("--folds", type=int, default=48, help="refits of the walk-forward")
    ap.add_argument("--only", default="epoch,walk,latency", help="comparisons to run")
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    if args.quick:
        args.folds, args.epochs = 12, 1
    rounds = {"epoch": 3, "walk": 2, "latency": 3}
    if args.quick:
        rounds = dict.fromkeys(rounds, 1)
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
    cuda = torch.cuda.is_available()
    card = torch.cuda.get_device_name() if cuda else None
    df = load("sp500")
    r = log_returns(df)
    rows: list[dict[str, Any]] = []
    todo = set(args.only.split(","))

    if "epoch" in todo:
        train = df.loc[:"2014"]
        z = standardised(log_returns(train), "2015-01-01")[0]
        c: dict[str, Callable[[], Result]] = {
            "bare torch": lambda: epoch_bare(z, args.epochs, "cpu"),
            "gatecast window": lambda: epoch_gatecast(train, args.epochs, "window", "cpu"),
            "gatecast sequence": lambda: epoch_gatecast(train, args.epochs, "sequence", "cpu"),
        }
        if peers["darts"]:
            c["darts BlockRNNModel"] = lambda: epoch_darts(z, args.epochs)
        if peers["neuralforecast"]:
            c["neuralforecast LSTM"] = lambda: epoch_nf(z, args.epochs)
        if cuda:
            c[f"bare torch ({card})"] = lambda: epoch_bare(z, args.epochs, "cuda")
            c[f"gatecast window ({card})"] = lambda: epoch_gatecast(
                train, args.epochs, "window", "auto"
            )
            c[f"gatecast sequence ({card})"] = lambda: epoch_gatecast(
                train, args.epochs, "sequence", "auto"
            )
        print(f"epoch: 2x50 LSTM, window 20, batch 32, {len(z)} days, {args.epochs} epoch(s)")
        rows += [{"comparison": "epoch"} | x for x in run_rounds(c, rounds["epoch"])]

    if "walk" in todo:
        plan = plan_of(df, args.folds)
        n_folds = len(plan.folds(df.index))
        w: dict[str, Callable[[], Result]] = {
            "bare torch": lambda: walk_bare(r, plan, "cpu"),
            "gatecast window": lambda: walk_gatecast(df, plan, "window", "cpu"),
            "gatecast sequence": lambda: walk_gatecast(df, plan, "sequence", "cpu"),
            "gatecast sequence, 1 warm epoch": lambda: walk_gatecast(
                df, plan, "sequence", "cpu", warm_epochs=1
            ),
        }
        if peers["darts"]:
            w["darts historical_forecasts"] = lambda: walk_darts(r, plan)
        if peers["neuralforecast"]:
            w["neuralforecast cross_validation"] = lambda: walk_nf(r, plan)
        if cuda:
            w[f"gatecast sequence ({card})"] = lambda: walk_gatecast(df, plan, "sequence", "auto")
        print(f"walk: {plan.test_start}..{plan.test_end}, {n_folds} refits, 1x16 LSTM, 5 epochs")
        rows += [{"comparison": "walk"} | x for x in run_rounds(w, rounds["walk"])]
        test = r.loc[plan.test_start : plan.test_end]
        mean = r.expanding().mean().shift(1).reindex(test.index)  # days before each only
        rows += [
            {"comparison": "walk", "contender": "(zero return)", "mse_e4": mse_e4(test * 0, r)},
            {"comparison": "walk", "contender": "(historical mean)", "mse_e4": mse_e4(mean, r)},
        ]

    if "latency" in todo:
        hist = df.loc[:"2014"]
        z = standardised(log_returns(hist), "2015-01-01")[0]
        model = RecurrentForecaster(
            cell="lstm", hidden=50, layers=2, epochs=1, mode="sequence", device="cpu"
        ).fit(hist)
        prices = df["adj_close"].to_numpy()[-2000:]
        np_stream, torch_stream = model.stream("numpy"), model.stream("torch")
        bare = BareLSTM(50, 2).eval()
        lat: dict[str, Callable[[], Result]] = {
            "bare torch": lambda: latency_bare(bare, z[-2000:]),
            "gatecast stream numpy": lambda: latency_gatecast(np_stream, prices),
            "gatecast stream torch": lambda: latency_gatecast(torch_stream, prices),
        }
        try:  # the compiled tick, where the gatecast[fast] extra is installed
            import numba  # noqa: F401

            from gatecast.inference import NumpyEngine
            from gatecast.models.recurrent.base import weights_of
            from gatecast.serve import Stream

            spec, tensors = model._fitted(), weights_of(model.net_)
            nb_stream = Stream.over(spec, NumpyEngine(spec, tensors, backend="numba"), tensors)
            lat["gatecast stream numba"] = lambda: latency_gatecast(nb_stream, prices)
        except ImportError:
            pass
        calls = range(len(z) - 20, len(z))
        if peers["darts"]:
            from darts import TimeSeries

            dm = darts_model(EPOCH_NET, 1)
            dm.fit(TimeSeries.from_values(z[:-20]), verbose=False)
            lat["darts predict"] = lambda: latency_calls(
                lambda e: dm.predict(
                    n=1, series=TimeSeries.from_values(z[:e]), verbose=False, show_warnings=False
                ),
                calls,
            )
        if peers["neuralforecast"]:
            from neuralforecast import NeuralForecast

            nf = NeuralForecast(models=[nf_model(EPOCH_NET, 10)], freq=1)
            nf.fit(df=nf_frame(z[:-20]))
            lat["neuralforecast predict"] = lambda: latency_calls(
                lambda e: nf.predict(df=nf_frame(z[:e])), calls
            )
        print("latency: 2x50 LSTM, one new forecast per bar")
        rows += [{"comparison": "latency"} | x for x in run_rounds(lat, rounds["latency"])]

    table = pd.DataFrame(rows)
    table["mse_e4"] = table["mse_e4"].astype(float)
    for _, g in table.groupby("comparison", sort=False):
        bare_med = g.loc[g["contender"] == "bare torch", "median_s"]
        ours = g.loc[
            g["contender"].str.startswith("gatecast")
            & ~g["contender"].str.contains("(", regex=False)
        ]
        table.loc[g.index, "x_torch"] = g["median_s"] / float(bare_med.iloc[0])
        table.loc[g.index, "x_gatecast"] = g["median_s"] / float(ours["median_s"].min())
    print(
        f"\n{pd.Timestamp.now():%Y-%m-%d}, torch {torch.__version__}, 1 torch thread, rounds "
        f"{rounds}; x_torch: median / bare torch; x_gatecast: median / fastest gatecast (CPU)"
    )
    with pd.option_context("display.width", 160):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}", na_rep=""))


if __name__ == "__main__":
    main()
