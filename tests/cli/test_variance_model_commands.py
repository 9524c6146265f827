"""A saved variance model through the CLI: `gatecast predict` and `gatecast stream`."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from gatecast.cli.app import app
from gatecast.data import load
from gatecast.data.volatility import percent_returns
from gatecast.models.recurrent import RecurrentVariance

runner = CliRunner()


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    spx = load("sp500").loc["2013":"2015-03"]
    m = RecurrentVariance(cell="gru", hidden=4, window=10, epochs=2, seed=0).fit(spx.loc[:"2014"])
    folder = tmp_path_factory.mktemp("var") / "m"
    m.save(folder)
    return m, folder, spx


def test_predict_writes_variances_and_squared_returns(saved, tmp_path) -> None:
    m, folder, _ = saved
    out = tmp_path / "fc.csv"
    res = runner.invoke(
        app,
        [
            "predict",
            "--model",
            str(folder),
            "--data",
            "sp500",
            "--out",
            str(out),
            "--start",
            "2015-01-02",
        ],
    )
    assert res.exit_code == 0, res.output
    got = pd.read_csv(out, index_col="date", parse_dates=True)
    ref = m.predict(load("sp500"), start="2015-01-02", future=True)
    np.testing.assert_allclose(got["forecast"], ref, rtol=1e-9)
    assert got.index[-1] == pd.Timestamp("2019-01-02")  # tomorrow, after the data's last day
    known = got.iloc[:-1]
    r2 = percent_returns(load("sp500")).loc[known.index] ** 2
    np.testing.assert_allclose(known["actual"], r2, rtol=1e-9)
    assert "annualised volatility" in res.output.strip().splitlines()[-1]


def test_stream_command_serves_the_variance_model(saved) -> None:
    m, folder, spx = saved
    buf = io.StringIO()
    spx[["adj_close", "high", "low"]].to_csv(buf)
    res = runner.invoke(app, ["stream", "--model", str(folder)], input=buf.getvalue())
    assert res.exit_code == 0, res.output
    lines = res.stdout.strip().splitlines()
    assert lines[0] == "date,forecast,as_of,forecast_for" and len(lines) == len(spx) + 1
    last_date, last, as_of, forecast_for = lines[-1].split(",")
    assert (as_of, forecast_for) == ("2015-03-31", "2015-04-01")  # the next XNYS session
    # the forecast after the last row is for the next day: equal to predict on one more row
    ref = m.stream("torch").update_many(
        [
            dict(zip(("adj_close", "high", "low"), r, strict=True))
            for r in spx[["adj_close", "high", "low"]].to_numpy()
        ]
    )[-1]
    assert last_date.startswith(str(spx.index[-1].date()))
    assert float(last) == pytest.approx(ref, rel=1e-6)
