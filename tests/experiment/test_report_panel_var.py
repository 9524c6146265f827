"""The page of a panel VaR run (kind ``panel-var``, the layout of gc.var_panel's run folder):
its verdict's counts of rejected instruments recomputed by hand from per_instrument.csv, its
tables and figure, and write.py sending the kind to it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from gatecast.evaluation.var import backtest_var
from gatecast.experiment.registry import label
from gatecast.experiment.report import build_report, run_kind, write_report
from gatecast.experiment.run_folder import RunFolder, write_run_record

INSTRUMENTS = ("AAA", "BBB", "CCC", "DDD", "EEE", "FFF")
#: A model's variance forecast as a multiple of the true variance: 1 is right, 0.3 too small
#: (too many exceptions everywhere).
MODELS = {"garch": 1.0, "ewma": 0.3}


def _write_folder(folder: Path) -> pd.DataFrame:
    """A panel-var run folder as gc.var_panel writes it: per_instrument.csv (one row per
    instrument, model, distribution and level; the single-series backtest's columns), summary.csv,
    risk.parquet, folds.csv, metrics.json and run.json."""
    rng = np.random.default_rng(7)
    days = pd.bdate_range("2015-01-02", periods=500, name="date")
    rows, risk = [], []
    for k, name in enumerate(INSTRUMENTS):
        var = (1.0 + 0.5 * k) * np.ones(len(days))
        r = pd.Series(np.sqrt(var) * rng.standard_normal(len(days)), days)
        for model, scale in MODELS.items():
            f = pd.Series(scale * var, days)
            bt = backtest_var(r, f, "normal", level=0.99, sims=50, seed=k)
            rows.append(
                {"instrument": name, "model": model, "distribution": "normal"}
                | bt.to_dict()
                | {"nu": np.nan, "ratio": bt.exceptions / bt.expected}
            )
            var_1 = 2.326 * np.sqrt(f.to_numpy())
            risk.append(
                pd.DataFrame(
                    {
                        "instrument": name,
                        "model": model,
                        "distribution": "normal",
                        "date": days,
                        "return": r.to_numpy(),
                        "var_1": var_1,
                        "hit_1": r.to_numpy() < -var_1,
                    }
                )
            )
    table = pd.DataFrame(rows)
    first = ["instrument", "model", "distribution", "level", "n", "exceptions", "expected"]
    table = table[first + [c for c in table.columns if c not in first]]
    rf = RunFolder(folder)
    rf.write_csv("per_instrument.csv", table, index=False)
    summary = table.groupby(["model", "distribution", "level"], sort=False).agg(
        instruments=("instrument", "size"),
        exceptions=("exceptions", "sum"),
        kupiec_rejected=("kupiec_p", lambda p: int((p < 0.05).sum())),
    )
    rf.write_csv("summary.csv", summary)
    rf.write_parquet("risk.parquet", pd.concat(risk, ignore_index=True))
    config = {"data": "long.csv", "levels": [0.99], "alpha": 0.05, "refit_every": 21}
    write_run_record(folder, "panel-var", "finished", config)
    rf.write_metrics(
        {
            "config": config,
            "source": "file long.csv",
            "instruments": list(INSTRUMENTS),
            "first_date": days[0],
            "last_date": days[-1],
            "calibration_start": "2014-01-02",
            "n_refits": 24,
            "tests": {"kupiec": "proportion of failures, LR ~ chi2(1)"},
            "summary": [],
            "notes": [],
        }
    )
    return table


def test_the_verdict_counts_the_rejected_instruments_by_hand(tmp_path: Path) -> None:
    table = _write_folder(tmp_path)
    assert run_kind(tmp_path) == "panel-var"
    report = build_report(tmp_path, figures=True)
    assert report.kind == "panel-var"
    # by hand: Kupiec's LR from each row's exceptions and days (closed form), or the stored
    # conditional coverage p-value, below 5%
    for model in MODELS:
        part = table[table["model"] == model]
        n, x = part["n"].to_numpy(float), part["exceptions"].to_numpy(float)
        p, phat = 0.01, x / n
        with np.errstate(divide="ignore", invalid="ignore"):
            ll1 = np.where(x > 0, x * np.log(phat), 0) + np.where(
                n - x > 0, (n - x) * np.log(1 - phat), 0
            )
        lr = -2 * (x * np.log(p) + (n - x) * np.log(1 - p) - ll1)
        out = (stats.chi2.sf(lr, 1) < 0.05) | (part["cc_p"].to_numpy() < 0.05)
        names = sorted(part["instrument"].to_numpy()[out])
        shown = ", ".join(names[:4]) + (", ..." if len(names) > 4 else "")
        clause = f"{label(model)} on {len(names)}" + (f" ({shown})" if names else "")
        assert clause in report.verdict, (clause, report.verdict)
    # the too-small variance is rejected on every instrument
    assert f"{label('ewma')} on {len(INSTRUMENTS)} (" in report.verdict
    assert report.verdict.startswith("0.99 VaR over 6 instruments, rejected at 0.05")
    per_instrument = report.tables[1].frame
    assert list(per_instrument.index) == list(INSTRUMENTS)
    assert per_instrument.loc["AAA", "ewma normal: exceptions"] == int(
        table.query("instrument == 'AAA' and model == 'ewma'")["exceptions"].iloc[0]
    )
    assert [p.id for p in report.panels][:1] == ["fig-exception-ratio"]


def test_write_report_writes_the_panel_var_page(tmp_path: Path) -> None:
    _write_folder(tmp_path)
    page = write_report(tmp_path).read_text(encoding="utf-8")
    assert "VaR on a panel" in page and "Kupiec or Christoffersen" in page


@pytest.mark.parametrize("kind", ["panel-backtest", "panel-var"])
def test_own_pages_are_not_the_generic_one(tmp_path: Path, kind: str) -> None:
    write_run_record(tmp_path, kind, "finished", {})
    assert run_kind(tmp_path) == kind


def test_a_panel_var_run_ends_with_its_page(tmp_path: Path) -> None:
    import gatecast as gc

    out = tmp_path / "pv"
    pv = gc.var_panel(
        gc.load_panel("arch_panel"),
        models="garch,ewma",
        levels=(0.99, 0.95),
        distributions=("normal",),
        test_start="2018-01-02",
        refit_every=126,
        calibration=126,
        sims=50,
        n_jobs=1,
        out=str(out),
    )
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "VaR on a panel" in page
    # the verdict's counts, by hand from the run's own table (99% VaR, alpha 0.05)
    t = pv.table[pv.table["level"] == 0.99]
    for model in ("garch", "ewma"):
        part = t[t["model"] == model]
        n = int(((part["kupiec_p"] < 0.05) | (part["cc_p"] < 0.05)).sum())
        assert f"{label(model)} on {n}" in build_report(out, figures=False).verdict
