"""The calendar covariate ``calendar:XNYS`` wherever covariate groups work: no forecast up to a day
D reads a price after D (HAR-X and the recurrent model), ``evaluate`` on the bundled S&P 500
(the ablation), a panel (each instrument joined alone, a missing day refused naming the
instrument), and ``train`` -> ``predict`` -> ``stream`` (predict joins it itself)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import gatecast as gc
from gatecast.cli.app import app
from gatecast.data.calendar_covariates import calendar_columns, session_values
from gatecast.data.covariates import join_covariates
from gatecast.errors import DataError
from gatecast.experiment.panel_covariates import join_panel_covariates
from gatecast.models.har import HARXForecaster
from gatecast.models.recurrent.variance import RecurrentVariance

COLS = calendar_columns("XNYS")
FIT_END = "2016-06-30"
DAY = pd.Timestamp("2016-09-15")
runner = CliRunner()
TINY = ["--hidden", "4", "--epochs", "1", "--device", "cpu", "--quiet"]


@pytest.fixture(scope="module")
def spx() -> pd.DataFrame:
    return gc.load("sp500").loc["2015":"2016"]


def _tiny() -> RecurrentVariance:
    return RecurrentVariance(hidden=4, epochs=1, device="cpu", covariates=COLS)


@pytest.mark.parametrize("make", [_tiny, lambda: HARXForecaster(covariates=COLS)])
def test_prices_after_d_change_no_forecast_up_to_d(make, spx) -> None:
    moved = spx.copy()
    later = moved.index > DAY
    moved.loc[later, "high"] *= 1.02  # a wider range and a jump on every day after D
    moved.loc[later, "close"] *= 1.01
    a = join_covariates(spx, ["calendar:XNYS"])[0]
    b = join_covariates(moved, ["calendar:XNYS"])[0]
    model = make().fit(a.loc[:FIT_END])
    fa, fb = model.predict(a, start="2016-07-01"), model.predict(b, start="2016-07-01")
    assert fa.loc[:DAY].equals(fb.loc[:DAY])  # the same path on the same rows: exactly equal
    after = a.index[a.index.get_loc(DAY) + 2]  # reads the moved row D+1
    assert not np.isclose(fa.loc[after], fb.loc[after])


def test_har_x_reads_the_calendar(spx) -> None:
    a = join_covariates(spx, ["calendar:XNYS"])[0]
    model = HARXForecaster(covariates=COLS).fit(a.loc[:FIT_END])
    assert len(model.params_) == 4 + len(COLS) and np.isfinite(model.params_).all()
    # the forecast moves with the calendar columns of the row before it
    fc = model.predict(a, start="2016-07-01")
    shifted = a.copy()
    shifted[COLS[-1]] = shifted[COLS[-1]] + 1.0  # one more day to every next session
    assert not np.allclose(fc, model.predict(shifted, start="2016-07-01"))


def test_evaluate_with_the_calendar_on_sp500(tmp_path: Path) -> None:
    res = gc.evaluate(
        gc.load("sp500").loc["2016-01":"2017-06"],
        models="lstm,har",
        covariates=("calendar:XNYS",),
        test_start="2017-04-03",
        refit_every=63,
        recurrent_epochs=1,
        warm_epochs=1,
        hidden=4,
        n_jobs=1,
        quiet=True,
        mcs_reps=100,
        out=str(tmp_path / "run"),
    )
    assert set(res.leaderboard.index) == {
        "lstm",
        "lstm+calendar:XNYS",
        "har",
        "har_x+calendar:XNYS",
    }
    assert res.ablation is not None
    assert list(res.ablation["without"]) == ["lstm", "har"]
    assert not np.allclose(res.forecasts["har_x+calendar:XNYS"], res.forecasts["har"])
    assert not any("left out" in n for n in res.notes)  # the calendar covers every row
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["config"]["covariates"] == ["calendar:XNYS"]


def test_a_panel_joins_each_instrument_alone_and_names_one_with_a_missing_day() -> None:
    """Each instrument's columns are its single-series join, the panel's HAR-X reads them, and
    an instrument missing a session is refused by name."""
    frames = {n: gc.load(n).loc["2016-10":"2017-04"] for n in ("sp500", "nasdaq")}
    joined = join_panel_covariates(gc.load_panel(frames), ["calendar:XNYS"])
    for n, df in frames.items():
        alone = join_covariates(df, ["calendar:XNYS"])[0]
        pd.testing.assert_frame_equal(joined[n][list(COLS)], alone[list(COLS)])
    # the panel's evaluation: har_x per instrument reads the columns
    res = gc.evaluate_panel(
        gc.load_panel(frames),
        test_start="2017-03-01",
        models="har",
        covariates="calendar:XNYS",
        reference="har",
        refit_every=40,
        min_train=30,
        mcs_reps=100,
    )
    assert list(res.summary.index) == ["har", "har_x+calendar:XNYS"]
    forecasts = res.walk.forecasts
    assert not np.allclose(forecasts["har_x+calendar:XNYS"], forecasts["har"])
    frames["nasdaq"] = frames["nasdaq"].drop(pd.Timestamp("2017-02-15"))
    with pytest.raises(
        DataError, match=r"instrument 'nasdaq'.* has no row for the XNYS session 2017-02-15"
    ):
        join_panel_covariates(gc.load_panel(frames), ["calendar:XNYS"])


def test_train_predict_and_stream_with_the_calendar(tmp_path: Path, train_on_spx) -> None:
    data, model = train_on_spx("calendar:XNYS")
    manifest = json.loads((model / "manifest.json").read_text())
    assert manifest["covariate_groups"] == ["calendar:XNYS"]
    assert tuple(manifest["covariates"]) == COLS
    res = runner.invoke(
        app, ["predict", "--model", str(model), "--data", str(data), "--out", str(tmp_path / "p")]
    )
    assert res.exit_code == 0, res.output
    pred = pd.read_csv(tmp_path / "p", parse_dates=["date"])
    # the forecast after the data is for the next session: Tuesday 3 January 2017
    assert pred["date"].iloc[-1] == pd.Timestamp("2017-01-03")
    res = runner.invoke(
        app,
        [
            "predict",
            "--model",
            str(model),
            "--data",
            str(data),
            "--calendar",
            "XLON",
            "--out",
            str(tmp_path / "xlon.csv"),
        ],
    )
    assert res.exit_code == 2
    assert "--calendar XLON: the model reads the calendar covariate calendar:XNYS" in " ".join(
        res.output.split()
    )
    assert not (tmp_path / "xlon.csv").exists()
    # a stream computes the columns from each row's date: rows of prices alone, or rows that
    # carry the columns (replaced by the calendar's), give predict's forecast after the data
    prices = gc.load(str(data))
    for cols, rows in (
        (["open", "high", "low", "close"], prices),
        (["open", "high", "low", "close", *COLS], prices.join(session_values("XNYS"))),
    ):
        res = runner.invoke(app, ["stream", "--model", str(model)], input=_csv(rows, cols))
        assert res.exit_code == 0, res.output
        last = [ln for ln in res.stdout.splitlines() if ln[:1].isdigit()][-1].split(",")
        assert float(last[1]) == pytest.approx(pred["forecast"].iloc[-1], rel=1e-5)
    # a row on a day that is no XNYS session is refused by the stream
    holiday = prices.iloc[[-1]].set_axis(pd.DatetimeIndex(["2017-01-02"]))
    text = _csv(pd.concat([prices, holiday]), ["open", "high", "low", "close"])
    res = runner.invoke(app, ["stream", "--model", str(model)], input=text)
    assert "the row of 2017-01-02 (Monday) is not a session of XNYS" in " ".join(res.output.split())
    # predict joins the calendar itself, and refuses data with a missing session
    gap = tmp_path / "gap.csv"
    gc.load("sp500").loc["2015":"2016"].drop(pd.Timestamp("2016-11-09")).to_csv(gap)
    res = runner.invoke(
        app, ["predict", "--model", str(model), "--data", str(gap), "--out", str(tmp_path / "q")]
    )
    assert res.exit_code == 2
    assert "no row for the XNYS session 2016-11-09" in " ".join(res.output.split())


def _csv(rows: pd.DataFrame, cols: list[str]) -> str:
    return ("date," + ",".join(cols) + "\n") + "".join(
        f"{d:%Y-%m-%d}," + ",".join(repr(float(r[c])) for c in cols) + "\n"
        for d, r in rows.iterrows()
    )


def test_a_global_model_with_the_calendar_trains_predicts_and_streams(tmp_path: Path) -> None:
    """`train --panel --covariates calendar:XNYS` -> predict (joins it per instrument) -> a
    stream of prices alone (computes it per row): the same forecast after the data."""
    from gatecast.experiment.panel_serving import open_panel_stream

    frames = {n: gc.load(n).loc["2016-04":"2016-12"] for n in ("sp500", "nasdaq")}
    long = pd.concat(
        [
            df[["close"]].rename_axis("date").reset_index().assign(ticker=n)
            for n, df in frames.items()
        ]
    )
    csv, model = tmp_path / "long.csv", tmp_path / "m"
    long.assign(date=long["date"].dt.strftime("%Y-%m-%d")).to_csv(csv, index=False)
    args = ["train", "--data", str(csv), "--panel", "--target", "variance", "--out", str(model)]
    res = runner.invoke(app, [*args, "--covariates", "calendar:XNYS", *TINY])
    assert res.exit_code == 0, res.output
    assert json.loads((model / "manifest.json").read_text())["covariate_groups"] == [
        "calendar:XNYS"
    ]
    out = tmp_path / "p.csv"
    predict = ["predict", "--model", str(model), "--data", str(csv), "--out", str(out)]
    # another calendar would date the forecast on a day the columns do not describe
    res = runner.invoke(app, [*predict, "--calendar", "XLON"])
    assert res.exit_code == 2
    assert "reads the calendar covariate calendar:XNYS" in " ".join(res.output.split())
    assert not out.exists()
    # with no --calendar the forecast is dated by the group's exchange (not the data's own
    # next weekday, Monday 2 January 2017, a holiday of XNYS)
    res = runner.invoke(app, predict)
    assert res.exit_code == 0, res.output
    pred = pd.read_csv(out, index_col="instrument", parse_dates=["date"])
    assert set(pred["date"]) == {pd.Timestamp("2017-01-03")}  # the session the columns describe
    streams = open_panel_stream(model)
    for day, row in frames["sp500"].iterrows():
        f = streams.update("sp500", float(row["close"]), at=day)
    assert f == pytest.approx(pred.loc["sp500", "forecast"], rel=1e-5)
