"""NumPy engine vs PyTorch on the same jobs in one run: streaming step, window forecast, training.

Run: ``.venv/bin/python bench/numpy_engine.py [--quick] [--threads N]``. Prints one table; the ratio
column is torch time / NumPy time (above 1: NumPy is faster). Timings are the median of several
repeats; on a shared machine, run it twice and trust what repeats.
"""

from __future__ import annotations

import os

# One BLAS thread, like torch's one intra-op thread below: these matrices are small, and on a shared
# machine extra threads only wait for each other. Set before NumPy loads its BLAS.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import timeit  # noqa: E402
from collections.abc import Callable  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from gatecast.nn import Adam, RecurrentNet, Stepper, clip_grad_norm, to_torch  # noqa: E402


def median_seconds(fn: Callable[[], object], number: int, repeat: int = 7) -> float:
    """Median over `repeat` runs of the time per call, each run timing `number` calls."""
    fn()  # warm up (allocations, lazy initialisation)
    return statistics.median(timeit.repeat(fn, number=number, repeat=repeat)) / number


def bench_step(quick: bool, dtype: type) -> tuple[float, float, float]:
    """One tick of a 2 x 50 LSTM plus linear head, one sample, state carried: NumPy vs torch."""
    net = RecurrentNet("lstm", input_size=2, hidden_size=50, num_layers=2, seed=0, dtype=dtype)
    stepper = Stepper(net.rnn, net.head)
    state = stepper.initial_state()
    x = np.array([0.1, -0.2], dtype=dtype)

    def numpy_step() -> object:
        return stepper.step(x, state)

    module = to_torch(net).float().eval()  # torch in float32, its usual inference dtype
    xt = torch.tensor(x, dtype=torch.float32).reshape(1, 1, 2)
    tstate = [(torch.zeros(2, 1, 50), torch.zeros(2, 1, 50))]

    def torch_step() -> object:
        with torch.inference_mode():
            out, tstate[0] = module.rnn(xt, tstate[0])
            return module.head(out[:, -1]).item()

    n = 2000 if quick else 20000
    t_np = median_seconds(numpy_step, n)
    t_torch = median_seconds(torch_step, n // 4)
    # the same arithmetic: both engines from a zero state, one step
    y_np, _ = stepper.step(x, stepper.initial_state())
    with torch.inference_mode():
        y_t = module(xt).item()
    return t_np, t_torch, abs(y_np - y_t)


def bench_window(quick: bool) -> tuple[float, float, float]:
    """One forecast from a 20-step window (2 x 50 LSTM + head), batch of one: NumPy vs torch."""
    net = RecurrentNet("lstm", input_size=1, hidden_size=50, num_layers=2, seed=0, dtype=np.float32)
    x = np.random.default_rng(0).normal(size=(1, 20, 1)).astype(np.float32)
    module = to_torch(net).eval()
    xt = torch.from_numpy(x)
    stepper = Stepper(net.rnn, net.head)

    def numpy_window() -> object:
        return net(x)

    def numpy_stepper_window() -> object:
        s = stepper.initial_state()
        y = 0.0
        for v in x[0, :, 0]:
            y, s = stepper.step(v, s)
        return y

    def torch_window() -> object:
        with torch.inference_mode():
            return module(xt)

    n = 200 if quick else 2000
    return (
        median_seconds(numpy_window, n),
        median_seconds(numpy_stepper_window, n),
        median_seconds(torch_window, n),
    )


def bench_training(quick: bool, dtype: type) -> tuple[float, float, float]:
    """Windows per second for one epoch of Adam + clipping + MSE on the same windows and weights."""
    rng = np.random.default_rng(0)
    n_windows = 512 if quick else 4096
    batch, window = 32, 20
    series = np.cumsum(rng.normal(size=n_windows + window + 1)) * 0.01
    idx = np.arange(window)[None, :] + np.arange(n_windows)[:, None]
    X = series[idx][..., None].astype(dtype)
    y = series[idx[:, -1] + 1][:, None].astype(dtype)
    net = RecurrentNet("lstm", input_size=1, hidden_size=50, num_layers=2, seed=0, dtype=dtype)
    module = to_torch(net)  # the same initial weights

    opt = Adam(net.params, lr=1e-3)
    t0 = time.perf_counter()
    for s in range(0, n_windows, batch):
        _, grads = net.loss_and_grads(X[s : s + batch], y[s : s + batch])
        clip_grad_norm(grads, 1.0)
        opt.step(grads)
    t_np = time.perf_counter() - t0

    topt = torch.optim.Adam(module.parameters(), lr=1e-3)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    loss_fn = torch.nn.MSELoss()
    t0 = time.perf_counter()
    for s in range(0, n_windows, batch):
        topt.zero_grad()
        loss = loss_fn(module(Xt[s : s + batch]), yt[s : s + batch])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(module.parameters(), 1.0)
        topt.step()
    t_torch = time.perf_counter() - t0
    # same job, same weights: the engines end one epoch at the same place (to float rounding)
    drift = max(
        float(np.max(np.abs(net.params[k] - v.detach().numpy())))
        for k, v in module.state_dict().items()
    )
    return n_windows / t_np, n_windows / t_torch, drift


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (a few seconds)")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch intra-op threads (default 1: both engines on one core; NumPy's BLAS "
        "follows OPENBLAS_NUM_THREADS, 1 unless set)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    rows: list[tuple[str, str, str, str]] = []
    diffs = []
    for dtype in (np.float64, np.float32):
        t_np, t_torch, diff = bench_step(args.quick, dtype)
        diffs.append(diff)
        rows.append(
            (
                f"LSTM 2x50 step + head, 1 sample ({np.dtype(dtype).name})",
                f"{t_np * 1e6:.1f} us",
                f"{t_torch * 1e6:.1f} us",
                f"{t_torch / t_np:.1f}x",
            )
        )
    w_np, w_step, w_torch = bench_window(args.quick)
    rows.append(
        (
            "20-step window forecast, forward()",
            f"{w_np * 1e6:.0f} us",
            f"{w_torch * 1e6:.0f} us",
            f"{w_torch / w_np:.1f}x",
        )
    )
    rows.append(
        (
            "20-step window forecast, 20 x step()",
            f"{w_step * 1e6:.0f} us",
            f"{w_torch * 1e6:.0f} us",
            f"{w_torch / w_step:.1f}x",
        )
    )
    drifts = []
    for dtype in (np.float32, np.float64):
        r_np, r_torch, drift = bench_training(args.quick, dtype)
        drifts.append(drift)
        rows.append(
            (
                f"training 2x50 LSTM, batch 32, window 20 ({np.dtype(dtype).name})",
                f"{r_np:,.0f} win/s",
                f"{r_torch:,.0f} win/s",
                f"{r_np / r_torch:.2f}x",
            )
        )

    print(
        f"gatecast.nn vs torch {torch.__version__} (torch threads: {torch.get_num_threads()}), "
        f"numpy {np.__version__}, Python {platform.python_version()}, {platform.machine()}"
    )
    widths = [
        max(len(r[i]) for r in [("job", "NumPy", "torch", "NumPy speed-up"), *rows])
        for i in range(4)
    ]
    header = ("job", "NumPy", "torch", "NumPy speed-up")
    for r in [header, tuple("-" * w for w in widths), *rows]:
        print(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            )
        )
    print(
        f"same answers: step |dy| = {max(diffs):.1e}; weights after one epoch differ by at most "
        f"{drifts[0]:.1e} (float32), {drifts[1]:.1e} (float64)"
    )


if __name__ == "__main__":
    main()
