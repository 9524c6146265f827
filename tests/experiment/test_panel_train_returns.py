"""`gatecast train --panel --target return|direction`: one global return (or direction) model
over a panel, scored per instrument as one series' train scores that target, served by
`predict`. A synthetic 3-instrument panel, a tiny net, 1 epoch."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import gatecast as gc
from gatecast.cli.app import app
from gatecast.experiment.panel_serving import PanelTrainRun
from gatecast.models.recurrent.global_return import GlobalRecurrentReturn

runner = CliRunner()
TINY = ["--hidden", "4", "--epochs", "1", "--device", "cpu", "--quiet"]
SMALL = {"hidden": 4, "epochs": 1, "device": "cpu", "quiet": True}
NAMES = ("AAA", "BBB", "CCC")


def _long(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """Three instruments, BBB missing five days, log-normal closes with a little drift."""
    days = pd.bdate_range("2015-01-01", periods=n)
    rng = np.random.default_rng(seed)
    parts = []
    for k, name in enumerate(NAMES):
        own = days.delete(np.arange(100, 105)) if name == "BBB" else days
        r = 0.0003 * (k - 1) + (0.7 + 0.6 * k) * 0.01 * rng.standard_normal(len(own))
        parts.append(pd.DataFrame({"date": own, "ticker": name, "close": 100 * np.exp(r.cumsum())}))
    return pd.concat(parts, ignore_index=True)


def _csv(frame: pd.DataFrame, path: Path) -> Path:
    frame.assign(date=frame["date"].dt.strftime("%Y-%m-%d")).to_csv(path, index=False)
    return path


def _own_returns(frame: pd.DataFrame, name: str) -> pd.Series:
    """Oracle: an instrument's one-step log return, dated by the day it is realised."""
    own = frame[frame.ticker == name].set_index("date")["close"]
    return np.log(own).diff()


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, pd.DataFrame]:
    """(return model folder, the long CSV it was trained on, that table), trained by the CLI."""
    tmp = tmp_path_factory.mktemp("panel-return")
    frame = _long()
    csv, out = _csv(frame, tmp / "long.csv"), tmp / "model"
    args = ["train", "--data", str(csv), "--panel", "--target", "return", "--out", str(out)]
    res = runner.invoke(app, [*args, *TINY])
    assert res.exit_code == 0, res.output
    assert "MSE per instrument" in " ".join(res.output.split())
    assert "kind global_return" in " ".join(res.output.split())
    return out, csv, frame


@pytest.fixture(scope="module")
def direction(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, PanelTrainRun]:
    """(direction model folder, its run), trained by gc.train."""
    out = tmp_path_factory.mktemp("panel-direction") / "model"
    run = gc.train(_long(), panel=True, target="direction", out=out, **SMALL)
    assert isinstance(run, PanelTrainRun)
    return out, run


def _predict(model: Path, csv: Path, out: Path, *extra: str) -> pd.DataFrame:
    args = ["predict", "--model", str(model), "--data", str(csv), "--out", str(out)]
    res = runner.invoke(app, [*args, *extra])
    assert res.exit_code == 0, res.output
    return pd.read_csv(out, parse_dates=["as_of", "date"]).set_index("instrument")


def _hand_scores(fc: pd.DataFrame, target: str) -> dict[str, dict[str, float]]:
    """Oracle: the scores of each model's column of one instrument's forecasts.csv rows."""
    a = fc["actual"].to_numpy()
    out = {}
    for name in ("lstm", "no_change", "historical_mean"):
        f = fc["forecast" if name == "lstm" else name].to_numpy()
        scores = {"n": float(len(a)), "mse": float(np.mean((a - f) ** 2))}
        scores["mae"] = float(np.mean(np.abs(a - f)))
        if target == "direction":
            scores["hit_rate"] = float(np.mean((f > 0.5) == (a > 0.5)))
        elif np.any(f):  # no change (zero) has no sign to score
            scores["hit_rate"] = float(np.mean(np.sign(a) == np.sign(f)))
        out[name] = scores
    return out


def test_train_writes_a_global_return_folder_scored_as_one_series(
    trained: tuple[Path, Path, pd.DataFrame],
) -> None:
    model, _csv_path, frame = trained
    manifest = json.loads((model / "manifest.json").read_text())
    assert manifest["kind"] == "global_return"
    assert manifest["target"]["kind"] == "return" and manifest["horizon"] == 1
    assert manifest["panel"]["instruments"] == list(NAMES)
    assert json.loads((model / "config.json").read_text())["target"] == "return"
    metrics = json.loads((model / "metrics.json").read_text())
    assert metrics["target"] == "return" and "proxy" not in metrics
    fc = pd.read_csv(model / "forecasts.csv", parse_dates=["date"])
    assert list(fc.columns) == [
        "instrument", "date", "actual", "forecast", "no_change", "historical_mean"
    ]  # fmt: skip
    for name in NAMES:
        own = fc[fc.instrument == name].set_index("date")
        # its own test rows, from its own test start (the last 20% of its rows)
        dates = frame.loc[frame.ticker == name, "date"].reset_index(drop=True)
        start = dates[len(dates) - round(0.2 * len(dates))]
        assert metrics["test_starts"][name] == str(start) and own.index.min() == start
        # scored against its own log return; no change is a zero return
        want = _own_returns(frame, name).loc[own.index]
        np.testing.assert_allclose(own["actual"], want, rtol=1e-9, atol=1e-15)
        assert (own["no_change"] == 0).all()
        got = metrics["per_instrument"][name]
        for m, scores in _hand_scores(own, "return").items():
            for key, value in scores.items():
                assert got[m][key] == pytest.approx(value, rel=0, abs=1e-12), (name, m, key)
        assert got["no_change"]["hit_rate"] is None  # NaN in JSON: no change has no sign


def test_predict_gives_each_instruments_forecast_the_model_gives(
    trained: tuple[Path, Path, pd.DataFrame], tmp_path: Path
) -> None:
    """Oracle: the model's predict on the data with a row appended at the forecast's date (the
    forecast for t reads rows before t only, so that row's price does not matter)."""
    model, csv, frame = trained
    pred = _predict(model, csv, tmp_path / "p.csv")
    assert list(pred.index) == list(NAMES) and pred["in_fit"].all()
    fitted = GlobalRecurrentReturn.load(model)
    panel = gc.load_panel(csv)
    for name in NAMES:
        df = panel[name]
        last = frame.loc[frame.ticker == name, "date"].max()
        assert pred.loc[name, "as_of"] == last
        assert pred.loc[name, "date"] == last + pd.offsets.BDay(1)
        extra = pd.DataFrame(
            {"close": [df["close"].iloc[-1] * 1.3]}, index=[pred.loc[name, "date"]]
        )
        longer = pd.concat([df, extra.rename_axis(df.index.name)])
        want = fitted.predict({name: longer}, start=pred.loc[name, "date"])
        assert want["forecast"].item() == pytest.approx(pred.loc[name, "forecast"], abs=1e-6)
    numpy = _predict(model, csv, tmp_path / "n.csv", "--engine", "numpy")  # float32: 1e-6
    np.testing.assert_allclose(numpy["forecast"], pred["forecast"], rtol=1e-6, atol=1e-9)


def test_direction_forecasts_are_probabilities_scored_by_brier_and_hit_rate(
    direction: tuple[Path, PanelTrainRun], tmp_path: Path
) -> None:
    out, run = direction
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kind"] == "global_return" and manifest["target"]["kind"] == "direction"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["target"] == "direction"
    fc = pd.read_csv(out / "forecasts.csv", parse_dates=["date"])
    assert fc["forecast"].between(0, 1).all()
    frame = _long()
    # the file holds the run's forecasts to its 10 significant digits
    np.testing.assert_allclose(fc["forecast"], run.forecasts["forecast"], rtol=1e-9)
    for name in NAMES:
        own = fc[fc.instrument == name].set_index("date")
        up = (_own_returns(frame, name).loc[own.index] > 0).astype(float)
        np.testing.assert_array_equal(own["actual"], up)
        got = metrics["per_instrument"][name]
        # the scores from the run's forecasts (unrounded) to 1e-12, from the file's to 1e-9
        mine = run.forecasts[run.forecasts.instrument == name]
        for rows, tol in ((mine, 1e-12), (own, 1e-9)):
            for m, scores in _hand_scores(rows, "direction").items():
                for key, value in scores.items():
                    assert got[m][key] == pytest.approx(value, rel=0, abs=tol), (name, m, key)
    # the table: the Brier score (the MSE of a probability) against the historical mean
    table = run.table()
    assert list(table.columns) == ["n_test", "brier", "brier_historical_mean", "ratio", "hit_rate"]
    for name in NAMES:
        got = metrics["per_instrument"][name]
        assert table.loc[name, "brier"] == pytest.approx(got["lstm"]["mse"], rel=1e-12)
        ratio = got["lstm"]["mse"] / got["historical_mean"]["mse"]
        assert table.loc[name, "ratio"] == pytest.approx(ratio, rel=1e-12)
    csv = _csv(frame, tmp_path / "d.csv")
    pred = gc.predict(out, csv)
    assert isinstance(pred, pd.DataFrame)
    assert pred["forecast"].between(0, 1).all() and len(pred) == len(NAMES)
    res = runner.invoke(app, ["predict", "--model", str(out), "--data", str(csv), "--out",
                              str(tmp_path / "p.csv")])  # fmt: skip
    assert res.exit_code == 0 and "up-day probability forecasts" in res.output, res.output
    # stream (NumPy engine) over the same rows ends on predict's probabilities (float32: 1e-5)
    rows = frame.sort_values(["date", "ticker"], kind="stable")[["date", "ticker", "close"]]
    text = "date,ticker,close\n" + "".join(f"{d:%Y-%m-%d},{t},{c!r}\n" for d, t, c in rows.values)
    res = runner.invoke(app, ["stream", "--model", str(out)], input=text)
    assert res.exit_code == 0, res.output
    last = {ln.split(",")[0]: float(ln.split(",")[2]) for ln in res.stdout.splitlines()[-3:]}
    for name, p in pred.set_index("instrument")["forecast"].items():
        assert last[name] == pytest.approx(p, rel=1e-5)


def test_a_simple_return_model_reading_covariates_joins_them_and_predicts(
    tmp_path: Path,
) -> None:
    """--simple and --covariates with a return target: scored against each instrument's own
    simple return; the folder records the groups, so predict joins them (torch and NumPy)."""
    frame = _long(200)
    out = tmp_path / "m"
    run = gc.train(frame, panel=True, target="return", log=False, covariates="sp500", out=out,
                   **SMALL)  # fmt: skip
    assert isinstance(run, PanelTrainRun)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["covariate_groups"] == ["sp500"] and manifest["target"]["log"] is False
    for name in NAMES:
        own = run.forecasts[run.forecasts.instrument == name].set_index("date")
        close = frame[frame.ticker == name].set_index("date")["close"]
        np.testing.assert_allclose(own["actual"], close.pct_change().loc[own.index], rtol=1e-12)
    csv = _csv(frame, tmp_path / "c.csv")
    pred = _predict(out, csv, tmp_path / "p.csv")
    assert np.isfinite(pred["forecast"]).all() and list(pred.index) == list(NAMES)
    numpy = _predict(out, csv, tmp_path / "n.csv", "--engine", "numpy")
    np.testing.assert_allclose(numpy["forecast"], pred["forecast"], rtol=1e-6, atol=1e-9)


def test_test_rows_reach_no_weight(tmp_path: Path) -> None:
    """Leakage: BBB's prices after its test start changed, the same seed: the same weights and
    scalers (the fit sees each instrument's training rows only)."""
    frame = _long(200)
    b = frame.index[frame.ticker == "BBB"]
    later = frame.copy()
    test_rows = b[len(b) - round(0.2 * len(b)) :]
    later.loc[test_rows, "close"] = later.loc[test_rows, "close"] * 1.5
    for k, data in enumerate((frame, later)):
        gc.train(data, panel=True, target="return", out=tmp_path / f"m{k}", **SMALL)
    m0, m1 = tmp_path / "m0", tmp_path / "m1"
    assert (m0 / "model.safetensors").read_bytes() == (m1 / "model.safetensors").read_bytes()
    panel0 = json.loads((m0 / "manifest.json").read_text())["panel"]
    assert panel0 == json.loads((m1 / "manifest.json").read_text())["panel"]
    # and the changed test rows do change BBB's scores (they are its test part)
    fc0 = pd.read_csv(m0 / "forecasts.csv")
    fc1 = pd.read_csv(m1 / "forecasts.csv")
    bbb = fc0.instrument == "BBB"
    assert not np.allclose(fc0.loc[bbb, "actual"], fc1.loc[bbb, "actual"])
    np.testing.assert_array_equal(fc0.loc[~bbb, "forecast"], fc1.loc[~bbb, "forecast"])


def test_settings_that_do_not_apply_are_refused_by_name_before_any_fit(
    trained: tuple[Path, Path, pd.DataFrame], tmp_path: Path
) -> None:
    _model, csv, _ = trained
    out = tmp_path / "never"
    train = ["train", "--data", str(csv), "--panel", "--out", str(out), *TINY]
    cases = [
        ([*train, "--target", "price"], "--target price does not apply to a panel"),
        ([*train, "--target", "return", "--horizon", "2"], "--horizon 2 does not apply"),
        ([*train, "--target", "direction", "--chunks", "8"], "set(s) the lanes of sequence"),
        ([*train, "--target", "return", "--calendar", "data"], "--calendar data does not apply"),
        ([*train, "--target", "return", "--residual", "gjr_t"], "residual (--residual) does not"),
    ]
    for args, message in cases:
        res = runner.invoke(app, args)
        assert res.exit_code == 2, (args, res.output)
        assert message in " ".join(res.output.split()), (args, res.output)
        assert not out.exists()
