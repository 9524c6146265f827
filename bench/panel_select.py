"""Choose the global variance model's settings on a selection period, then walk the choice once
over the test period: the honest route to the issue-26 goal "median QLIKE ratio to GJR-t <= 1.00"
on the 20-stock panel. Not a test.

1. Selection: every configuration of the grid (fixed before any of its results were seen:
   ``embedding`` off/on x ``hidden`` 16/32, every other setting a default of ``gatecast
   evaluate``) is walked forward over ``--select-start`` .. the day before ``--test-start``,
   on the panel **cut at the selection's last day** (nothing of the test period is read), refit
   every ``--refit-every`` days, beside per-stock GJR-t; each is scored by its median QLIKE ratio
   to GJR-t (the goal's statistic) on the selection period; the lowest wins.
2. Test: the chosen configuration is walked over the test period with GJR-t, GARCH and HAR,
   and reported once. (Measured 2026-12-07: the default, hidden 16 without embedding, is chosen
   at 1.011 on 2011-2014; its test walk is then ``bench/panel_global.py``'s run, 1.011 on
   2015-2018: docs/panel.md.)

    .venv/bin/python bench/panel_select.py [--select-start 2011-01-01] [--test-start 2015-01-01]
        [--test-end 2018-12-31] [--refit-every 21] [--n-jobs 1] [--out panel_select]
"""

from __future__ import annotations

import argparse
import functools
import json
import time
from pathlib import Path

import pandas as pd
import torch

from gatecast.data import load_panel
from gatecast.evaluation.panel_scores import score_panel
from gatecast.evaluation.panel_walk import PanelWalkPlan, panel_walk_forward
from gatecast.models.garch import ArchForecaster
from gatecast.models.har import HARForecaster
from gatecast.models.recurrent.global_variance import GlobalRecurrentVariance

GRID = {
    "e0_h16": {"embedding": False, "hidden": 16},
    "e1_h16": {"embedding": True, "hidden": 16},
    "e0_h32": {"embedding": False, "hidden": 32},
    "e1_h32": {"embedding": True, "hidden": 32},
}


def lstm(**params: object) -> functools.partial[GlobalRecurrentVariance]:
    return functools.partial(
        GlobalRecurrentVariance, epochs=30, warm_epochs=5, warm_start=True, device="cpu", **params
    )


BASELINES = {
    "gjr_t": functools.partial(ArchForecaster, "GARCH", o=1, dist="t", name="gjr_t"),
    "garch": functools.partial(ArchForecaster, "GARCH", name="garch"),
    "har": functools.partial(HARForecaster, (1, 5, 22), name="har"),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--select-start", default="2011-01-01")
    ap.add_argument("--test-start", default="2015-01-01")
    ap.add_argument("--test-end", default="2018-12-31")
    ap.add_argument("--refit-every", type=int, default=21)
    ap.add_argument("--n-jobs", type=int, default=1)
    ap.add_argument("--out", default="panel_select")
    args = ap.parse_args()
    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    panel = load_panel("sp500_stocks")
    select_end = pd.Timestamp(args.test_start) - pd.Timedelta(days=1)
    cut = {n: df.loc[:select_end] for n, df in panel.items()}

    t0 = time.perf_counter()
    models = {k: lstm(**v) for k, v in GRID.items()} | {"gjr_t": BASELINES["gjr_t"]}
    plan = PanelWalkPlan(args.select_start, str(select_end.date()), refit_every=args.refit_every)
    walk = panel_walk_forward(
        models, cut, plan, warm_start={k: True for k in GRID}, n_jobs=args.n_jobs
    )
    sel = score_panel(walk, cut, reference="gjr_t")
    sel.table.to_csv(out / "selection_table.csv", index=False)
    summary = sel.summary
    summary.to_csv(out / "selection_summary.csv")
    ratios = {k: float(summary.loc[k, "median_ratio"]) for k in GRID}
    chosen = min(ratios, key=ratios.__getitem__)
    t_sel = time.perf_counter() - t0
    print(summary.round(4).to_string())
    print(f"selection {t_sel:.0f} s; chosen {chosen} {GRID[chosen]}", flush=True)
    (out / "chosen.json").write_text(
        json.dumps({"chosen": chosen, "params": GRID[chosen], "ratios": ratios}, indent=1)
    )

    t1 = time.perf_counter()
    models = {"lstm": lstm(**GRID[chosen])} | BASELINES
    plan = PanelWalkPlan(args.test_start, args.test_end, refit_every=args.refit_every)
    walk = panel_walk_forward(models, panel, plan, warm_start={"lstm": True}, n_jobs=args.n_jobs)
    test = score_panel(walk, panel, reference="gjr_t")
    test.table.to_csv(out / "test_table.csv", index=False)
    test.summary.to_csv(out / "test_summary.csv")
    print(test.summary.round(4).to_string())
    print(f"test {time.perf_counter() - t1:.0f} s", flush=True)


if __name__ == "__main__":
    main()
