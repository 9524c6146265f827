"""Serving a global model that reads another instrument of the panel (``instrument:A``):
`gatecast train --panel --covariates instrument:A` records the group, `predict` joins A's return
and log range from A's own rows in its data (the training run's join), and `stream` reads them
from columns the rows carry (``a_return``, ``a_log_parkinson``). Three synthetic OHLC
instruments (B missing five days), a tiny net, 1 epoch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import gatecast as gc
from gatecast.cli.app import app
from gatecast.errors import DataError, PanelError, UnknownColumnError
from gatecast.experiment.panel_covariates import join_panel_covariates
from gatecast.experiment.panel_serving import open_panel_stream, run_panel_prediction
from gatecast.models.recurrent.global_variance import GlobalRecurrentVariance

runner = CliRunner()
TINY = ["--hidden", "4", "--epochs", "1", "--device", "cpu", "--quiet"]
GROUP = "instrument:A"
COVS = ("a_return", "a_log_parkinson")
PRICES = ("open", "high", "low", "close")
DAYS = pd.bdate_range("2010-01-01", periods=300, name="date")
D = DAYS[200]  # the leakage test moves A's prices after this date


def _frames(shift_after: pd.Timestamp | None = None) -> dict[str, pd.DataFrame]:
    """Three OHLC instruments, B missing five days; with ``shift_after``, A's prices after it
    follow another path."""
    rng = np.random.default_rng(0)
    frames = {}
    for name, vol in (("A", 1.0), ("B", 2.0), ("C", 1.5)):
        own = DAYS.delete(np.arange(150, 155)) if name == "B" else DAYS
        r = vol * 0.01 * rng.standard_normal(len(own))
        up, down = np.exp(vol * 0.01 * np.abs(rng.standard_normal((2, len(own)))))
        if name == "A" and shift_after is not None:
            r = np.where(own > shift_after, 3 * r + 0.01, r)
            up = np.where(own > shift_after, up**3, up)
        close = 100 * np.exp(r.cumsum())
        frames[name] = pd.DataFrame(
            {"open": close, "high": close * up, "low": close / down, "close": close}, index=own
        )
    return frames


def _csv(frames: dict[str, pd.DataFrame], path: Path) -> Path:
    parts = [df.assign(ticker=n).rename_axis("date").reset_index() for n, df in frames.items()]
    long = pd.concat(parts, ignore_index=True)
    long.assign(date=long["date"].dt.strftime("%Y-%m-%d")).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(model folder, the long CSV it was trained on)."""
    tmp = tmp_path_factory.mktemp("panel-inst")
    csv, out = _csv(_frames(), tmp / "long.csv"), tmp / "model"
    args = ["train", "--data", str(csv), "--panel", "--target", "variance", "--out", str(out)]
    res = runner.invoke(app, [*args, "--covariates", GROUP, *TINY])
    assert res.exit_code == 0, res.output
    return out, csv


def _predict(model: Path, csv: Path, out: Path, *extra: str) -> pd.DataFrame:
    args = ["predict", "--model", str(model), "--data", str(csv), "--out", str(out), *extra]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    return pd.read_csv(out, parse_dates=["as_of", "date"]).set_index("instrument")


def test_train_records_the_group_and_predict_gives_the_training_runs_forecast(
    trained: tuple[Path, Path], tmp_path: Path
) -> None:
    model, _csv_path = trained
    manifest = json.loads((model / "manifest.json").read_text())
    assert manifest["covariate_groups"] == [GROUP]
    assert manifest["covariates"] == list(COVS)
    # predict on the data without its last day forecasts that day: the training run's
    # forecast for it (forecasts.csv), from the same rows (to float rounding, 1e-6 relative)
    cut = _csv({n: df.iloc[:-1] for n, df in _frames().items()}, tmp_path / "cut.csv")
    run = pd.read_csv(model / "forecasts.csv", parse_dates=["date"])
    last = run[run.date == DAYS[-1]].set_index("instrument")["forecast"]
    for engine in ("torch", "numpy"):
        pred = _predict(model, cut, tmp_path / f"{engine}.csv", "--engine", engine)
        assert list(pred.index) == ["A", "B", "C"]
        assert (pred["date"] == DAYS[-1]).all() and (pred["as_of"] == DAYS[-2]).all()
        for name in ("A", "B", "C"):
            assert pred.loc[name, "forecast"] == pytest.approx(last[name], rel=1e-6)


def test_the_forecast_reads_a_from_the_data_given(
    trained: tuple[Path, Path], tmp_path: Path
) -> None:
    """Oracle: a wider range of A on the last day moves B's and C's forecasts (their own rows
    are unchanged), so predict reads A's columns from the data it is given."""
    model, csv = trained
    plain = _predict(model, csv, tmp_path / "p.csv")
    frames = _frames()
    frames["A"].iloc[-1, frames["A"].columns.get_loc("high")] *= 1.05
    moved = _predict(model, _csv(frames, tmp_path / "m.csv"), tmp_path / "q.csv")
    for name in ("B", "C"):
        assert moved.loc[name, "forecast"] != pytest.approx(plain.loc[name, "forecast"], rel=1e-9)


def _rows(frames: dict[str, pd.DataFrame]) -> tuple[str, list[str]]:
    """The stream's CSV rows: each instrument's prices with A's columns as of its close (the
    values the join puts on that row), sorted by date then instrument."""
    joined = join_panel_covariates(gc.load_panel(frames), [GROUP])
    long = pd.concat(
        [df.assign(ticker=n).rename_axis("date").reset_index() for n, df in joined.items()]
    ).sort_values(["date", "ticker"], kind="stable")
    cols = (*PRICES, *COVS)
    rows = [
        ",".join([f"{r.date:%Y-%m-%d}", r.ticker, *(repr(getattr(r, c)) for c in cols)])
        for r in long.itertuples()
    ]
    return "date,ticker," + ",".join(cols), rows


def test_stream_rows_carrying_a_s_columns_give_predicts_forecasts(
    trained: tuple[Path, Path], tmp_path: Path
) -> None:
    model, csv = trained
    pred = _predict(model, csv, tmp_path / "p.csv")
    header, rows = _rows(_frames())
    for engine in ("numpy", "torch"):
        res = runner.invoke(
            app,
            ["stream", "--model", str(model), "--engine", engine],
            input=header + "\n" + "\n".join(rows) + "\n",
        )
        out = _stream_table(res)
        for name in ("A", "B", "C"):
            last = out[out.instrument == name].forecast.iloc[-1]
            assert last == pytest.approx(pred.loc[name, "forecast"], rel=1e-5)


def _stream_table(res: Any) -> pd.DataFrame:
    """A successful panel stream's output as a table (notes left out; forecast as floats)."""
    assert res.exit_code == 0, res.output
    assert "error" not in res.stderr, res.stderr
    lines = [ln for ln in res.stdout.splitlines() if ln and not ln.startswith("note")]
    out = pd.DataFrame([ln.split(",") for ln in lines[1:]], columns=lines[0].split(","))
    out["forecast"] = out["forecast"].replace("", np.nan).astype(float)
    return out


def _streamed(
    model: Path, frames: dict[str, pd.DataFrame], *, carry: bool = True, engine: str = "numpy"
) -> pd.DataFrame:
    """Every forecast a stream gives on ``frames``, by the date of the row it was made at: rows
    carrying A's columns (``carry``), else the prices alone (the stream computes A's columns
    from A's rows, a day's rows in one tick)."""
    joined = join_panel_covariates(gc.load_panel(frames), [GROUP]) if carry else frames
    streams = open_panel_stream(model, engine=engine)
    out = {}
    for day in DAYS:
        ticks = {n: df.loc[day].to_dict() for n, df in joined.items() if day in df.index}
        if ticks:
            out[day] = streams.update_many(ticks, at=day)
    return pd.DataFrame(out).T


def test_no_forecast_up_to_d_reads_a_after_d(trained: tuple[Path, Path]) -> None:
    """A's prices moved after D: every forecast made at a row up to D is the same, through
    predict's join and the model (same path: equal) and through the stream; the forecasts
    made after D move."""
    model, _csv_path = trained
    fitted = GlobalRecurrentVariance.load(model, device="cpu")
    plain, moved = _frames(), _frames(shift_after=D)
    fc = [
        fitted.predict(join_panel_covariates(gc.load_panel(f), [GROUP])).set_index(
            ["instrument", "date"]
        )["forecast"]
        for f in (plain, moved)
    ]
    nxt = DAYS[DAYS.get_loc(D) + 1]  # the forecast for the day after D reads rows up to D
    for name in ("B", "C"):
        a, b = fc[0].loc[name], fc[1].loc[name]
        pd.testing.assert_series_equal(a.loc[:nxt], b.loc[:nxt])
        assert not np.allclose(a.loc[nxt:].iloc[1:], b.loc[nxt:].iloc[1:])
    for carry in (True, False):
        s0, s1 = _streamed(model, plain, carry=carry), _streamed(model, moved, carry=carry)
        pd.testing.assert_frame_equal(s0.loc[:D], s1.loc[:D])
        assert not np.allclose(s0.loc[DAYS[-1], ["B", "C"]], s1.loc[DAYS[-1], ["B", "C"]])


def test_data_without_a_and_rows_without_its_columns_are_refused(
    trained: tuple[Path, Path], tmp_path: Path
) -> None:
    model, _csv_path = trained
    frames = _frames()
    no_a = _csv({n: df for n, df in frames.items() if n != "A"}, tmp_path / "noa.csv")
    out = tmp_path / "o.csv"
    res = runner.invoke(
        app, ["predict", "--model", str(model), "--data", str(no_a), "--out", str(out)]
    )
    assert res.exit_code == 2, res.output
    text = " ".join(res.output.split())
    assert "reads the covariate 'instrument:A'" in text
    assert "the data has no instrument 'A' (it has B, C): give predict A's rows too" in text
    assert not out.exists()
    with pytest.raises(PanelError, match="no instrument 'A'"):
        run_panel_prediction(model, no_a, engine="numpy")
    # A without High/Low: its range cannot be computed (the join's message)
    closes = {n: df[["close"]] if n == "A" else df for n, df in frames.items()}
    res = runner.invoke(
        app,
        ["predict", "--model", str(model), "--data", str(_csv(closes, tmp_path / "c.csv")),
         "--out", str(out)],
    )  # fmt: skip
    assert res.exit_code == 2 and "instrument A has no row with a close, high and low" in " ".join(
        res.output.split()
    )
    # a stream row with one of A's columns only is refused, naming the other; one without
    # them before A's row of its day waits for it; nothing changes
    streams = open_panel_stream(model)
    row = frames["B"].iloc[0].to_dict()
    with pytest.raises(UnknownColumnError, match="instrument 'B': covariate column 'a_return'"):
        streams.update("B", {**row, "a_log_parkinson": 0.1}, at=DAYS[0])
    with pytest.raises(DataError, match="A's row of 2010-01-01 has not come \\(none has come\\)"):
        streams.update("B", row, at=DAYS[0])
    assert streams["B"].ticks == 0


def streams_ticks_after_first_day(model: Path, frames: dict[str, pd.DataFrame]) -> int:
    """The rows the streams took on the first day (A's first row gives no return yet)."""
    streams = open_panel_stream(model)
    streams.update_many({n: df.iloc[0].to_dict() for n, df in frames.items()}, at=DAYS[0])
    return sum(streams[n].ticks for n in frames)


def test_a_stream_computes_a_s_columns_from_a_s_own_rows(
    trained: tuple[Path, Path], tmp_path: Path
) -> None:
    """Rows of prices alone: the stream gives each row A's return and range as of its close
    from A's rows in the same stream; the forecasts are predict's (1e-5 relative) and those of
    rows carrying the join's columns (1e-9: the same values, computed apart)."""
    model, csv = trained
    pred = _predict(model, csv, tmp_path / "p.csv")
    frames = _frames()
    for engine in ("numpy", "torch"):
        own, carried = (_streamed(model, frames, carry=c, engine=engine) for c in (False, True))
        # the first day's rows are left out, as the join leaves them out (A has no return)
        assert own.index[0] == DAYS[0] and own.iloc[0].isna().all()
        assert streams_ticks_after_first_day(model, frames) == 0
        np.testing.assert_allclose(own.iloc[1:].to_numpy(), carried.to_numpy(), rtol=1e-9)
        for name in ("A", "B", "C"):
            assert own[name].iloc[-1] == pytest.approx(pred.loc[name, "forecast"], rel=1e-5)
    # the command line, one row a line (A's row first each day: sorted by date, ticker)
    long = pd.concat(
        [df.assign(ticker=n).rename_axis("date").reset_index() for n, df in frames.items()]
    ).sort_values(["date", "ticker"], kind="stable")
    rows = [
        ",".join([f"{r.date:%Y-%m-%d}", r.ticker, *(repr(getattr(r, c)) for c in PRICES)])
        for r in long.itertuples()
    ]
    res = runner.invoke(
        app,
        ["stream", "--model", str(model)],
        input="date,ticker," + ",".join(PRICES) + "\n" + "\n".join(rows) + "\n",
    )
    out = _stream_table(res)
    for name in ("A", "B", "C"):
        last = out[out.instrument == name].forecast.iloc[-1]
        assert last == pytest.approx(pred.loc[name, "forecast"], rel=1e-5)


def test_a_row_before_a_s_row_of_its_day_waits_and_the_state_keeps_a_s_rows(
    trained: tuple[Path, Path],
) -> None:
    model, _csv_path = trained
    frames = _frames()
    streams = open_panel_stream(model)
    for day in DAYS[:10]:
        streams.update_many({n: df.loc[day].to_dict() for n, df in frames.items()}, at=day)
    day = DAYS[10]
    row = frames["B"].loc[day].to_dict()
    # B's row of a day before A's row of that day: refused (A's value of that close is not
    # known yet), B unchanged; after A's row it is taken, as in one tick
    with pytest.raises(DataError, match=r"A's row of 2010-01-15 has not come \(its last row"):
        streams.update("B", row, at=day)
    assert streams["B"].ticks == 9  # its first row left out (A had no return yet)
    blob = streams.state()
    streams.update("A", frames["A"].loc[day].to_dict(), at=day)
    b = streams.update("B", row, at=day)
    tick = open_panel_stream(model)
    for d in DAYS[:11]:
        f = tick.update_many({n: df.loc[d].to_dict() for n, df in frames.items()}, at=d)
    assert b == f["B"]  # the same path: equal
    # a set restored from the state knows A's last rows: A's next return is from its close
    restored = open_panel_stream(model).load_state(blob)
    restored.update("A", frames["A"].loc[day].to_dict(), at=day)
    assert restored.update("B", row, at=day) == b
    # a day A does not trade: B's row waits for A, or carries A's columns itself
    hole = DAYS[11]
    with pytest.raises(DataError, match="on a day A does not trade, give the row's a_return"):
        streams.update("B", frames["B"].loc[hole].to_dict(), at=hole)
    given = {**frames["B"].loc[hole].to_dict(), "a_return": 0.1, "a_log_parkinson": -0.5}
    assert np.isfinite(streams.update("B", given, at=hole))
    # A's row without High/Low is refused, naming it, and so is a row of its tick reading it;
    # nothing changes
    with pytest.raises(DataError, match="the row of A on 2010-01-19 has no positive high"):
        streams.update("A", {"close": 100.0}, at=DAYS[12])
    tick = {"B": frames["B"].loc[DAYS[12]].to_dict(), "A": {"close": 100.0}}
    streams.update_many(tick, at=DAYS[12], errors="skip")
    assert set(streams.rejected) == {"A", "B"}
    assert "it reads A's row of this tick" in str(streams.rejected["B"])
    assert streams["A"].ticks == 10 and streams["B"].ticks == 11
