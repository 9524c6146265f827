"""Do two versions of gatecast give the same numbers? Run the same small end-to-end jobs
(evaluate for variance and returns, blocks, backtest, var, sweep, train + predict) with each
source tree, then compare every table they write, number by number.

    python bench/same_numbers.py OLD_TREE NEW_TREE [--work DIR]

A tree is a checkout's root (its ``src`` goes first on PYTHONPATH); both run with this Python.
Tables are compared exactly (the same code path on the same machine must give the same bits);
columns are matched by name, and a column renamed on purpose is listed in ``RENAMED``. Timings,
paths and dates of the run are not compared. Exit status 1 if any number differs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

#: Columns renamed between the versions on purpose (old name -> new name).
RENAMED = {"information_date": "as_of"}

SMALL = ["--n-jobs", "1", "--quiet"]
RECURRENT = ["--epochs", "2", "--warm-epochs", "1", "--hidden", "4"]
JOBS: dict[str, list[str]] = {
    "evaluate-variance": [
        "evaluate",
        "--target",
        "variance",
        "--test-start",
        "2017-07-03",
        "--models",
        "lstm,garch,gjr_t,egarch_t,ewma,har,combo",
        "--refit-every",
        "63",
        "--recurrent-epochs",
        "2",
        "--warm-epochs",
        "1",
        "--hidden",
        "4",
        *SMALL,
    ],
    "evaluate-return": [
        "evaluate",
        "--target",
        "return",
        "--test-start",
        "2018-01-02",
        "--models",
        "no_change,historical_mean,ar1,gru",
        "--refit-every",
        "63",
        "--recurrent-epochs",
        "2",
        "--warm-epochs",
        "1",
        "--hidden",
        "4",
        "--intervals",
        "0.9",
        *SMALL,
    ],
    "blocks": [
        "evaluate",
        "--target",
        "variance",
        "--test-start",
        "2015-01-02",
        "--blocks",
        "2y",
        "--models",
        "garch,gjr_t,har",
        "--refit-every",
        "63",
        *SMALL,
    ],
    "backtest": [
        "backtest",
        "--models",
        "ar1,lstm",
        "--test-start",
        "2018-01-02",
        "--refit-every",
        "63",
        "--cost-bps",
        "5",
        *RECURRENT,
        *SMALL,
    ],
    "var": [
        "var",
        "--models",
        "garch,gjr_t,ewma",
        "--test-start",
        "2017-01-03",
        "--refit-every",
        "63",
        "--level",
        "0.99",
        *SMALL,
    ],
    "sweep": [
        "sweep",
        "--grid",
        "window=5,10",
        "--set",
        "epochs=2 hidden=4 warm_epochs=1",
        "--select-start",
        "2016-01-04",
        "--select-end",
        "2016-12-30",
        "--test-start",
        "2017-01-03",
        "--test-end",
        "2017-12-29",
        "--refit-every",
        "63",
        "--baselines",
        "garch",
        "--n-jobs",
        "1",
    ],
    "train": [
        "train",
        "--data",
        "sp500",
        "--target",
        "return",
        "--epochs",
        "2",
        "--hidden",
        "4",
        "--window",
        "10",
        "--test-start",
        "2018-01-02",
        "--quiet",
    ],
}
#: The same on a panel (``{panel}``: a synthetic long CSV written once into the work folder, so
#: the jobs run in seconds): the global and local models, covariates from another instrument,
#: returns with ARX, the cross-sectional backtest, per-instrument VaR, train + predict.
PANEL_TINY = ["--hidden", "4", "--epochs", "2", "--warm-epochs", "1", "--refit-every", "40"]
PANEL_JOBS: dict[str, list[str]] = {
    "panel-evaluate-variance": [
        "evaluate",
        "--data",
        "{panel}",
        "--panel",
        "--models",
        "lstm,lstm_local,gjr_t,har",
        "--test-start",
        "2011-06-01",
        *PANEL_TINY,
        *SMALL,
    ],
    "panel-evaluate-covariates": [
        "evaluate",
        "--data",
        "{panel}",
        "--panel",
        "--models",
        "lstm,har,gjr_t",
        "--covariates",
        "instrument:AAA",
        "--test-start",
        "2011-06-01",
        *PANEL_TINY,
        *SMALL,
    ],
    "panel-evaluate-return": [
        "evaluate",
        "--data",
        "{panel}",
        "--panel",
        "--target",
        "return",
        "--models",
        "lstm,lstm_local,no_change,ar1,arx",
        "--covariates",
        "instrument:AAA",
        "--test-start",
        "2011-06-01",
        *PANEL_TINY,
        *SMALL,
    ],
    "panel-backtest": [
        "backtest",
        "--data",
        "{panel}",
        "--panel",
        "--models",
        "lstm,ar1,no_change",
        "--test-start",
        "2011-06-01",
        "--cost-bps",
        "5",
        *PANEL_TINY,
        *SMALL,
    ],
    "panel-var": [
        "var",
        "--data",
        "{panel}",
        "--panel",
        "--models",
        "lstm,garch,ewma",
        "--test-start",
        "2011-06-01",
        *PANEL_TINY,
        *SMALL,
    ],
    "panel-train": [
        "train",
        "--data",
        "{panel}",
        "--panel",
        "--target",
        "variance",
        "--epochs",
        "2",
        "--hidden",
        "4",
        "--test-start",
        "2011-06-01",
        "--quiet",
    ],
}
#: Files whose numbers are not results (timings, folds' own bookkeeping).
SKIP = ("run.json", "loss.json", "config.json", "manifest.json", "report.html")
VOLATILE_KEYS = {
    "seconds",
    "train_seconds",
    "walk_forward_seconds",
    "block_seconds",
    "started",
    "finished",
    "elapsed",
    "wall_seconds",
    "pid",
    "fit_seconds",
    "predict_seconds",
}


def panel_csv(path: Path) -> Path:
    """Three instruments on their own calendars (BBB misses five days), 800 business days, with
    High/Low; the same bytes on every call."""
    if path.exists():
        return path
    days = pd.bdate_range("2009-01-01", periods=800)
    rng = np.random.default_rng(0)
    parts = []
    for name, vol in (("AAA", 1.0), ("BBB", 2.0), ("CCC", 1.5)):
        own = days if name != "BBB" else days.delete(np.arange(100, 105))
        r = vol * 0.01 * rng.standard_normal(len(own))
        close = 100 * np.exp(r.cumsum())
        span = np.abs(rng.standard_normal(len(own))) * vol * 0.005
        frame = {"date": own.strftime("%Y-%m-%d"), "ticker": name, "close": close}
        frame |= {"high": close * (1 + span), "low": close * (1 - span)}
        parts.append(pd.DataFrame(frame))
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.concat(parts).to_csv(path, index=False)
    return path


def run_jobs(tree: Path, work: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(tree / "src"), "COLUMNS": "200"}
    panel = str(panel_csv(work.parent / "panel.csv"))
    jobs = JOBS | {k: [a.replace("{panel}", panel) for a in v] for k, v in PANEL_JOBS.items()}
    for name, args in jobs.items():
        out = work / name
        if out.exists():  # left by an earlier call with this --work (a failed job leaves none)
            continue
        cmd = [sys.executable, "-m", "gatecast", *args, "--out", str(out)]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"{tree}: {name} failed:\n{done.stdout}\n{done.stderr}")
    pred = work / "panel-predicted.csv"
    if not pred.exists():
        cmd = [sys.executable, "-m", "gatecast", "predict", "--model", str(work / "panel-train")]
        done = subprocess.run(
            [*cmd, "--data", panel, "--panel", "--out", str(pred)],
            env=env,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise SystemExit(f"{tree}: panel predict failed:\n{done.stderr}")
    pred = work / "predicted.csv"
    if pred.exists():
        return
    cmd = [sys.executable, "-m", "gatecast", "predict", "--model", str(work / "train"), "--data"]
    done = subprocess.run(
        [*cmd, "sp500", "--start", "2018-12-03", "--out", str(pred)],
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"{tree}: predict failed:\n{done.stderr}")


def table(path: Path) -> pd.DataFrame:
    frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    return frame.rename(columns=RENAMED)


def numbers(value: object, at: str = "") -> dict[str, object]:
    """The leaves of a JSON document by their path, timings left out."""
    if isinstance(value, dict):
        out: dict[str, object] = {}
        for k, v in value.items():
            if k not in VOLATILE_KEYS:
                out |= numbers(v, f"{at}/{RENAMED.get(k, k)}")
        return out
    if isinstance(value, list):
        out = {}
        for i, v in enumerate(value):
            out |= numbers(v, f"{at}[{i}]")
        return out
    return {at: value}


def compare(old: Path, new: Path) -> list[str]:
    diffs: list[str] = []
    compared = 0
    for a in sorted(old.rglob("*")):
        rel = a.relative_to(old)
        if not a.is_file() or a.name in SKIP or "folds" in rel.parts:
            continue
        b = new / rel
        if not b.exists():
            diffs.append(f"{rel}: missing in the new run")
            continue
        if a.suffix in (".csv", ".parquet"):
            ta, tb = table(a), table(b)
            shared = [c for c in ta.columns if c in tb.columns and c not in VOLATILE_KEYS]
            lost = [c for c in ta.columns if c not in tb.columns]
            if lost:
                diffs.append(f"{rel}: columns {lost} missing in the new run")
            if len(ta) != len(tb):
                diffs.append(f"{rel}: {len(ta)} rows, then {len(tb)}")
                continue
            for c in shared:
                x, y = ta[c], tb[c]
                num = pd.api.types.is_numeric_dtype(x) and pd.api.types.is_numeric_dtype(y)
                same = (
                    np.array_equal(x.to_numpy(float), y.to_numpy(float), equal_nan=True)
                    if num
                    else x.astype(str).equals(y.astype(str))
                )
                compared += len(x)
                if not same:
                    diffs.append(f"{rel}: column {c!r} differs")
        elif a.suffix == ".json":
            ja, jb = numbers(json.loads(a.read_text())), numbers(json.loads(b.read_text()))
            for key, v in ja.items():
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    compared += 1
                    w = jb.get(key)
                    if not (v == w or (v != v and w != w)):  # NaN equals NaN here
                        diffs.append(f"{rel}: {key} {v} then {w}")
    print(f"compared {compared} numbers")
    return diffs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old", type=Path)
    ap.add_argument("new", type=Path)
    ap.add_argument("--work", type=Path, default=None)
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="same-numbers-"))
    for side, tree in (("old", args.old), ("new", args.new)):
        run_jobs(tree.resolve(), work / side)
    diffs = compare(work / "old", work / "new")
    print("\n".join(diffs) if diffs else "every number the same")
    raise SystemExit(1 if diffs else 0)


if __name__ == "__main__":
    main()
