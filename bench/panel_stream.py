"""`gatecast stream` with a global model: the time per streamed row (one instrument's tick) and
per day of a 20-instrument panel.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python bench/panel_stream.py [--torch]``.

A global LSTM (the default variance settings: hidden 16, window 5, the close-only inputs) is fit
for one epoch on the 20 stocks of ``sp500_stocks`` up to 2017 (the weights do not change the
cost), then 2017-2018 are streamed: ``rows`` through the CLI's row reader
(:func:`gatecast.cli.panel_rows.panel_stream_lines`: parse, tick one instrument, format), as
`gatecast stream` does them; ``day``: one ``update_many`` of the 20 instruments a day (the rows
built beforehand). Each instrument's network runs on its own (its own biases), so a day costs
about 20 rows.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import time  # noqa: E402

import gatecast as gc  # noqa: E402
from gatecast.cli.panel_rows import panel_stream_lines  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--torch", action="store_true", help="also the torch engine (slow)")
    args = parser.parse_args()
    panel = gc.load_panel("sp500_stocks")
    recent = {n: df.loc["2017":"2018"] for n, df in panel.items()}
    model = gc.GlobalRecurrentVariance(epochs=1, device="cpu", quiet=True)
    model.fit({n: df.loc[:"2017"] for n, df in recent.items()})
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
    for engine in ("numpy", "torch") if args.torch else ("numpy",):
        streams = model.stream_set(engine)
        t0 = time.perf_counter()
        bad = sum(row.error is not None for row in panel_stream_lines(streams, lines))
        rows_s = time.perf_counter() - t0
        streams = model.stream_set(engine)
        t0 = time.perf_counter()
        for d, rows in zip(days, ticks, strict=True):
            streams.update_many(rows, at=d)
        day_s = time.perf_counter() - t0
        print(
            f"{engine}: {1e6 * rows_s / n_rows:.0f} us per row (CLI row path, {bad} refused), "
            f"{1e3 * rows_s / len(days):.2f} ms per 20-instrument day; update_many of a day "
            f"{1e3 * day_s / len(days):.2f} ms"
        )


if __name__ == "__main__":
    main()
