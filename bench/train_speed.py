"""Benchmark: gatecast's trainer vs a bare PyTorch loop on the same job, and windowing vs a Python loop.

Job: S&P 500 daily log returns (train 1999-2014), 2x50 LSTM, window 20, batch 32, Adam 1e-3, MSE.
Both sides train the same windows with the same seed, no validation and no clipping, so the ratio
is gatecast's overhead (data preparation included on gatecast's side). Prints a table of ratios.

    .venv/bin/python bench/train_speed.py [--epochs 50] [--repeats 1]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch import nn

from gatecast.data import build_features, load, make_target, make_windows, sliding_windows
from gatecast.data.features import TargetSpec
from gatecast.data.scalers import fit_scaler
from gatecast.models.recurrent import RecurrentForecaster


def bare_torch_loop(X: np.ndarray, y: np.ndarray, epochs: int, seed: int) -> float:
    """The loop a user would write by hand: nn.LSTM + Linear, Adam, shuffled mini-batches."""
    torch.manual_seed(seed)

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(1, 50, num_layers=2, batch_first=True)
            self.fc = nn.Linear(50, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out, _ = self.lstm(x)
            return self.fc(out[:, -1, :])

    net = Net()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    Xt = torch.tensor(X, dtype=torch.float32)
    yt = torch.tensor(y, dtype=torch.float32)[:, None]
    g = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    for _ in range(epochs):
        perm = torch.randperm(len(Xt), generator=g)
        for s in range(0, len(Xt), 32):
            idx = perm[s : s + 32]
            opt.zero_grad()
            loss = nn.functional.mse_loss(net(Xt[idx]), yt[idx])
            loss.backward()
            opt.step()
    return time.perf_counter() - t0


def prepared_windows(history) -> tuple[np.ndarray, np.ndarray]:
    feats = build_features(history, ["return"])
    target = make_target(history, TargetSpec())
    raw = make_windows(feats, target, 20, 1)
    fs = fit_scaler("standard", feats.to_numpy())
    ts = fit_scaler("standard", raw.y)
    win = make_windows(feats, target, 20, 1, values=fs.transform(feats.to_numpy()))
    return np.ascontiguousarray(win.X), ts.transform(win.y)


def create_sequences(data: np.ndarray, seq_length: int) -> tuple[np.ndarray, np.ndarray]:
    """The course notebook's windowing: a Python loop and a copy per window."""
    xs, ys = [], []
    for i in range(len(data) - seq_length):
        xs.append(data[i : i + seq_length])
        ys.append(data[i + seq_length])
    return np.array(xs), np.array(ys)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    history = load("sp500").loc[:"2014-12-31"]

    rows = []
    bare, ours = [], []
    for r in range(args.repeats):
        X, y = prepared_windows(history)
        bare.append(bare_torch_loop(X, y, args.epochs, seed=r))
        m = RecurrentForecaster(
            cell="lstm",
            hidden=50,
            layers=2,
            window=20,
            epochs=args.epochs,
            batch_size=32,
            lr=1e-3,
            patience=0,
            clip=0.0,
            val_size=0.0,
            seed=r,
            device="cpu",
            quiet=True,
        )
        t0 = time.perf_counter()
        m.fit(history)
        ours.append(time.perf_counter() - t0)
    # repeats alternate the two sides, so a noisy neighbour hits both; min and median both shown
    label = f"train 2x50 LSTM, {len(X)} windows, {args.epochs} epochs"
    rows.append((f"{label} (min of {args.repeats})", min(bare), min(ours)))
    rows.append(
        (f"{label} (median of {args.repeats})", float(np.median(bare)), float(np.median(ours)))
    )

    series = np.random.default_rng(0).standard_normal(1_000_000)
    t0 = time.perf_counter()
    create_sequences(series, 20)
    t_loop = time.perf_counter() - t0
    t0 = time.perf_counter()
    sliding_windows(series, 20)
    t_view = time.perf_counter() - t0
    t0 = time.perf_counter()
    np.ascontiguousarray(sliding_windows(series, 20))
    t_batch = time.perf_counter() - t0
    rows.append(("window 1M points (view)", t_loop, t_view))
    rows.append(("window 1M points (view + copy to batch)", t_loop, t_batch))

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'job':<60} {'reference s':>12} {'gatecast s':>11} {'ratio':>8}")
    for name, ref, g in rows:
        print(f"{name:<60} {ref:>12.4f} {g:>11.4f} {g / ref:>8.3f}")
    print("reference = bare PyTorch loop (training) / notebook create_sequences loop (windowing);")
    print("ratio = gatecast / reference (training goal <= 1.05)")


if __name__ == "__main__":
    main()
