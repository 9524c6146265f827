"""The gatecast command: train / predict / datasets / demo, and one clear error with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from gatecast.cli.app import app
from gatecast.data import ar1_prices, random_walk

runner = CliRunner()
FAST = [
    "--cell",
    "rnn",
    "--hidden",
    "4",
    "--layers",
    "1",
    "--window",
    "5",
    "--epochs",
    "1",
    "--quiet",
]


@pytest.fixture(scope="module")
def prices_csv(tmp_path_factory):
    p = tmp_path_factory.mktemp("d") / "prices.csv"
    df = ar1_prices(300, seed=0)[["close"]].rename(columns={"close": "Adj Close"})
    df.index.name = "Date"
    df.to_csv(p)
    return p


def test_train_then_predict(tmp_path, prices_csv):
    out = tmp_path / "m"
    res = runner.invoke(
        app,
        [
            "train",
            "--data",
            str(prices_csv),
            "--column",
            "adj_close",
            "--test-size",
            "0.2",
            "--out",
            str(out),
            *FAST,
        ],
    )
    assert res.exit_code == 0, res.output
    assert "no_change" in res.output
    assert json.loads((out / "metrics.json").read_text())["models"]["rnn"]["n"] == 60
    res = runner.invoke(
        app,
        [
            "predict",
            "--model",
            str(out),
            "--data",
            str(prices_csv),
            "--start",
            "2001-01-01",
            "--out",
            str(tmp_path / "p.csv"),
        ],
    )
    assert res.exit_code == 0, res.output
    p = pd.read_csv(tmp_path / "p.csv", parse_dates=["date"])
    assert p["date"].min() >= pd.Timestamp("2001-01-01") and p["forecast"].notna().all()


def test_train_sequence_mode_then_predict(tmp_path, prices_csv):
    out = tmp_path / "seq"
    res = runner.invoke(
        app,
        [
            "train",
            "--data",
            str(prices_csv),
            "--mode",
            "sequence",
            "--chunks",
            "4",
            "--burn-in",
            "5",
            "--test-size",
            "0.2",
            "--out",
            str(out),
            *FAST,
        ],
    )
    assert res.exit_code == 0, res.output
    assert json.loads((out / "manifest.json").read_text())["mode"] == "sequence"
    trained = pd.read_csv(out / "forecasts.csv", index_col="date")
    res = runner.invoke(
        app,
        [
            "predict",
            "--model",
            str(out),
            "--data",
            str(prices_csv),
            "--start",
            trained.index[0],
            "--out",
            str(tmp_path / "p.csv"),
        ],
    )
    assert res.exit_code == 0, res.output
    again = pd.read_csv(tmp_path / "p.csv", index_col="date")
    # the same test dates from the saved model, then the forecast for the day after the data
    assert list(again.index[:-1]) == list(trained.index)
    assert (again["forecast"].iloc[:-1] - trained["forecast"]).abs().max() < 1e-6
    assert np.isnan(again["actual"].iloc[-1]) and again.index[-1] > trained.index[-1]
    assert res.output.strip().splitlines()[-1].startswith(f"{again.index[-1]} forecast: ")
    res = runner.invoke(
        app, ["train", "--data", str(prices_csv), "--mode", "stateful", "--out", str(out), *FAST]
    )
    assert res.exit_code == 2 and "mode" in res.output


def test_datasets_lists_bundled():
    res = runner.invoke(app, ["datasets"])
    assert res.exit_code == 0
    for name in ("sp500", "nasdaq", "vix", "wti", "1999-01-04"):
        assert name in res.output
    # the bundled panels, with their instruments and first date (wti's 1986 start)
    for name in ("Bundled panels", "arch_panel", "3: nasdaq, sp500, wti", "1986-01-02"):
        assert name in res.output


def _bad_files(tmp):
    ok = ar1_prices(200, seed=0)[["close"]]
    ok.index.name = "date"
    files = {}
    (tmp / "nodate.csv").write_text("price\n1\n2\n")
    files["no date column"] = (tmp / "nodate.csv", "no date column")
    (tmp / "baddate.csv").write_text("date,close\n2020-01-01,1\nnot-a-date,2\n")
    files["bad date"] = (tmp / "baddate.csv", "row 3")
    dup = pd.concat([ok.iloc[:100], ok.iloc[99:]])
    dup.to_csv(tmp / "dup.csv")
    files["duplicate"] = (tmp / "dup.csv", "duplicate")
    ok.iloc[::-1].to_csv(tmp / "unsorted.csv")
    files["unsorted"] = (tmp / "unsorted.csv", "--sort")
    nan = ok.copy()
    nan.iloc[50, 0] = float("nan")
    nan.to_csv(tmp / "nan.csv")
    files["nan"] = (tmp / "nan.csv", str(ok.index[50].date()))
    neg = ok.copy()
    neg.iloc[60, 0] = -1.0
    neg.to_csv(tmp / "neg.csv")
    files["negative"] = (tmp / "neg.csv", "non-positive")
    const = ok.copy()
    const["close"] = 5.0
    const.to_csv(tmp / "const.csv")
    files["constant"] = (tmp / "const.csv", "constant")
    ok.iloc[:8].to_csv(tmp / "short.csv")
    files["too short"] = (tmp / "short.csv", "need at least")
    (tmp / "garbage.parquet").write_bytes(b"\x00\x01 definitely not parquet")
    files["garbage"] = (tmp / "garbage.parquet", "cannot read")
    files["missing"] = (tmp / "missing.csv", "does not exist")
    return files


def test_every_bad_input_exits_2_with_one_message(tmp_path):
    for label, (path, words) in _bad_files(tmp_path).items():
        res = runner.invoke(
            app, ["train", "--data", str(path), "--out", str(tmp_path / "o"), *FAST]
        )
        assert res.exit_code == 2, (label, res.output)
        assert words in res.output, (label, res.output)
        assert "Traceback" not in res.output, label
    res = runner.invoke(app, ["train", "--data", "ftse", "--out", str(tmp_path / "o"), *FAST])
    assert res.exit_code == 2 and "sp500, nasdaq, vix, wti" in res.output
    res = runner.invoke(
        app, ["train", "--data", "sp500", "--column", "bid", "--out", str(tmp_path / "o")]
    )
    assert res.exit_code == 2 and "adj_close" in res.output
    res = runner.invoke(
        app,
        [
            "predict",
            "--model",
            str(tmp_path / "none"),
            "--data",
            "sp500",
            "--out",
            str(tmp_path / "p.csv"),
        ],
    )
    assert res.exit_code == 2 and "does not exist" in res.output


def test_bad_dates_and_paths_are_clear_errors(tmp_path, prices_csv):
    res = runner.invoke(
        app,
        [
            "train",
            "--data",
            str(prices_csv),
            "--test-start",
            "garbage",
            "--out",
            str(tmp_path / "o"),
            *FAST,
        ],
    )
    assert res.exit_code == 2 and "'garbage' is not a date" in res.output
    out = tmp_path / "m"
    assert (
        runner.invoke(app, ["train", "--data", str(prices_csv), "--out", str(out), *FAST]).exit_code
        == 0
    )
    res = runner.invoke(
        app,
        [
            "predict",
            "--model",
            str(out),
            "--data",
            str(prices_csv),
            "--start",
            "2018-13-01",
            "--out",
            str(tmp_path / "p.csv"),
        ],
    )
    assert res.exit_code == 2 and "is not a date" in res.output
    res = runner.invoke(app, ["stream", "--model", str(out), "--input", str(tmp_path / "nope.csv")])
    assert res.exit_code == 2 and "cannot read --input" in res.output
    (tmp_path / "file").write_text("x")
    res = runner.invoke(
        app, ["train", "--data", str(prices_csv), "--out", str(tmp_path / "file"), *FAST]
    )
    assert res.exit_code == 2 and "Traceback" not in res.output and "file" in res.output


def test_console_script_exit_code_and_module_entry(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "gatecast", "train", "--data", "nosuch", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "error:" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_demo_quick_end_to_end(tmp_path):
    res = runner.invoke(app, ["demo", "--quick", "--out", str(tmp_path / "demo")])
    assert res.exit_code == 0, res.output
    for name in (
        "notebook_forecast.png",
        "sp500_forecast.png",
        "sp500_loss.png",
        "sp500_comparison.png",
        "sp500.csv",
        "notebook.csv",
        "metrics.json",
    ):
        assert (tmp_path / "demo" / name).stat().st_size > 0, name
    m = json.loads((tmp_path / "demo" / "metrics.json").read_text())
    # keyed by model identifiers, as every metrics file; display labels kept apart
    assert set(m["sp500"]) == {"rnn", "lstm", "gru", "no_change", "historical_mean"}
    assert m["labels"]["no_change"] == "no change (yesterday's price)"
    assert all(m["sp500"][k]["n"] == 1006 for k in m["sp500"])  # 2015-01-02 .. 2018-12-31
    nb = m["notebook"]
    # the notebook's question answered: repeating yesterday's price is the line to beat
    # no change is yesterday's price: its MSE recomputed from the notebook's random walk
    steps = np.diff(random_walk(1000, seed=42)["close"].to_numpy())[-int(nb["no_change"]["n"]) :]
    assert nb["no_change"]["mse"] == pytest.approx(np.mean(steps**2), rel=1e-9)
    assert nb["notebook_minmax"]["theil_u"] > 1.0
    # the verdict opens the output, and is the LSTM's test against the zero-return forecast
    assert m["verdict"] == m["verdicts"]["lstm"] and m["verdict"].startswith("LSTM ")
    assert "DM p = " in m["verdict"]
    assert res.output.splitlines()[1].strip() == m["verdict"]
