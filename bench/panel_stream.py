"""`gatecast stream` with a global model: the time per streamed row (one instrument's tick), per
day of a 20-instrument panel, and per day of 1,000 and 5,000 instruments sharing the weights.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python bench/panel_stream.py [--torch] [--sizes 1000,5000]``.

A global LSTM (the default variance settings: hidden 16, window 5, the close-only inputs) is fit
for one epoch on the 20 stocks of ``sp500_stocks`` up to 2017 (the weights do not change the
cost) and saved, then 2017-2018 are streamed: ``rows`` through the CLI's row reader
(:func:`gatecast.cli.panel_rows.panel_stream_lines`: parse, tick one instrument, format), as
`gatecast stream` does them; ``day``: one ``update_many`` of the 20 instruments a day (the rows
built beforehand). Two sets: ``loop``, the torch model's ``stream_set("numpy")`` (each
instrument's window through its own NumPy engine, one at a time), and ``batched``,
``load_global_numpy(folder).stream_set()`` (NumPy alone; a day's windows in one forward of the
shared weights, each row with its own biases).

``--sizes``: synthetic panels of N instruments sharing the weights (each with the scaler and
level of one of the 20, and one of their price paths), each warmed up on 40 days, then 20 days
ticked with one ``update_many`` of all N a day; the same two sets (``loop``: each instrument its
own single-series NumPy model).
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import pandas as pd  # noqa: E402

import gatecast as gc  # noqa: E402
from gatecast.cli.panel_rows import panel_stream_lines  # noqa: E402
from gatecast.serve import GlobalNumpyModel, StreamSet, load_global_numpy  # noqa: E402
from gatecast.serve.global_numpy import read_global_folder  # noqa: E402


def _looped(model: GlobalNumpyModel) -> StreamSet:
    """Each instrument its own single-series NumPy model: the set runs them one at a time."""
    first = model.instruments[0]
    return StreamSet(
        lambda: model.for_instrument(first).stream(),
        stream_for=lambda k: model.for_instrument(k).stream(),
    )


def _synthetic(folder: Path, n: int) -> GlobalNumpyModel:
    """``n`` instruments on the folder's weights, instrument k with the part of the (k mod 20)th."""
    parts = read_global_folder(folder)
    src = parts.instruments
    names = tuple(f"S{k:05d}" for k in range(n))
    pick = {name: src[k % len(src)] for k, name in enumerate(names)}
    return GlobalNumpyModel(
        dataclasses.replace(
            parts,
            instruments=names,
            scalers={s: parts.scalers[pick[s]] for s in names},
            levels={s: parts.levels[pick[s]] for s in names},
            train_ranges={s: parts.train_ranges[pick[s]] for s in names},
        )
    )


def _market(model: GlobalNumpyModel, recent: dict[str, pd.DataFrame], batched: bool) -> float:
    """Milliseconds per day of every instrument of ``model``, after 40 days of warm-up."""
    closes = [df["close"].to_numpy() for df in recent.values()]
    days = pd.bdate_range("2019-01-01", periods=60)
    names = model.instruments
    path = {s: closes[k % len(closes)] for k, s in enumerate(names)}
    ticks = [{s: float(path[s][d]) for s in names} for d in range(len(days))]
    streams = model.stream_set() if batched else _looped(model)
    for d in range(40):
        streams.update_many(ticks[d], at=days[d])
    t0 = time.perf_counter()
    for d in range(40, 60):
        streams.update_many(ticks[d], at=days[d])
    return 1e3 * (time.perf_counter() - t0) / 20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--torch", action="store_true", help="also the torch engine (slow)")
    parser.add_argument("--sizes", default="1000,5000", help="synthetic panel sizes ('' none)")
    args = parser.parse_args()
    panel = gc.load_panel("sp500_stocks")
    recent = {n: df.loc["2017":"2018"] for n, df in panel.items()}
    model = gc.GlobalRecurrentVariance(epochs=1, device="cpu", quiet=True)
    model.fit({n: df.loc[:"2017"] for n, df in recent.items()})
    folder = Path(tempfile.mkdtemp()) / "global"
    model.save(folder)
    days = sorted(set().union(*(df.index for df in recent.values())))
    columns = list(next(iter(recent.values())).columns)
    lines = ["date,instrument," + ",".join(columns)]
    ticks = []
    for d in days:
        rows = {n: df.loc[d].to_dict() for n, df in recent.items() if d in df.index}
        ticks.append(rows)
        lines += [f"{d:%Y-%m-%d},{n}," + ",".join(repr(float(v)) for v in r.values())
                  for n, r in rows.items()]  # fmt: skip
    n_rows = len(lines) - 1
    print(f"{len(recent)} instruments, {len(days)} days, {n_rows} rows; hidden {model.hidden}")
    sets = {
        "loop (numpy)": lambda: model.stream_set("numpy"),
        "batched (load_global_numpy)": lambda: load_global_numpy(folder).stream_set(),
    }
    if args.torch:
        sets["loop (torch)"] = lambda: model.stream_set("torch")
    for name, make in sets.items():
        streams = make()
        t0 = time.perf_counter()
        bad = sum(row.error is not None for row in panel_stream_lines(streams, lines))
        rows_s = time.perf_counter() - t0
        streams = make()
        t0 = time.perf_counter()
        for d, rows in zip(days, ticks, strict=True):
            streams.update_many(rows, at=d)
        day_s = time.perf_counter() - t0
        print(
            f"{name}: {1e6 * rows_s / n_rows:.0f} us per row (CLI row path, {bad} refused), "
            f"{1e3 * rows_s / len(days):.2f} ms per 20-instrument day; update_many of a day "
            f"{1e3 * day_s / len(days):.2f} ms"
        )
    for n in [int(v) for v in args.sizes.split(",") if v]:
        synthetic = _synthetic(folder, n)
        batched = _market(synthetic, recent, True)
        looped = _market(synthetic, recent, False)
        print(
            f"{n} instruments, one update_many a day: batched {batched:.1f} ms, "
            f"loop {looped:.1f} ms ({looped / batched:.1f}x)"
        )


if __name__ == "__main__":
    main()
