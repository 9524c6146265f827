"""One series, a return or direction target with covariates, from the command line: evaluate
prints the ablation (lstm beside lstm+vix, ar1 beside arx+vix); train records the groups, so
predict joins them (bundled or from a file of yours) and a stream's rows carry the columns."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import gatecast as gc
from gatecast.cli.app import app
from gatecast.data.covariates import join_covariates

runner = CliRunner()
TINY = ["--hidden", "4", "--epochs", "1", "--device", "cpu", "--quiet"]


def _train(data: Path, out: Path, target: str, covariates: str) -> dict[str, object]:
    args = ["train", "--data", str(data), "--target", target, "--covariates", covariates]
    res = runner.invoke(app, [*args, "--test-start", "2016-07-01", "--out", str(out), *TINY])
    assert res.exit_code == 0, res.output
    manifest: dict[str, object] = json.loads((out / "manifest.json").read_text())
    return manifest


def _predict(model: Path, data: Path, out: Path) -> pd.DataFrame:
    res = runner.invoke(
        app, ["predict", "--model", str(model), "--data", str(data), "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    return pd.read_csv(out, parse_dates=["date", "as_of"])


def _rows(joined: pd.DataFrame, cols: list[str]) -> str:
    """``joined`` as the CSV rows a stream reads."""
    lines = [
        f"{d:%Y-%m-%d}," + ",".join(repr(float(r[c])) for c in cols) for d, r in joined.iterrows()
    ]
    return "date," + ",".join(cols) + "\n" + "\n".join(lines) + "\n"


def test_evaluate_returns_with_vix_prints_the_ablation(tmp_path: Path) -> None:
    args = ["evaluate", "--data", "sp500", "--target", "return", "--covariates", "vix"]
    res = runner.invoke(
        app,
        [*args, "--models", "lstm,no_change,ar1", "--test-start", "2018-10-01",
         "--refit-every", "126", "--epochs", "1", "--warm-epochs", "1", "--hidden", "4",
         "--n-jobs", "1", "--quiet", "--out", str(tmp_path / "r")],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "ablation" in res.output and "arx+vix" in res.output
    ab = pd.read_csv(tmp_path / "r" / "ablation.csv", index_col="model")
    assert ab["without"].to_dict() == {"lstm+vix": "lstm", "arx+vix": "ar1"}
    board = pd.read_csv(tmp_path / "r" / "leaderboard.csv", index_col="model")
    assert ab.loc["arx+vix", "ratio"] == pytest.approx(
        board.loc["arx+vix", "mse"] / board.loc["ar1", "mse"]
    )


def test_train_predict_and_stream_a_return_model_with_vix(tmp_path: Path) -> None:
    data = tmp_path / "spx.csv"
    gc.load("sp500").loc["2015":"2016"].to_csv(data)
    model = tmp_path / "m"
    manifest = _train(data, model, "return", "vix")
    assert (manifest["covariate_groups"], manifest["covariates"]) == (["vix"], ["vix_log"])
    pred = _predict(model, data, tmp_path / "p").set_index("as_of")["forecast"].dropna()
    # a stream over the joined rows: each row's answer is predict's forecast made at its close
    joined, _ = join_covariates(gc.load(str(data)), ["vix"])
    cols = ["open", "high", "low", "close", "adj_close", "vix_log"]
    res = runner.invoke(app, ["stream", "--model", str(model)], input=_rows(joined, cols))
    assert res.exit_code == 0, res.output
    lines = [ln.split(",") for ln in res.stdout.splitlines() if ln[:1].isdigit()]
    streamed = pd.Series({pd.Timestamp(d): float(f) for d, f, *_ in lines if f}, dtype=float)
    both = streamed.index.intersection(pred.index)
    assert len(both) > 400
    np.testing.assert_allclose(streamed[both], pred[both], rtol=1e-5, atol=1e-9)
    # the covariate moves the forecast: a stream with another VIX answers otherwise
    moved = joined.assign(vix_log=joined["vix_log"] + 0.5)
    res = runner.invoke(app, ["stream", "--model", str(model)], input=_rows(moved, cols))
    last = [ln.split(",") for ln in res.stdout.splitlines() if ln[:1].isdigit()][-1]
    assert float(last[1]) != pytest.approx(streamed.iloc[-1], rel=1e-6)


def test_train_and_predict_a_direction_model_with_vix(tmp_path: Path) -> None:
    data = tmp_path / "spx.csv"
    gc.load("sp500").loc["2015":"2016"].to_csv(data)
    manifest = _train(data, tmp_path / "m", "direction", "vix")
    assert manifest["covariate_groups"] == ["vix"]
    pred = _predict(tmp_path / "m", data, tmp_path / "p")
    p = pred["forecast"].dropna()
    assert len(p) > 400 and ((p > 0) & (p < 1)).all()  # P(up)


def test_predict_serves_a_model_trained_with_a_file_covariate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """train --covariates file:macro.csv:rate records the spec; predict (from the same
    folder) reads the file again: its forecasts on the test dates are the training run's (the
    saved model on the same joined rows, to 1e-6). With the file gone, predict says so."""
    monkeypatch.chdir(tmp_path)
    prices = gc.load("sp500").loc["2015":"2016"]
    prices.to_csv("spx.csv")
    days = pd.bdate_range("2014-12-01", "2017-01-31")
    rate = np.random.default_rng(0).standard_normal(len(days)).cumsum() * 0.1
    pd.DataFrame({"Date": days, "Rate": rate}).to_csv("macro.csv", index=False)
    manifest = _train(Path("spx.csv"), Path("m"), "return", "file:macro.csv:rate")
    assert (manifest["covariate_groups"], manifest["covariates"]) == (
        ["file:macro.csv:rate"],
        ["macro_rate"],
    )
    pred = _predict(Path("m"), Path("spx.csv"), Path("p.csv")).set_index("date")["forecast"]
    run = pd.read_csv("m/forecasts.csv", parse_dates=["date"]).set_index("date")
    test = run.loc[~run["in_sample"].astype(bool), "forecast"]
    assert len(test) > 100
    np.testing.assert_allclose(pred.reindex(test.index), test, rtol=1e-6, atol=1e-9)
    Path("macro.csv").unlink()
    res = runner.invoke(app, ["predict", "--model", "m", "--data", "spx.csv", "--out", "q.csv"])
    assert res.exit_code == 2 and "no file 'macro.csv'" in res.output
