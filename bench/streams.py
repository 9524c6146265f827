"""Live streams of a whole market: instruments per tick, batched StreamSet vs one Stream per
instrument, and the latency of one Stream.update.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python bench/streams.py [--quick] [--sizes 1 10 100]``.

One model for every contender: a 2 x 50 LSTM in sequence mode on one input (the return), float64,
fitted for one epoch on an AR(1) path (the weights do not change the cost). One thread for NumPy's
BLAS and for torch. Each measurement is a tick of every instrument (a fresh price each); the
contenders alternate in rounds, and the tables give the min and the median over the rounds, with
ratios against the reference measured in the same run (the old per-instrument loop; the NumPy
``Stream.update``).

* ``loop``: what StreamSet did before: one Stream per instrument (each its own state, sharing the
  weights), updated one by one in Python.
* ``set numpy`` / ``set torch``: the batched StreamSet on the NumPy or torch engine: from 16
  instruments a tick is checked and featurised in arrays (the vectorised tick), then one step of
  all rows; ``set numpy f32``: the NumPy engine in float32; ``set numpy general``: the NumPy set
  made to take the general path (per-instrument checks in Python), the set before the
  vectorised tick; ``set numba`` / ``set numba f32``: the NumPy engine with ``backend="numba"``
  (the ``gatecast[fast]`` extra), whose batched step takes each block's activations in one
  compiled pass.
* ``step only``: the NumPy engine's batched step alone on the gathered rows (the network's share).
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import copy  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from gatecast.data import ar1_prices  # noqa: E402
from gatecast.inference import NumpyEngine  # noqa: E402
from gatecast.models.recurrent import RecurrentForecaster  # noqa: E402
from gatecast.models.recurrent.base import weights_of  # noqa: E402
from gatecast.serve import Stream, StreamSet  # noqa: E402

torch.set_num_threads(1)
SIZES = (1, 10, 100, 1000, 5000, 10000)


def fit_model() -> RecurrentForecaster:
    prices = ar1_prices(400, phi=0.5, sigma=0.01, seed=1)
    m = RecurrentForecaster(
        cell="lstm",
        hidden=50,
        layers=2,
        mode="sequence",
        epochs=1,
        chunks=4,
        chunk_len=32,
        burn_in=4,
        seed=0,
        device="cpu",
    ).fit(prices)
    m.net_.double()
    return m


def numba_available() -> bool:
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


def rounds(contenders: dict[str, Callable[[], float]], n_rounds: int) -> dict[str, list[float]]:
    """Seconds per call of each contender, the contenders alternating within each round."""
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for fn in contenders.values():
        fn()  # warm up: allocations, first-use compiles
    for r in range(n_rounds):
        order = list(contenders.items())
        for name, fn in order if r % 2 == 0 else order[::-1]:
            times[name].append(fn())
    return times


def market(m: RecurrentForecaster, n: int, ticks: int, n_rounds: int) -> dict[str, list[float]]:
    """Seconds per tick of n instruments, each contender on its own copy of the market."""
    spec = m._fitted()
    tensors = weights_of(m.net_)
    base = NumpyEngine(spec, tensors)
    fp = m.stream("numpy").fingerprint
    keys = [f"I{i:05d}" for i in range(n)]
    rng = np.random.default_rng(0)
    # prices that wander like returns: 1 + a small move per tick, per instrument
    paths = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, size=(ticks * (n_rounds + 1) + 2, n)), 0))

    def engine_copy() -> NumpyEngine:
        e = copy.copy(base)  # the weights are shared, the state is its own
        e._s = base.stepper.initial_state()
        e._one = base.stepper.initial_state()
        return e

    loop = {k: Stream(spec, engine_copy(), fp) for k in keys}
    sets = {
        "set numpy": StreamSet(lambda: m.stream("numpy")),
        "set numpy f32": StreamSet(
            lambda: Stream.over(spec, NumpyEngine(spec, tensors, np.float32), tensors)
        ),
        "set numpy general": StreamSet(lambda: m.stream("numpy")),
        "set torch": StreamSet(lambda: m.stream("torch")),
    }
    if torch.cuda.is_available():  # the torch engine on the GPU (device="auto" would pick it)
        for name, tdtype in (
            ("set torch cuda", torch.float64),
            ("set torch cuda f32", torch.float32),
        ):
            on_gpu = copy.deepcopy(m)
            on_gpu.net_.to(device="cuda", dtype=tdtype)
            sets[name] = StreamSet(lambda on_gpu=on_gpu: on_gpu.stream("torch"))  # type: ignore[misc]
    if numba_available():
        for name, dtype in (("set numba", np.float64), ("set numba f32", np.float32)):
            sets[name] = StreamSet(
                lambda dtype=dtype: Stream.over(  # type: ignore[misc]
                    spec, NumpyEngine(spec, tensors, dtype, backend="numba"), tensors
                )
            )
    sets["set numpy general"].vector_min = 10**9  # the per-instrument checks of the general path
    ticks_of = [
        [dict(zip(keys, row.tolist(), strict=True)) for row in paths[i :: n_rounds + 1][:ticks]]
        for i in range(n_rounds + 1)
    ]
    state = dict.fromkeys(["loop", *sets], 0)

    def run_loop() -> float:
        batch = ticks_of[state["loop"] % len(ticks_of)]
        state["loop"] += 1
        t0 = time.perf_counter()
        for tick in batch:
            for k, p in tick.items():
                loop[k].update(p)
        return (time.perf_counter() - t0) / len(batch)

    def run_set(name: str) -> Callable[[], float]:
        def run() -> float:
            batch = ticks_of[state[name] % len(ticks_of)]
            state[name] += 1
            t0 = time.perf_counter()
            for tick in batch:
                sets[name].update_many(tick)
            return (time.perf_counter() - t0) / len(batch)

        return run

    L, H = spec.layers, spec.hidden
    h, c = np.zeros((n, L, H)), np.zeros((n, L, H))
    Z = rng.normal(size=(n, 1))

    def run_step() -> float:
        t0 = time.perf_counter()
        for _ in range(ticks):
            base.step_many(Z, h, c)
        return (time.perf_counter() - t0) / ticks

    contenders = {
        "loop": run_loop,
        **{name: run_set(name) for name in sets},
        "step only": run_step,
    }
    return rounds(contenders, n_rounds)


def single_tick(m: RecurrentForecaster, ticks: int, n_rounds: int) -> dict[str, list[float]]:
    """Seconds per Stream.update(price) and per bare step, NumPy and numba backends."""
    spec, tensors = m._fitted(), weights_of(m.net_)
    prices = (100 * np.exp(np.cumsum(np.random.default_rng(1).normal(0, 0.01, ticks)))).tolist()
    contenders: dict[str, Callable[[], float]] = {}
    backends = ["numpy", "numba", "numba f32"] if numba_available() else ["numpy"]
    for backend in backends:
        dtype = np.float32 if backend.endswith("f32") else np.float64
        engine = NumpyEngine(spec, tensors, dtype, backend=backend.split()[0])  # type: ignore[arg-type]
        stream = Stream.over(spec, engine, tensors)

        def update(stream: Stream = stream) -> float:
            stream.reset()
            t0 = time.perf_counter()
            for p in prices:
                stream.update(p)
            return (time.perf_counter() - t0) / len(prices)

        def step(engine: NumpyEngine = engine) -> float:
            z = np.zeros(1)
            t0 = time.perf_counter()
            for _ in range(ticks):
                engine.step(z)
            return (time.perf_counter() - t0) / ticks

        contenders[f"Stream.update ({backend})"] = update
        contenders[f"engine.step ({backend})"] = step
    return rounds(contenders, n_rounds)


def table(title: str, times: dict[str, list[float]], ref: str, unit: float, label: str) -> str:
    lines = [title, f"{'contender':<26}{'min ' + label:>12}{'median ' + label:>14}{'ratio':>8}"]
    ref_min = min(times[ref])
    for name, ts in times.items():
        lines.append(
            f"{name:<26}{min(ts) * unit:>12.3f}{statistics.median(ts) * unit:>14.3f}"
            f"{ref_min / min(ts):>8.2f}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer ticks and rounds")
    parser.add_argument("--sizes", type=int, nargs="*", default=list(SIZES))
    args = parser.parse_args()
    n_rounds = 3 if args.quick else 7
    cpu = platform.processor() or platform.machine()
    try:  # the model name, where Linux says it
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    gpu = f", GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""
    print(f"{cpu}, numpy {np.__version__}, torch {torch.__version__}, 1 thread{gpu}")
    m = fit_model()
    one = single_tick(m, 2000 if args.quick else 20000, n_rounds)
    print(
        table(
            "\none tick of a 2x50 LSTM (ratio: NumPy Stream.update / this)",
            one,
            "Stream.update (numpy)",
            1e6,
            "us",
        )
    )
    curve = []
    for n in args.sizes:
        ticks = max(1, min(50, 20000 // n)) if not args.quick else max(1, min(10, 2000 // n))
        t = market(m, n, ticks, n_rounds)
        print(table(f"\n{n} instruments per tick (ratio: loop / this)", t, "loop", 1e3, "ms"))
        curve.append((n, {k: min(v) for k, v in t.items()}))
    print("\ninstruments per tick, min ms per tick (us per instrument)")
    names = list(curve[0][1])
    print(f"{'n':>7}" + "".join(f"{name:>22}" for name in names))
    for n, best in curve:
        print(
            f"{n:>7}"
            + "".join(f"{best[k] * 1e3:>11.3f} ({best[k] / n * 1e6:>6.2f})" for k in names)
        )


if __name__ == "__main__":
    main()
