"""predict --steps: the forecasts 1..h bars after the data (dates in the model's calendar, step 1
exactly predict's next-bar row, the square-root-of-time variance and band scaling against a hand
computation), the options refused beside it, and the fan chart of Prediction.plot()/--plot."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PolyCollection
from typer.testing import CliRunner

from gatecast.cli.app import app
from gatecast.data.synthetic import garch11
from gatecast.errors import ConfigError
from gatecast.experiment.forecast_steps import band_levels
from gatecast.experiment.prediction import run_prediction
from gatecast.experiment.training import TrainJob, run_training

FAST = dict(cell="gru", hidden=4, layers=1, window=5, epochs=1, batch_size=0, patience=0)
FAST |= dict(device="cpu", quiet=True, seed=0)
runner = CliRunner()
BANDS = dict(interval=0.9, quantiles=(0.05, 0.25, 0.75, 0.95))


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A return and a variance model trained on 600 rows of a GARCH(1,1) path (the last 150
    their calibration), and 700 rows of the path dated on business days up to Friday
    2018-12-28 (data.csv): XNYS is closed on 1 January, the data's own calendar is not."""
    tmp = tmp_path_factory.mktemp("steps")
    path = garch11(700, seed=3)[["close"]]
    path.iloc[:600].rename_axis("date").to_csv(tmp / "train.csv")
    run_training(
        TrainJob(data=str(tmp / "train.csv"), test_size=150, **FAST), tmp / "ret", plots=False
    )
    job = TrainJob(data=str(tmp / "train.csv"), target="variance", test_size=150, **FAST)
    run_training(job, tmp / "var", plots=False)
    path.index = pd.bdate_range(end="2018-12-28", periods=len(path))
    path.rename_axis("date").to_csv(tmp / "data.csv")
    return tmp


def _garch_sd_next(doc: dict, close: pd.Series) -> float:
    """The GARCH(1,1) sd (log-return units) of the return after the last close, by hand from
    the recorded parameters."""
    r = 100 * np.log(close).diff().to_numpy()
    b = doc["backcast"]
    s2 = doc["omega"] + doc["alpha"] * b + doc["beta"] * b
    for t in range(1, len(r)):
        e = r[t] - doc["mu"]
        s2 = doc["omega"] + doc["alpha"] * e * e + doc["beta"] * s2
    return math.sqrt(s2) / 100


def test_the_steps_are_dated_in_the_models_calendar(folder):
    xnys = run_prediction(folder / "ret", folder / "data.csv", steps=4, calendar="XNYS")
    days = [f"{d:%Y-%m-%d}" for d in xnys.steps["date"]]
    assert days == ["2018-12-31", "2019-01-02", "2019-01-03", "2019-01-04"]  # no 1 January
    assert (xnys.steps["as_of"] == pd.Timestamp("2018-12-28")).all()
    assert xnys.steps["step"].tolist() == [1, 2, 3, 4]
    assert "forecasts 1..4 bars ahead" in xnys._repr_html_()
    own = run_prediction(folder / "ret", folder / "data.csv", steps=2)  # trades on 1 January
    assert [f"{d:%Y-%m-%d}" for d in own.steps["date"]] == ["2018-12-31", "2019-01-01"]


@pytest.mark.parametrize("model", ["ret", "var"])
def test_step_one_is_predicts_own_next_bar_row(folder, model):
    plain = run_prediction(folder / model, folder / "data.csv", **BANDS)
    ahead = run_prediction(folder / model, folder / "data.csv", steps=3, **BANDS)
    last, first = plain.frame.iloc[-1], ahead.steps.iloc[0]
    assert first["date"] == plain.frame.index[-1]
    for c in ("forecast", "lower", "upper", "q0.05", "q0.75", "price_lower", "price_upper"):
        assert first[c] == last[c], c  # the same computation, not a recomputation
    assert np.isfinite(first[["lower", "upper"]].to_numpy(float)).all()


def test_a_variance_models_path_is_the_square_root_of_time_rule(folder):
    pred = run_prediction(folder / "var", folder / "data.csv", steps=5, **BANDS)
    t = pred.steps
    v1 = float(t["forecast"].iloc[0])
    k = np.arange(1, 6)
    np.testing.assert_allclose(t["forecast"], v1, rtol=0)
    np.testing.assert_allclose(t["cumulative_variance"], k * v1, rtol=1e-12)
    sd1 = math.sqrt(v1) / 100  # percent^2 -> log-return sd
    q = float(t["upper"].iloc[0]) / sd1  # step 1's standardised conformal quantile
    np.testing.assert_allclose(t["upper"], q * np.sqrt(k * v1) / 100, rtol=1e-9)
    np.testing.assert_allclose(t["lower"], -q * np.sqrt(k * v1) / 100, rtol=1e-9)
    close = pd.read_csv(folder / "data.csv")["close"].iloc[-1]
    np.testing.assert_allclose(t["price_q0.25"], close * np.exp(t["q0.25"]), rtol=1e-12)
    assert set(t["method"].iloc[1:]) == {
        "variance: k x the one-day forecast (sqrt-of-time), mean return 0; bands: step 1's "
        "standardised quantile x sqrt(cumulative variance)"
    }


def test_a_return_models_path_is_its_step_one_then_zero_in_bands_scaled_by_sqrt_k(folder):
    pred = run_prediction(folder / "ret", folder / "data.csv", steps=4, interval=0.8)
    t = pred.steps
    f1 = float(t["forecast"].iloc[0])
    assert t["forecast"].iloc[1:].eq(0).all() and t["cumulative"].eq(f1).all()
    doc = json.loads((folder / "ret" / "manifest.json").read_text())["intervals"]["garch"]
    close = pd.read_csv(folder / "data.csv", index_col=0, parse_dates=True)["close"]
    sd = _garch_sd_next(doc, close)
    k = np.arange(1, 5)
    np.testing.assert_allclose(t["variance"], (100 * sd) ** 2, rtol=1e-6)
    np.testing.assert_allclose(t["cumulative_variance"], k * (100 * sd) ** 2, rtol=1e-6)
    q = (float(t["upper"].iloc[0]) - f1) / sd
    assert 0.5 < q < 4  # a plausible 80% standardised quantile
    np.testing.assert_allclose(t["lower"], f1 - q * sd * np.sqrt(k), rtol=1e-6)
    np.testing.assert_allclose(t["upper"], f1 + q * sd * np.sqrt(k), rtol=1e-6)
    np.testing.assert_allclose(t["price_upper"], close.iloc[-1] * np.exp(t["upper"]), rtol=1e-12)
    np.testing.assert_allclose(t["price_forecast"], close.iloc[-1] * math.exp(f1), rtol=1e-12)
    assert "zero beyond (direct rule)" in t["method"].iloc[1]
    assert any("sqrt(cumulative variance)" in n for n in pred.notes)


def test_without_intervals_a_return_path_has_no_variance_columns(folder):
    t = run_prediction(folder / "ret", folder / "data.csv", steps=2).steps
    assert list(t.columns) == [
        "as_of",
        "date",
        "step",
        "forecast",
        "cumulative",
        "price_forecast",
        "method",
    ]


def test_the_csv_holds_the_long_table_and_the_cli_prints_the_path(folder, tmp_path):
    out, fan = tmp_path / "steps.csv", tmp_path / "fan.png"
    args = ["predict", "--model", str(folder / "var"), "--data", str(folder / "data.csv")]
    res = runner.invoke(app, [*args, "--out", str(out), "--steps", "12", "--interval", "0.9"])
    assert res.exit_code == 0, res.output
    table = pd.read_csv(out)
    assert table["step"].tolist() == list(range(1, 13))
    assert {"as_of", "date", "cumulative_variance", "lower", "price_upper", "method"} <= set(table)
    tail = res.output.strip().splitlines()
    assert tail[-11].startswith("12 bars after 2018-12-28")  # header, 7 steps, ..., 2 steps
    assert tail[-3].strip() == "..." and tail[-1].split()[:2] == ["12", "2019-01-15"]
    assert not fan.exists()  # a figure only when asked
    res = runner.invoke(
        app,
        [
            *args,
            "--out",
            str(tmp_path / "b.csv"),
            "--steps",
            "3",
            "--interval",
            "0.9",
            "--plot",
            str(fan),
        ],
    )
    assert res.exit_code == 0, res.output
    assert fan.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ConfigError, match=r"--plot .*fan.png already exists; pass --overwrite"):
        run_prediction(folder / "var", folder / "data.csv", interval=0.9, plot=fan)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(steps=0), r"--steps 0: give the number of bars ahead, 1 or more"),
        (dict(steps=3, start="2018-06-01"), r"--steps forecasts the 3 bars .* --start choose"),
        (dict(steps=3, end="2018-12-28"), r"--end choose\(s\) past dates"),
        (dict(plot="fan.png"), r"--plot fan.png draws the fan chart .* add --interval"),
        (dict(plot="fan.jpg", interval=0.9), r"name a .png, .svg or .pdf file"),
    ],
)
def test_options_that_do_not_fit_are_refused_before_anything_is_read(folder, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        run_prediction(folder / "missing-model", folder / "data.csv", **kwargs)


def test_steps_are_refused_for_a_price_model_by_name(folder, tmp_path):
    job = TrainJob(data=str(folder / "train.csv"), target="price", test_size=150, **FAST)
    run_training(job, tmp_path / "price", plots=False)
    with pytest.raises(ConfigError, match=r"--steps extends a one-day return .* forecasts price"):
        run_prediction(tmp_path / "price", folder / "data.csv", steps=3)
    res = runner.invoke(
        app,
        [
            "predict",
            "--model",
            str(folder / "ret"),
            "--data",
            str(folder / "data.csv"),
            "--out",
            str(tmp_path / "x.csv"),
            "--steps",
            "2",
            "--start",
            "2018-06-01",
        ],
    )
    assert res.exit_code == 2 and "use one or the other" in res.output
    assert not (tmp_path / "x.csv").exists()


def _bands(fig) -> list[PolyCollection]:
    return [c for c in fig.axes[0].collections if isinstance(c, PolyCollection)]


def test_the_fan_chart_has_one_band_per_level(folder, tmp_path):
    one = run_prediction(folder / "ret", folder / "data.csv", **BANDS)
    fig = one.plot()
    assert len(_bands(fig)) == 2  # 90% (the interval and q0.05/q0.95) and 50%
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels[:2] == ["90%", "50%"]
    ahead = run_prediction(folder / "var", folder / "data.csv", steps=5, interval=0.9)
    fig = ahead.plot()
    assert len(_bands(fig)) == 1
    line = fig.axes[0].get_lines()[0].get_ydata()
    close = float(pd.read_csv(folder / "data.csv")["close"].iloc[-1])
    np.testing.assert_allclose(line, close)  # a variance model's price path stays at the close
    assert len(line) == 6  # the last close, then the 5 steps
    bare = run_prediction(folder / "ret", folder / "data.csv")
    assert _bands(bare.plot()) == []
    assert not list(tmp_path.iterdir())  # plot() draws, writes nothing


def test_band_levels_mirror_a_lone_quantile_around_the_point():
    t = pd.DataFrame({"q0.1": [0.8], "q0.5": [1.0]}, index=[0])
    bands = band_levels(t, pd.Series([1.0]), None)
    assert list(bands) == [0.8]
    assert bands[0.8]["upper"].iloc[0] == pytest.approx(1.2)
