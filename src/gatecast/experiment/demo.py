"""`gatecast demo`: the course notebook done honestly, then RNN vs LSTM vs GRU on real S&P 500 data."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from gatecast.artifacts import atomic_write_json, atomic_write_text
from gatecast.data.features import TargetSpec
from gatecast.data.sources import load
from gatecast.data.synthetic import random_walk
from gatecast.experiment.report import write_report
from gatecast.experiment.report.verdict import compare, sentence
from gatecast.experiment.run_folder import check_out_folder, staged_folder
from gatecast.experiment.training import fit_and_score, split_history
from gatecast.models.recurrent import RecurrentForecaster

SP500_TEST_START = "2015-01-01"


@dataclass
class DemoResult:
    """Tables of both demo parts (rows keyed by model identifiers), the verdicts, and where the
    files went. ``verdict`` is the chapter's LSTM on S&P 500 in one sentence."""

    notebook: pd.DataFrame
    sp500: pd.DataFrame
    out: Path
    verdict: str = ""
    verdicts: dict[str, str] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)


#: Display labels of the demo's rows (the tables and metrics.json are keyed by identifier).
DEMO_LABELS = {
    "notebook_minmax": "notebook recipe: min-max price level, 50 full-batch steps",
    "minmax_trained": "min-max price level, properly trained (mini-batch, early stop)",
    "anchored": "anchored: learns the return, moves the last price (gatecast's default)",
    "no_change": "no change (yesterday's price)",
    "rnn": "RNN",
    "lstm": "LSTM",
    "gru": "GRU",
    "historical_mean": "historical mean",
}


def _notebook_part(quick: bool, seed: int) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The notebook's random walk and 2x50 LSTM on prices, scalers fit on train only: its min-max
    price-level recipe (kept as the cautionary rows) beside the anchored price model."""
    df = random_walk(1000, seed=42)
    history, test_start = split_history(df, test_start=None, test_size=0.2)
    level = TargetSpec("price", anchored=False)
    # the notebook's model: the price level, min-max scaled
    minmax: dict[str, Any] = dict(target=level, features=("price",), scaler="minmax")
    # enough steps, mini-batches, early stopping on a validation tail
    trained: dict[str, Any] = dict(
        batch_size=32, epochs=300 if not quick else 15, patience=20, val_size=0.15
    )
    settings: dict[str, dict[str, Any]] = {
        # the notebook's loop: full-batch Adam, few steps, no validation
        "notebook_minmax": dict(
            **minmax, batch_size=0, epochs=50 if not quick else 20, patience=0, val_size=0.0
        ),
        # properly trained: still a level model
        "minmax_trained": {**minmax, **trained},
        # the same net and training, forecasting the return from the last price
        "anchored": dict(
            target=TargetSpec("price"), features=("return",), scaler="standard", **trained
        ),
    }
    rows, forecasts = {}, {}
    for key, kw in settings.items():
        m = RecurrentForecaster(
            cell="lstm", hidden=50, layers=2, window=20, lr=1e-3, seed=seed, **kw
        )
        t0 = time.perf_counter()
        m.fit(history)
        secs = time.perf_counter() - t0
        frame, metrics = fit_and_score(m, df, history, test_start, kw["target"], "close")
        rows[key] = {
            "parameters": m.n_parameters(),
            "epochs": m.result_.epochs_run,  # type: ignore[union-attr]
            "train_s": secs,
            **metrics["lstm"],
        }
        forecasts[key] = frame["lstm"]
        base = metrics
    rows["no_change"] = dict(base["no_change"])
    table = pd.DataFrame(rows).T
    return table, {
        "actual": frame["actual"],
        "forecasts": forecasts,
        "no_change": frame["no_change"],
    }


def _sp500_part(quick: bool, seed: int) -> tuple[pd.DataFrame, dict[str, Any]]:
    df = load("sp500")
    spec = TargetSpec("return")
    start = "2009-01-01" if quick else None
    data = df.loc[start:] if start else df
    data.attrs.update(df.attrs)
    history, test_start = split_history(data, test_start=SP500_TEST_START, test_size=None)
    rows: dict[str, dict[str, Any]] = {}
    forecasts: dict[str, pd.Series] = {}
    histories: dict[str, Any] = {}
    verdicts: dict[str, str] = {}
    base: dict[str, Any] = {}
    frame = pd.DataFrame()
    for cell in ("rnn", "lstm", "gru"):
        m = RecurrentForecaster(
            cell=cell,
            hidden=50,
            layers=2,
            window=20,
            target=spec,
            epochs=3 if quick else 50,
            patience=10,
            seed=seed,
            quiet=quick,
        )
        t0 = time.perf_counter()
        m.fit(history)
        secs = time.perf_counter() - t0
        frame, metrics = fit_and_score(m, data, history, test_start, spec, None)
        rows[cell] = {
            "parameters": m.n_parameters(),
            "epochs": m.result_.epochs_run,  # type: ignore[union-attr]
            "train_s": secs,
            **metrics[cell],
        }
        test = compare("return", frame["actual"], frame, cell, "no_change")
        rows[cell] |= {"dm_p_no_change": test.p_value}
        verdicts[cell] = sentence("return", cell, test, metrics[cell])
        forecasts[cell] = frame[cell]
        histories[cell] = m.result_.history  # type: ignore[union-attr]
        base = metrics
    rows["no_change"] = base["no_change"]
    rows["historical_mean"] = base["historical_mean"]
    return pd.DataFrame(rows).T, {
        "actual": frame["actual"],
        "forecasts": forecasts,
        "histories": histories,
        "verdicts": verdicts,
    }


def run_demo(
    out: str | Path | None = None, *, quick: bool = False, seed: int = 0, overwrite: bool = False
) -> DemoResult:
    """Run both demo parts and write tables (CSV, JSON) and plots into ``out``
    (default ``runs/demo-<timestamp>/``), all of it or nothing: an earlier run in ``out`` is
    replaced only with ``overwrite``."""
    final = Path(out) if out is not None else Path("runs") / f"demo-{datetime.now():%Y%m%d-%H%M%S}"
    check_out_folder(final, overwrite=overwrite, kind="demo")  # before minutes of training
    nb_table, nb = _notebook_part(quick, seed)
    sp_table, sp = _sp500_part(quick, seed)
    with staged_folder(
        final, overwrite=overwrite, kind="demo", config={"quick": quick, "seed": seed}
    ) as tmp:
        verdict, files = _write_demo(tmp, nb_table, nb, sp_table, sp, quick=quick, seed=seed)
    files = [final / p.name for p in files]
    return DemoResult(nb_table, sp_table, final, verdict, sp["verdicts"], files)


def _write_demo(
    out: Path,
    nb_table: pd.DataFrame,
    nb: dict[str, Any],
    sp_table: pd.DataFrame,
    sp: dict[str, Any],
    *,
    quick: bool,
    seed: int,
) -> tuple[str, list[Path]]:
    from gatecast.plots.forecasts import comparison_chart, forecast_vs_actual, loss_curves

    files = [
        forecast_vs_actual(
            nb["actual"],
            {
                **{DEMO_LABELS[k]: v for k, v in nb["forecasts"].items()},
                "no change": nb["no_change"],
            },
            out / "notebook_forecast.png",
            last=None,
            title="Notebook random walk: LSTM price forecasts vs yesterday's price",
        ),
        forecast_vs_actual(
            sp["actual"],
            {DEMO_LABELS[k]: v for k, v in sp["forecasts"].items()},
            out / "sp500_forecast.png",
            last=120,
            title="S&P 500 daily log return: forecasts vs actual (last 120 test days)",
        ),
        loss_curves(
            {DEMO_LABELS[k]: v for k, v in sp["histories"].items()}, out / "sp500_loss.png"
        ),
        comparison_chart(sp_table, out / "sp500_comparison.png"),
    ]
    atomic_write_text(out / "notebook.csv", nb_table.to_csv(index_label="model"))
    atomic_write_text(out / "sp500.csv", sp_table.to_csv(index_label="model"))
    verdict = sp["verdicts"]["lstm"]
    atomic_write_json(
        out / "metrics.json",
        (
            {
                "verdict": verdict,
                "verdicts": sp["verdicts"],
                "notebook": nb_table.to_dict(orient="index"),
                "sp500": sp_table.to_dict(orient="index"),
                "labels": {k: DEMO_LABELS[k] for k in [*nb_table.index, *sp_table.index]},
                "quick": quick,
                "seed": seed,
                "sp500_test_start": SP500_TEST_START,
            }
        ),
    )
    files += [out / "notebook.csv", out / "sp500.csv", out / "metrics.json"]
    files.append(write_report(out, series={"notebook": nb, "sp500": sp}))
    return verdict, files
