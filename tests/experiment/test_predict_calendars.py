"""predict dates the bars after the data in the model's trading calendar, keeps intraday times,
says which observation each forecast used (as_of), and annualises by the bars of a year."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from gatecast.cli.app import app
from gatecast.data.calendar import bars_per_year, calendar_for
from gatecast.experiment.prediction import run_prediction
from gatecast.experiment.training import TrainJob, run_training

FAST = dict(cell="gru", hidden=4, layers=1, window=5, epochs=1, batch_size=0, patience=0)
FAST |= dict(device="cpu", quiet=True, seed=0)
runner = CliRunner()


def _xnys_bars(start: str, end: str) -> pd.DatetimeIndex:
    """5-minute bars of every XNYS session (New York time), stamped at their start."""
    import exchange_calendars as xc

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cal = xc.get_calendar("XNYS")
    stamps = []
    for day in cal.sessions_in_range(start, end):
        o, c = (
            t.tz_convert("America/New_York").tz_localize(None)
            for t in (cal.session_open(day), cal.session_close(day))
        )
        stamps.extend(pd.date_range(o, c - pd.Timedelta("5min"), freq="5min"))
    return pd.DatetimeIndex(stamps)


def _prices(index: pd.DatetimeIndex, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.001, len(index))))
    return pd.DataFrame({"date": index.strftime("%Y-%m-%d %H:%M"), "close": close})


@pytest.fixture(scope="module")
def minute_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bars") / "bars.csv"
    _prices(_xnys_bars("2024-12-02", "2024-12-31")).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def daily_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("days") / "days.csv"
    days = pd.bdate_range("2024-01-02", "2024-12-31")
    _prices(days[days != "2024-12-25"], seed=1).to_csv(path, index=False)
    return path


def test_the_forecast_after_new_years_eve_is_for_the_next_xnys_session(daily_csv, tmp_path):
    run = run_training(TrainJob(data=str(daily_csv), calendar="XNYS", **FAST), tmp_path / "m")
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text())
    assert manifest["calendar"] == {"name": "XNYS"}
    assert run.notes == [
        "8 of 260 rows fall on days outside the XNYS sessions (the first 2024-01-15; "
        "timestamps are read as XNYS's local time)"
    ]
    pred = run_prediction(tmp_path / "m", str(daily_csv), tmp_path / "p.csv")
    written = pd.read_csv(tmp_path / "p.csv")
    assert written["date"].iloc[-1] == "2025-01-02"  # not 1 January, an exchange holiday
    assert written["as_of"].iloc[-1] == "2024-12-31"
    assert pred.last_line().startswith("2025-01-02 forecast:")
    # the data's own calendar, asked for: business days, 1 January unknown as a holiday
    own = run_prediction(tmp_path / "m", str(daily_csv), tmp_path / "o.csv", calendar="data")
    assert own.frame.index[-1] == pd.Timestamp("2025-01-01")


def test_minute_bars_keep_their_times_through_train_and_predict(minute_csv, tmp_path):
    result = runner.invoke(
        app,
        ["train", "--data", str(minute_csv), "--out", str(tmp_path / "m"), "--calendar", "XNYS"]
        + [f"--{k.replace('_', '-')}={v}" for k, v in FAST.items() if k != "quiet"]
        + ["--quiet"],
    )
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text())
    assert manifest["calendar"] == {"name": "XNYS", "bar": "5min"}
    result = runner.invoke(
        app,
        [
            "predict",
            "--model",
            str(tmp_path / "m"),
            "--data",
            str(minute_csv),
            "--out",
            str(tmp_path / "p.csv"),
        ],
    )
    assert result.exit_code == 0, result.output
    written = pd.read_csv(tmp_path / "p.csv")
    tail = written[["date", "as_of"]].tail(2).values.tolist()
    assert tail == [
        ["2024-12-31 15:55:00", "2024-12-31 15:50:00"],
        ["2025-01-02 09:30:00", "2024-12-31 15:55:00"],  # the next session's first bar
    ]
    assert "2025-01-02 09:30 forecast:" in result.stdout
    assert "dated in XNYS 5min bars" in " ".join(result.stdout.split())


def test_a_minute_bar_variance_is_annualised_by_the_bars_of_a_year(minute_csv, tmp_path):
    job = TrainJob(data=str(minute_csv), target="variance", calendar="XNYS", **FAST)
    run_training(job, tmp_path / "v", plots=False)
    pred = run_prediction(tmp_path / "v", str(minute_csv), tmp_path / "p.csv")
    index = pd.DatetimeIndex(pd.read_csv(minute_csv)["date"])
    ppy = bars_per_year(index, calendar_for(index, "XNYS"))
    assert ppy == pytest.approx(252 * 390 / 5, rel=0.01)  # 2024: 252 sessions, 3 early closes
    assert pred.periods_per_year == ppy
    value = float(pred.frame["forecast"].iloc[-1])
    vol = math.sqrt(ppy * value)
    assert f"(annualised volatility {vol:.1f}%, {ppy:.6g} bars a year)" in pred.last_line()
    assert f"{math.sqrt(252 * value):.1f}%" not in pred.last_line()  # not as if days


def test_a_bundled_us_series_records_xnys(tmp_path):
    from gatecast.data import load
    from gatecast.models.recurrent import RecurrentForecaster

    spx = load("sp500").iloc[-120:]
    model = RecurrentForecaster(hidden=3, window=5, epochs=1, seed=0).fit(spx)
    assert model._fitted().info["calendar"] == {"name": "XNYS"}
    nxt = model.forecast_next(spx)
    assert nxt.index[0] == pd.Timestamp("2019-01-02")  # after Monday 2018-12-31
    model.save(tmp_path / "m")
    assert json.loads((tmp_path / "m" / "manifest.json").read_text())["calendar"] == {
        "name": "XNYS"
    }


def test_an_unknown_calendar_is_refused_before_anything_is_read(minute_csv, tmp_path):
    args = ["predict", "--model", str(tmp_path / "none"), "--data", str(minute_csv)]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "p.csv"), "--calendar", "NYSEE"])
    assert result.exit_code == 2
    assert "calendar 'NYSEE' is unknown (did you mean NYSE" in " ".join(result.stderr.split())
    assert not (tmp_path / "p.csv").exists()
